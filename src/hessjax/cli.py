"""Command-line interface: ``hessjax demo`` and ``hessjax check MODEL.py``.

Results go to stdout, progress and timing lines to stderr. Exit status of
``check``: 0 when the result is valid (a certified maximum and, when a matrix
is given, the matrix agrees with the exact Hessian), 1 when it is not, 2 for
bad input (missing file, no ``loglik``, wrong shapes), so it can gate a
pipeline. Errors are one line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

__all__ = ["main", "load_model", "ModelError"]


class ModelError(ValueError):
    """The model file or an input file is unusable; the message says how to fix it."""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- demo ---------------------------------------------------------------------------------
def _demo(args: argparse.Namespace) -> int:
    from .demo import render_demo, run_demo

    _log("hessjax demo: fitting with SciPy BFGS, then exact and numeric Hessians ...")
    demo = run_demo(seed=args.seed)
    print(render_demo(demo))
    if args.plot:
        from .plots import plot_comparison

        plot_comparison(demo.comparison, path=args.plot)
        _log(f"wrote {args.plot}")
    return 0


# -- check --------------------------------------------------------------------------------
def load_model(path: str) -> tuple[Any, Any, tuple]:
    """``(loglik, init, data)`` from a Python file defining them at module level.

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
    import runpy

    if not os.path.isfile(path):
        raise ModelError(f"model file {path!r} not found; pass the path of a .py file defining loglik, init and data.")
    try:
        namespace = runpy.run_path(path, run_name="hessjax_model")
    except Exception as err:  # the user's code: report it in one line
        raise ModelError(f"running {path} failed: {type(err).__name__}: {err}") from err
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
    return loglik, init, data


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
    import warnings

    import jax.numpy as jnp

    from .compare import CandidateReport, check_hessian, compare_hessians
    from .report import render_candidate
    from .fit import fit

    loglik, init, data = load_model(args.model)

    def negloglik(p, *d):
        return -jnp.sum(loglik(p, *d))

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if args.at:
                at = _params_at(init, _load_array(args.at, "--at"), args.at)
                _log("certifying the given parameters (no optimization) ...")
                result = fit(loglik, at, *data, max_steps=0)
            else:
                _log("fitting with trust-region Newton on the exact Hessian ...")
                result = fit(loglik, init, *data)
        except ModelError:
            raise
        except (TypeError, ValueError) as err:
            raise ModelError(f"{args.model}: {err}".splitlines()[0]) from err
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
    valid = bool(result.diagnostics.is_valid) and (cmp.ok if (args.hessian or args.inverse) else True)
    if args.json:
        print(json.dumps(_json_report(result, cmp, valid, messages), indent=2))
    else:
        print(result.summary())
        print()
        print(render_candidate(cmp, list(result.names)) if isinstance(cmp, CandidateReport) else cmp)
        for m in messages:
            print(f"warning: {m}")
        print()
        print(f"RESULT: {'VALID' if valid else 'NOT VALID'}")
    return 0 if valid else 1


def _json_report(result, cmp, valid: bool, messages: list[str]) -> dict:
    import numpy as np

    d = result.diagnostics
    num = lambda v: None if not np.isfinite(v) else float(v)  # noqa: E731
    return {
        "valid": valid,
        "names": list(result.names),
        "estimate": [float(v) for v in result.estimate],
        "se": [num(v) for v in result.se_vector],
        "loglik": float(result.loglik),
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hessjax`` console script (also ``python -m hessjax``).

    Examples
    --------
    >>> from hessjax.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="hessjax", description="Exact Hessians and standard errors you can trust."
    )
    parser.add_argument("--version", action="version", version=f"hessjax {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="SciPy BFGS hess_inv, statsmodels, FD and exact SEs side by side, with a verdict"
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the simulated data")
    demo.add_argument("--plot", metavar="FILE.png", help="write the comparison figure (needs matplotlib)")
    demo.set_defaults(run=_demo)
    check = sub.add_parser(
        "check",
        help="fit or certify MODEL.py and check Hessians against the exact one",
        description=(
            "MODEL.py defines loglik(params, *data), init and data (a tuple). Exit status: 0 valid, "
            "1 not valid (certificate fails or the given matrix disagrees), 2 bad input."
        ),
    )
    check.add_argument("model", metavar="MODEL.py")
    check.add_argument("--at", metavar="PARAMS.npy", help="certify these parameters instead of fitting")
    group = check.add_mutually_exclusive_group()
    group.add_argument("--hessian", metavar="H.npy", help="your Hessian of -loglik to check")
    group.add_argument("--inverse", metavar="Hinv.npy", help="your inverse Hessian (covariance) to check")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("--debug", action="store_true", help="show tracebacks")
    check.set_defaults(run=_check)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ModelError as err:
        if getattr(args, "debug", False):
            raise
        print(f"hessjax {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
