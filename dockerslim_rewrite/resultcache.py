"""Results of earlier runs, reused when nothing they depend on has changed (as ruff and black do).

A Dockerfile's result depends on its bytes, the options, the build context (listing, sizes, the
texts dslim reads from it), where the Dockerfile sits in that context, and the dslim that computed
it (its code and data files, the versions of the libraries that parse shell and Dockerfiles). The
key hashes all of these, so an entry is either exactly right or never found. Entries live in a
folder per dslim build under the user's cache folder; a new build starts a new folder and removes
the others.

An entry is a pickle, so the folder must be one only this user can write: a folder owned by another
user, or writable by group or others, is not used (the run goes on without a cache). Any failure to
read or write an entry is a cache miss, never an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import shutil
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .buildcontext import Snapshot
    from .pipeline import RewriteResult
    from .transform import Options

__all__ = ["ResultCache", "default_folder", "open_cache", "result_key"]

_SCHEMA = "dslim-result-cache-1"
_LIBRARIES = ("tree-sitter", "tree-sitter-bash", "dockerfile-parse", "jinja2")
_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# dslim's cache of results: safe to delete.\n"


def default_folder() -> Path:
    """``$DSLIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/dslim``, else ``~/.cache/dslim``."""
    given = os.environ.get("DSLIM_CACHE_DIR")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dslim"


@cache
def build_fingerprint() -> str:
    """What identifies this dslim: its files (path, size, mtime), Python's and the parsers' versions.

    Stat-based like a build system's: an edited source or data file gives a new fingerprint, so a
    development checkout never serves results of the code it had before.
    """
    from importlib import metadata

    from . import __version__

    digest = hashlib.sha256(f"{_SCHEMA}\0{__version__}\0{sys.version_info[:2]}".encode())
    for library in _LIBRARIES:
        try:
            digest.update(f"\0{library}={metadata.version(library)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"\0{library}=?".encode())
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        st = path.stat()
        digest.update(f"\0{path.relative_to(package).as_posix()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def result_key(data: bytes, options: Options, snapshot: Snapshot | None, dockerfile_name: str) -> str:
    """The hash of everything a rewrite's result depends on (see the module docstring)."""
    digest = hashlib.sha256(build_fingerprint().encode())
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


@dataclasses.dataclass(frozen=True)
class ResultCache:
    """Entries of one dslim build: ``<folder>/<build fingerprint>/<key[:2]>/<key>``."""

    folder: Path

    def get(self, key: str) -> RewriteResult | None:
        try:
            with open(self._path(key), "rb") as fh:
                return pickle.load(fh)
        except Exception:  # missing, half-written by a killed run, or from an incompatible build: a miss
            return None

    def put(self, key: str, result: RewriteResult) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, path)  # atomic: a reader sees the old entry, the new one, or none
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            pass  # a full disk or a read-only cache must not fail the run

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / key


@cache
def open_cache(folder: Path) -> ResultCache | None:
    """The cache of this dslim build under ``folder`` (created), or None when it cannot be used safely."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder):
            return None
        build = folder / build_fingerprint()
        if not build.is_dir():
            build.mkdir(mode=0o700, exist_ok=True)
            _drop_other_builds(folder, keep=build.name)
        tag = folder / "CACHEDIR.TAG"  # backup tools skip folders holding this file
        if not tag.exists():
            tag.write_text(_TAG)
    except OSError:
        return None
    return ResultCache(build)


def _private(folder: Path) -> bool:
    """Owned by this user and not writable by anyone else (entries are pickles: loading runs code)."""
    if not hasattr(os, "getuid"):
        return True  # Windows: the user's profile folder is private by default
    st = folder.stat()
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _drop_other_builds(folder: Path, keep: str) -> None:
    for child in folder.iterdir():
        name = child.name
        if name != keep and len(name) == 16 and all(c in "0123456789abcdef" for c in name) and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
