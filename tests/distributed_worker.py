"""One process of a ``jax.distributed`` CPU job on 127.0.0.1, for tests/test_distributed.py.

Usage: ``python distributed_worker.py PROCESS_ID NUM_PROCESSES PORT OUT.npz [die]``
(``die``: the last process exits right after joining). Each
process sees 2 forced host devices, joins the job with gloo collectives, runs
``hj.fit_batch`` over every process's devices with the global data, and saves what
it got (gathered on every process).
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")


def main() -> None:
    pid, n, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    # A peer that dies is noticed by the coordination service within the heartbeat timeout.
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=n,
                               process_id=pid, initialization_timeout=60, heartbeat_timeout_seconds=10)
    if len(sys.argv) > 5 and sys.argv[5] == "die" and pid == n - 1:
        os._exit(3)  # the last process dies mid-run, before the collective fit
    import numpy as np

    import hessjax as hj
    from distributed_model import DATA, INIT, INIT_TRUE, loglik

    from distributed_model import simulate

    fits = hj.fit_batch(loglik, INIT, DATA, progress=False)
    one = hj.fit(loglik, INIT, DATA[0])
    boot = hj.bootstrap(one, n_boot=16, key=3, progress=False)
    study = hj.coverage_study(simulate, loglik, INIT_TRUE, n_rep=16, key=5, methods=("hessian",))
    np.savez(out, mu=fits.params["mu"], ls=fits.params["ls"], se_mu=fits.se["mu"], se_ls=fits.se["ls"],
             valid=fits.diagnostics.is_valid, devices=jax.device_count(), processes=jax.process_count(),
             boot=boot.replicates, coverage_estimates=study.estimates["hessian"],
             coverage_se=study.standard_errors["hessian"])
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
