"""Public docstrings document what they raise (issue 11).

Every public function of ``hessjax.__all__`` has a numpydoc ``Raises`` section,
the result methods that raise on bad input have one too, every section
heading is underlined to its length at its own indentation (mkdocstrings
parses nothing else), and the exceptions and warnings named there exist.
Spot checks then call a documented condition and get the documented exception.
"""

from __future__ import annotations

import builtins
import inspect
import re
from types import SimpleNamespace

import numpy as np
import jax.numpy as jnp
import pytest

import hessjax as hj


def _unwrapped(obj):
    return inspect.unwrap(obj) if callable(obj) else obj


PUBLIC_FUNCTIONS = sorted(
    name for name in hj.__all__ if inspect.isfunction(_unwrapped(getattr(hj, name)))
)

# Public functions that raise nothing on any input (param_names reads only the
# shapes of any pytree), so they have no Raises section.
NEVER_RAISE = {"param_names"}

# Methods and properties of the public result classes that raise on bad input.
RESULT_MEMBERS = {
    "FitResult.conf_int": hj.FitResult.conf_int,
    "FitResult.robust_cov": hj.FitResult.robust_cov,
    "FitResult.delta": hj.FitResult.delta,
    "FitResult.batch_summary": hj.FitResult.batch_summary.fget,
    "FitResult.__getitem__": hj.FitResult.__getitem__,
    "LeastSquaresResult.conf_int": hj.LeastSquaresResult.conf_int,
    "Diagnostics.wald_failures": hj.Diagnostics.wald_failures,
    "Diagnostics.problems": hj.Diagnostics.problems,
    "Diagnostics.directions": hj.Diagnostics.directions,
    "MinimizeResult.message": hj.MinimizeResult.message.fget,
}

# numpydoc order of the sections used in this project.
ORDER = ["Parameters", "Returns", "Raises", "Warns", "Examples"]

_HEADING = re.compile(r"^(?P<indent>[ ]*)(?P<title>[A-Z][A-Za-z ]+)\n(?P=indent)(?P<rule>-{3,})$", re.M)


def _doc(obj) -> str:
    return inspect.getdoc(_unwrapped(obj)) or ""


def _sections(doc: str) -> dict[str, str]:
    """``{title: body}`` of the numpydoc sections of a cleaned docstring."""
    heads = list(_HEADING.finditer(doc))
    return {
        m.group("title"): doc[m.end(): heads[k + 1].start() if k + 1 < len(heads) else len(doc)]
        for k, m in enumerate(heads)
    }


def _entries(body: str) -> list[str]:
    """Names of the unindented entries of a Raises/Warns section body."""
    return [line.strip() for line in body.splitlines() if line and not line.startswith(" ")]


def _resolve(name: str):
    return getattr(hj, name, None) or getattr(builtins, name, None)


ALL_DOCUMENTED = {f"hessjax.{n}": getattr(hj, n) for n in PUBLIC_FUNCTIONS} | RESULT_MEMBERS


@pytest.mark.parametrize("name", [n for n in PUBLIC_FUNCTIONS if n not in NEVER_RAISE])
def test_public_function_has_raises_section(name):
    doc = _doc(getattr(hj, name))
    assert "\nRaises\n------\n" in doc, f"hessjax.{name} needs a numpydoc Raises section"
    assert _entries(_sections(doc)["Raises"]), f"hessjax.{name}: the Raises section is empty"


@pytest.mark.parametrize("name", sorted(RESULT_MEMBERS))
def test_raising_result_member_has_raises_section(name):
    assert "\nRaises\n------\n" in _doc(RESULT_MEMBERS[name]), f"{name} needs a Raises section"


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTED))
def test_section_headings_are_well_formed_and_ordered(name):
    raw = _unwrapped(ALL_DOCUMENTED[name]).__doc__ or ""
    for m in _HEADING.finditer(raw):
        assert len(m.group("rule")) == len(m.group("title")), (
            f"{name}: the underline of {m.group('title')!r} must be as long as the heading"
        )
    # A heading whose underline is indented differently is not a section at all.
    for title in ORDER:
        for m in re.finditer(rf"^([ ]*){title}\n([ ]*)-+$", raw, re.M):
            assert m.group(1) == m.group(2), f"{name}: {title!r} and its underline are misaligned"
    present = [t for t in _sections(_doc(ALL_DOCUMENTED[name])) if t in ORDER]
    assert present == sorted(present, key=ORDER.index), f"{name}: sections out of numpydoc order {present}"
    assert len(present) == len(set(present)), f"{name}: a section appears twice"


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTED))
def test_documented_exceptions_and_warnings_exist(name):
    sections = _sections(_doc(ALL_DOCUMENTED[name]))
    for entry in _entries(sections.get("Raises", "")):
        cls = _resolve(entry)
        assert isinstance(cls, type) and issubclass(cls, BaseException), f"{name}: Raises {entry!r}?"
    for entry in _entries(sections.get("Warns", "")):
        cls = _resolve(entry)
        assert isinstance(cls, type) and issubclass(cls, hj.HessjaxWarning), f"{name}: Warns {entry!r}?"


