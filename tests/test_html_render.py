"""The HTML reprs (``_repr_html_``) rendered in a real browser.

Every object a notebook shows as HTML (a fit, a certificate, a Hessian
comparison, one candidate's check, a bootstrap, a coverage study) is built
with a small model, and its repr is

* parsed with Python's ``html.parser``: tags balanced, tables well nested
  (always run);
* loaded into headless Chromium, driven from the command line (no Python
  browser package), as one page holding every repr in its own ``<section>``:
  once with ``--dump-dom`` in a 1200x900 window, once with ``--screenshot``
  1200 px wide and as tall as the page. The dumped DOM must hold the same
  tables, rows, cells and text as the repr string (a browser moves or drops
  misplaced markup), the key values must be there as the repr formats them,
  the console must stay silent (a script in the page logs what the browser
  laid out, which also proves the console is read), and each repr's part of
  the screenshot must show text.

The browser part is skipped when no Chromium is installed (Debian:
``apt-get install chromium``). Screenshots are written under pytest's
``tmp_path``; set ``HESSJAX_SCREENSHOT_DIR`` to also copy the page and its
screenshot to a directory to look at (with one cropped picture per repr when
matplotlib is installed).
"""

import functools
import json
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import warnings
import zlib
from html.parser import HTMLParser
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj

WIDTH, HEIGHT = 1200, 900
CHROMIUM_TIMEOUT = 60  # seconds per browser run
SKIP_REASON = (
    "headless Chromium not found: install Debian's `chromium` package "
    "(apt-get install chromium) to render the HTML reprs"
)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# Background colors of the certificate block (report.render_diagnostics_html).
VALID_RGB, INVALID_RGB = (0xD4, 0xED, 0xDA), (0xF8, 0xD7, 0xDA)


# -- the objects -------------------------------------------------------------------------
# One logit model serves every object, so that few programs are compiled: the fits, the
# Hessian checks of its negative log-likelihood, a parametric bootstrap and a coverage
# study (these two share the batched refit of simulated data).
TRUE_BETA = np.array([-0.5, 1.0, 0.25])


def logit_loglik(p, X, y):
    eta = X @ p["beta"]
    return y * eta - jnp.logaddexp(0.0, eta)


def logit_nll(beta, X, y):
    return -jnp.sum(logit_loglik({"beta": beta}, X, y))


def simulator(X):
    def simulate(key, p):
        eta = X @ p["beta"]
        return X, (jax.random.uniform(key, eta.shape) < jax.nn.sigmoid(eta)).astype(jnp.float64)

    return simulate


def _decimals(se: float) -> int:
    # Two significant digits of the SE fix the decimals of the estimate.
    return int(min(max(1 - math.floor(math.log10(se)), 0), 12))


def _fit_cells(fit) -> list[str]:
    """Name, estimate and SE of every parameter with a finite SE, formatted as the table shows them."""
    cells = []
    for name, est, se in zip(fit.names, fit.estimate, fit.se_vector):
        cells.append(name)
        if np.isfinite(se) and se > 0:
            dec = _decimals(se)
            cells += [f"{est:.{dec}f}", f"{se:.{dec + 1}f}"]
    return cells


