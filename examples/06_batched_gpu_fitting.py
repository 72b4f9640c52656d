"""Thousands of fits in one compiled program: ``hj.fit_batch`` (CPU, GPU, several devices).

A logistic regression (4 coefficients, 250 observations, one shared design
matrix) is fitted to thousands of simulated response vectors at once.
``hj.fit_batch`` vmaps the whole ``hj.fit`` pipeline (trust-region Newton,
exact Hessian, Cholesky-gated covariance, certificate) and runs it in chunks
sized to a memory budget; every fit gets its own SEs and certificate.

The same script runs unchanged on a GPU or on several devices:

- install a CUDA build of JAX (``pip install -U "jax[cuda12]"``): ``jax.devices()``
  then lists the GPU and ``fit_batch`` runs there; the default chunk size is
  derived from a quarter of the device memory;
- with several devices, each chunk is split across all of them (each fit runs
  whole on one device, so the results equal the one-device results bit for
  bit); choose them with ``devices=jax.devices()[:2]``;
- for one *large* dataset instead of many small ones, spread its observations
  over the devices with ``hj.fit(loglik, init, *hj.shard_data(X, y))``;
- to try several devices on a laptop:
  ``XLA_FLAGS=--xla_force_host_platform_device_count=4 python 06_batched_gpu_fitting.py``.

What to look for in the output: the device list; the time per fit of the
batch against a Python loop of ``hj.fit`` calls (on 2 CPU cores the batch is
several times faster per fit once compiled; on a GPU the gap is far larger); ``batch_summary`` (all fits
converged and valid, or the count of those that are not); one fit's full
summary via ``fits[i]``; the mean SE across datasets against the empirical SD
of the estimates (about equal: the SEs are calibrated); and the sharded
large-data fit.
"""

from __future__ import annotations

import os
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

import hessjax as hj

TRUE_BETA = np.array([-0.3, 0.8, -0.5, 0.25])


def loglik(p, X, y):
    """Per-observation logistic log-likelihood for ONE dataset."""
    eta = X @ p["beta"]
    return y * eta - jnp.logaddexp(0.0, eta)


def simulate(n_datasets: int, n_obs: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n_obs), rng.normal(size=(n_obs, 3))])
    prob = 1.0 / (1.0 + np.exp(-(X @ TRUE_BETA)))
    Y = (rng.uniform(size=(n_datasets, n_obs)) < prob).astype(np.float64)  # one row per dataset
    return X, Y


def main(smoke: bool = False) -> None:
    t0 = time.perf_counter()
    n_datasets = 1_000 if smoke else 5_000
    n_obs = 250
    print(f"JAX {jax.__version__}, default backend {jax.default_backend()!r}, devices: {jax.devices()}")

    X, Y = simulate(n_datasets, n_obs)
    init = {"beta": np.zeros(4)}

    # One call fits every row of Y; X is shared (in_axes None), Y is batched along axis 0.
    def run():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", hj.HessjaxWarning)
            fits = hj.fit_batch(loglik, init, X, Y, in_axes=(None, 0), progress=False)
        for w in caught:  # e.g. a dataset with separation: flagged, not silently "fixed"
            print(f"  [warned] {w.category.__name__}: {w.message}")
        return fits

    t = time.perf_counter()
    fits = run()
    first = time.perf_counter() - t
    t = time.perf_counter()
    fits = run()  # same shapes: the compiled program is reused
    second = time.perf_counter() - t
    print(f"\nhj.fit_batch: {n_datasets} logistic regressions (n = {n_obs}, 4 coefficients)")
    print(f"  first call {first:.2f} s (compilation included), second call {second:.2f} s "
          f"= {1e6 * second / n_datasets:.0f} us per fit")

    n_loop = 20
    hj.fit(loglik, init, X, Y[0])  # compile the single-fit program first
    t = time.perf_counter()
    for i in range(n_loop):
        hj.fit(loglik, init, X, Y[i])
    loop = (time.perf_counter() - t) / n_loop
    print(f"  a Python loop of hj.fit: {1e6 * loop:.0f} us per fit "
          f"({loop / (second / n_datasets):.0f}x slower per fit)")

    print(f"\nfits.batch_summary: {fits.batch_summary}")
    print(f"fits.params['beta'].shape = {fits.params['beta'].shape}, fits.se['beta'].shape = {fits.se['beta'].shape}")
    print(f"iterations per fit: median {np.median(np.asarray(fits.optimizer.nit)):.0f}, "
          f"max {np.max(np.asarray(fits.optimizer.nit))}")

    valid = np.asarray(fits.diagnostics.is_valid)
    est, se = np.asarray(fits.params["beta"])[valid], np.asarray(fits.se["beta"])[valid]
    print("\nCalibration over the valid fits (the truth is known):")
    print(f"  {'coef':<8}{'true':>8}{'mean est':>10}{'SD of est':>11}{'mean SE':>9}{'SE/SD':>7}{'coverage':>10}")
    cover = np.mean(np.abs(est - TRUE_BETA) <= 1.959964 * se, axis=0)
    for j in range(4):
        sd = est[:, j].std(ddof=1)
        print(f"  beta[{j}] {TRUE_BETA[j]:8.3f}{est[:, j].mean():10.4f}{sd:11.4f}{se[:, j].mean():9.4f}"
              f"{se[:, j].mean() / sd:7.3f}{cover[j]:10.3f}")

    i = 17
    print(f"\nfits[{i}] is a full FitResult (summary, robust_cov, delta, conf_int):\n")
    print(fits[i].summary())
    odds = fits[i].delta(lambda p: jnp.exp(p["beta"][1]))
    print(f"\n  odds ratio of x1 in dataset {i}: {float(odds.value):.3f} (delta-method SE {float(odds.se):.3f})")

    # One large dataset, observations spread across all visible devices (one device here is fine).
    n_big = 20_000 if smoke else 200_000
    n_dev = len(jax.devices())
    n_big -= n_big % n_dev  # the observation count must divide evenly by the number of devices
    Xb, Yb = simulate(1, n_big, seed=1)
    t = time.perf_counter()
    big = hj.fit(loglik, init, *hj.shard_data(Xb, Yb[0]))
    print(f"\nOne large dataset (n = {n_big}) sharded over {n_dev} device(s) with hj.shard_data: "
          f"{time.perf_counter() - t:.2f} s, valid = {bool(big.diagnostics.is_valid)}")
    print("  beta =", np.array2string(big.estimate, precision=4), " SE =", np.array2string(big.se_vector, precision=4))
    print(f"\n({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main(smoke=os.environ.get("HESSJAX_SMOKE") == "1")
