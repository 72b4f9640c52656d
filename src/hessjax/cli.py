"""Command-line interface: ``hessjax demo`` and ``hessjax check MODEL.py``.

Results go to stdout, progress and timing lines to stderr; anything the model
file prints (at import or while its ``loglik`` runs) goes to stderr too, so
stdout holds only the result. Exit status, so that ``check`` can gate a
pipeline:

- 0: the result is valid (a certified maximum and, when a matrix is given, the
  matrix agrees with the exact Hessian); for ``demo``: it ran;
- 1: the result is NOT valid (``check`` only; nothing else exits 1);
- 2: no verdict: bad input (missing file, no ``loglik``, wrong shapes, a
  ``--plot`` path that cannot be written), any exception raised by the model
  file or its ``loglik``, a ``sys.exit`` in the model file, a usage error, or
  any other failure.

Errors are one line on stderr (with ``--json`` also a JSON object
``{"error": ..., "exit_status": 2}`` on stdout); ``--debug`` re-raises the
error with its traceback instead. ``--json`` output is strict JSON (RFC 8259):
non-finite numbers (NaN, infinities) are written as ``null``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import traceback
from typing import Any

__all__ = ["main", "load_model", "ModelError"]

EXIT_VALID, EXIT_NOT_VALID, EXIT_ERROR = 0, 1, 2


class ModelError(ValueError):
    """The model file or an input file is unusable; the message says how to fix it."""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _first_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else ""


def _model_frame(err: BaseException, path: str | None) -> traceback.FrameSummary | None:
    """The innermost frame of the model file in ``err``'s traceback (or its causes')."""
    if not path:
        return None
    target = os.path.realpath(path)
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        frames = [
            f for f in traceback.extract_tb(err.__traceback__)
            if f.filename and os.path.realpath(f.filename) == target
        ]
        if frames:
            return frames[-1]
        err = err.__cause__ or err.__context__
    return None


def _describe(err: BaseException, path: str | None = None) -> str:
    """One line: what was raised and, when it came from the model file, where."""
    frame = _model_frame(err, path)
    where = f" ({frame.name}, {os.path.basename(frame.filename)} line {frame.lineno})" if frame else ""
    if isinstance(err, SystemExit):
        return f"it called sys.exit({err.code!r}){where}; a model file must only define loglik, init and data"
    message = _first_line(str(err))
    return (f"{type(err).__name__}: {message}" if message else type(err).__name__) + where


def _strict_json(obj: Any) -> Any:
    """``obj`` with NumPy/JAX values made plain and non-finite floats made ``None``."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict_json(v) for v in obj]
    if isinstance(obj, (str, type(None))):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.ndarray) or hasattr(obj, "__array__"):
        return _strict_json(np.asarray(obj).tolist())
    return obj


def _dumps(obj: Any, **kwargs) -> str:
    """Strict JSON (no NaN/Infinity tokens): non-finite numbers become ``null``."""
    return json.dumps(_strict_json(obj), allow_nan=False, **kwargs)


