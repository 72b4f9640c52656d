"""The command line: ``hessjax demo`` (the README's first command) and ``hessjax check``."""

import json
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import gammaln as sp_gammaln

from hessjax.cli import main
from hessjax.demo import NAMES, nb2_loglik, render_demo, run_demo, simulate_demo_data


@pytest.fixture(scope="module")
def demo():
    return run_demo()


def test_demo_numbers_against_independent_truths(demo):
    import scipy.optimize

    X, y = simulate_demo_data(0)
    # The exact SEs are the inverse of the closed-form NB2 observed information,
    # here checked against SciPy's own high-accuracy FD of an independent NumPy
    # log-likelihood (central differences on the analytic gradient).
    x = demo.fit.estimate

    def grad(p):
        beta, la = p[:-1], p[-1]
        mu = np.exp(X @ beta)
        r = np.exp(-la)
        gb = X.T @ (r * (y - mu) / (r + mu))
        from scipy.special import digamma

        dr = np.sum(digamma(y + r) - digamma(r) + np.log(r / (r + mu)) + (mu - y) / (r + mu))
        return -np.append(gb, dr * (-r))

    h = np.array([
        (grad(x + e) - grad(x - e)) / (2 * e[i])
        for i, e in enumerate(np.diag(1e-6 * np.maximum(np.abs(x), 1.0)))
    ])
    h = 0.5 * (h + h.T)
    se = np.sqrt(np.diag(np.linalg.inv(h)))
    np.testing.assert_allclose(demo.fit.se_vector, se, rtol=1e-5)
    # SciPy's BFGS result is reproduced, and the demo's claims follow from its numbers.
    res = scipy.optimize.minimize(
        lambda p: -np.sum(
            sp_gammaln(y + np.exp(-p[-1])) - sp_gammaln(np.exp(-p[-1])) - sp_gammaln(y + 1)
            + np.exp(-p[-1]) * np.log(np.exp(-p[-1]) / (np.exp(-p[-1]) + np.exp(X @ p[:-1])))
            + y * np.log(np.exp(X @ p[:-1]) / (np.exp(-p[-1]) + np.exp(X @ p[:-1])))
        ),
        np.zeros(4), method="BFGS",
    )
    np.testing.assert_allclose(demo.scipy_result.x, res.x, rtol=1e-6)
    ratio = demo.se["BFGS hess_inv"] / demo.se["exact (hessjax)"]
    np.testing.assert_allclose(ratio, np.sqrt(np.diag(res.hess_inv)) / demo.comparison.exact_se, rtol=1e-12)
    assert ratio[NAMES.index("conc")] < 0.01  # hess_inv's SE for conc is >100x too small
    naive = demo.se["forward FD, h=1e-05"] / demo.se["exact (hessjax)"]
    assert not (abs(naive[NAMES.index("conc")] - 1) < 0.01)
    np.testing.assert_allclose(demo.se["central FD (step rule)"], demo.se["exact (hessjax)"], rtol=1e-4)
    assert bool(demo.fit.diagnostics.is_valid)


def test_demo_report_and_timing(demo):
    text = render_demo(demo)
    for part in ("scipy.optimize.minimize", "BFGS hess_inv", "forward FD",
                 "central FD", "exact (hessjax)", "Certificate", "Verdict", "records the path"):
        assert part in text
    assert "wrong by up to a factor" in text
    # The comparison is labelled with the model's names, not x[i], in tables and verdicts.
    assert demo.comparison.names == NAMES and "x[" not in text and "x[" not in str(demo.comparison)
    assert "SE of conc" in text
    # Without statsmodels the column is missing, and one line says which extra adds it.
    assert "hessjax[compare]" not in text or "statsmodels approx_hess" not in demo.se
    import dataclasses

    lean = dataclasses.replace(demo, se={k: v for k, v in demo.se.items() if "statsmodels" not in k})
    lines = [line for line in render_demo(lean).splitlines() if "hessjax[compare]" in line]
    assert len(lines) == 1 and "statsmodels approx_hess" in lines[0]
    assert demo.seconds < 30  # the budget, compile included (informational: CI is slower)


