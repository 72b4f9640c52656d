"""The README's first command: ``hessjax demo``."""

import subprocess
import sys

import numpy as np

from hessjax.cli import main
from hessjax.demo import mixture_negloglik, simulate_mixture


def test_demo_reports_saddle_for_bfgs_and_minimum_for_newton(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    bfgs, newton = out.split("== method='newton'")
    assert "saddle point" in bfgs
    assert "positive definite" in newton
    assert "success = True" in newton


def test_python_dash_m_runs_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "hessjax", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in proc.stdout


def test_demo_data_and_likelihood_are_the_documented_ones():
    y = simulate_mixture(0)
    assert y.shape == (600,)
    # At equal components the mixture likelihood is the single normal likelihood.
    params = {"logit_w": 0.3, "mu": np.array([0.1, 0.1]), "log_s": np.array([0.2, 0.2])}
    sigma = np.exp(0.2)
    expected = -np.sum(-0.5 * np.log(2 * np.pi * sigma**2) - 0.5 * ((y - 0.1) / sigma) ** 2)
    from hessjax._precision import float64_entry_point

    value = float64_entry_point(lambda: float(mixture_negloglik(params, y)))()
    assert abs(value - expected) <= 1e3 * np.finfo(float).eps * abs(expected)