# -- spot checks: a documented condition raises the documented exception -----------------


def _loglik(p, y):  # per-observation values: bootstrap, robust_cov
    return -0.5 * (y - p["mu"]) ** 2


def _scalar(p):
    return jnp.sum((p - 1.0) ** 2)


Y = np.array([0.5, 1.5, 1.0, 2.0, 0.0])


@pytest.fixture(scope="module")
def fit():
    return hj.fit(_loglik, {"mu": 0.0}, Y)


def _raises(name: str, exc: type) -> None:
    """The exception is the one the docstring of ``name`` lists."""
    doc = _doc(RESULT_MEMBERS.get(name) or getattr(hj, name))
    assert exc.__name__ in _entries(_sections(doc).get("Raises", "")), f"{name} does not document {exc.__name__}"


SPOT_CHECKS = {
    # name: (documented exception, call)
    "fit": (ValueError, lambda: hj.fit(_loglik, {"mu": 0.0}, Y, max_steps=2**31)),
    "minimize": (TypeError, lambda: hj.minimize(_scalar, np.zeros(2), method="newton", init_hessian="exact")),
    "hessian_memory_estimate": (ValueError, lambda: hj.hessian_memory_estimate(-1)),
    "hessian": (hj.HessianMemoryError, lambda: hj.hessian(_scalar, np.zeros(2), max_bytes=1)),
    "hvp": (ValueError, lambda: hj.hvp(_scalar, np.zeros(2), np.zeros(3))),
    "fit_batch": (ValueError, lambda: hj.fit_batch(_loglik, {"mu": 0.0}, Y[None], in_axes=None)),
    "shard_data": (ValueError, lambda: hj.shard_data()),
    "least_squares": (ValueError, lambda: hj.least_squares(lambda b, y: y - b, np.zeros(1), Y, gtol=-1.0)),
    "coverage_study": (ValueError, lambda: hj.coverage_study(lambda k, p: (Y,), _loglik, {"mu": 0.0}, n_rep=1, key=0)),
    "fd_hessian": (ValueError, lambda: hj.fd_hessian(_scalar, np.zeros(2), scheme="backward")),
    "check_scipy_result": (TypeError, lambda: hj.check_scipy_result(_scalar, object())),
    "extreme_eigenvalues": (ValueError, lambda: hj.extreme_eigenvalues(lambda b: -_scalar(b), np.zeros(2), k=0)),
    "minimize_newton_cg": (ValueError, lambda: hj.minimize_newton_cg(_scalar, np.zeros(2), max_cg_steps=0)),
    "plot_bootstrap": (ValueError, lambda: hj.plot_bootstrap(SimpleNamespace(names=("mu",)), names=["a", "b"])),
}


@pytest.mark.parametrize("name", sorted(SPOT_CHECKS))
def test_documented_condition_raises(name):
    exc, call = SPOT_CHECKS[name]
    _raises(name, exc)
    with pytest.raises(exc):
        call()


def test_bootstrap_without_key_raises_value_error(fit):
    _raises("bootstrap", ValueError)
    with pytest.raises(ValueError, match="`key` is required"):
        hj.bootstrap(fit, n_boot=10)


def test_conf_int_level_outside_unit_interval_raises_value_error(fit):
    _raises("FitResult.conf_int", ValueError)
    with pytest.raises(ValueError, match=r"`level` must be in \(0, 1\)"):
        fit.conf_int(level=2)


def test_profile_intervals_bad_level_raises_value_error(fit):
    _raises("profile_intervals", ValueError)
    with pytest.raises(ValueError, match="level"):
        hj.profile_intervals(fit, level=1.5)


def test_delta_needs_a_callable(fit):
    _raises("FitResult.delta", TypeError)
    with pytest.raises(TypeError, match="callable"):
        fit.delta(1.0)


def test_single_fit_cannot_be_indexed_or_summarized_as_a_batch(fit):
    _raises("FitResult.__getitem__", TypeError)
    _raises("FitResult.batch_summary", ValueError)
    with pytest.raises(TypeError):
        fit[0]
    with pytest.raises(ValueError):
        fit.batch_summary


def test_documented_convergence_warning_is_issued():
    assert "ConvergenceWarning" in _entries(_sections(_doc(hj.minimize)).get("Warns", ""))
    with pytest.warns(hj.ConvergenceWarning):
        hj.minimize(_scalar, np.zeros(2), max_steps=0)
