"""Shared helpers of the dslim bulk tests: small git repositories and a snapshot of a repository's state."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from test_cli import MERGEABLE

ID = ["-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "core.hooksPath=/dev/null"]  # the tests run no hook either


def git(repo: Path, *args: str, check: bool = True) -> str:
    return subprocess.run(["git", "-C", str(repo), *ID, *args], check=check, capture_output=True, text=True).stdout


def make_repo(path: Path, git_init: bool = True, second: bytes = b"FROM debian:bookworm\nRUN echo clean\n") -> Path:
    (path / "svc").mkdir(parents=True)
    (path / "Dockerfile").write_bytes(MERGEABLE)
    (path / "svc" / "Dockerfile").write_bytes(second)
    if git_init:
        git(path, "init", "-q", "-b", "main")
        git(path, "add", ".")
        git(path, "commit", "-qm", "init")
    return path


def snapshot(repo: Path) -> dict:
    """Everything a user could notice: HEAD, every ref, the index, the status and every file's bytes."""
    files = {}
    for path in sorted(repo.rglob("*")):
        if ".git" not in path.relative_to(repo).parts and path.is_file():
            files[path.relative_to(repo).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "head": git(repo, "symbolic-ref", "-q", "HEAD", check=False) or git(repo, "rev-parse", "HEAD"),
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "index": git(repo, "ls-files", "--stage"),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "files": files,
    }
