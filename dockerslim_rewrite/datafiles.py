"""One loader for the packaged knowledge (TOML and JSON files under ``dockerslim_rewrite/data/``).

Python 3.10 has no ``tomllib``: the ``tomli`` backport is the same parser under another name.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised by the 3.10 smoke test in CI
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError


def loads_toml(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


def load_toml_file(path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def data_path(name: str):
    """A packaged data file (a Traversable: open it with ``.open('rb')``)."""
    return resources.files("dockerslim_rewrite.data").joinpath(name)


@cache
def data_toml(name: str) -> dict[str, Any]:
    """A packaged TOML file, parsed once per process. Callers must not mutate it."""
    with data_path(name).open("rb") as fh:
        return tomllib.load(fh)


@cache
def data_json(name: str) -> Any:
    with data_path(name).open("rb") as fh:
        return json.load(fh)


def module_source(module: str) -> Path:
    """The .py file of one of the package's modules (``dockerslim_rewrite.shell``), also in the compiled
    build, which ships it beside the compiled module. Found from the package's folder (its __init__
    is never compiled): a compiled module's own __file__ and __spec__ may name another file."""
    package, *parts = module.split(".")
    return Path(sys.modules[package].__file__ or "").parent.joinpath(*parts).with_suffix(".py")


def module_docstring(module: str) -> str | None:
    """A module's docstring. The compiled build's modules have none (mypyc drops module docstrings):
    it is then read from the module's source."""
    text = sys.modules[module].__doc__
    if text is not None:
        return text
    import ast

    source = module_source(module)
    if not source.is_file():
        return None
    return ast.get_docstring(ast.parse(source.read_text(encoding="utf-8")), clean=False)
