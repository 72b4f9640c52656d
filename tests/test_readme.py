"""The README's code is part of the product: its Python blocks run, and its
quick start is exactly the two commands CI and users run."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_examples_run():
    blocks = _blocks("python")
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_quick_start_is_two_commands_demo_and_tests():
    (quick_start,) = _blocks("bash")[:1]
    lines = [line for line in quick_start.splitlines() if line.strip()]
    assert len(lines) == 2
    assert "hessjax demo" in lines[0]
    ci = (README.parent / ".ci" / "run").read_text()
    assert lines[1] in ci, ".ci/run must run the README's test command verbatim"