# -- demo ---------------------------------------------------------------------------------
def _check_plot_path(path: str) -> None:
    """Fail before the (slow) demo runs when ``--plot PATH`` cannot be written."""
    if not path:
        raise ModelError("--plot needs a file name, e.g. --plot cmp.png.")
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise ModelError(
            f"--plot {path} names a directory; give a file name, e.g. --plot {os.path.join(path, 'cmp.png')}."
        )
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        problem = "is not a directory" if os.path.exists(parent) else "does not exist"
        raise ModelError(
            f"--plot {path}: directory {parent} {problem}; create it first or choose another path."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ModelError(f"--plot {path}: directory {parent} is not writable.")
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise ModelError("--plot needs matplotlib: pip install 'hessjax[plot]'.") from None
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if ext and ext not in formats:
        raise ModelError(
            f"--plot {path}: matplotlib cannot write .{ext} files; use one of "
            f"{', '.join('.' + f for f in sorted(formats))} (e.g. cmp.png)."
        )


def _demo(args: argparse.Namespace) -> int:
    from .demo import render_demo, run_demo

    if args.plot is not None:
        _check_plot_path(args.plot)  # before the demo runs, not after
    _log("hessjax demo: fitting with SciPy BFGS, then exact and numeric Hessians ...")
    demo = run_demo(seed=args.seed)
    print(render_demo(demo))
    if args.plot is not None:
        from .plots import plot_comparison

        try:
            plot_comparison(demo.comparison, path=args.plot)
        except OSError as err:
            raise ModelError(f"--plot {args.plot}: could not write the figure: {err}") from err
        _log(f"wrote {args.plot}")
    return EXIT_VALID


# -- check --------------------------------------------------------------------------------
def load_model(path: str) -> tuple[Any, Any, tuple]:
    """``(loglik, init, data)`` from a Python file defining them at module level.

    The file may also define ``bounds`` and ``fixed`` (as for
    :func:`hessjax.fit`); :func:`read_model` returns them too.

    Examples
    --------
    >>> import tempfile, os
    >>> from hessjax.cli import load_model
    >>> src = "import numpy as np\\nloglik = lambda p, y: -0.5 * (y - p) ** 2\\ninit = 0.0\\ndata = (np.ones(3),)\\n"
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "model.py")
    ...     _ = open(path, "w").write(src)
    ...     loglik, init, data = load_model(path)
    >>> init, len(data)
    (0.0, 1)
    """
    return read_model(path)[:3]


def read_model(path: str) -> tuple[Any, Any, tuple, dict]:
    """``(loglik, init, data, options)``: :func:`load_model` plus the optional
    ``bounds`` and ``fixed`` of the model file, as keyword arguments of ``fit``.

    Raises
    ------
    ModelError
        If the file is missing, fails to run, or lacks or mistypes a name.
    """
    import runpy

    if not os.path.isfile(path):
        raise ModelError(f"model file {path!r} not found; pass the path of a .py file defining loglik, init and data.")
    try:
        namespace = runpy.run_path(path, run_name="hessjax_model")
    except (Exception, SystemExit) as err:  # the user's code: report it in one line
        raise ModelError(f"running {path} failed: {_describe(err, path)}") from err
    missing = [name for name in ("loglik", "init", "data") if name not in namespace]
    if missing:
        raise ModelError(
            f"{path} does not define {', '.join(missing)}; it must define loglik(params, *data), "
            "init (a parameter pytree) and data (a tuple of arrays) at module level."
        )
    loglik, init, data = namespace["loglik"], namespace["init"], namespace["data"]
    if not callable(loglik):
        raise ModelError(f"`loglik` in {path} is {type(loglik).__name__}, not a function loglik(params, *data).")
    if not isinstance(data, tuple):
        raise ModelError(
            f"`data` in {path} is {type(data).__name__}; make it a tuple of arrays, e.g. data = (X, y) "
            "(a single array: data = (y,))."
        )
    options = {name: namespace[name] for name in ("bounds", "fixed") if namespace.get(name) is not None}
    return loglik, init, data, options


def _load_array(path: str, what: str):
    import numpy as np

    if not os.path.isfile(path):
        raise ModelError(f"{what} file {path!r} not found.")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as err:
        raise ModelError(f"could not read {what} file {path}: {err}; save it with numpy.save.") from err


def _params_at(init, flat, path: str):
    import jax
    import jax.flatten_util
    import numpy as np

    template, unravel = jax.flatten_util.ravel_pytree(init)
    flat = np.asarray(flat, dtype=np.float64).ravel()
    if flat.size != template.size:
        raise ModelError(
            f"--at {path} has {flat.size} values but init has {template.size} parameters "
            "(save the parameters flattened in ravel_pytree order)."
        )
    with jax.enable_x64(True):
        return jax.tree_util.tree_map(np.asarray, unravel(flat))


def _check_matrix(matrix, n: int, flag: str, path: str):
    import numpy as np

    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (n, n):
        raise ModelError(f"{flag} {path} has shape {matrix.shape}; expected ({n}, {n}) for {n} parameters.")
    return matrix


def _check(args: argparse.Namespace) -> int:
    from .compare import CandidateReport
    from .report import render_candidate

    if args.plot is not None:
        _check_plot_path(args.plot)  # before the fit runs, not after
    try:
        # The model file's own prints (at import, inside loglik) must not corrupt stdout.
        with contextlib.redirect_stdout(sys.stderr):
            result, cmp, messages = _run_check(args)
            if args.plot is not None:
                _plot_check(args.plot, result, cmp)
        valid = bool(result.diagnostics.is_valid) and (cmp.ok if (args.hessian or args.inverse) else True)
        if args.json:
            text = _dumps(_json_report(result, cmp, valid, messages), indent=2)
        else:
            lines = [
                result.summary(),
                "",
                str(render_candidate(cmp, list(result.names)) if isinstance(cmp, CandidateReport) else cmp),
                *(f"warning: {m}" for m in messages),
                "",
                f"RESULT: {'VALID' if valid else 'NOT VALID'}",
            ]
            text = "\n".join(lines)
    except ModelError:
        raise
    except (Exception, SystemExit) as err:  # the user's loglik, or anything else: no verdict
        raise ModelError(f"{args.model}: {_describe(err, args.model)}") from err
    print(text)
    return EXIT_VALID if valid else EXIT_NOT_VALID


def _plot_check(path: str, result, cmp) -> None:
    """``check --plot``: the profiles of the flagged parameters (Wald intervals that
    cannot be used, estimates on a bound) when the fit is a certified maximum,
    else the Hessian comparison figure."""
    import warnings

    from .compare import HessianComparison
    from .plots import plot_comparison, plot_profiles

    d = result.diagnostics
    flagged = [name for name, _ in d.bound_hits()]
    if bool(d.hessian_is_pd):
        flagged += [name for name, _, _ in d.wald_failures() if name not in flagged]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the report above states every flag
            if flagged and bool(d.converged) and not bool(d.is_saddle):
                plot_profiles(result, flagged[:4], path=path)
                _log(f"wrote {path}: profiles of {', '.join(flagged[:4])}")
                return
            if isinstance(cmp, HessianComparison):
                plot_comparison(cmp, path=path)
                _log(f"wrote {path}: the Hessian comparison")
                return
            free = [name for name in result.names if name not in result.fixed]
            plot_profiles(result, free[:4], path=path)
            _log(f"wrote {path}: profiles of {', '.join(free[:4])}")
    except OSError as err:
        raise ModelError(f"--plot {path}: could not write the figure: {err}") from err


def _run_check(args: argparse.Namespace):
    import warnings

    import jax.numpy as jnp

    from .compare import check_hessian, compare_hessians
    from .fit import fit

    loglik, init, data, constraints = read_model(args.model)

    def negloglik(p, *d):
        return -jnp.sum(loglik(p, *d))

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.at:
            at = _params_at(init, _load_array(args.at, "--at"), args.at)
            _log("certifying the given parameters (no optimization) ...")
            result = fit(loglik, at, *data, max_steps=0, **constraints)
        else:
            _log("fitting with trust-region Newton on the exact Hessian ...")
            result = fit(loglik, init, *data, **constraints)
        _log(f"  done in {time.perf_counter() - start:.1f} s")
        n = len(result.names)
        start = time.perf_counter()
        if args.hessian or args.inverse:
            flag, path = ("--hessian", args.hessian) if args.hessian else ("--inverse", args.inverse)
            matrix = _check_matrix(_load_array(path, flag), n, flag, path)
            _log(f"checking {path} against the exact Hessian ...")
            cmp = check_hessian(negloglik, result.params, matrix, *data, inverse=bool(args.inverse))
        else:
            _log("comparing finite-difference Hessians with the exact one ...")
            cmp = compare_hessians(
                negloglik, result.params, *data, include=("central", "forward", "richardson")
            )
        _log(f"  done in {time.perf_counter() - start:.1f} s")
    # With --at no optimizer runs: "stopped at max_steps" would only restate the certificate.
    messages = sorted({
        f"{w.category.__name__}: {w.message}" for w in caught
        if not (args.at and w.category.__name__ == "ConvergenceWarning")
    })
    return result, cmp, messages


def _json_report(result, cmp, valid: bool, messages: list[str]) -> dict:
    import numpy as np

    d = result.diagnostics
    num = lambda v: None if not np.isfinite(v) else float(v)  # noqa: E731
    # Every value is made strict-JSON by _dumps (non-finite numbers -> null).
    return {
        "valid": valid,
        "names": list(result.names),
        "estimate": [num(v) for v in result.estimate],
        "se": [num(v) for v in result.se_vector],
        "loglik": num(result.loglik),
        "diagnostics": {
            "is_valid": bool(d.is_valid),
            "converged": bool(d.converged),
            "hessian_is_pd": bool(d.hessian_is_pd),
            "is_saddle": bool(d.is_saddle),
            "grad_norm": num(d.grad_norm),
            "newton_decrement": num(d.newton_decrement),
            "min_eigenvalue": num(d.min_eigenvalue),
            "max_eigenvalue": num(d.max_eigenvalue),
            "condition_number": num(d.condition_number),
            "directions": d.directions(),
        },
        "comparison": cmp.to_dict(),
        "warnings": messages,
    }


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"the seed must be a non-negative integer, not {value}")
    return value


