"""Transforms, one module each; importing this package registers all of them."""

from __future__ import annotations

import importlib
import pkgutil

from ..transform import REGISTRY, Transform


def all_transforms() -> list[Transform]:
    """Every registered transform, in pipeline order."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return sorted(REGISTRY.values(), key=lambda t: (t.order, t.id))
