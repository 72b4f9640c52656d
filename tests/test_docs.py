"""Docstrings are part of the product: every public name documents itself with an
example, and every example runs."""

import doctest
import importlib
import inspect
import pkgutil

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
