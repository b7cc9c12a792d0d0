"""File-system side of the CLI: finding Dockerfiles, reading them safely, writing atomically.

Nothing else in the package touches files (besides the build-context scan the CLI calls).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .buildcontext import is_dockerfile_name, read_at_most

MAX_FILE_BYTES = 8 * 1024 * 1024  # far above any real Dockerfile; keeps memory and time bounded
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache"})


class InputError(Exception):
    """A path we cannot process; the message is one line for the user."""


def find_dockerfiles(path: Path) -> Iterator[Path]:
    """A file as given, or the Dockerfiles below a directory (sorted, skipping VCS and dependency folders)."""
    if not path.exists() and not path.is_symlink():
        raise InputError(f"{path}: no such file or directory")
    if not path.is_dir():
        yield path
        return
    found = False
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not _is_virtualenv(Path(root, d)))
        for name in sorted(files):
            if is_dockerfile_name(name):
                found = True
                yield Path(root, name)
    if not found:
        raise InputError(f"{path}: no Dockerfiles found (looked for Dockerfile, Dockerfile.*, *.Dockerfile, Containerfile)")


def _is_virtualenv(path: Path) -> bool:
    return (path / "pyvenv.cfg").exists()


def read_dockerfile(path: Path) -> bytes:
    """Read a Dockerfile, refusing what is not a regular readable file of a sane size."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (broken symlink?)") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: is a directory, not a Dockerfile")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file (FIFO, socket or device)")
    if st.st_size > MAX_FILE_BYTES:
        raise InputError(f"{path}: {st.st_size} bytes is too large for a Dockerfile (limit {MAX_FILE_BYTES})")
    try:
        with open(path, "rb") as fh:
            return read_at_most(fh, MAX_FILE_BYTES + 1, st.st_size)
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _can_write(directory: Path, target: Path) -> bool:
    return os.access(directory, os.W_OK) and (not target.exists() or os.access(target, os.W_OK))


def check_writable(path: Path, expected_old: bytes | None) -> None:
    """Raise InputError unless ``path`` can be written and still holds ``expected_old`` (None: absent)."""
    target = Path(os.path.realpath(path))
    try:
        current = target.read_bytes() if target.exists() else None
    except OSError as exc:
        raise InputError(f"{path}: cannot read before writing ({exc.strerror})") from None
    if current != expected_old:
        raise InputError(f"{path}: changed on disk while dslim was processing it; nothing written")
    if not _can_write(target.parent, target):
        raise InputError(f"{path}: permission denied (cannot write); nothing written")


def atomic_write(path: Path, data: bytes | Iterable[bytes], expected_old: bytes | None = None) -> None:
    """Replace a file's content atomically, writing through symlinks and keeping its mode.

    ``data`` may come in pieces (a big report rendered as it is written). With ``expected_old``,
    refuse to write when the file changed since it was read.
    """
    target = Path(os.path.realpath(path))
    directory = target.parent
    if expected_old is not None:
        try:
            current = target.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot re-read before writing ({exc.strerror})") from None
        if current != expected_old:
            raise InputError(f"{path}: changed on disk while dslim was processing it; not written")
    try:
        st = target.stat()
        mode = stat.S_IMODE(st.st_mode)
        owner = (st.st_uid, st.st_gid)
    except FileNotFoundError:
        mode, owner = 0o644, None
    if not _can_write(directory, target):
        raise InputError(f"{path}: permission denied (cannot write)")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".dslim-tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            for piece in [data] if isinstance(data, bytes) else data:
                fh.write(piece)
            fh.flush()
            os.fsync(fh.fileno())
        if owner is not None:  # chown before chmod: chown clears set-id bits
            with contextlib.suppress(PermissionError):
                os.chown(tmp_name, *owner)
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException as exc:  # includes KeyboardInterrupt/SystemExit: never leave the temporary file behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise
