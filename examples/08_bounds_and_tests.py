"""Bounds, fixed parameters, weighted least squares and model comparison.

What users of iminuit (limits, fixed, MINOS, mncontour), lmfit (min/max,
vary=False), ``curve_fit`` (sigma, absolute_sigma) and statsmodels (aic, bic,
compare_lr_test, wald_test) reach for, on exact Hessians:

1. A probability at its bound: 25 successes in 25 trials with ``p`` in [0, 1].
   The estimate is 1, its SE is undefined (NaN, flagged, NOT VALID), and the
   95% profile interval is one-sided: [exp(-chi2_1(0.95)/2/25), 1] = [0.926, 1].
2. A regression with ``sigma`` bounded below by 0 (natural-scale SE by the
   exact delta method) and a coefficient held fixed; AIC/BIC, the
   likelihood-ratio test of the restriction against the full model, and the
   Wald test of the same hypothesis.
3. The same straight line as weighted least squares with known measurement
   errors: ``least_squares(..., sigma=s, absolute_sigma=True)`` equals
   ``scipy.optimize.curve_fit``'s ``pcov``.
4. The profile of sigma and the 95% joint region of the two free
   coefficients (``fit.profile``, ``fit.contour``); with matplotlib installed,
   ``hj.plot_profile`` and ``hj.plot_contour`` draw them to a temporary
   directory (to ``$HESSJAX_FIGURE_DIR`` when that is set, as the docs build
   does).

What to look for: "one-sided profile interval [0.926, 1]", the LR and Wald
statistics close to each other (a nearly quadratic likelihood), and the
weighted SEs equal to curve_fit's to about 1e-9.
"""

from __future__ import annotations

import os
import tempfile
import warnings

import jax.numpy as jnp
import numpy as np
import scipy.optimize
from scipy import stats

import hessjax as hj

SMOKE = os.environ.get("HESSJAX_SMOKE") == "1"


def binomial(p, k, n):
    return k * jnp.log(p["p"]) + (n - k) * jnp.log1p(-p["p"])


def regression(p, x, y):
    mean = p["beta"][0] + p["beta"][1] * x + p["beta"][2] * x**2
    return -0.5 * ((y - mean) / p["sigma"]) ** 2 - jnp.log(p["sigma"])


def line_residuals(beta, x, y):
    return y - (beta[0] + beta[1] * x)


def main() -> None:
    print("1. 25 successes in 25 trials, p in [0, 1]")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        at_bound = hj.fit(binomial, {"p": 0.5}, 25.0, 25.0, bounds={"p": (0.0, 1.0)})
    print(f"   estimate {float(at_bound.params['p']):.6f}, SE {float(at_bound.se['p'])}")
    print(f"   {str(at_bound.diagnostics).splitlines()[0]}")
    print(f"   warning: {caught[0].category.__name__}: {str(caught[0].message)[:90]}...")
    lo, hi = at_bound.conf_int(method="profile")[0]
    exact = np.exp(-stats.chi2.ppf(0.95, 1) / 2 / 25)
    print(f"   one-sided profile interval [{lo:.3f}, {hi:.3g}] (closed form lower end {exact:.6f})")

    print("\n2. y = b0 + b1 x + b2 x^2 + N(0, sigma^2), sigma > 0")
    rng = np.random.default_rng(8)
    n = 60 if SMOKE else 200
    x = rng.uniform(-2.0, 2.0, n)
    y = 1.0 + 0.8 * x + 0.15 * x**2 + rng.normal(0.0, 0.7, n)
    init = {"beta": np.zeros(3), "sigma": 1.0}
    full = hj.fit(regression, init, x, y, bounds={"sigma": (0.0, None)})
    restricted = hj.fit(regression, init, x, y, bounds={"sigma": (0.0, None)}, fixed="beta[2]")
    print(full.summary().split("\n\n")[0])
    print(restricted.summary().split("\n\n")[0])
    print(f"   AIC full {full.aic:.3f} vs restricted {restricted.aic:.3f}; "
          f"BIC full {full.bic:.3f} vs restricted {restricted.bic:.3f}")
    lr = hj.lr_test(restricted, full)
    wald = full.wald_test("beta[2]")
    print(f"   {lr}\n   {wald}")

    print("\n3. Weighted least squares with known errors vs scipy.optimize.curve_fit")
    s = 0.3 + 0.2 * np.abs(x)
    yw = 1.0 + 0.8 * x + rng.normal(0.0, s)
    wls = hj.least_squares(line_residuals, np.zeros(2), x, yw, sigma=s, absolute_sigma=True)
    _, pcov = scipy.optimize.curve_fit(lambda t, a, b: a + b * t, x, yw, sigma=s, absolute_sigma=True)
    print(f"   hessjax se {np.asarray(wls.se)}, curve_fit {np.sqrt(np.diag(pcov))}, "
          f"max rel diff {np.max(np.abs(np.asarray(wls.se) / np.sqrt(np.diag(pcov)) - 1)):.1e}")

    print("\n4. Profile of sigma and the joint 95% region of beta[0], beta[1]")
    curve = full.profile("sigma", n_points=7)
    print("   sigma      " + " ".join(f"{v:8.4f}" for v in curve.values))
    print("   drop       " + " ".join(f"{v:8.4f}" for v in curve.drop))
    region = full.contour("beta[0]", "beta[1]", level=0.95, n_points=8)
    print("   region     " + "; ".join(f"({a:.3f}, {b:.3f})" for a, b in region))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("   (matplotlib not installed: no figures)")
        return
    keep = os.environ.get("HESSJAX_FIGURE_DIR")  # the docs build sets it to keep the figures
    if keep:
        os.makedirs(keep, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(keep or tmp, name) for name in ("profile.png", "contour.png")]
        hj.plot_profile(full, "sigma", path=paths[0])
        hj.plot_contour(full, "beta[0]", "beta[1]", n_points=24, path=paths[1])
        print(f"   drew profile.png and contour.png ({sum(map(os.path.isfile, paths))} figures"
              + (", below)" if keep else ")"))


if __name__ == "__main__":
    main()
