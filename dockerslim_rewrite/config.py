"""Configuration from ``[tool.dslim]`` in pyproject.toml or a ``.dslim.toml`` (CLI flags override it).

Keys: select, ignore (lists of transform ids), safe-only, unsafe-fixes, cache-mounts (booleans),
context (path, relative to the config file), targets (stage names built with ``--target``: they ship
like the final stage), include-generated (boolean), image-aliases (table: mirror repository -> official
name), per-path (table: glob relative to the config file -> the same keys, applied to matching
Dockerfiles), and one table per transform id for its own settings.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from .datafiles import TOMLDecodeError, load_toml_file

KNOWN_KEYS = {
    "select",
    "ignore",
    "safe-only",
    "unsafe-fixes",
    "cache-mounts",
    "context",
    "image-aliases",
    "per-path",
    "targets",
    "include-generated",
}


class ConfigError(Exception):
    pass


@dataclass
class Config:
    path: Path | None = None
    values: dict = field(default_factory=dict)

    def for_file(self, dockerfile: Path) -> dict:
        """Settings for one Dockerfile: the top level, then every matching per-path table."""
        merged = {k: v for k, v in self.values.items() if k != "per-path"}
        if self.path is None:
            return merged
        base = self.path.parent
        try:
            rel = dockerfile.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            return merged
        for pattern, overrides in (self.values.get("per-path") or {}).items():
            if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel, pattern.rstrip("/") + "/*"):
                merged.update(overrides)
        return merged


def find_config(
    start: Path, known: dict[Path, Config] | None = None, names: Callable[[Path], Collection[str] | None] | None = None
) -> Config:
    """The nearest .dslim.toml, or pyproject.toml with a [tool.dslim] table, from ``start`` upwards.

    ``known`` (folder -> its answer) is filled in for every folder looked at and read first: the
    Dockerfiles of a run share their upper folders, which are then looked at once. ``names`` (folder
    -> the names in it, None when unreadable) spares a system call per file looked for in a folder
    the caller has listed anyway.
    """
    if known is not None and start in known:  # its keys are resolved folders, so this one is
        return known[start]
    directory = start if start.is_dir() else start.parent
    if known is not None and directory in known:
        return known[directory]
    resolved = directory.resolve()

    def is_file(folder: Path, name: str) -> bool:
        listed = names(folder) if names is not None else None
        return (listed is None or name in listed) and (folder / name).is_file()

    looked_at: list[Path] = []
    found = Config()
    for folder in [resolved, *resolved.parents]:
        if known is not None and folder in known:
            found = known[folder]
            break
        looked_at.append(folder)
        if is_file(folder, ".dslim.toml"):
            dedicated = folder / ".dslim.toml"
            found = Config(dedicated, _load(dedicated, ()) or {})
            break
        if is_file(folder, "pyproject.toml"):
            pyproject = folder / "pyproject.toml"
            values = _load(pyproject, ("tool", "dslim"))
            if values is not None:
                found = Config(pyproject, values)
                break
    if known is not None:
        known.update(dict.fromkeys(looked_at, found))
    return found


def _load(path: Path, keys: tuple[str, ...]) -> dict | None:
    try:
        data = load_toml_file(path)
    except (OSError, TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: invalid configuration ({exc})") from None
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [{'.'.join(keys) or 'top level'}] must be a table")
    _check_keys(path, data)
    for table in (data.get("per-path") or {}).values():
        if isinstance(table, dict):
            _check_keys(path, table)
    return data


def _check_keys(path: Path, values: dict) -> None:
    """A typo in a key must not silently change what dslim does (``slect`` would apply every transform)."""
    from .transforms import all_transforms

    allowed = KNOWN_KEYS | {t.id for t in all_transforms()}
    for key in values:
        if key not in allowed:
            close = difflib.get_close_matches(key.replace("_", "-"), sorted(allowed), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{path}: unknown key '{key}'{hint}")
