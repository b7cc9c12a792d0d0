"""Build-context facts for transforms: a pure `Snapshot` plus the one bounded scan that makes it.

Transforms never touch the disk, so the CLI layer calls `scan_context()` once per context and hands
the resulting `Snapshot` to every transform through `Context.build_context`. The scan is bounded on
purpose: real repos hold hundreds of thousands of files under `node_modules` or `.git`, and all a
transform needs to know about such a folder is that it exists and how big it is.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import BinaryIO, TypeVar

from .memo import Memo

__all__ = [
    "Entry",
    "Snapshot",
    "scan_context",
    "dockerfile_in_context",
    "COLLAPSED_DIR_NAMES",
    "is_dockerfile_name",
]

T = TypeVar("T")

#: Folders whose content is never listed one file at a time: their fate (ignored or not) is decided
#: for the folder as a whole, so the scan records one collapsed entry with the total size and count.
COLLAPSED_DIR_NAMES = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        "node_modules",
        "bower_components",
        ".pnpm-store",
        ".yarn-cache",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".ipynb_checkpoints",
        ".gradle",
        ".m2",
        ".terraform",
        ".next",
        ".nuxt",
        ".parcel-cache",
        ".turbo",
        ".idea",
        ".vs",
    }
)

#: Exact basenames whose text is preloaded (small build files transforms reason about).
_TEXT_NAMES = frozenset(
    {
        "package.json",
        "tsconfig.json",
        ".npmrc",
        ".yarnrc",
        ".yarnrc.yml",
        ".nvmrc",
        ".node-version",
        "go.mod",
        "go.sum",
        "go.work",
        "setup.py",
        "setup.cfg",
        "pyproject.toml",
        "Pipfile",
        ".python-version",
        "runtime.txt",
        "MANIFEST.in",
        "Cargo.toml",
        "rust-toolchain",
        "rust-toolchain.toml",
        "Gemfile.lock",
        "pom.xml",
        "settings.gradle",
        "settings.gradle.kts",
        "gradle.properties",
        "Gemfile",
        ".ruby-version",
        "composer.json",
        "global.json",
        "NuGet.config",
        "nuget.config",
        "Makefile",
        ".dockerignore",
        ".gitignore",
        # start scripts without a suffix
        "entrypoint",
        "docker-entrypoint",
        "start",
        "run",
    }
)
#: Basename globs whose text is preloaded.
_TEXT_GLOBS = (
    "requirements*.txt",
    "constraints*.txt",
    "build.gradle*",
    "*.csproj",
    "*.fsproj",
    "*.vbproj",
    "*.dockerignore",
    "Dockerfile*",
    "*.Dockerfile",
    "*.dockerfile",
    "Containerfile*",
    "tsconfig*.json",
    # shell scripts an image may start (multi-stage reads what ENTRYPOINT/CMD/HEALTHCHECK run)
    "*.sh",
    "*.bash",
)
#: Sources read only partially (header), e.g. Go files for `import "C"` (cgo) detection.
_HEADER_GLOBS = ("*.go",)

_MAX_TEXT_BYTES = 256 * 1024
_HEADER_BYTES = 4096
_MAX_HEADER_FILES = 5000
_MAX_TEXT_TOTAL = 16 * 1024 * 1024


def is_dockerfile_name(name: str) -> bool:
    """True for the usual Dockerfile names (`Dockerfile`, `Dockerfile.prod`, `api.Dockerfile`, `Containerfile`)."""
    low = name.lower()
    if low.endswith(".dockerignore"):
        return False
    return (
        low in ("dockerfile", "containerfile")
        or low.startswith("dockerfile.")
        or low.startswith("containerfile.")
        or low.endswith(".dockerfile")
    )


@dataclass(frozen=True)
class Entry:
    """One path in the context. `size` is the byte size of a file, or the total of a collapsed folder."""

    path: str  # posix, relative to the context root, no leading "./"
    size: int = 0
    is_dir: bool = False
    is_symlink: bool = False
    #: a folder whose content was not listed (see COLLAPSED_DIR_NAMES); `file_count` files inside
    collapsed: bool = False
    file_count: int = 0


@dataclass
class Snapshot:
    """What a transform may know about the build context. Pure data: no I/O after construction."""

    files: list[Entry] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    truncated: bool = False
    #: the processed Dockerfile relative to the context root (None when it lives outside the context)
    dockerfile: str | None = None

    def __post_init__(self) -> None:
        self._by_path = {e.path: e for e in self.files}
        self._collapsed = frozenset(e.path for e in self.files if e.collapsed)
        #: answers computed from this scan alone, shared by every Dockerfile that uses the same scan
        #: (e.g. the .dockerignore plan of a sibling Dockerfile): keys name what they depend on
        self.memo = Memo()

    def remember(self, key: object, compute: Callable[[], T]) -> T:
        """``compute()``, worked out once per scan under ``key`` (which names what the answer depends on)."""
        return self.memo.remember(key, compute)

    def for_dockerfile(self, dockerfile: str | None) -> Snapshot:
        """The same scan seen from another Dockerfile of the context (lists, indexes and memo shared).

        A context holding many Dockerfiles is scanned once; the copy differs only in `dockerfile`.
        """
        twin = copy.copy(self)
        twin.dockerfile = dockerfile
        return twin

    # -- queries -------------------------------------------------------------------------------
    def entry(self, relpath: str) -> Entry | None:
        return self._by_path.get(_norm(relpath))

    def read_text(self, relpath: str) -> str | None:
        """Preloaded text of a small build file (for *.go: its first 4 KB), else None."""
        return self.texts.get(_norm(relpath))

    def exists(self, relpath: str) -> bool:
        """True when the path is listed, or lies inside a collapsed folder (it may exist there)."""
        p = _norm(relpath)
        if p == "" or p in self._by_path:
            return True
        return self.collapsed_parent(p) is not None

    def collapsed_parent(self, relpath: str) -> str | None:
        """The collapsed folder that holds `relpath` (not listed file by file), if any."""
        if not self._collapsed:
            return None
        parts = _norm(relpath).split("/")
        for i in range(1, len(parts)):
            anc = "/".join(parts[:i])
            if anc in self._collapsed:
                return anc
        return None

    def digest(self) -> str:
        """A hash of everything a transform can learn from the scan (entries, their sizes, the texts read)."""

        def compute() -> str:
            h = hashlib.sha256(b"truncated" if self.truncated else b"complete")
            for e in self.files:
                h.update(
                    f"\0{e.path}\0{e.size}:{e.is_dir:d}{e.is_symlink:d}{e.collapsed:d}:{e.file_count}".encode(
                        errors="surrogateescape"
                    )
                )
            for path in sorted(self.texts):
                text = self.texts[path]
                h.update(f"\0text\0{path}\0{len(text)}\0".encode(errors="surrogateescape"))
                h.update(text.encode(errors="surrogateescape"))
            return h.hexdigest()

        return self.remember(("digest",), compute)

    @property
    def has_collapsed(self) -> bool:
        """Does the scan hold folders not listed file by file (any path may exist inside them)?"""
        return bool(self._collapsed)

    def basenames(self) -> frozenset[str]:
        """The last path segment of every listed entry (a path whose name is not here is not listed)."""
        return self.remember(("basenames",), lambda: frozenset(e.path.rsplit("/", 1)[-1] for e in self.files))

    def find(self, pattern: str) -> list[Entry]:
        """Entries whose basename matches a shell glob (`requirements*.txt`), in scan order."""
        return [e for e in self.files if fnmatch.fnmatchcase(e.path.rsplit("/", 1)[-1], pattern)]

    def dockerfiles(self) -> list[str]:
        """Paths of every Dockerfile-looking file in the context (shared: do not modify)."""
        return self.remember(
            ("dockerfiles",),
            lambda: [e.path for e in self.files if not e.is_dir and is_dockerfile_name(e.path.rsplit("/", 1)[-1])],
        )

    def counted(self) -> list[Entry]:
        """Entries that carry size: files, symlinks and collapsed folders, not paths listed inside one (shared)."""
        return self.remember(
            ("counted",),
            lambda: [
                e
                for e in self.files
                if (e.collapsed or not e.is_dir) and (not self._collapsed or self.collapsed_parent(e.path) is None)
            ],
        )

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.counted())

    @property
    def total_files(self) -> int:
        return sum(e.file_count if e.collapsed else 1 for e in self.counted())


def _norm(relpath: str) -> str:
    if (
        relpath
        and "\\" not in relpath
        and "//" not in relpath
        and "." not in relpath[:1]
        and relpath[-1] != "/"
        and "/." not in relpath
        and relpath[0] != "/"
    ):
        return relpath  # already clean (the common case)
    p = relpath.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    p = p.strip("/")
    if p in ("", "."):
        return ""
    return str(PurePosixPath(p))


@lru_cache(maxsize=8192)
def _wants_text(name: str) -> bool:
    return name in _TEXT_NAMES or any(fnmatch.fnmatchcase(name, g) for g in _TEXT_GLOBS)


@lru_cache(maxsize=8192)
def _wants_header(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in _HEADER_GLOBS)


def read_at_most(fh: BinaryIO, limit: int, size: int) -> bytes:
    """Up to ``limit`` bytes of an open file whose stat said ``size``. The buffer is sized from ``size``:
    asking for the limit allocates the limit, once per file read. A file that grew since (or a /proc
    file, size 0) is read on, up to the limit."""
    data = fh.read(min(limit, size + 1))
    if size < len(data) < limit:
        data += fh.read(limit - len(data))
    return data


def _read_prefix(path: str, limit: int, size: int) -> str | None:
    """The first ``limit`` bytes as text (None: unreadable or binary); ``size`` is what lstat said."""
    try:
        with open(path, "rb") as fh:  # no O_NOFOLLOW needed: symlinks are never opened (lstat first)
            data = read_at_most(fh, limit, size)
    except OSError:
        return None
    if b"\x00" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def scan_context(
    root: Path,
    dockerfile_path: Path | None = None,
    max_files: int = 200_000,
    collapse: frozenset[str] = COLLAPSED_DIR_NAMES,
) -> Snapshot:
    """Walk `root` (never following symlinks, never leaving it) into a bounded Snapshot.

    Folders named in `collapse`, and virtualenvs (a folder holding `pyvenv.cfg`), are recorded as one
    collapsed Entry with their total size and file count; their `pyvenv.cfg` is listed too. When more
    than `max_files` paths were seen, the walk stops and `truncated` is set.
    """
    root = Path(root)
    entries: list[Entry] = []
    texts: dict[str, str] = {}
    budget = [max_files]
    text_total = [0]
    header_files = [0]
    truncated = False

    def measure(dirpath: str) -> tuple[int, int, bool]:
        """Total size and file count under a collapsed folder, within the shared budget."""
        size = count = 0
        stack = [dirpath]
        while stack:
            d = stack.pop()
            try:
                it = os.scandir(d)
            except OSError:
                continue
            with it:
                for de in it:
                    if budget[0] <= 0:
                        return size, count, True
                    budget[0] -= 1
                    try:
                        st = de.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(de.path)
                    else:
                        size += st.st_size if stat.S_ISREG(st.st_mode) else 0
                        count += 1
        return size, count, False

    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack and not truncated:
        dirpath, rel = stack.pop()
        try:
            with os.scandir(dirpath) as it:
                children = sorted(it, key=lambda d: d.name)
        except OSError:
            continue
        subdirs: list[tuple[str, str]] = []
        for de in children:
            if budget[0] <= 0:
                truncated = True
                break
            budget[0] -= 1
            relpath = f"{rel}/{de.name}" if rel else de.name
            try:
                st = de.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                entries.append(Entry(relpath, st.st_size, is_symlink=True))
                continue
            if stat.S_ISDIR(st.st_mode):
                venv_cfg = os.path.join(de.path, "pyvenv.cfg")
                is_venv = os.path.isfile(venv_cfg) and not os.path.islink(venv_cfg)
                if de.name in collapse or is_venv:
                    size, count, cut = measure(de.path)
                    truncated = truncated or cut
                    entries.append(Entry(relpath, size, is_dir=True, collapsed=True, file_count=count))
                    if is_venv:
                        entries.append(Entry(relpath + "/pyvenv.cfg", os.lstat(venv_cfg).st_size))
                else:
                    entries.append(Entry(relpath, 0, is_dir=True))
                    subdirs.append((de.path, relpath))
                continue
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            entries.append(Entry(relpath, size))
            if not stat.S_ISREG(st.st_mode) or text_total[0] >= _MAX_TEXT_TOTAL:
                continue
            if _wants_text(de.name) and size <= _MAX_TEXT_BYTES:
                txt = _read_prefix(de.path, _MAX_TEXT_BYTES, size)
            elif _wants_header(de.name) and header_files[0] < _MAX_HEADER_FILES:
                header_files[0] += 1
                txt = _read_prefix(de.path, _HEADER_BYTES, size)
            else:
                txt = None
            if txt is not None:
                texts[relpath] = txt
                text_total[0] += len(txt)
        # depth-first, in name order
        stack.extend(reversed(subdirs))

    entries.sort(key=lambda e: e.path)
    return Snapshot(files=entries, texts=texts, truncated=truncated, dockerfile=dockerfile_in_context(root, dockerfile_path))


def dockerfile_in_context(root: Path, dockerfile_path: Path | None) -> str | None:
    """The Dockerfile's path relative to the context root, or None when it lies outside the context."""
    if dockerfile_path is None:
        return None
    try:
        rel = os.path.relpath(os.path.abspath(dockerfile_path), os.path.abspath(root))
    except ValueError:
        return None
    return _norm(rel) if rel and not rel.startswith("..") else None