def test_demo_cli_with_plot(tmp_path, capsys):
    png = tmp_path / "cmp.png"
    assert main(["demo", "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    assert "Verdict" in captured.out and png.stat().st_size > 1000
    assert "hessjax demo:" in captured.err  # progress on stderr, results on stdout


def test_python_dash_m_runs_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "hessjax", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in proc.stdout and "check" in proc.stdout


MODEL = textwrap.dedent(
    """
    import numpy as np
    import jax.numpy as jnp

    def loglik(p, x, y):
        eta = p["a"] + p["b"] * x
        return y * eta - jnp.logaddexp(0.0, eta)

    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    y = (rng.uniform(size=300) < 1 / (1 + np.exp(-(0.5 + 1.2 * x)))).astype(float)
    init = {"a": 0.0, "b": 0.0}
    data = (x, y)
    """
)


@pytest.fixture()
def model(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return path


def _exact(model):
    ns = {}
    exec(MODEL, ns)
    x, y = ns["data"]
    import statsmodels.api as sm

    res = sm.Logit(y, sm.add_constant(x)).fit(disp=0)
    return res.params, res.bse, np.linalg.inv(res.cov_params())


def test_check_fits_and_reports(model, capsys):
    assert main(["check", str(model)]) == 0
    out = capsys.readouterr().out
    assert "VALID: a strict local maximum" in out and "RESULT: VALID" in out
    assert "fd central" in out


def test_check_json_matches_statsmodels(model, capsys):
    assert main(["check", str(model), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    params, bse, _ = _exact(model)
    np.testing.assert_allclose(report["estimate"], params, rtol=1e-8)
    np.testing.assert_allclose(report["se"], bse, rtol=1e-6)
    assert report["valid"] and report["diagnostics"]["hessian_is_pd"]


def test_check_user_matrix_and_exit_status(model, tmp_path, capsys):
    params, _, info = _exact(model)
    np.save(tmp_path / "at.npy", params)
    np.save(tmp_path / "H.npy", info)
    np.save(tmp_path / "Hinv.npy", np.linalg.inv(info))
    np.save(tmp_path / "wrong.npy", np.eye(2) * 60.0)
    at = str(tmp_path / "at.npy")
    assert main(["check", str(model), "--at", at, "--hessian", str(tmp_path / "H.npy")]) == 0
    out = capsys.readouterr().out
    assert "against the exact Hessian: AGREES" in out and "SE ratio" in out and "RESULT: VALID" in out
    assert main(["check", str(model), "--at", at, "--inverse", str(tmp_path / "Hinv.npy")]) == 0
    capsys.readouterr()
    assert main(["check", str(model), "--at", at, "--hessian", str(tmp_path / "wrong.npy"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False and report["comparison"]["ok"] is False
    # Certifying a point that is not the maximum fails too.
    np.save(tmp_path / "off.npy", params + 0.3)
    assert main(["check", str(model), "--at", str(tmp_path / "off.npy")]) == 1


@pytest.mark.parametrize(
    "content, extra, message",
    [
        (None, [], "not found"),
        ("init = 0.0\n", [], "does not define loglik, data"),
        ("loglik = 3\ninit = 0.0\ndata = ()\n", [], "not a function"),
        ("import numpy as np\nloglik = lambda p, y: -(y - p) ** 2\ninit = 0.0\ndata = np.ones(3)\n", [], "make it a tuple"),
        ("raise RuntimeError('boom')\n", [], "RuntimeError: boom"),
        (MODEL, ["--at", "missing.npy"], "not found"),
        ("import numpy as np\nloglik = lambda p, y: -(y - p[0]) ** 2\ninit = np.zeros(2)\ndata = (np.ones((3, 3)), np.ones(2))\n", [], "failed while tracing"),
    ],
)
def test_check_bad_input_is_one_line(tmp_path, capsys, content, extra, message):
    path = tmp_path / "m.py"
    if content is not None:
        path.write_text(content)
    assert main(["check", str(path), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("hessjax check: error:")
    assert "Traceback" not in "\n".join(err)


def test_check_debug_shows_traceback(tmp_path):
    with pytest.raises(Exception):
        main(["check", str(tmp_path / "missing.py"), "--debug"])


def test_wrong_matrix_shape(model, tmp_path, capsys):
    np.save(tmp_path / "H.npy", np.eye(3))
    assert main(["check", str(model), "--hessian", str(tmp_path / "H.npy")]) == 2
    assert "expected (2, 2)" in capsys.readouterr().err


def test_demo_likelihood_is_nb2():
    from hessjax._precision import float64_entry_point

    X, y = simulate_demo_data(0, n=50)
    p = np.array([0.1, 0.01, 100.0, -0.2])
    mu, r = np.exp(X @ p[:3]), np.exp(0.2)
    expected = (sp_gammaln(y + r) - sp_gammaln(r) - sp_gammaln(y + 1) + r * np.log(r / (r + mu))
                + y * np.log(mu / (r + mu)))
    value = float64_entry_point(lambda: np.asarray(nb2_loglik(jnp.asarray(p), X, y)))()
    np.testing.assert_allclose(value, expected, rtol=1e-12)


def test_check_plot_draws_the_flagged_profiles_or_the_comparison(model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "check.png"
    assert main(["check", str(model), "--plot", str(png)]) == 0  # valid: the comparison figure
    assert png.stat().st_size > 5000 and "the Hessian comparison" in capsys.readouterr().err
    bounded = tmp_path / "bounded.py"
    bounded.write_text(
        "import jax.numpy as jnp\n"
        "def loglik(p, k, n):\n"
        "    return k * jnp.log(p['p']) + (n - k) * jnp.log1p(-p['p'])\n"
        "init = {'p': 0.5}\ndata = (25.0, 25.0)\nbounds = {'p': (0.0, 1.0)}\n"
    )
    assert main(["check", str(bounded), "--plot", str(png)]) == 1  # p on its bound: NOT VALID
    captured = capsys.readouterr()
    assert "profiles of p" in captured.err and "p is on a bound" in captured.out
