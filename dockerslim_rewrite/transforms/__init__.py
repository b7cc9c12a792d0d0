"""Transforms, one module each; importing this package registers all of them."""

from __future__ import annotations

import importlib
import pkgutil

from ..transform import REGISTRY, Transform


_imported = False


def all_transforms() -> list[Transform]:
    """Every registered transform, in pipeline order (the modules are found and imported once)."""
    global _imported
    if not _imported:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _imported = True
    return sorted(REGISTRY.values(), key=lambda t: (t.order, t.id))
