"""MkDocs hook: the tutorial page (docs/tutorial.md) is built from ``examples/`` at docs build time.

Each example in ``TUTORIAL`` runs in its own interpreter (``sys.executable``) in smoke mode
(``HESSJAX_SMOKE=1``, as ``tests/test_examples.py`` runs them), two at a time, with a timeout,
in a fresh temporary working directory. ``HESSJAX_FIGURE_DIR`` names a temporary folder into
which the example saves its figures as PNG. The page then shows, for each example, its module
docstring as prose, its code (in cells: at ``# %%`` markers if it has any, else one cell per
top-level function or class and one per run of other statements), the captured standard
output, and the figures. The PNGs become virtual files of the site (``File.generated``), so
nothing binary is committed and ``--strict`` can check every image link.

An example that fails, times out, or does not save every figure listed for it is a warning,
which fails ``mkdocs build --strict`` (and so CI); the page then shows the failure in place of
the output, never an empty section. The examples need matplotlib and statsmodels
(``pip install ".[test]"`` has both).

Results are cached in memory for the life of the process (``mkdocs serve``), keyed by the
example's source, hessjax's source and the environment variables that reach the example, so a
rebuild after editing a docs page does not rerun the examples.

The rendering functions take plain strings and need neither mkdocs nor JAX
(``tests/test_docs.py`` tests them); mkdocs is imported only inside the event handlers.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.tutorial")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"
PAGE = "tutorial.md"  # the template, under docs/
MARKER = "<!-- tutorial-examples -->"  # replaced by the generated sections
FIGURE_DIR_VAR = "HESSJAX_FIGURE_DIR"
TIMEOUT_S = 300
PARALLEL = 2  # JAX compilation is single-threaded: two at a time fill two cores
NEEDS = ("matplotlib", "statsmodels")  # imported by the chosen examples


@dataclass(frozen=True)
class Example:
    """One script on the page, the figures (file name -> caption) it must save, and its
    smoke-mode run time on one core (seconds, measured; the slowest examples start first)."""

    script: str
    figures: dict[str, str] = field(default_factory=dict)
    seconds: float = 10.0


# In page order. Chosen for the story (why, check, bound, validate) and for build time: about
# 60 s of CPU in smoke mode in all, 30-35 s of wall time on two cores (09 and 04, ~25 s and
# ~12 s and without figures, are left out; the API pages and guides cover them).
TUTORIAL = (
    Example(
        "01_seed_question.py",
        {
            "check_scipy_result.png": "hj.plot_comparison(cmp): hessjax's own finite differences and "
            "BFGS's hess_inv against the exact Hessian (top: log10 relative error of each element; "
            "bottom: each standard error's ratio to the exact one)",
            "your_own_matrices.png": "hj.plot_comparison(cmp_user): statsmodels' approx_hess agrees; "
            "the hand-written FD Hessian with eps = 1e-5 has a negative variance for conc, "
            "so its SE ratio there is NaN",
        },
        seconds=10,
    ),
    Example(
        "07_check_your_own_hessian.py",
        {
            "step_sweep.png": "hj.plot_step_sweep(sweep): the error of a fixed-step central "
            "difference Hessian against the step, rounding error on the left, truncation error on "
            "the right",
        },
        seconds=9,
    ),
    Example(
        "08_bounds_and_tests.py",
        {
            "profile.png": "hj.plot_profile(full, 'sigma'): the drop of the profile log-likelihood "
            "of sigma, its quadratic (Wald) approximation, and the 95% profile interval where the "
            "drop reaches chi2_1(0.95)/2 = 1.92",
            "contour.png": "hj.plot_contour(full, 'beta[0]', 'beta[1]'): the 95% joint profile "
            "region of the two free coefficients against the Wald ellipse",
        },
        seconds=26,
    ),
    Example(
        "05_coverage_study.py",
        {
            "coverage.png": "hj.plot_coverage(study): coverage of the 95% Wald intervals per "
            "parameter and kind of standard error, with Monte Carlo error bars; the band is what "
            "simulation noise alone allows",
            "bootstrap.png": "hj.plot_bootstrap(boot): bootstrap replicates of one dataset against "
            "the normal curves of the exact-Hessian SE (solid) and the bootstrap SE (dashed)",
        },
        seconds=14,
    ),
)


@dataclass
class Run:
    """What one example did: its output, its figures (name -> PNG bytes), and any failure."""

    example: Example
    stdout: str = ""
    figures: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# Rendering: plain strings in, Markdown out (no mkdocs, no JAX).
# ---------------------------------------------------------------------------------------------
def rst_to_markdown(text: str) -> str:
    """The docstrings' reST inline literals (``x``) as Markdown code spans (`x`)."""
    return re.sub(r"``(.+?)``", r"`\1`", text)


