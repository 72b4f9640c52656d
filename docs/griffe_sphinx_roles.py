"""Griffe extension for the docs build: Sphinx markup in docstrings becomes Markdown.

hessjax's numpy-style docstrings cross-reference with Sphinx roles
(:func:`fit`, :class:`~hessjax.compare.HessianComparison`, :meth:`FitResult.delta`),
which mkdocstrings would print literally. Before the docstrings are parsed, each role
becomes an autorefs link when its target is rendered in the API reference (a name in
``hessjax.__all__``, or a documented member of one), and inline code otherwise, so the
strict build never meets an unresolvable reference. Parameter types written with RST
inline code lose the double backticks (the type is rendered as code already).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|attr|data|mod|obj|exc|const):`(~?)([\w.]+)`")
# A numpy parameter line "name : type" whose type holds RST inline code (``init``): the
# type is rendered as code already, so the double backticks would show literally.
_TYPE_LINE = re.compile(r"^(\s*\*{0,2}\w+(?:, \*{0,2}\w+)* : )(.*``.*)$", re.MULTILINE)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of the package, once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        public = {str(name) for name in (pkg.exports or ())}
        for obj in _walk(pkg):
            if obj.docstring is not None:
                text = _ROLE.sub(
                    lambda m: _replace(pkg, public, m.group(1) == "~", m.group(2)), obj.docstring.value
                )
                obj.docstring.value = _TYPE_LINE.sub(lambda m: m.group(1) + m.group(2).replace("``", ""), text)


def _walk(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if not member.is_alias and member.parent is obj:
            yield from _walk(member)


def _replace(pkg: griffe.Module, public: set[str], short: bool, target: str) -> str:
    parts = target.split(".")
    if parts[0] == pkg.name:
        parts = parts[1:]
    shown = parts[-1] if short and parts else ".".join(parts) or target
    identifier = _identifier(pkg, public, parts)
    return f"[`{shown}`][{identifier}]" if identifier else f"`{shown}`"


def _identifier(pkg: griffe.Module, public: set[str], parts: list[str]) -> str | None:
    """The anchor the API reference gives ``parts``, or None when it renders no such object."""
    # A private module path (compare.HessianComparison) names the public re-export.
    for start in range(len(parts)):
        if parts[start] in public:
            head, rest = parts[start], parts[start + 1 :]
            break
    else:
        return None
    target = _public_object(pkg, head)
    if target is None:
        return None
    anchor = target.path if _shadowed(pkg, head) else f"{pkg.name}.{head}"
    for name in rest:
        member = target.members.get(name)
        if member is None or member.docstring is None or name.startswith("_"):
            return anchor  # not rendered on its own: link the object that holds it
        target, anchor = member, f"{anchor}.{name}"
    return anchor


def _public_object(pkg: griffe.Module, name: str) -> griffe.Object | None:
    """The object ``hessjax.<name>`` is at run time (re-exported functions shadow modules)."""
    try:
        return _runtime_target(pkg.members[name], name)
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _runtime_target(member: griffe.Object | griffe.Alias, name: str) -> griffe.Object:
    """Follow aliases; a module holding a member of its own name stands for that member.

    ``from .fit import fit`` makes ``hessjax.fit`` the function, but static analysis
    sees the module ``hessjax/fit.py`` (likewise ``hessjax.optimize.minimize``).
    """
    target = member.final_target if member.is_alias else member
    while target.is_module and name in target.members:
        inner = target.members[name]
        target = inner.final_target if inner.is_alias else inner
    return target


def _shadowed(pkg: griffe.Module, name: str) -> bool:
    """Whether ``hessjax.<name>`` is a function that static analysis takes for a module.

    The API reference renders those by their full path (``::: hessjax.fit.fit``), so
    their anchor is that path rather than ``hessjax.<name>``.
    """
    member = pkg.members.get(name)
    if member is None:
        return False
    try:
        first = member.final_target if member.is_alias else member
        return first.is_module and _runtime_target(member, name) is not first
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False
