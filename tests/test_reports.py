"""Reports (text and HTML) of fits, certificates and comparisons against saved reference files.

The references live in tests/reference/. Numbers are compared with a
tolerance (the text around them must match exactly, up to whitespace), because
digits at the rounding level may differ between CPUs; regenerate the files with
``HESSJAX_UPDATE_REFERENCES=1 pytest tests/test_reports.py`` after an
intended change, and review the diff.
"""

import os
import re
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj

REFERENCE = Path(__file__).parent / "reference"
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _split(text: str) -> tuple[list[str], list[float]]:
    skeleton = NUMBER.sub("#", text)
    skeleton = re.sub(r"\s+", " ", skeleton).strip()
    return skeleton.split("#"), [float(m) for m in NUMBER.findall(text)]


def assert_matches_reference(text: str, name: str, rtol: float = 0.02, atol: float = 1e-6) -> None:
    """Same words and layout tokens; numbers equal to rtol, or both below atol in magnitude
    (rounding-level values such as a gradient of 1e-12 vary between machines)."""
    path = REFERENCE / name
    if os.environ.get("HESSJAX_UPDATE_REFERENCES") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing reference {path}; create it with HESSJAX_UPDATE_REFERENCES=1"
    expected = path.read_text()
    got_words, got_numbers = _split(text)
    want_words, want_numbers = _split(expected)
    assert got_words == want_words, f"{name}: text differs from the reference\n{text}"
    assert len(got_numbers) == len(want_numbers)
    for got, want in zip(got_numbers, want_numbers):
        if abs(got) <= atol and abs(want) <= atol:
            continue
        assert abs(got - want) <= rtol * max(abs(want), atol), f"{name}: {got} != {want}\n{text}"


def logit_loglik(p, X, y):
    eta = X @ p["beta"]
    return y * eta - jnp.logaddexp(0.0, eta)


@pytest.fixture(scope="module")
def logit_fit():
    rng = np.random.default_rng(11)
    X = np.column_stack([np.ones(400), rng.normal(size=(400, 2))])
    y = (rng.uniform(size=400) < 1 / (1 + np.exp(-X @ np.array([-0.5, 1.0, 0.25])))).astype(float)
    return hj.fit(logit_loglik, {"beta": np.zeros(3)}, X, y)


@pytest.fixture(scope="module")
def flat_fit():
    def loglik(p, y):
        return -0.5 * (y - p["a"] - p["b"]) ** 2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hj.fit(loglik, {"a": 0.0, "b": 0.0}, np.array([1.0, 2.0, 4.0, 3.5]))


@pytest.fixture(scope="module")
def comparison():
    # Badly scaled (a ~ 1e-4, b ~ 1e4) and not quadratic; a forward FD with steps
    # far too large for b and c (truncation-dominated, so the report is
    # reproducible to many digits) next to central FD and a BFGS inverse.
    def f(x):
        a = (x[0] - 1e-4) / 1e-4
        b = (x[1] - 1e4) / 1e3
        return 0.5 * a**2 + 0.25 * b**4 + 0.5 * b**2 + 0.3 * a * b + jnp.exp(0.5 * (a + x[2])) + 0.5 * x[2] ** 2

    start = np.array([0.0, 9000.0, 1.0])
    x = hj.minimize(f, start, method="newton").x
    big = hj.fd_hessian(f, x, scheme="forward", step=np.array([1e-5, 300.0, 0.3]))
    return hj.compare_hessians(
        f, x, candidates={"forward FD, large steps": big}, include=("central", "bfgs"), bfgs_start=start
    )


def test_fit_text_and_html(logit_fit):
    assert_matches_reference(logit_fit.summary(), "fit_logit.txt")
    assert_matches_reference(str(logit_fit), "fit_logit.txt")
    assert_matches_reference(logit_fit._repr_html_(), "fit_logit.html")


def test_estimates_rounded_to_the_precision_of_their_se(logit_fit):
    lines = logit_fit.summary().splitlines()
    row = next(line for line in lines if line.startswith("beta[2]"))
    estimate, se = row.split()[1:3]
    # Two significant digits of the SE fix the decimals of the estimate.
    se_decimals = len(se.split(".")[1]) - 1
    assert len(estimate.split(".")[1]) == se_decimals


def test_diagnostics_text_and_html(logit_fit, flat_fit):
    assert_matches_reference(str(logit_fit.diagnostics), "diagnostics_valid.txt")
    assert_matches_reference(str(flat_fit.diagnostics), "diagnostics_flat.txt")
    assert_matches_reference(flat_fit.diagnostics._repr_html_(), "diagnostics_flat.html")
    assert_matches_reference(flat_fit.summary(), "fit_flat.txt")


def test_comparison_text_and_html(comparison):
    assert_matches_reference(str(comparison), "comparison_scaled.txt")
    assert_matches_reference(comparison._repr_html_(), "comparison_scaled.html")


def test_reference_check_can_fail(logit_fit):
    text = logit_fit.summary()
    with pytest.raises(AssertionError):
        assert_matches_reference(text.replace("VALID", "INVALID", 1), "fit_logit.txt")
    first = NUMBER.search(text.split("\n", 3)[-1])
    changed = text[: first.start()] + str(float(first.group()) * 1.5 + 1) + text[first.end():]
    with pytest.raises(AssertionError):
        assert_matches_reference(changed, "fit_logit.txt")


def test_batch_and_study_html_render():
    y = np.random.default_rng(0).normal(size=(20, 30))

    def loglik(p, y):
        return -0.5 * ((y - p["mu"]) / jnp.exp(p["ls"])) ** 2 - p["ls"]

    fits = hj.fit_batch(loglik, {"mu": 0.0, "ls": 0.0}, y, progress=False)
    assert "20 fits" in fits._repr_html_()
    boot = hj.bootstrap(fits[0], n_boot=50, key=0)
    assert boot._repr_html_().startswith("<pre style=\"white-space:pre-wrap\">") and "bootstrap" in boot._repr_html_()
