"""BFGS inverse-Hessian trace, and the checker's figures (rendered to PNG)."""

import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj


def distance_to_one(p):
    return jnp.sum((p - 1.0) ** 2)


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_trace_on_quadratic_shows_the_identity_surviving():
    tr = hj.bfgs_trace(distance_to_one, np.zeros(2))
    np.testing.assert_allclose(tr.inv_hessians[0], np.eye(2))
    np.testing.assert_allclose(tr.inv_hessians[-1], [[0.75, -0.25], [-0.25, 0.75]], atol=1e-12)
    np.testing.assert_allclose(tr.exact_inverses[-1], 0.5 * np.eye(2), atol=1e-15)
    # ||[[.25, -.25], [-.25, .25]]||_F / ||0.5 I||_F = 0.5 / 0.7071.
    assert tr.errors[-1] == pytest.approx(1 / np.sqrt(2), rel=1e-12)
    np.testing.assert_allclose(tr.se_ratio_range[-1], [np.sqrt(1.5)] * 2, rtol=1e-12)
    assert "rel. error" in str(tr)


def test_trace_on_rosenbrock_converges_to_the_exact_inverse():
    tr = hj.bfgs_trace(rosenbrock, np.array([-1.2, 1.0]))
    res = hj.minimize(rosenbrock, np.array([-1.2, 1.0]), method="bfgs", init_hessian="identity")
    np.testing.assert_allclose(tr.x[-1], res.x, rtol=1e-12)
    np.testing.assert_allclose(tr.inv_hessians[-1], res.inv_hessian, rtol=1e-10)
    assert tr.errors[-1] < 1e-2 < tr.errors[0]


@pytest.mark.parametrize("kind", ["sweep", "comparison", "trace"])
def test_plots_render_to_png(tmp_path, kind):
    pytest.importorskip("matplotlib")
    path = tmp_path / f"{kind}.png"
    if kind == "sweep":
        hj.plot_step_sweep(hj.step_sweep(lambda p: jnp.sum(jnp.exp(p)), np.array([0.5, -0.5])), path=path)
    elif kind == "comparison":
        cmp = hj.compare_hessians(distance_to_one, np.ones(2), include=("central", "bfgs"), bfgs_start=np.zeros(2))
        hj.plot_comparison(cmp, path=path)
    else:
        hj.plot_bfgs_trace(hj.bfgs_trace(rosenbrock, np.array([-1.2, 1.0])), path=path)
    assert path.exists() and path.stat().st_size > 1000
