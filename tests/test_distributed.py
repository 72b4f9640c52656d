"""``fit_batch``, ``bootstrap``, ``coverage_study`` and ``shard_data`` + ``fit`` across
processes with JAX's own multi-controller runtime (issue 15).

Two or four processes on 127.0.0.1 (gloo CPU collectives, 2 forced host devices each) join one
``jax.distributed`` job; each passes the global data (or, with ``process_local=True``, its block
of rows), the work is split over all devices, and every process gets the whole result back. It
must equal the single-process fit: the same program runs on each fit's slice, and a sharded sum
differs from the unsplit one by rounding only (1e-12). Bad combinations (uneven row blocks, a
different parameter structure in one process) raise the same ValueError in every process.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hessjax as hj

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(folder, n: int, modes: str, timeout: float = TIMEOUT_S):
    """Run ``n`` worker processes through ``modes``; ``(processes, logs, output stems)``."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    outs = [folder / f"p{i}" for i in range(n)]
    procs = [
        subprocess.Popen([sys.executable, str(HERE / "distributed_worker.py"), str(i), str(n), str(port),
                          str(outs[i]), modes],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(n)
    ]
    try:
        logs = [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:  # every process is killed on failure or timeout
            if p.poll() is None:
                p.kill()
    return procs, logs, outs


# One job per process count runs every mode in turn: a JAX start-up and the compilations
# are the cost of these tests, not the tiny problems.
MODES = {2: "batch+shard+local+uneven+structure+fixed", 4: "batch"}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    pytest.importorskip("jax.experimental.multihost_utils")
    done = {}

    def get(n):
        if n not in done:
            procs, logs, outs = _launch(tmp_path_factory.mktemp(f"job{n}"), n, MODES[n])
            for p, log in zip(procs, logs):
                assert p.returncode == 0, log[-3000:]
            done[n] = outs
        return done[n]

    return get


@pytest.mark.parametrize("n", [2, 4])
def test_fit_batch_bootstrap_and_coverage_over_processes_equal_one_process(job, n):
    from distributed_model import DATA, INIT, INIT_TRUE, loglik, simulate

    outs = job(n)
    single = hj.fit_batch(loglik, INIT, DATA, progress=False)
    boot = hj.bootstrap(hj.fit(loglik, INIT, DATA[0]), n_boot=16, key=3, progress=False)
    study = hj.coverage_study(simulate, loglik, INIT_TRUE, n_rep=16, key=5, methods=("hessian",))
    for out in outs:
        got = np.load(f"{out}.batch.npz")
        assert int(got["processes"]) == n and int(got["devices"]) == 2 * n
        # Same keys, same replicates (the fits of each differ only by the device they ran on).
        np.testing.assert_allclose(got["boot"], boot.replicates, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got["coverage_estimates"], study.estimates["hessian"], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got["coverage_se"], study.standard_errors["hessian"], rtol=1e-12)
        np.testing.assert_allclose(got["mu"], single.params["mu"], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got["ls"], single.params["ls"], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got["se_mu"], single.se["mu"], rtol=1e-12)
        np.testing.assert_allclose(got["se_ls"], single.se["ls"], rtol=1e-12)
        np.testing.assert_array_equal(got["valid"], np.asarray(single.diagnostics.is_valid))


@pytest.mark.parametrize(("n", "mode"), [(2, "shard"), (2, "local")])
def test_one_dataset_split_by_observations_over_processes_equals_the_unsplit_fit(job, n, mode):
    """``shard_data`` + ``fit``: the whole dataset in every process (``shard``) or each
    process's block of rows (``local``, ``process_local=True``)."""
    from distributed_model import BETA0, X, Y, logit_loglik

    outs = job(n)
    whole = hj.fit(logit_loglik, BETA0, X, Y)
    for out in outs:
        got = np.load(f"{out}.{mode}.npz")
        assert int(got["processes"]) == n and int(got["devices"]) == 2 * n and int(got["nobs"]) == len(Y)
        np.testing.assert_allclose(got["beta"], whole.params["beta"], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got["se"], whole.se["beta"], rtol=1e-12)
        np.testing.assert_allclose(got["cov"], whole.cov, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got["hessian"], whole.hessian, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(got["robust"], whole.robust_cov(), rtol=1e-11, atol=1e-15)
        np.testing.assert_allclose(got["loglik"], whole.loglik, rtol=1e-13)
        assert bool(got["valid"]) and bool(whole.diagnostics.is_valid)


@pytest.mark.parametrize(("mode", "message"), [
    ("uneven", "the processes passed [56, 48] rows"),
    ("structure", "process(es) [1] passed parameter structure (init) different from process 0"),
    ("fixed", "process(es) [1] passed replicated data (bounds, fixed values, unsharded arguments)"),
    ("local.level", "process(es) [1] passed call and arguments different from process 0"),
])
def test_bad_combinations_across_processes_fail_in_every_process_with_a_clear_error(job, mode, message):
    for out in job(2):  # raised in every process, not only the one at fault
        text = Path(f"{out}.{mode}.txt").read_text()
        assert message in text, text
        assert not Path(f"{out}.{mode}.npz").exists()


def test_a_process_that_dies_makes_the_others_fail_clearly_not_hang(tmp_path):
    pytest.importorskip("jax.experimental.multihost_utils")
    # The worker's heartbeat timeout is 10 s: the survivor is stopped well within this bound.
    procs, logs, outs = _launch(tmp_path, 2, "die", timeout=90)
    assert procs[1].returncode == 3  # the one that died
    assert procs[0].returncode != 0  # the survivor failed instead of hanging ...
    assert "another task died" in logs[0]  # ... and said why (JAX's coordination service)
    assert not Path(f"{outs[0]}.die.npz").exists()
