"""fit_batch: many fits in one compiled program, equal to the individual fits."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import gammaln

import hessjax as hj
from hessjax.batch import batch_plan, fit_memory_estimate

INIT = {"mu": 0.0, "log_sigma": 0.0}


def normal_loglik(p, y):
    s = jnp.exp(p["log_sigma"])
    return -0.5 * ((y - p["mu"]) / s) ** 2 - p["log_sigma"]


def nb2_loglik(p, X, y):
    mu = jnp.exp(X @ p["beta"])
    alpha = jnp.exp(p["log_alpha"])
    r = 1.0 / alpha
    return (
        gammaln(y + r) - gammaln(r) - gammaln(y + 1.0)
        + r * jnp.log(r / (r + mu)) + y * jnp.log(mu / (r + mu))
    )


def nb2_data(n_sets, n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    mu = np.exp(X @ np.array([0.5, 0.3, -0.2]))
    r = 2.0  # alpha = 0.5
    y = rng.negative_binomial(r, r / (r + mu), size=(n_sets, n)).astype(np.float64)
    return X, y


NB_INIT = {"beta": np.zeros(3), "log_alpha": 0.0}


def test_batch_elements_equal_individual_fits_shared_design():
    X, y = nb2_data(24)
    fits = hj.fit_batch(nb2_loglik, NB_INIT, X, y, in_axes=(None, 0), progress=False)
    assert fits.batch_summary.valid == 24
    for i in (0, 7, 23):
        one = hj.fit(nb2_loglik, NB_INIT, X, y[i])
        np.testing.assert_allclose(fits[i].estimate, one.estimate, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fits[i].se_vector, one.se_vector, rtol=1e-10)
        np.testing.assert_allclose(fits[i].hessian, one.hessian, rtol=1e-10, atol=1e-10 * np.abs(one.hessian).max())
        assert bool(fits[i].diagnostics.is_valid)
    # The element is a full FitResult: robust_cov and delta work on it.
    one = hj.fit(nb2_loglik, NB_INIT, X, y[7])
    np.testing.assert_allclose(fits[7].robust_cov(), one.robust_cov(), rtol=1e-9)
    assert fits[7].data[0].shape == X.shape and fits.data[0].shape == (24, *X.shape)


def test_batched_design_and_axis_one_and_pytree_data():
    X, y = nb2_data(6)
    Xb = np.broadcast_to(X, (6, *X.shape)).copy()
    a = hj.fit_batch(nb2_loglik, NB_INIT, Xb, y, progress=False)
    b = hj.fit_batch(nb2_loglik, NB_INIT, X, y.T, in_axes=(None, 1), progress=False)
    np.testing.assert_allclose(a.params["beta"], b.params["beta"], rtol=1e-12)

    def loglik_dict(p, d):
        return normal_loglik(p, d["y"]) * d["w"]

    y2 = np.random.default_rng(3).normal(2.0, 0.5, size=(5, 40))
    c = hj.fit_batch(loglik_dict, INIT, {"y": y2, "w": np.ones((5, 40))}, progress=False)
    np.testing.assert_allclose(c.params["mu"], y2.mean(axis=1), rtol=1e-10)


def test_chunks_padding_and_one_compilation():
    traces = []

    def loglik(p, y):
        traces.append(1)
        return normal_loglik(p, y)

    rng = np.random.default_rng(1)
    y = rng.normal(1.0, 2.0, size=(103, 30))
    whole = hj.fit_batch(normal_loglik, INIT, y, progress=False)
    chunked = hj.fit_batch(loglik, INIT, y, chunk_size=25, progress=False)  # 5 chunks, padded
    first_call = len(traces)
    np.testing.assert_allclose(chunked.params["mu"], whole.params["mu"], rtol=1e-13)
    np.testing.assert_allclose(chunked.se["log_sigma"], whole.se["log_sigma"], rtol=1e-13)
    assert chunked.params["mu"].shape == (103,)
    # New data of the same shape: nothing is traced again.
    hj.fit_batch(loglik, INIT, rng.normal(size=(103, 30)), chunk_size=25, progress=False)
    assert len(traces) == first_call

    # Tracing does not grow with the number of chunks: 1 chunk costs the same.
    traces_one = []

    def loglik_one(p, y):
        traces_one.append(1)
        return normal_loglik(p, y)

    hj.fit_batch(loglik_one, INIT, y[:25], chunk_size=25, progress=False)
    assert len(traces_one) == first_call


def test_default_chunk_size_from_memory_budget():
    y = np.random.default_rng(2).normal(size=(90, 20))
    per_fit = fit_memory_estimate(2, 20)
    n_dev = len(jax.devices())
    _, size = batch_plan(90, 2, 20, None, max_bytes=40 * per_fit)
    assert size == -(-40 // n_dev) * n_dev
    _, floor = batch_plan(90, 2, 20, None, max_bytes=per_fit)  # at least 32 fits per device
    assert floor == min(90, 32 * n_dev)
    _, cpu_default = batch_plan(10**6, 2, 200, None, devices=jax.devices("cpu")[:1])
    assert cpu_default == hj.DEFAULT_BATCH_MAX_BYTES // fit_memory_estimate(2, 200)
    small = hj.fit_batch(normal_loglik, INIT, y, max_bytes=40 * per_fit, progress=False)
    whole = hj.fit_batch(normal_loglik, INIT, y, progress=False)
    np.testing.assert_allclose(small.params["mu"], whole.params["mu"], rtol=1e-13)
    assert fit_memory_estimate(10, 1000) > fit_memory_estimate(2, 1000) > fit_memory_estimate(2, 10)


def test_progress_line_on_stderr(capfd, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # force the plain-text fallback
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    y = np.random.default_rng(4).normal(size=(30, 10))
    hj.fit_batch(normal_loglik, INIT, y, chunk_size=10)
    err = capfd.readouterr().err
    assert "fit_batch: 30/30 fits" in err
    hj.fit_batch(normal_loglik, INIT, y)  # one chunk: no bar
    assert capfd.readouterr().err == ""


def test_invalid_fits_flagged_with_one_warning():
    # y = a + b x + noise; in datasets 2 and 5 x is constant, so a and b are
    # not separately identified there (singular information).
    rng = np.random.default_rng(5)
    x = np.tile(np.linspace(-1, 1, 40), (8, 1))
    x[[2, 5]] = 1.0
    y = 1.0 + 2.0 * x + rng.normal(size=(8, 40))

    def loglik(p, x, y):
        return -0.5 * (y - p["a"] - p["b"] * x) ** 2

    with pytest.warns(hj.HessianWarning, match="2 of 8 fits are not valid") as record:
        fits = hj.fit_batch(loglik, {"a": 0.0, "b": 0.0}, x, y, progress=False)
    assert len(record) == 1
    valid = np.asarray(fits.diagnostics.is_valid)
    assert not valid[2] and not valid[5] and valid.sum() == 6
    assert np.isnan(fits.se["a"][[2, 5]]).all() and np.isfinite(fits.se["a"][valid]).all()
    assert fits.batch_summary == (8, 8, 6, 6, 0, 0)
    assert "6 valid" in repr(fits)
    assert "a and b are not separately identified" in fits[2].diagnostics.directions()[0]


@pytest.mark.parametrize(
    "kwargs, data, match",
    [
        (dict(in_axes=(0, 0)), (np.zeros((3, 4)),), "one entry"),
        (dict(in_axes=None), (np.zeros((3, 4)),), "no data argument as batched"),
        (dict(in_axes=2), (np.zeros((3, 4)),), "no axis 2"),
        (dict(chunk_size=0), (np.zeros((3, 4)),), "chunk_size"),
        (dict(in_axes=(0, 0)), (np.zeros((3, 4)), np.zeros((5, 4))), "different batch sizes"),
        (dict(), (np.zeros((0, 4)),), "empty"),
        (dict(max_bytes=-1), (np.zeros((3, 4)),), "max_bytes"),
    ],
)
def test_bad_input_named(kwargs, data, match):
    def loglik(p, *data):
        return -0.5 * jnp.sum((data[0] - p) ** 2)

    with pytest.raises(ValueError, match=match):
        hj.fit_batch(loglik, 0.0, *data, progress=False, **kwargs)


def test_unbatched_result_cannot_be_indexed():
    res = hj.fit(normal_loglik, INIT, np.array([0.0, 1.0, 3.0]))
    with pytest.raises(TypeError, match="only batched"):
        res[0]
    with pytest.raises(ValueError, match="batch_summary"):
        res.batch_summary


_SHARDING_SCRIPT = textwrap.dedent(
    """
    import json, numpy as np, jax, jax.numpy as jnp, hessjax as hj
    from hessjax.batch import batch_plan, batched_fit_program, _place
    from hessjax.fit import prepare_fit

    def loglik(p, X, y):
        s = jnp.exp(p["ls"])
        return -0.5 * ((y - X @ p["beta"]) / s) ** 2 - p["ls"]

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    ys = X @ np.array([1.0, -1.0, 0.5]) + rng.normal(size=(37, 400))
    init = {"beta": np.zeros(3), "ls": 0.0}
    many = hj.fit_batch(loglik, init, X, ys, in_axes=(None, 0), chunk_size=10, progress=False)
    one = hj.fit_batch(loglik, init, X, ys, in_axes=(None, 0), chunk_size=10, progress=False,
                       devices=jax.devices()[:1])
    mesh, size = batch_plan(37, 4, 1203, 10)
    with jax.enable_x64(True):
        run, x0, _, options, _ = prepare_fit(loglik, init, (X, ys[0]), "newton", "cholesky", {})
        chunk = _place((X, ys[:size]), (False, True), mesh)
        out = batched_fit_program(run, (False, True))(x0, chunk, options)
        shard_devices = len(out.params.sharding.device_set)  # flat: attach() unravels
        sharded = hj.shard_data(X, ys[0])
    big = hj.fit(loglik, init, *sharded)
    plain = hj.fit(loglik, init, X, ys[0])
    print(json.dumps(dict(
        devices=len(jax.devices()), chunk=size,
        input_devices=len(chunk[1].sharding.device_set),
        output_devices=shard_devices,
        data_devices=len(sharded[0].sharding.device_set),
        data_spec=str(sharded[0].sharding.spec[0]),
        batch_diff=float(max(np.max(np.abs(many.params["beta"] - one.params["beta"])),
                             np.max(np.abs(many.se["ls"] - one.se["ls"])))),
        fit_rel_diff=float(np.max(np.abs(big.estimate / plain.estimate - 1))),
        se_rel_diff=float(np.max(np.abs(big.se_vector / plain.se_vector - 1))),
        valid=int(many.batch_summary.valid),
    )))
    """
)


def test_sharding_over_four_cpu_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", _SHARDING_SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["devices"] == 4
    assert out["chunk"] % 4 == 0  # every device gets an equal share of a chunk
    assert out["input_devices"] == 4 and out["output_devices"] == 4
    assert out["data_devices"] == 4 and out["data_spec"] == "obs"
    assert out["valid"] == 37
    # Each batched fit runs whole on one device: the same arithmetic as on one device.
    assert out["batch_diff"] <= 4 * np.finfo(float).eps * 10
    # A sharded sum is reduced in a different order: rounding of the n = 400 sum only.
    assert out["fit_rel_diff"] <= 1e-12 and out["se_rel_diff"] <= 1e-12


_DEADLOCK_SCRIPT = textwrap.dedent(
    """
    import numpy as np, jax.numpy as jnp, hessjax as hj

    def loglik(p, y):
        return -0.5 * ((y - p["mu"]) * jnp.exp(-p["ls"])) ** 2 - p["ls"]

    y = np.random.default_rng(0).normal(1.0, 2.0, size=(20000, 200))
    for _ in range(2):
        fits = hj.fit_batch(loglik, {"mu": 0.0, "ls": 0.0}, y, progress=False)
    print(fits.batch_summary.valid)
    """
)


def test_no_deadlock_with_a_two_thread_cpu_pool():
    # jaxlib's batched CPU LAPACK kernels block a pool thread per call: two
    # independent batched calls (eigh and Cholesky) on a 2-thread pool hung on the
    # first 20,000-fit batch before the pipeline serialized them.
    env = dict(os.environ, PJRT_NPROC="2", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", _DEADLOCK_SCRIPT], capture_output=True, text=True, env=env, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "20000"


def test_progress_is_one_plain_line_per_chunk_when_stderr_is_not_a_terminal(capsys):
    """A log file gets '...: k/n fits' lines, not carriage returns that run together."""
    y = np.random.default_rng(1).normal(1.0, 2.0, size=(103, 30))
    hj.fit_batch(normal_loglik, INIT, y, chunk_size=25, progress=True)  # 5 chunks
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("fit_batch:")]
    assert [line.split(" fits")[0] for line in lines] == [
        f"fit_batch: {k}/103" for k in (25, 50, 75, 100, 103)
    ]
