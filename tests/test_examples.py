"""Every script in ``examples/`` runs to completion in smoke mode and prints what it promises.

Each example runs in its own interpreter (``HESSJAX_SMOKE=1`` shrinks its sizes), exactly as a
user would run it, so the conftest's warnings-as-errors filter does not apply: examples that
provoke hessjax warnings on purpose catch and print them themselves.

Most of an example's time is JAX compilation, which is single-threaded, so the selected examples
are started two at a time in the background when the first test needs them; each test then
waits for its own script. (The reported per-test durations are therefore waiting times.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 300
PARALLEL = 2

# One specific piece of output per example: the point the example exists to make.
EXPECTED = {
    "01_seed_question.py": "NEGATIVE var",  # the fixed-step FD Hessian's negative variance
    "02_glm_standard_errors.py": "robust vs HC0",
    "03_nist_curve_fit.py": "certificate VALID",
    "04_saddle_and_identifiability.py": "a and b are not separately identified",
    "05_coverage_study.py": "closest to the nominal 0.95: 'robust'",
    "06_batched_gpu_fitting.py": "fits.batch_summary: 1000 fits",
    "07_check_your_own_hessian.py": "best fixed step",
    "08_bounds_and_tests.py": "one-sided profile interval [0.926, 1]",
    "09_random_effects.py": "conditional modes of the herd effects (sdreport SEs)",
}


def _run(path: Path, workdir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HESSJAX_SMOKE": "1", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, str(path)], env=env, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT_S
    )


@pytest.fixture(scope="module")
def example_runs(request, tmp_path_factory):
    """Start every selected example (two at a time); map file name -> (future, its working dir)."""
    selected = [
        item.callspec.params["path"]
        for item in request.session.items
        if item.originalname == "test_example_runs_in_smoke_mode" and hasattr(item, "callspec")
    ]
    pool = ThreadPoolExecutor(max_workers=PARALLEL)
    runs = {}
    for path in selected:
        workdir = tmp_path_factory.mktemp(path.stem)
        runs[path.name] = (pool.submit(_run, path, workdir), workdir)
    yield runs
    pool.shutdown(wait=True)


def test_every_example_has_its_check_and_readme_entry():
    assert [p.name for p in EXAMPLES] == sorted(EXPECTED)
    readme = (EXAMPLES_DIR / "README.md").read_text()
    assert all(f"`{p.name}`" in readme for p in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_in_smoke_mode(path, example_runs):
    future, workdir = example_runs[path.name]
    proc = future.result()
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert EXPECTED[path.name] in proc.stdout, proc.stdout[-3000:]
    assert "Traceback" not in proc.stderr
    assert list(workdir.iterdir()) == [], "examples must not write files outside a temp dir"
