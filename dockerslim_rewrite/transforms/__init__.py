"""Transforms, one module each; importing this package registers all of them."""

from __future__ import annotations

import importlib

from ..transform import REGISTRY, Transform, listed_transforms

_imported = False


def all_transforms() -> list[Transform]:
    """Every registered transform, in pipeline order (the modules are found and imported once)."""
    global _imported
    if not _imported:
        for entry in listed_transforms():
            importlib.import_module(f"{__name__}.{entry['module']}")
        _imported = True
    return sorted(REGISTRY.values(), key=lambda t: (t.order, t.id))
