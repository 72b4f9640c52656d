"""MkDocs hook: the API reference must document every name in ``hessjax.__all__``.

A name added to the public surface without a ``::: hessjax.NAME`` entry in
``docs/api/`` is a warning, which fails ``mkdocs build --strict`` (and so CI).
``__all__`` is read from the source without importing hessjax (or JAX).
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.api_coverage")

_DIRECTIVE = re.compile(r"^:::\s+(hessjax(?:\.\w+)*)\s*$", re.MULTILINE)
# Documented in prose on docs/api/index.md rather than with a ::: block.
_PROSE_ONLY = {"__version__"}


def _public_names(init: Path) -> list[str]:
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise ValueError(f"{init} defines no literal __all__")


def on_files(files, config):
    root = Path(config["config_file_path"]).parent
    api = Path(config["docs_dir"]) / "api"
    documented = set()
    for page in sorted(api.glob("*.md")):
        for path in _DIRECTIVE.findall(page.read_text()):
            documented.add(path.rsplit(".", 1)[-1])
    for name in _public_names(root / "src" / "hessjax" / "__init__.py"):
        if name not in documented and name not in _PROSE_ONLY:
            log.warning(
                "hessjax.%s is in hessjax.__all__ but not in the API reference: add "
                "'::: hessjax.%s' to a page under docs/api/",
                name,
                name,
            )
    return files
