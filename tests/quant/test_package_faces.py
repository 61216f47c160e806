"""Each topic package's face (``quant.<topic>.__init__``) exports real names and never hides a module.

A face that re-exports a function named like one of its modules (``quant.book.step`` once did)
rebinds the package attribute: ``quant.book.step.run_book`` then fails although the module exists,
depending on import order. Every exported name must resolve, and every module of the package must
still be reachable as an attribute of the package after the face is imported.
"""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import quant

TOPICS = sorted(m.name for m in pkgutil.iter_modules(quant.__path__) if m.ispkg)


@pytest.mark.parametrize("topic", TOPICS)
def test_the_face_exports_resolve_and_hide_no_module(topic: str) -> None:
    package = importlib.import_module(f"quant.{topic}")
    for name in getattr(package, "__all__", []):
        assert hasattr(package, name), f"quant.{topic}.__all__ names {name!r}, which it does not define"
    for module in pkgutil.iter_modules(package.__path__):
        full = f"quant.{topic}.{module.name}"
        importlib.import_module(full)
        attr = getattr(package, module.name, None)
        assert isinstance(attr, types.ModuleType), (
            f"quant.{topic}.{module.name} is {attr!r} on the package, not the module {full}: the face re-exports a "
            "name that hides it")


def test_the_book_face_names_the_range_engine() -> None:
    import quant.book as book
    from quant.book import step as step_module

    assert isinstance(step_module, types.ModuleType)
    assert book.step_hour is step_module.step
    assert book.run_book_on is step_module.run_book_on