def split_script(source: str) -> tuple[str, list[str]]:
    """A script's module docstring and its code in cells (the docstring removed).

    Cells break at ``# %%`` markers when the script has any; otherwise each top-level function
    or class is a cell (with the comments and decorators right above it), and so is each run of
    other top-level statements (imports, constants, the ``__main__`` guard).
    """
    tree = ast.parse(source)
    doc = ast.get_docstring(tree)
    lines = source.splitlines()
    body = tree.body[1:] if doc is not None else tree.body
    first = tree.body[0].end_lineno if doc is not None else 0  # the code starts on this line (0-based)
    if any(re.match(r"#\s*%%", line) for line in lines[first:]):
        cells, current = [], []
        for line in lines[first:]:
            if re.match(r"#\s*%%", line):
                cells.append(current)
                current = []
            current.append(line)
        cells.append(current)
        return doc or "", [text for text in ("\n".join(c).strip("\n") for c in cells) if text.strip()]
    starts, kinds = [], []
    for node in body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1  # 0-based
        while start - 1 >= first and lines[start - 1].lstrip().startswith("#"):
            start -= 1  # the comment block right above belongs to the node
        kind = "def" if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else "stmt"
        if kinds and kind == "stmt" and kinds[-1] == "stmt":
            continue  # one cell per run of plain statements
        starts.append(start)
        kinds.append(kind)
    if starts:
        starts[0] = first  # nothing between the docstring and the first cell is lost
    ends = starts[1:] + [len(lines)]
    cells = ["\n".join(lines[a:b]).strip("\n") for a, b in zip(starts, ends)]
    return doc or "", [c for c in cells if c.strip()]


def _fence(text: str, lang: str) -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def render_example(script: str, source: str, run: Run, figure_uris: dict[str, str]) -> str:
    """The Markdown section of one example: prose, code cells, output, figures (or the failure).

    ``figure_uris`` maps each saved figure's file name to its path relative to the page.
    """
    doc, cells = split_script(source)
    title, _, prose = doc.partition("\n")
    number = script.split("_", 1)[0]
    parts = [
        f"## {number} · {rst_to_markdown(title.strip().rstrip('.'))}",
        f"`examples/{script}`, run for this page as `HESSJAX_SMOKE=1 python examples/{script}`.",
    ]
    if prose.strip():
        parts.append(rst_to_markdown(prose.strip()))
    parts.append("**The code**")
    parts.extend(_fence(cell, "python") for cell in cells)
    if run.error is not None:
        parts.append(
            '!!! failure "This example failed when the documentation was built"\n\n'
            + "\n".join("    " + line for line in _fence(run.error, "text").splitlines())
        )
    parts.append("**Its output**")
    parts.append(_fence(run.stdout or "(no output)", "text"))
    if figure_uris:
        parts.append("**Its figures**")
    for name, uri in figure_uris.items():
        caption = run.example.figures.get(name, name)
        parts.append(f"![{_alt(caption)}]({uri})\n\n*{_escape(caption)}*")
    return "\n\n".join(parts) + "\n"


def _alt(caption: str) -> str:
    return caption.split(":", 1)[0].replace("[", "(").replace("]", ")")


def _escape(text: str) -> str:
    return re.sub(r"([*_\[\]`])", r"\\\1", text)


def render_page(template: str, sections: list[str]) -> str:
    """The template with ``MARKER`` replaced by the sections (ValueError without the marker)."""
    if MARKER not in template:
        raise ValueError(f"docs/{PAGE} has no {MARKER} line to replace with the examples")
    return template.replace(MARKER, "\n".join(sections))