@pytest.fixture(scope="module")
def objects():
    """{section id: (object, key strings its rendering must show, verdict color or None)}."""
    rng = np.random.default_rng(11)
    X = np.column_stack([np.ones(400), rng.normal(size=(400, 2))])
    y = (rng.uniform(size=400) < 1 / (1 + np.exp(-X @ TRUE_BETA))).astype(float)
    logit = hj.fit(logit_loglik, {"beta": np.zeros(3)}, X, y)
    assert bool(logit.diagnostics.is_valid)

    # The same model with two equal columns (the fit's program is reused): singular information.
    X2 = X.copy()
    X2[:, 2] = X2[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = hj.fit(logit_loglik, {"beta": np.zeros(3)}, X2, y)
    assert not bool(flat.diagnostics.is_valid)

    x = np.asarray(logit.estimate)
    big = hj.fd_hessian(logit_nll, x, X, y, scheme="forward", step=0.3)  # far too large a step
    # A name with markup characters: shown as text, not parsed as a tag.
    comparison = hj.compare_hessians(
        logit_nll, x, X, y, candidates={"forward FD <h=0.3> & co": big}, include=("central", "forward")
    )
    assert not comparison.ok
    candidate = hj.check_hessian(logit_nll, x, big, X, y)

    simulate = simulator(X)
    boot = hj.bootstrap(logit, n_boot=50, key=0, kind="parametric", simulate=simulate)
    study = hj.coverage_study(
        simulate, logit_loglik, {"beta": TRUE_BETA}, n_rep=50, key=0, methods=("hessian", "robust")
    )

    ratios = [f"{s / e:.3f}" for s, e in zip(boot.se, boot.exact_se)]
    coverage = [f"{study.coverage[m][i]:.3f}" for m in study.methods for i in range(len(study.names))]
    return {
        "fit-logit": (logit, [*_fit_cells(logit), "VALID:"], VALID_RGB),
        "fit-flat": (flat, [*_fit_cells(flat), "NOT VALID:", "beta[1]", "nan"], INVALID_RGB),
        "diagnostics-valid": (logit.diagnostics, ["VALID:", "hessian_is_pd"], VALID_RGB),
        "diagnostics-flat": (
            flat.diagnostics, ["NOT VALID:", "beta[1] and beta[2] are not separately identified"], INVALID_RGB
        ),
        "comparison": (comparison, [
            *[c.name for c in comparison.candidates], *[f"{s:.5g}" for s in comparison.exact_se],
            "x[0]", "x[1]", "x[2]", "some candidates disagree",
        ], None),
        "candidate": (candidate, ["DISAGREES", *[f"{r:.4f}" for r in candidate.se_ratio]], None),
        "bootstrap": (boot, ["beta[0]", "beta[1]", "beta[2]", "boot/exact", *ratios], None),
        "coverage": (study, ["beta[0]", "beta[2]", "hessian", "robust", *coverage], None),
    }


@pytest.fixture(scope="module")
def reprs(objects):
    return {sid: obj._repr_html_() for sid, (obj, _, _) in objects.items()}


# -- html.parser --------------------------------------------------------------------------
class Outline(HTMLParser):
    """Tags, text and table cells of an HTML fragment, per top-level <section> if any;
    records unbalanced or misplaced tags as problems."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.section = None
        self.parts: dict = {}

    def _part(self) -> dict:
        return self.parts.setdefault(self.section, {"tags": {}, "text": [], "cells": [], "cell": None})

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.section = dict(attrs).get("id")
        part = self._part()
        part["tags"][tag] = part["tags"].get(tag, 0) + 1
        parent = next((t for t in reversed(self.stack) if t not in ("thead", "tbody", "tfoot")), None)
        if tag == "tr" and parent != "table":
            self.problems.append(f"<tr> inside <{parent}>, not a table")
        if tag in ("td", "th") and (not self.stack or self.stack[-1] != "tr"):
            self.problems.append(f"<{tag}> inside <{self.stack[-1] if self.stack else None}>, not a <tr>")
        if tag == "li" and (not self.stack or self.stack[-1] not in ("ul", "ol")):
            self.problems.append("<li> outside a list")
        if tag in ("td", "th"):
            part["cell"] = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        if tag not in VOID:
            self.problems.append(f"self-closing <{tag}/> is not an HTML void element")
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            if tag in self.stack:
                del self.stack[len(self.stack) - 1 - self.stack[::-1].index(tag):]
            return
        self.stack.pop()
        part = self._part()
        if tag in ("td", "th") and part["cell"] is not None:
            part["cells"].append("".join(part["cell"]).strip())
            part["cell"] = None
        if tag == "section":
            self.section = None

    def handle_data(self, data):
        if self.stack and self.stack[-1] in ("script", "style", "title"):
            return
        part = self._part()
        part["text"].append(data)
        if part["cell"] is not None:
            part["cell"].append(data)

    def close(self):
        super().close()
        if self.stack:
            self.problems.append(f"unclosed tags at the end: {self.stack}")


def outline(markup: str) -> Outline:
    parser = Outline()
    parser.feed(markup)
    parser.close()
    return parser


def _text(part: dict) -> str:
    return re.sub(r"\s+", " ", "".join(part["text"])).strip()


SECTIONS = [
    "fit-logit", "fit-flat", "diagnostics-valid", "diagnostics-flat", "comparison", "candidate",
    "bootstrap", "coverage",
]


@pytest.mark.parametrize("sid", SECTIONS)
def test_repr_is_balanced_html(reprs, objects, sid):
    markup = reprs[sid]
    parsed = outline(markup)
    assert parsed.problems == [], f"{sid}: {parsed.problems}\n{markup}"
    part = parsed.parts[None]
    tags = part["tags"]
    # Text reports are one escaped <pre>; the others are tables.
    assert ("pre" in tags) != ("table" in tags), f"{sid}: {tags}"
    if "pre" in tags:
        assert markup.startswith('<pre style="white-space:pre-wrap">') and markup.endswith("</pre>")
        assert tags == {"pre": 1}
        assert "".join(part["text"]) == str(objects[sid][0])
    else:
        assert tags["th"] and tags["td"]
    text = _text(part)
    for key in objects[sid][1]:
        assert key in text, f"{sid}: {key!r} not in the text of the repr\n{text}"


def test_balance_check_can_fail():
    assert outline("<div><table><tr><td>1</td></tr></table></div>").problems == []
    assert outline("<div><table><tr><td>1</tr></table>").problems
    assert outline("<div><td>1</td></div>").problems
    assert outline("<table><tr><td>1</td></tr></table></div>").problems


# -- Chromium -----------------------------------------------------------------------------
def find_chromium() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def run_chromium(browser: str, page: Path, *mode: str) -> tuple[str, str]:
    """One headless run on ``page`` with a fresh profile; (stdout, stderr)."""
    with tempfile.TemporaryDirectory(prefix="hessjax-chromium-") as profile:
        cmd = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *mode, page.as_uri(),
        ]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the browser and the helpers it started
            proc.communicate()
            pytest.fail(f"Chromium did not finish {mode} of {page.name} in {CHROMIUM_TIMEOUT} s")
    assert proc.returncode == 0, f"Chromium failed ({proc.returncode}) on {page.name}:\n{err[-3000:]}"
    return out, err


# Reports, from inside the page, what the browser built: tables and rows per section, where
# each section lies and how wide it is. Its console line also proves the console is captured.
PROBE = """<script>
const found = {page: {height: document.documentElement.scrollHeight}};
for (const s of document.querySelectorAll("section")) {
  const box = s.getBoundingClientRect();
  found[s.id] = {tables: s.querySelectorAll("table").length, rows: s.querySelectorAll("tr").length,
                 top: Math.floor(box.top + scrollY), bottom: Math.ceil(box.bottom + scrollY),
                 width: s.scrollWidth, client: s.clientWidth};
}
console.log("hessjax-probe " + JSON.stringify(found));
</script>"""


def console_messages(stderr: str) -> list[str]:
    return re.findall(r":CONSOLE[^\]]*\] (.*)", stderr)


def probe_of(stderr: str) -> dict:
    messages = console_messages(stderr)
    probes = [m for m in messages if m.startswith('"hessjax-probe ')]
    assert len(probes) == 1, f"the page's probe did not reach the console: {messages}\n{stderr[-3000:]}"
    others = [m for m in messages if m not in probes]
    assert others == [], f"console messages (errors?) while rendering: {others}"
    return json.loads(re.match(r'"hessjax-probe (\{.*\})", source', probes[0]).group(1))


@pytest.fixture(scope="module")
def rendered(reprs, tmp_path_factory):
    """One page with every repr in its own <section>: its DOM (a 1200x900 window), then
    one screenshot 1200 px wide and as tall as the page."""
    browser = find_chromium()
    if browser is None:
        pytest.skip(SKIP_REASON)
    root = tmp_path_factory.mktemp("html_render")
    combined = root / "all.html"
    body = "".join(f"<h3>{sid}</h3><section id={sid}>{reprs[sid]}</section>" for sid in SECTIONS)
    body += f"<h3>control: misnested markup</h3><section id=control>{MISNESTED}</section>"
    combined.write_text(
        f"<!doctype html><html lang=en><meta charset=utf-8><title>hessjax HTML reprs</title>"
        f"<body>{body}{PROBE}</body></html>\n",
        encoding="utf-8",
    )
    dom, err = run_chromium(browser, combined, f"--window-size={WIDTH},{HEIGHT}", "--dump-dom")
    probe = probe_of(err)
    # Room below the page for a horizontal scrollbar (a repr wider than the window).
    height = probe["page"]["height"] + 40
    png = root / "all.png"
    _, err = run_chromium(browser, combined, f"--window-size={WIDTH},{height}", f"--screenshot={png}")
    result = {"dom": dom, "probe": probe, "png": png, "size": (WIDTH, height), "shot_probe": probe_of(err)}
    target = os.environ.get("HESSJAX_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for path in (combined, png):
            shutil.copy(path, target)
        pixels = read_png(png)
        if pixels is not None:  # one picture per repr, to look at
            from matplotlib import image

            for sid in SECTIONS:
                box = result["shot_probe"][sid]
                image.imsave(Path(target) / f"{sid}.png", pixels[box["top"]:box["bottom"] + 8])
    return result


# A <p> directly in a table and a cell outside a row: the browser moves the paragraph
# before the table and adds a row, which the comparison with the markup must notice.
MISNESTED = "<div><table><tr><td>1</td></tr><p>x</p></table><table><td>2</td></table></div>"


@pytest.fixture(scope="module")
def dom_parts(rendered):
    parsed = outline(rendered["dom"])
    assert parsed.problems == [], parsed.problems
    return parsed.parts


@pytest.mark.parametrize("sid", SECTIONS)
def test_browser_dom_equals_the_repr(reprs, objects, rendered, dom_parts, sid):
    want = outline(reprs[sid]).parts[None]
    got = dom_parts[sid]
    for tag in ("table", "tr", "th", "td", "ul", "li", "pre", "p", "b"):
        assert got["tags"].get(tag, 0) == want["tags"].get(tag, 0), (
            f"{sid}: the browser built {got['tags'].get(tag, 0)} <{tag}>, the repr has "
            f"{want['tags'].get(tag, 0)}"
        )
    assert reprs[sid].count("<tr>") == got["tags"].get("tr", 0)
    if "table" in want["tags"]:
        assert "<table>" in rendered["dom"]
    assert got["cells"] == want["cells"], f"{sid}: table cells moved or changed in the browser"
    assert _text(got) == _text(want), f"{sid}: text changed in the browser"
    for key in objects[sid][1]:
        assert key in _text(got), f"{sid}: {key!r} not shown\n{_text(got)}"
    # What the page itself saw, after layout.
    probe = rendered["probe"][sid]
    assert probe["tables"] == want["tags"].get("table", 0) and probe["rows"] == want["tags"].get("tr", 0)


def test_browser_comparison_can_fail(rendered, dom_parts):
    want = outline(MISNESTED).parts[None]
    got = dom_parts["control"]
    assert got["tags"]["tr"] == want["tags"]["tr"] + 1 == rendered["probe"]["control"]["rows"]
    assert _text(got) == "x12" and _text(want) == "1x2"


def test_key_values_are_table_cells(objects, dom_parts):
    """Estimates and SEs of the fit, SE ratios and coverages sit in their own cells."""
    logit = objects["fit-logit"][0]
    cells = dom_parts["fit-logit"]["cells"]
    for i, name in enumerate(logit.names):
        row = cells.index(name)
        dec = _decimals(logit.se_vector[i])
        shown = [f"{logit.estimate[i]:.{dec}f}", f"{logit.se_vector[i]:.{dec + 1}f}"]
        assert cells[row + 1: row + 3] == shown
    comparison = objects["comparison"][0]
    cells = dom_parts["comparison"]["cells"]
    for c in comparison.candidates:  # summary row: name, ok, PD
        row = cells.index(c.name)
        assert cells[row + 1: row + 3] == ["yes" if c.ok else "NO", "yes" if c.is_pd else "NO"]
    for i, name in enumerate(comparison.names):  # SE row: name, exact SE, ratios
        row = cells.index(name)
        assert cells[row + 1: row + 2 + len(comparison.candidates)] == [
            f"{comparison.exact_se[i]:.5g}", *[f"{c.se_ratio[i]:.4f}" for c in comparison.candidates]
        ]
    boot = objects["bootstrap"][0]
    text = "".join(dom_parts["bootstrap"]["text"])
    for i, name in enumerate(boot.names):
        line = re.search(rf"^{re.escape(name)} .*$", text, re.M).group(0)
        assert f"{boot.se[i] / boot.exact_se[i]:.3f}" in line.split(), line
    assert f"{boot.n_boot} refits" in text
    study = objects["coverage"][0]
    rows = [line.split() for line in "".join(dom_parts["coverage"]["text"]).splitlines()]
    for i, name in enumerate(study.names):
        for m in study.methods:
            row = next(r for r in rows if r[:2] == [name, m])
            assert row[2] == f"{study.coverage[m][i]:.3f}" and row[3] == f"{study.coverage_mc_se[m][i]:.3f}"
    assert f"{study.n_rep} simulated datasets" in _text(dom_parts["coverage"])


def test_verdict_words(dom_parts):
    for sid in ("fit-logit", "diagnostics-valid"):
        assert "VALID:" in _text(dom_parts[sid]) and "NOT VALID" not in _text(dom_parts[sid])
    for sid in ("fit-flat", "diagnostics-flat"):
        assert "NOT VALID:" in _text(dom_parts[sid])


# -- screenshots --------------------------------------------------------------------------
def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_content_rows(data: bytes) -> np.ndarray:
    """Rows of an 8-bit RGB/RGBA PNG where something is drawn, found without an imaging
    library: zlib-decompress the IDAT chunks and flag the rows whose filtered bytes, after
    the first pixel, are not one value per channel. Whatever the row's filter, a uniform
    row under a uniform row is never flagged (a blank picture has no flagged row); a
    non-uniform row equal to the row above (inside a colored box, or a stroke of a
    glyph) may not be, but most rows of text are.
    """
    width, height = png_size(data)
    depth, color, _, _, interlace = struct.unpack(">BBBBB", data[24:29])
    channels = {2: 3, 6: 4}.get(color)
    assert depth == 8 and channels and interlace == 0, (depth, color, interlace)
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            chunks.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8)
    assert raw.size == height * (1 + width * channels), "truncated image data"
    pixels = raw.reshape(height, 1 + width * channels)[:, 1:].reshape(height, width, channels)[:, 1:]
    return np.any(pixels != pixels[:, :1], axis=(1, 2))


@functools.lru_cache(maxsize=4)
def content_rows(path: Path) -> np.ndarray:
    return png_content_rows(path.read_bytes())


@functools.lru_cache(maxsize=4)
def read_png(path: Path) -> np.ndarray | None:
    """(height, width, 3) uint8 pixels with matplotlib, None without it."""
    try:
        from matplotlib import image
    except ImportError:
        return None
    pixels = image.imread(path)
    return np.round(pixels[..., :3] * 255).astype(np.uint8)


def test_screenshot_is_a_picture_of_the_requested_size(rendered):
    png = rendered["png"]
    assert png.exists() and png.stat().st_size > 1000, f"no screenshot {png}"
    assert png_size(png.read_bytes()) == rendered["size"]
    pixels = read_png(png)
    if pixels is not None:
        assert pixels.shape == (rendered["size"][1], WIDTH, 3)


@pytest.mark.parametrize("sid", SECTIONS)
def test_screenshot_shows_the_repr(objects, rendered, sid):
    """The repr's part of the screenshot has text in it (and the certificate its color)."""
    png = rendered["png"]
    box = rendered["shot_probe"][sid]
    assert box["bottom"] - box["top"] > 50, f"{sid}: nothing laid out ({box})"
    rows = content_rows(png)[box["top"]:box["bottom"]]
    assert rows.sum() > 20, f"{sid}: its part of the screenshot is (nearly) blank"
    pixels = read_png(png)
    if pixels is not None:
        part = pixels[box["top"]:box["bottom"]].astype(int)
        dark = np.all(part < 100, axis=-1)
        assert dark.sum() > 500, f"{sid}: no text drawn"
        color = objects[sid][2]
        if color is not None:
            filled = np.all(np.abs(part - color) <= 3, axis=-1)
            assert filled.sum() > 5000, f"{sid}: the certificate's {color} background is not drawn"


# Every repr fits a 1200 px window: a text repr's long explanatory lines (the candidate's
# verdict, the bootstrap's Monte Carlo note, the coverage footnote) wrap (pre-wrap), and
# the tables are narrower than the window.
@pytest.mark.parametrize("sid", SECTIONS)
def test_repr_fits_the_window(rendered, sid):
    box = rendered["probe"][sid]  # laid out in a 1200x900 window
    assert box["width"] <= box["client"], (
        f"{sid}: the repr is {box['width']} px wide in a {box['client']} px wide page (cut off)"
    )


def test_blank_check_agrees_with_matplotlib(rendered, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib import image

    png = rendered["png"]
    pixels = read_png(png)
    nonuniform = np.any(pixels != pixels[:, :1], axis=(1, 2))
    found = png_content_rows(png.read_bytes())
    assert nonuniform.sum() > 100 and found.sum() > nonuniform.sum() / 2
    # No row is flagged in a uniform stretch.
    assert not np.any(found[1:] & ~nonuniform[1:] & ~nonuniform[:-1])
    blank = tmp_path / "blank.png"
    image.imsave(blank, np.ones((HEIGHT, WIDTH, 3)))
    assert png_size(blank.read_bytes()) == (WIDTH, HEIGHT) and not png_content_rows(blank.read_bytes()).any()
