"""Results of earlier runs, reused when nothing they depend on has changed (as ruff and black do).

A Dockerfile's result depends on its bytes, the options, the build context (listing, sizes, the
texts dslim reads from it), where the Dockerfile sits in that context, and the dslim that computed
it (its code and data files, the versions of the libraries it depends on). The key hashes all of
these, so an entry is either exactly right or never found:

- the dslim build is stamped by the command before it imports any of dslim's machinery, and new
  entries are written only if the stamp is still the same after the work (an edit of dslim's own
  files during a run must not file results of the old code under the new stamp);
- a cache folder inside the build context being processed is not used for that Dockerfile (the
  entries would change the context they are keyed on).

Entries live in ``<folder>/<build stamp>/``; a new build starts a new folder and removes the other
builds' folders (only folders dslim marked as its own). Entries older than 30 days, and the oldest
beyond 20,000, are removed at most once a day.

An entry is a pickle, so only files this user owns in folders only this user can write are loaded:
anything else is a miss, as is any failure to read or write. A cache folder that exists and is
neither empty nor a dslim cache is not used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import re
import shutil
import stat
import sys
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .buildcontext import Snapshot
    from .pipeline import RewriteResult
    from .transform import Options

__all__ = ["CacheFolderError", "ResultCache", "build_stamp", "default_folder", "open_cache", "prune", "result_key"]

_SCHEMA = "dslim-result-cache-2"
_TAG_FIRST_LINE = "Signature: 8a477f597d28d172789f06886806bc55"  # the CACHEDIR.TAG standard's signature
_TAG = f"{_TAG_FIRST_LINE}\n# dslim's cache of results: safe to delete.\n"
_BUILD_MARK = "dslim-build"  # in each build folder: only folders holding it are ever removed
_FALLBACK_LIBRARIES = ("dockerfile-parse", "jinja2", "libcst", "tree-sitter", "tree-sitter-bash", "typer")
_MAX_AGE_S = 30 * 24 * 3600
_MAX_ENTRIES = 20_000
_PRUNE_EVERY_S = 24 * 3600


class CacheFolderError(ValueError):
    """A cache folder dslim must not use (someone else's, writable by others, not a dslim cache)."""


def default_folder() -> Path | None:
    """``$DSLIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/dslim`` (only when absolute, as the XDG spec says),
    else ``~/.cache/dslim``; None when there is no home folder to put it in."""
    given = os.environ.get("DSLIM_CACHE_DIR")
    if given:
        return Path(given).absolute()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "dslim"
    try:
        return Path.home() / ".cache" / "dslim"
    except (RuntimeError, KeyError):  # no HOME and no passwd entry (a container's arbitrary uid)
        return None


@cache
def build_stamp() -> str:
    """What identifies this dslim: its files (path, size, mtime), Python's and its dependencies' versions.

    Stat-based like a build system's: an edited source or data file gives a new stamp, so a
    development checkout never serves results of the code it had before. The command takes it
    before importing the pipeline (see the module docstring).
    """
    return _stamp_with(_package_files_stamp())


def _stamp_with(files_stamp: str) -> str:
    return hashlib.sha256(f"{_versions_stamp()}\0{files_stamp}".encode()).hexdigest()[:16]


@cache
def _versions_stamp() -> str:
    from . import __version__

    versions = "".join(f"\0{library}={version}" for library, version in _library_versions())
    return f"{_SCHEMA}\0{__version__}\0{sys.version_info[:2]}{versions}"


def _library_versions() -> list[tuple[str, str]]:
    """The installed version of every runtime dependency dslim declares (parsers change results)."""
    from importlib import metadata

    try:
        declared = [r for r in metadata.requires("dslim") or () if "extra ==" not in r]
        names = sorted({re.split(r"[\s;<>=!~\[]", r, maxsplit=1)[0] for r in declared})
    except metadata.PackageNotFoundError:  # run from a source tree without installing
        names = list(_FALLBACK_LIBRARIES)
    found = []
    for name in names or _FALLBACK_LIBRARIES:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            found.append((name, "?"))
    return found


def _package_files_stamp() -> str:
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for root, folders, files in os.walk(package):
        folders[:] = sorted(f for f in folders if f != "__pycache__")
        for name in sorted(files):
            st = os.stat(os.path.join(root, name))
            rel = os.path.relpath(os.path.join(root, name), package)
            digest.update(f"\0{rel}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def result_key(data: bytes, options: Options, snapshot: Snapshot | None, dockerfile_name: str) -> str:
    """The hash of everything a rewrite's result depends on, but the dslim build (the entry's folder)."""
    digest = hashlib.sha256(_SCHEMA.encode())
    digest.update(b"\0options\0" + json.dumps(_plain(options), sort_keys=True).encode())
    digest.update(b"\0name\0" + dockerfile_name.encode("utf-8", "surrogateescape"))
    if snapshot is not None:
        digest.update(b"\0context\0" + snapshot.digest().encode())
        digest.update(b"\0at\0" + (snapshot.dockerfile or "\0outside").encode("utf-8", "surrogateescape"))
    digest.update(b"\0dockerfile\0" + data)
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """JSON-able and order-stable: sets sorted (their order changes between processes), dataclasses as dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


@dataclasses.dataclass
class ResultCache:
    """The entries of one dslim build: ``<root>/<build>/<key[:2]>/<key>``."""

    root: Path
    build: str
    #: results computed since the last flush: written only if the build is unchanged (see flush)
    pending: dict[str, bytes] = dataclasses.field(default_factory=dict)
    #: sub-folders already checked to be this user's and private
    checked: set[str] = dataclasses.field(default_factory=set)

    @property
    def folder(self) -> Path:
        return self.root / self.build

    def get(self, key: str) -> RewriteResult | None:
        from .pipeline import RewriteResult

        if key in self.pending:
            return pickle.loads(self.pending[key])
        try:
            if not self._private_folder(key[:2]):
                return None
            fd = os.open(self._path(key), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as fh:
                if not _private(os.fstat(fh.fileno()), is_file=True):
                    return None
                found = pickle.load(fh)
        except Exception:  # missing, half-written by a killed run, or from an incompatible build: a miss
            return None
        return found if isinstance(found, RewriteResult) else None

    def put(self, key: str, result: RewriteResult) -> None:
        self.pending[key] = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)

    def flush(self) -> None:
        """Write the pending entries, unless dslim's own files changed since the build was stamped."""
        pending, self.pending = self.pending, {}
        if not pending or _stamp_with(_package_files_stamp()) != self.build:
            return
        for key, blob in pending.items():
            path = self._path(key)
            try:
                path.parent.mkdir(mode=0o700, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
                try:
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(blob)
                    os.replace(tmp, path)  # atomic: a reader sees the old entry, the new one, or none
                except BaseException:
                    os.unlink(tmp)
                    raise
            except OSError:
                return  # a full disk or a read-only cache must not fail the run

    def _private_folder(self, name: str) -> bool:
        if name not in self.checked:
            try:
                if not _private(os.lstat(self.folder / name)):
                    return False
            except OSError:
                return False
            self.checked.add(name)
        return True

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / key


def check_folder(folder: Path) -> None:
    """Raise CacheFolderError when ``folder`` must not hold dslim's cache; create it when missing."""
    if not folder.exists():
        try:
            folder.mkdir(mode=0o700, parents=True)
            (folder / "CACHEDIR.TAG").write_text(_TAG)
        except OSError as exc:
            raise CacheFolderError(f"cannot create {folder}: {exc.strerror}") from None
        return
    if not folder.is_dir() or folder.is_symlink():
        raise CacheFolderError(f"{folder} is not a folder")
    if not _private(folder.stat()):
        raise CacheFolderError(f"{folder} belongs to another user or others can write to it (entries are pickles)")
    tag = folder / "CACHEDIR.TAG"
    if tag.is_file():
        try:
            if tag.read_text(errors="replace").startswith(_TAG_FIRST_LINE + "\n# dslim"):
                return
        except OSError:
            pass
    if any(folder.iterdir()):
        raise CacheFolderError(f"{folder} holds other files and is not a dslim cache (no dslim CACHEDIR.TAG)")
    tag.write_text(_TAG)


@cache
def open_cache(root: Path, build: str) -> ResultCache | None:
    """The cache of ``build`` under ``root`` (checked with check_folder), or None when it cannot be used."""
    try:
        check_folder(root)
        folder = root / build
        if not folder.is_dir():
            folder.mkdir(mode=0o700)
            (folder / _BUILD_MARK).write_text(build + "\n")
            _drop_other_builds(root, keep=build)
        elif not _private(os.lstat(folder)):
            return None
    except (OSError, CacheFolderError):
        return None
    return ResultCache(root, build)


def _private(st: os.stat_result, is_file: bool = False) -> bool:
    """Owned by this user, not a symlink, and not writable by anyone else (loading a pickle runs code)."""
    if not hasattr(os, "getuid"):
        return True  # Windows: the user's profile folder is private by default
    kind_ok = stat.S_ISREG(st.st_mode) if is_file else stat.S_ISDIR(st.st_mode)
    return kind_ok and st.st_uid == os.getuid() and not st.st_mode & 0o022


def _drop_other_builds(root: Path, keep: str) -> None:
    for child in root.iterdir():
        if child.name != keep and not child.is_symlink() and (child / _BUILD_MARK).is_file():
            shutil.rmtree(child, ignore_errors=True)


def prune(root: Path, now: float | None = None) -> None:
    """Remove entries older than 30 days and the oldest beyond 20,000; at most once a day."""
    now = time.time() if now is None else now
    stamp = root / ".last-prune"
    try:
        if now - stamp.stat().st_mtime < _PRUNE_EVERY_S:
            return
    except OSError:
        pass
    try:
        check_folder(root)
        entries: list[tuple[float, Path]] = []
        for build in root.iterdir():
            if not (build / _BUILD_MARK).is_file():
                continue
            for sub in build.iterdir():
                if sub.is_dir() and not sub.is_symlink():
                    entries += [(p.stat().st_mtime, p) for p in sub.iterdir() if p.is_file()]
        entries.sort(reverse=True)
        for k, (mtime, path) in enumerate(entries):
            leftover = path.name.startswith(".tmp-") and now - mtime > 3600  # a killed run's half-written entry
            if leftover or k >= _MAX_ENTRIES or now - mtime > _MAX_AGE_S:
                path.unlink(missing_ok=True)
        stamp.touch()
    except (OSError, CacheFolderError):
        pass