# ---------------------------------------------------------------------------------------------
# Running the examples.
# ---------------------------------------------------------------------------------------------
def run_example(example: Example, examples_dir: Path = EXAMPLES_DIR, timeout: float = TIMEOUT_S) -> Run:
    """Run one example in smoke mode; collect its output, its figures and any failure."""
    run = Run(example)
    path = examples_dir / example.script
    with tempfile.TemporaryDirectory(prefix="hessjax-tutorial-") as tmp:
        figures, workdir = Path(tmp, "figures"), Path(tmp, "cwd")
        figures.mkdir()
        workdir.mkdir()
        env = {**os.environ, "HESSJAX_SMOKE": "1", "MPLBACKEND": "Agg", FIGURE_DIR_VAR: str(figures)}
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(path)], env=env, cwd=workdir, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            run.stdout = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
            run.error = f"examples/{example.script} did not finish within {timeout:g} s"
            return run
        run.seconds = time.perf_counter() - start
        run.stdout = proc.stdout
        if proc.returncode != 0 or "Traceback" in proc.stderr:
            run.error = (f"examples/{example.script} exited with status {proc.returncode}:\n"
                         + proc.stderr[-3000:].strip())
            return run
        for name in example.figures:
            if (figures / name).is_file():
                run.figures[name] = (figures / name).read_bytes()
        missing = [name for name in example.figures if name not in run.figures]
        if missing:
            run.error = (f"examples/{example.script} did not save {', '.join(missing)} into "
                         f"${FIGURE_DIR_VAR} (saved: {', '.join(sorted(os.listdir(figures))) or 'nothing'}); "
                         "is matplotlib installed?")
    return run


def run_examples(examples=TUTORIAL, examples_dir: Path = EXAMPLES_DIR, parallel: int = PARALLEL,
                 timeout: float = TIMEOUT_S) -> list[Run]:
    """Run the examples, ``parallel`` at a time, slowest known first; results in page order."""
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = {ex.script: pool.submit(run_example, ex, examples_dir, timeout)
                   for ex in sorted(examples, key=lambda ex: -ex.seconds)}
        return [futures[ex.script].result() for ex in examples]


_CACHE: dict[str, Run] = {}
_STATE: dict[str, object] = {}


def _cache_key(example: Example, examples_dir: Path) -> str:
    digest = hashlib.sha256()
    digest.update(repr((example, sys.executable, sorted(os.environ.items()))).encode())
    digest.update((examples_dir / example.script).read_bytes())
    for path in sorted((ROOT / "src" / "hessjax").rglob("*.py")):
        digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# MkDocs events.
# ---------------------------------------------------------------------------------------------
def on_files(files, config):
    from mkdocs.structure.files import File

    if files.get_file_from_path(PAGE) is None:
        return files  # the page is not built: nothing to run
    if not hasattr(File, "generated"):
        log.warning("the tutorial page (docs/%s) needs mkdocs >= 1.6 (File.generated)", PAGE)
        return files
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        log.warning("the tutorial page (docs/%s) runs examples that need %s: pip install %s (or "
                    "'.[test]')", PAGE, " and ".join(missing), " ".join(missing))
    keys = {ex.script: _cache_key(ex, EXAMPLES_DIR) for ex in TUTORIAL}
    runs = {ex.script: _CACHE[keys[ex.script]] for ex in TUTORIAL if keys[ex.script] in _CACHE}
    todo = [ex for ex in TUTORIAL if ex.script not in runs]
    if todo:
        start = time.perf_counter()
        for run in run_examples(todo):
            runs[run.example.script] = run
            if run.error is None:
                _CACHE[keys[run.example.script]] = run
        log.info("tutorial page: ran %s in %.1f s", ", ".join(
            f"{ex.script} ({runs[ex.script].seconds:.1f} s)" for ex in todo), time.perf_counter() - start)
    sections = []
    for ex in TUTORIAL:
        run = runs[ex.script]
        if run.error is not None:
            log.warning("tutorial page (docs/%s): %s", PAGE, run.error)
        uris = {}
        for name, png in run.figures.items():
            uri = f"tutorial/{Path(ex.script).stem}/{name}"
            files.append(File.generated(config, uri, content=png))
            uris[name] = uri
        sections.append(render_example(ex.script, (EXAMPLES_DIR / ex.script).read_text(), run, uris))
    _STATE["sections"] = sections
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != PAGE:
        return markdown
    try:
        sections = _STATE.get("sections") or [
            '!!! failure "The examples were not run: see the warnings of the documentation build"\n']
        return render_page(markdown, sections)
    except ValueError as err:
        log.warning("%s", err)
        return markdown
