#!/usr/bin/env python
"""Scale-out across processes with ``jax.distributed``: correctness and overhead on one machine.

Usage::

    python benchmarks/scaleout.py              # 1, 2 and 4 processes; 1024 fits, N = 200,000 rows
    python benchmarks/scaleout.py --quick      # 256 fits, N = 20,000 rows, 2 repeats

Each run starts P = 1, 2, 4 processes on 127.0.0.1 that join one ``jax.distributed`` job
(gloo CPU collectives), each process with ONE host device, so P processes = P devices.
Every process runs the same two jobs:

* ``fit_batch``: a normal model (mean, log sd), ``--fits`` datasets of 50 observations,
  the global data in every process; the batch is split over all P devices and the result
  gathered on every process;
* ``shard_data`` + ``fit``: one logistic regression (5 coefficients) of ``--rows``
  observations split by rows over the P devices (each process passes its own block,
  ``process_local=True``).

Recorded: the first call (compilation included) and the median of ``--repeats`` warm calls
of each job, timed in process 0 after a barrier; and the largest difference of each
process's estimates and SEs from the 1-process run (correctness; expected: rounding).

**No speed-up is expected here.** The machine has 2 cores, a compiled CPU program already
uses both, and 4 processes oversubscribe them; the numbers measure the overhead of running
as several processes (collectives over loopback, gathering results, the agreement checks),
not the gain on a cluster, where each process has its own cores or accelerator.

Outputs ``benchmarks/results/scaleout.json`` and ``benchmarks/results/scaleout.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def worker(pid: int, n: int, port: int, out: str, fits: int, rows: int, repeats: int) -> None:
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=n, process_id=pid,
                               initialization_timeout=60, heartbeat_timeout_seconds=30)
    import jax.numpy as jnp
    import numpy as np
    from jax.experimental import multihost_utils

    import hessjax as hj

    def normal(p, y):
        return -0.5 * ((y - p["mu"]) / jnp.exp(p["ls"])) ** 2 - p["ls"]

    def logit(beta, X, y):
        eta = X @ beta
        return y * eta - jnp.logaddexp(0.0, eta)

    Y = np.random.default_rng(0).normal(1.0, 2.0, size=(fits, 50))
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(rows), rng.normal(size=(rows, 4))])
    y = (X @ np.array([0.3, 1.0, -0.7, 0.2, 0.0]) + rng.logistic(size=rows) > 0).astype(float)
    block = np.array_split(np.arange(rows), n)[pid]

    def timed(call):
        multihost_utils.sync_global_devices("start")
        t = time.perf_counter()
        result = call()
        multihost_utils.sync_global_devices("stop")
        return time.perf_counter() - t, result

    def batch():
        return hj.fit_batch(normal, {"mu": 0.0, "ls": 0.0}, Y, progress=False)

    def shard():
        return hj.fit(logit, np.zeros(5), *hj.shard_data(X[block], y[block], process_local=True))

    record = {}
    for name, call in (("batch", batch), ("shard", shard)):
        first, res = timed(call)
        warm = [timed(call)[0] for _ in range(repeats)]
        record[name] = dict(first_s=first, warm_s=statistics.median(warm))
        if name == "batch":
            record[name].update(mu=res.params["mu"].tolist(), se_mu=res.se["mu"].tolist(),
                                valid=int(np.sum(res.diagnostics.is_valid)))
        else:
            record[name].update(beta=np.asarray(res.params).tolist(), se=np.asarray(res.se).tolist(),
                                valid=bool(res.diagnostics.is_valid))
    record.update(process=pid, processes=jax.process_count(), devices=jax.device_count())
    Path(out).write_text(json.dumps(record))
    jax.distributed.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(n: int, ns: argparse.Namespace, folder: Path) -> list[dict]:
    port = _free_port()
    outs = [folder / f"p{n}_{i}.json" for i in range(n)]
    procs = [
        subprocess.Popen([sys.executable, __file__, "--worker", str(i), str(n), str(port), str(outs[i]),
                          "--fits", str(ns.fits), "--rows", str(ns.rows), "--repeats", str(ns.repeats)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(n)
    ]
    try:
        logs = [p.communicate(timeout=1800)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, log in zip(procs, logs):
        if p.returncode:
            raise SystemExit(f"a worker of the {n}-process run failed:\n{log[-3000:]}")
    return [json.loads(o.read_text()) for o in outs]


def _max_rel(a, b) -> float:
    import numpy as np

    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.maximum(np.abs(np.asarray(b)), 1e-300)))


def markdown(report: dict) -> str:
    lines = [
        "# Scale-out across processes (`python benchmarks/scaleout.py`)",
        "",
        f"{report['machine']['date']}, {report['machine']['cpu_count']} cores, jax {report['machine']['jax']}, "
        f"hessjax {report['machine']['hessjax_git']}. One host device per process; gloo collectives on loopback.",
        "",
        "**No speed-up is expected on this machine**: 2 cores are already used by one process's "
        "compiled program, and 4 processes oversubscribe them. These rows measure correctness and "
        "the overhead of running as several processes, not the gain on a cluster.",
        "",
        f"fit_batch: {report['fits']} normal fits of 50 observations; shard_data + fit: one logistic "
        f"regression, {report['rows']:,} rows x 5 coefficients, each process passing its block. "
        f"Warm = median of {report['repeats']} calls after the first, timed in process 0 between barriers.",
        "",
        "| processes | fit_batch first (s) | fit_batch warm (s) | per fit (µs) | vs 1 process | max rel. diff vs 1 process (estimates, SEs) "
        "| shard fit first (s) | shard fit warm (s) | vs 1 process | max rel. diff vs 1 process (estimates, SEs) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = report["runs"][0]
    for run in report["runs"]:
        b, s = run["batch"], run["shard"]
        lines.append(
            f"| {run['processes']} | {b['first_s']:.2f} | {b['warm_s']:.3f} | {1e6 * b['warm_s'] / report['fits']:.0f} "
            f"| {b['warm_s'] / base['batch']['warm_s']:.2f}x | {run['batch_diff']:.1e}, {run['batch_se_diff']:.1e} "
            f"| {s['first_s']:.2f} | {s['warm_s']:.3f} | {s['warm_s'] / base['shard']['warm_s']:.2f}x "
            f"| {run['shard_diff']:.1e}, {run['shard_se_diff']:.1e} |"
        )
    lines += ["", f"All processes of every run returned identical results to each other: {report['processes_agree']}.",
              f"Valid fits: {report['valid']}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=4, metavar=("PID", "N", "PORT", "OUT"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--fits", type=int, default=None)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--out", default=str(RESULTS))
    ns = parser.parse_args()
    ns.fits = ns.fits or (256 if ns.quick else 1024)
    ns.rows = ns.rows or (20_000 if ns.quick else 200_000)
    ns.repeats = ns.repeats or (2 if ns.quick else 5)
    if ns.worker:
        pid, n, port, out = ns.worker
        worker(int(pid), int(n), int(port), out, ns.fits, ns.rows, ns.repeats)
        return

    sys.path.insert(0, str(HERE))
    from _common import machine_info, write_results

    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in ns.processes:
            records = launch(n, ns, Path(tmp))
            runs.append(dict(processes=n, records=records, batch=records[0]["batch"], shard=records[0]["shard"]))
            print(f"{n} process(es): fit_batch warm {records[0]['batch']['warm_s']:.3f} s, "
                  f"shard fit warm {records[0]['shard']['warm_s']:.3f} s", flush=True)
    base = runs[0]
    agree = True
    for run in runs:
        run["batch_diff"] = _max_rel(run["batch"]["mu"], base["batch"]["mu"])
        run["batch_se_diff"] = _max_rel(run["batch"]["se_mu"], base["batch"]["se_mu"])
        run["shard_diff"] = _max_rel(run["shard"]["beta"], base["shard"]["beta"])
        run["shard_se_diff"] = _max_rel(run["shard"]["se"], base["shard"]["se"])
        for rec in run["records"][1:]:
            agree &= rec["batch"]["mu"] == run["batch"]["mu"] and rec["shard"]["beta"] == run["shard"]["beta"]
    valid = {r["processes"]: (r["batch"]["valid"], r["shard"]["valid"]) for r in runs}
    for run in runs:
        for rec in run["records"]:
            for job in ("batch", "shard"):
                rec[job] = {k: v for k, v in rec[job].items() if k.endswith("_s") or k == "valid"}
        for job in ("batch", "shard"):
            run[job] = {k: v for k, v in run[job].items() if k.endswith("_s") or k == "valid"}
    report = dict(machine=machine_info((), load), fits=ns.fits, rows=ns.rows, repeats=ns.repeats, runs=runs,
                  processes_agree=bool(agree), valid={str(k): list(v) for k, v in valid.items()},
                  total_wall_s=time.perf_counter() - t0)
    write_results(ns.out, "scaleout_quick" if ns.quick else "scaleout", report, markdown(report))


if __name__ == "__main__":
    main()