def _print_json_error(message: str) -> None:
    print(_dumps({"error": message, "exit_status": EXIT_ERROR}), flush=True)


_NO_CACHE_HELP = (
    "do not use the persistent compilation cache (by default compiled programs are kept in "
    "$XDG_CACHE_HOME/hessjax/jax, or JAX's own cache directory when one is set, so a second "
    "run loads them instead of compiling; HESSJAX_NO_COMPILATION_CACHE=1 does the same)"
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hessjax`` console script (also ``python -m hessjax``).

    Returns the exit status: 0 valid, 1 not valid (``check`` only), 2 no verdict
    (bad input, an exception raised by the model file or its ``loglik``, a
    ``sys.exit`` in the model file, a usage error, any other failure).

    Examples
    --------
    >>> from hessjax.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    """
    from . import __version__

    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    json_mode = "--json" in argv

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str):  # usage errors: exit 2, and JSON on stdout with --json
            if json_mode:
                _print_json_error(f"{self.prog}: {message}")
            super().error(message)

    parser = _Parser(prog="hessjax", description="Exact Hessians and standard errors you can trust.")
    parser.add_argument("--version", action="version", version=f"hessjax {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="SciPy BFGS hess_inv, statsmodels, FD and exact SEs side by side, with a verdict",
        description="Exit status: 0 ran, 2 error (e.g. a --plot path that cannot be written).",
    )
    demo.add_argument("--seed", type=_seed, default=0, help="seed of the simulated data")
    demo.add_argument(
        "--plot", metavar="FILE.png",
        help="write the comparison figure to this file (needs matplotlib; its directory must exist)",
    )
    demo.add_argument("--debug", action="store_true", help="show tracebacks")
    demo.add_argument("--no-cache", action="store_true", help=_NO_CACHE_HELP)
    demo.set_defaults(run=_demo)
    check = sub.add_parser(
        "check",
        help="fit or certify MODEL.py and check Hessians against the exact one",
        description=(
            "MODEL.py defines loglik(params, *data), init and data (a tuple), optionally bounds and "
            "fixed (as for hessjax.fit). Exit status: 0 valid, "
            "1 not valid (certificate fails or the given matrix disagrees), 2 no verdict (bad input, "
            "an exception raised by the model file or its loglik, sys.exit in the model file)."
        ),
    )
    check.add_argument("model", metavar="MODEL.py")
    check.add_argument("--at", metavar="PARAMS.npy", help="certify these parameters instead of fitting")
    group = check.add_mutually_exclusive_group()
    group.add_argument("--hessian", metavar="H.npy", help="your Hessian of -loglik to check")
    group.add_argument("--inverse", metavar="Hinv.npy", help="your inverse Hessian (covariance) to check")
    check.add_argument(
        "--json", action="store_true",
        help="machine-readable output on stdout (strict JSON: non-finite numbers are null; errors are "
        '{"error": ..., "exit_status": 2})',
    )
    check.add_argument(
        "--plot", metavar="FILE.png",
        help="draw the profiles of the flagged parameters (else the Hessian comparison) to this file "
        "(needs matplotlib; its directory must exist)",
    )
    check.add_argument("--debug", action="store_true", help="show tracebacks")
    check.add_argument("--no-cache", action="store_true", help=_NO_CACHE_HELP)
    check.set_defaults(run=_check)
    args = parser.parse_args(argv)
    try:
        if not args.no_cache and not os.environ.get("HESSJAX_NO_COMPILATION_CACHE"):
            from .compilation_cache import enable_compilation_cache

            try:
                enable_compilation_cache()
            except OSError as err:  # a read-only home: run without the cache, say so once
                _log(f"hessjax: compilation cache not used ({err}); pass --no-cache to silence this")
        return args.run(args)
    except Exception as err:
        if getattr(args, "debug", False):
            raise
        message = _first_line(str(err)) if isinstance(err, ModelError) else _describe(err)
        print(f"hessjax {args.command}: error: {message}", file=sys.stderr, flush=True)
        if getattr(args, "json", False):
            _print_json_error(message)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
