"""The build step of each ecosystem, one module each; importing this package registers all of them.

A module registers its planner with ``@ecosystem(name, order=..., detect=...)``: ``detect`` finds
the ecosystem's build commands in a stage's facts, the planner says where their output lands (a
`Build`) or raises `Unsure` with the one-line reason. Adding an ecosystem needs only a new module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .facts import (
    PATH_DIRS,
    Build,
    CopyStep,
    Hit,
    RunStep,
    StageFacts,
    StartedScript,
    Unsure,
    abspath,
    copyable_libs,
    expand,
    gather,
    healthcheck_words,
    image_packages,
    is_dev_package,
    is_under,
    parse_image_ref,
    runtime_bases,
    runtime_libs,
    runtimes,
    started_scripts,
)

Detector = Callable[[StageFacts], list[Hit]]
Planner = Callable[[StageFacts, list[Hit], Any], Build]


@dataclass(frozen=True)
class Ecosystem:
    name: str
    order: int
    detect: Detector
    plan: Planner
    fallback: bool  # its commands (make, pip) often only help another ecosystem's build: it yields to any other
    module: str


REGISTRY: dict[str, Ecosystem] = {}
_imported: list[bool] = []  # set once every ecosystem module is imported


def ecosystem(name: str, *, order: int, detect: Detector, fallback: bool = False) -> Callable[[Planner], Planner]:
    """Register a planner (and the detector of its build commands) under the ecosystem's name."""

    def register(plan: Planner) -> Planner:
        if name in REGISTRY and REGISTRY[name].module != plan.__module__:
            raise ValueError(f"ecosystem {name!r} registered twice")
        REGISTRY[name] = Ecosystem(name, order, detect, plan, fallback, plan.__module__)
        return plan

    return register


def all_ecosystems() -> list[Ecosystem]:
    """Every registered ecosystem, in detection order (the modules are found and imported once per process:
    listing the package's folder again for every stage cost 2 % of a run)."""
    if not _imported:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _imported.append(True)
    return sorted(REGISTRY.values(), key=lambda e: (e.order, e.name))


def detect(facts: StageFacts) -> dict[str, list[Hit]]:
    """The build commands of each ecosystem found in the stage.

    A fallback ecosystem gives way (in order) when another one is found too: `make` often wraps
    `go build`, and pip in a stage that compiles Go or Java installs a helper (a code generator).
    """
    ecosystems = all_ecosystems()
    found = {e.name: hits for e in ecosystems if (hits := e.detect(facts))}
    for e in ecosystems:
        if e.fallback and e.name in found and len(found) > 1:
            del found[e.name]
    return found


PLANNERS: dict[str, Planner] = {e.name: e.plan for e in all_ecosystems()}

__all__ = [
    "PATH_DIRS",
    "PLANNERS",
    "REGISTRY",
    "Build",
    "CopyStep",
    "Ecosystem",
    "Hit",
    "RunStep",
    "StageFacts",
    "StartedScript",
    "Unsure",
    "abspath",
    "all_ecosystems",
    "copyable_libs",
    "detect",
    "ecosystem",
    "expand",
    "gather",
    "healthcheck_words",
    "image_packages",
    "is_dev_package",
    "is_under",
    "parse_image_ref",
    "planner",
    "runtime_bases",
    "runtime_libs",
    "runtimes",
    "started_scripts",
]
