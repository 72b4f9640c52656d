"""Reliability defects of issue 11, one regression test per bug.

The CLI contract and input handling have their own modules
(``test_reliability_cli.py``, ``test_reliability_inputs.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_fresh_function_per_fit_does_not_leak_programs_until_crash():
    """Bug: FitResult.objective was a static field of the compiled program's output,
    so JAX's caches kept every objective and its executables alive (+11 MB RSS and
    +430 memory maps per fresh-lambda fit; segfault near 170 fits); fit_batch's and
    bootstrap's weak caches held their own keys. The full 300-fit run is
    ``benchmarks/fresh_functions.py --n 300`` (results/fresh_functions.md); here a
    short run in a fresh process checks the released objects (deterministic) and
    the memory-map growth of a fit after warm-up (was +430, a fixed program's
    compile adds none that stay)."""
    script = os.path.join(ROOT, "benchmarks", "fresh_functions.py")
    done = subprocess.run(
        [sys.executable, script, "--n", "3", "--json"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["fit_functions_alive"] == 0
    assert result["objectives_alive_after_fits"] == 0
    assert result["maps_growth_per_call"] < 100, result
    for what, row in result["entry_points"].items():
        assert row == {"functions_alive": 0, "objectives_alive": 0}, (what, row)


def test_one_positive_definiteness_rule_for_fit_and_compare():
    """Bug: compare_hessians used a raw Cholesky and fit the scaled-spectrum gate,
    so [[1, 1-1e-14], [1-1e-14, 1]] (scaled eigenvalue 1e-14 < 1e3 eps) was PD for
    one and not for the other."""
    h = np.array([[1.0, 1.0 - 1e-14], [1.0 - 1e-14, 1.0]])
    with pytest.warns(hj.HessianWarning):
        fit = hj.fit(lambda x: -0.5 * x @ jnp.asarray(h) @ x, np.zeros(2))
    comparison = hj.compare_hessians(
        lambda x: 0.5 * x @ jnp.asarray(h) @ x, np.zeros(2), candidates={"mine": h}, include=()
    )
    assert not bool(fit.diagnostics.hessian_is_pd)
    assert not comparison.exact_is_pd
    assert not comparison["mine"].is_pd
    # Just above the flat tolerance (scaled eigenvalue 1e-11 > 1e3 eps = 2.2e-13): PD for both.
    h2 = np.array([[1.0, 1.0 - 1e-11], [1.0 - 1e-11, 1.0]])
    fit2 = hj.fit(lambda x: -0.5 * x @ jnp.asarray(h2) @ x, np.zeros(2))
    comparison2 = hj.compare_hessians(
        lambda x: 0.5 * x @ jnp.asarray(h2) @ x, np.zeros(2), candidates={"mine": h2}, include=()
    )
    assert bool(fit2.diagnostics.hessian_is_pd) and comparison2.exact_is_pd
    assert comparison2["mine"].is_pd


def test_data_passed_as_keyword_gets_a_hint_not_just_unknown_option():
    """Bug: fit(loglik, init, y=y) said only "unknown option(s) ['y']"."""
    with pytest.raises(TypeError, match=r"y looks like data: data are passed by position.*fit\(loglik, init, y\)"):
        hj.fit(lambda p, y: -0.5 * (y - p) ** 2, 0.0, y=np.arange(3.0))


def test_shared_design_matrix_without_in_axes_gets_a_hint():
    """Bug: fit_batch(loglik, init, X, Y) with X shared by all fits said only that the
    batch sizes differ; the fix (in_axes=(None, 0)) was not named."""
    X, Y = np.ones((20, 2)), np.zeros((5, 20))
    with pytest.raises(ValueError, match=r"batch sizes \{'batched_data\[0\]': 20, 'batched_data\[1\]': 5\}.*in_axes=\(None, 0\)"):
        hj.fit_batch(lambda b, X, y: -0.5 * jnp.sum((y - X @ b) ** 2), np.zeros(2), X, Y)


def test_max_steps_beyond_int32_is_rejected_not_wrapped_to_zero():
    """Bug: max_steps=2**31 wrapped to 0 in the int32 loop counter: no step taken."""
    with pytest.raises(ValueError, match="max_steps"):
        hj.fit(lambda p, y: -0.5 * (y - p) ** 2, 0.0, np.arange(3.0), max_steps=2**31)
