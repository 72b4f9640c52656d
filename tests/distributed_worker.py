"""One process of a ``jax.distributed`` CPU job on 127.0.0.1, for tests/test_distributed.py.

Usage: ``python distributed_worker.py PROCESS_ID NUM_PROCESSES PORT OUT MODE[+MODE...]``, the
modes run in turn in one job (one launch, one JAX start-up per process):

- ``batch``: ``fit_batch``, ``bootstrap`` and ``coverage_study`` with the global data;
- ``shard``: ``shard_data`` + ``fit`` of one dataset, the whole dataset in every process;
- ``local``: the same, each process passing only its block of rows (``process_local=True``);
- ``uneven``: as ``local``, but process 0 passes 8 rows more than the others (must fail);
- ``structure``: ``fit_batch`` where the last process passes an extra parameter (must fail);
- ``fixed``: ``fit`` of sharded data where the last process holds a parameter fixed at another
  value (must fail; before the check, this fitted a silent mixture);
- ``die``: the last process exits right after joining.

Each process sees 2 forced host devices and joins the job with gloo collectives. What it got
(gathered on every process) is saved to OUT.MODE.npz; a ValueError's message goes to
OUT.MODE.txt and the next mode runs (the error is raised in every process, so none is left
waiting in a collective).
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")


def run(mode, pid, n, out):
    import jax
    import numpy as np

    import hessjax as hj
    import distributed_model as m

    if mode in ("batch", "die"):
        fits = hj.fit_batch(m.loglik, m.INIT, m.DATA, progress=False)
        one = hj.fit(m.loglik, m.INIT, m.DATA[0])
        boot = hj.bootstrap(one, n_boot=16, key=3, progress=False)
        study = hj.coverage_study(m.simulate, m.loglik, m.INIT_TRUE, n_rep=16, key=5, methods=("hessian",))
        np.savez(out, mu=fits.params["mu"], ls=fits.params["ls"], se_mu=fits.se["mu"], se_ls=fits.se["ls"],
                 valid=fits.diagnostics.is_valid, devices=jax.device_count(), processes=jax.process_count(),
                 boot=boot.replicates, coverage_estimates=study.estimates["hessian"],
                 coverage_se=study.standard_errors["hessian"])
    elif mode in ("shard", "local", "uneven"):
        X, Y = m.X, m.Y
        if mode != "shard":
            rows = np.array_split(np.arange(len(Y)), n)[pid]
            if mode == "uneven":
                rows = np.arange(len(Y))[: len(rows) + (8 if pid == 0 else 0)]
            X, Y = X[rows], Y[rows]
        data = hj.shard_data(X, Y, process_local=mode != "shard")
        res = hj.fit(m.logit_loglik, m.BETA0, *data)
        robust = res.robust_cov()
        np.savez(out, beta=res.params["beta"], se=res.se["beta"], cov=res.cov, hessian=res.hessian,
                 loglik=res.loglik, valid=res.diagnostics.is_valid, robust=robust,
                 newton_decrement=res.diagnostics.newton_decrement, nobs=res.nobs,
                 devices=jax.device_count(), processes=jax.process_count())
        delta = res.delta(lambda p: {"ratio": p["beta"][1] / p["beta"][2]})
        assert isinstance(delta.se["ratio"], np.ndarray) and isinstance(delta.cov, np.ndarray), type(delta.cov)
        if mode == "local":  # a later collective call with different arguments in one process
            try:
                res.conf_int(level=0.95 if pid == 0 else 0.9, method="profile")
            except ValueError as e:
                with open(out.replace(".npz", ".level.txt"), "w") as f:
                    f.write(str(e))
    elif mode == "fixed":  # the same structure, a different fixed value in the last process
        beta0 = {"beta": np.array([0.0, 0.0, 0.5 if pid == n - 1 else 0.0])}
        hj.fit(m.logit_loglik, beta0, *hj.shard_data(m.X, m.Y), fixed="beta[2]")
    elif mode == "structure":
        init = dict(m.INIT, extra=0.0) if pid == n - 1 else m.INIT
        hj.fit_batch(m.loglik, init, m.DATA, progress=False)


def main() -> None:
    pid, n, port, out, modes = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    # A peer that dies is noticed by the coordination service within the heartbeat timeout.
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=n,
                               process_id=pid, initialization_timeout=60, heartbeat_timeout_seconds=10)
    if modes == "die" and pid == n - 1:
        os._exit(3)  # the last process dies mid-run, before the collective fit
    for mode in modes.split("+"):
        try:
            run(mode, pid, n, f"{out}.{mode}.npz")
        except ValueError as e:
            with open(f"{out}.{mode}.txt", "w") as f:
                f.write(str(e))
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
