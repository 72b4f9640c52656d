"""Docstrings are part of the product: every public name documents itself with an
example, and every example runs."""

import doctest
import importlib
import importlib.util
import inspect
import pkgutil
import sys
from pathlib import Path

import pytest

import hessjax

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(hessjax.__path__, prefix="hessjax.")
    if not name.endswith("__main__")
)


@pytest.mark.parametrize("module_name", MODULES)
def test_doctests_pass(module_name):
    module = importlib.import_module(module_name)
    failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


PUBLIC_CALLABLES = [
    name
    for name in hessjax.__all__
    if callable(getattr(hessjax, name)) and not inspect.isclass(getattr(hessjax, name))
]


@pytest.mark.parametrize("name", PUBLIC_CALLABLES)
def test_public_function_has_docstring_with_example(name):
    doc = inspect.getdoc(getattr(hessjax, name)) or ""
    assert "Examples" in doc and ">>>" in doc, f"hessjax.{name} needs an Examples section"


@pytest.mark.parametrize("name", [n for n in hessjax.__all__ if inspect.isclass(getattr(hessjax, n))])
def test_public_class_has_docstring(name):
    assert inspect.getdoc(getattr(hessjax, name))


def test_all_is_exactly_the_public_surface():
    exported = {n for n in dir(hessjax) if not n.startswith("_")}
    modules = {n for n in exported if inspect.ismodule(getattr(hessjax, n))}
    assert set(hessjax.__all__) - {"__version__"} == exported - modules


# ---------------------------------------------------------------------------------------------
# The tutorial page, generated from examples/ by docs/tutorial_hook.py at docs build time. The
# full build (which runs the examples) is CI's `mkdocs build --strict`; these checks are cheap.
# ---------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tutorial_hook():
    spec = importlib.util.spec_from_file_location("hessjax_docs_tutorial_hook", ROOT / "docs" / "tutorial_hook.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_tutorial_examples_exist_and_save_their_figures(tutorial_hook):
    assert tutorial_hook.TUTORIAL
    for example in tutorial_hook.TUTORIAL:
        source = (ROOT / "examples" / example.script).read_text()
        assert "HESSJAX_FIGURE_DIR" in source, f"{example.script} does not honour $HESSJAX_FIGURE_DIR"
        for name in example.figures:
            assert name.endswith(".png") and name in source, f"{example.script} never saves {name}"


def test_tutorial_page_is_in_the_nav_and_its_hook_is_registered(tutorial_hook):
    config = (ROOT / "mkdocs.yml").read_text()
    assert "docs/tutorial_hook.py" in config and f": {tutorial_hook.PAGE}" in config
    template = (ROOT / "docs" / tutorial_hook.PAGE).read_text()
    assert template.count(tutorial_hook.MARKER) == 1
    for example in tutorial_hook.TUTORIAL:  # the introduction lists every example on the page
        assert f"**{example.script[:2]}," in template, example.script


SCRIPT = '''"""Title with ``code``.

Prose that says what to look for.
"""

from __future__ import annotations

import os

import numpy as np

SIZE = 3


# a comment that belongs to f
def f(x):
    return np.sum(x)


@staticmethod
def g():
    pass


def main():
    print(f(np.ones(SIZE)))


if __name__ == "__main__":
    main()
'''


def test_tutorial_splits_a_script_into_docstring_and_cells(tutorial_hook):
    doc, cells = tutorial_hook.split_script(SCRIPT)
    assert doc.startswith("Title with ``code``.") and "what to look for" in doc
    assert [cell.splitlines()[0] for cell in cells] == [
        "from __future__ import annotations", "# a comment that belongs to f", "@staticmethod", "def main():",
        'if __name__ == "__main__":',
    ]
    assert "SIZE = 3" in cells[0] and '"""' not in "".join(cells)
    # every line of code is shown, in order
    assert "\n".join(cells).split() == SCRIPT.split('"""', 2)[2].split()
    _, marked = tutorial_hook.split_script('"""Doc."""\nimport os\n# %% first\nx = 1\n# %% second\ny = 2\n')
    assert marked == ["import os", "# %% first\nx = 1", "# %% second\ny = 2"]


def test_tutorial_renders_prose_code_output_and_figures(tutorial_hook):
    example = tutorial_hook.Example("42_demo.py", {"fig.png": "hj.plot_x(a[0]): what it shows"})
    run = tutorial_hook.Run(example, stdout="result 1.0\n")
    md = tutorial_hook.render_example("42_demo.py", SCRIPT, run, {"fig.png": "tutorial/42_demo/fig.png"})
    assert md.startswith("## 42 · Title with `code`\n")
    assert "Prose that says what to look for." in md
    assert "```python\n# a comment that belongs to f\ndef f(x):" in md
    assert "```text\nresult 1.0\n```" in md
    assert "![hj.plot_x(a(0))](tutorial/42_demo/fig.png)" in md
    assert r"*hj.plot\_x(a\[0\]): what it shows*" in md
    assert "failure" not in md
    failed = tutorial_hook.render_example("42_demo.py", SCRIPT, tutorial_hook.Run(example, error="boom"), {})
    assert '!!! failure "This example failed' in failed and "    boom" in failed
    page = tutorial_hook.render_page(f"# T\n\n{tutorial_hook.MARKER}\n", [md])
    assert page.startswith("# T\n\n## 42") and tutorial_hook.MARKER not in page
    with pytest.raises(ValueError, match="no <!-- tutorial-examples -->"):
        tutorial_hook.render_page("# T\n", [md])


def test_tutorial_runs_examples_and_reports_every_failure(tutorial_hook, tmp_path):
    scripts = {
        "ok.py": "import os, pathlib\nprint('hello', os.environ['HESSJAX_SMOKE'])\n"
                 "pathlib.Path(os.environ['HESSJAX_FIGURE_DIR'], 'a.png').write_bytes(b'PNG')\n",
        "crash.py": "import sys\nprint('partial')\nsys.exit('went wrong')\n",
        "nofig.py": "print('no figure')\n",
        "slow.py": "import time\ntime.sleep(60)\n",
    }
    for name, text in scripts.items():
        (tmp_path / name).write_text(text)
    Example = tutorial_hook.Example
    examples = [Example("ok.py", {"a.png": "A"}), Example("crash.py"), Example("nofig.py", {"b.png": "B"}),
                Example("slow.py")]
    ok, crash, nofig, slow = tutorial_hook.run_examples(examples, tmp_path, parallel=2, timeout=3)
    assert ok.error is None and ok.stdout == "hello 1\n" and ok.figures == {"a.png": b"PNG"}
    assert "exited with status 1" in crash.error and "went wrong" in crash.error and crash.stdout == "partial\n"
    assert "did not save b.png" in nofig.error and "matplotlib" in nofig.error
    assert "did not finish within 3 s" in slow.error
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(scripts)  # nothing written beside them
