"""One loader for the packaged knowledge (TOML and JSON files under ``dockerslim_rewrite/data/``).

Python 3.10 has no ``tomllib``: the ``tomli`` backport is the same parser under another name.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from importlib import resources
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
