"""Which repositories a ROOT holds and which Dockerfiles belong to each.

A platform team points ``dslim bulk`` at a folder of hundreds of checkouts: every folder with a
``.git`` (a directory, or the file a worktree or submodule has) is a repository. A Dockerfile belongs
to the nearest repository above it, so a submodule's files are committed in the submodule, never in
its parent. Vendored and dependency folders are not searched for repositories: they are someone
else's code, and walking ``node_modules`` would dominate the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..fsio import InputError, find_dockerfiles

VENDORED = frozenset({"node_modules", "vendor", ".venv", "venv", "third_party", "target", "dist", "build", ".git"})


@dataclass(frozen=True)
class Repo:
    """One repository (or, when a ROOT holds none, the ROOT folder itself)."""

    path: Path  # as found under the ROOT given on the command line (relative roots stay relative)
    key: str  # path relative to its ROOT (the ROOT's own name when the ROOT is the repository): shards hash it
    dockerfiles: tuple[Path, ...] = ()


def is_repo(folder: Path) -> bool:
    return os.path.lexists(folder / ".git")


def find_repos(root: Path) -> list[Path]:
    """The repositories at or below ``root``, sorted; ``[root]`` when it holds none (a plain folder)."""
    found: list[Path] = []
    for here, dirs, _ in os.walk(root):
        folder = Path(here)
        if is_repo(folder):
            found.append(folder)
        dirs[:] = sorted(d for d in dirs if d not in VENDORED and not (folder / d / "pyvenv.cfg").exists())
    return sorted(found, key=lambda p: p.as_posix()) or [root]


def repo_key(root: Path, repo: Path) -> str:
    """A name for the repository that is the same on every machine that checks out the same ROOT."""
    rel = os.path.relpath(repo, root).replace(os.sep, "/")
    return rel if rel != "." else (root.resolve().name or "root")


def dockerfiles_of(repo: Path) -> list[Path]:
    """The Dockerfiles ``dslim rewrite`` would find in ``repo``, without those of repositories nested in it."""
    try:
        found = list(find_dockerfiles(repo))
    except InputError:
        return []
    own = []
    for path in found:
        folder = path.parent
        nested = False
        while folder != repo and folder != folder.parent:
            if is_repo(folder):
                nested = True
                break
            folder = folder.parent
        if not nested:
            own.append(path)
    return own


def discover(roots: list[Path]) -> tuple[list[Repo], list[str]]:
    """Every repository of every ROOT with its Dockerfiles, and one error line per unusable ROOT.

    The same file reached twice (two ROOTs, a symlinked Dockerfile) is processed once, by the first
    repository that reaches it, so no two workers ever write one file.
    """
    repos: list[Repo] = []
    errors: list[str] = []
    seen_repos: set[str] = set()
    seen_files: set[str] = set()
    for root in roots:
        if not root.is_dir():
            errors.append(f"{root}: not a directory")
            continue
        for path in find_repos(root):
            real = os.path.realpath(path)
            if real in seen_repos:
                continue
            seen_repos.add(real)
            files = []
            for dockerfile in dockerfiles_of(path):
                real_file = os.path.realpath(dockerfile)
                if real_file not in seen_files:
                    seen_files.add(real_file)
                    files.append(dockerfile)
            repos.append(Repo(path, repo_key(root, path), tuple(files)))
    return repos, errors
