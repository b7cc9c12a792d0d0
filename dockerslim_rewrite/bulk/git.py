"""Commit a repository's migration on a new branch without touching the checkout.

The commit is built with plumbing (a throw-away index, ``hash-object``, ``write-tree``,
``commit-tree``) and published by one ``update-ref`` that only creates the branch: the user's
branch, index and working tree are never changed, so there is nothing to put back when a step
fails, and a failure before the last step leaves only unreachable objects that ``git gc`` drops.
Every command runs with ``-C <repository>`` and paths relative to the repository root (a relative
ROOT broke ``git add`` before). The repository is untrusted: hooks and fsmonitor never run.
Nothing is ever pushed.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_SAFE = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "gc.auto=0"]
_IN_PROGRESS = {
    "MERGE_HEAD": "a merge is in progress",
    "rebase-merge": "a rebase is in progress",
    "rebase-apply": "a rebase or git am is in progress",
    "CHERRY_PICK_HEAD": "a cherry-pick is in progress",
    "REVERT_HEAD": "a revert is in progress",
    "BISECT_LOG": "a bisect is in progress",
}
_ZERO = "0" * 40


@dataclass(frozen=True)
class Edit:
    """One file of the migration: its path relative to the repository root, bytes before (None: new) and after."""

    rel: str
    old: bytes | None
    new: bytes


class Refused(Exception):
    """The repository is not in a state where a commit can be made cleanly; the message says why."""


def _env(index: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}  # a caller's GIT_DIR must not redirect us
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"})
    if index is not None:
        env["GIT_INDEX_FILE"] = index
    return env


def git(repo: Path, *args: str, data: bytes | None = None, index: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *_SAFE, *args], input=data, capture_output=True, env=_env(index))
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Refused(f"git {args[0]} failed: {message[-1] if message else f'exit {proc.returncode}'}")
    return proc.stdout.decode("utf-8", "surrogateescape") if proc.returncode == 0 else ""


def toplevel(folder: Path) -> Path | None:
    """The root of the work tree ``folder`` lies in, or None when it is in no git repository."""
    try:
        out = git(folder, "rev-parse", "--show-toplevel", check=False).strip()
    except OSError:  # git itself missing
        return None
    return Path(out) if out else None


def preflight(top: Path, branch: str) -> None:
    """Refuse (raise Refused) unless a commit on a new ``branch`` can be made cleanly from HEAD."""
    if git(top, "check-ref-format", "--branch", branch, check=False) == "":
        raise Refused(f"{branch!r} is not a valid branch name")
    if not git(top, "symbolic-ref", "-q", "HEAD", check=False).strip():
        raise Refused("HEAD is detached: check out the branch the change should start from")
    if not git(top, "rev-parse", "--verify", "-q", "HEAD", check=False).strip():
        raise Refused("the current branch has no commit yet")
    for name, reason in _IN_PROGRESS.items():
        marker = git(top, "rev-parse", "--git-path", name).strip()
        if os.path.lexists(top / marker):
            raise Refused(reason)


def _blob(top: Path, edit: Edit, write: bool) -> str:
    args = ["hash-object", *(["-w"] if write else []), f"--path={edit.rel}", "--stdin"]
    return git(top, *args, data=edit.new).strip()


def _check_files(top: Path, edits: list[Edit]) -> None:
    """Our edits were computed from the working tree: it must still be HEAD's content, byte for byte."""
    rels = [e.rel for e in edits]
    outside = [r for r in rels if r == ".." or r.startswith("../") or os.path.isabs(r)]
    if outside:
        raise Refused(f"{', '.join(outside)} lies outside the repository")
    dirty = git(top, "status", "--porcelain", "--untracked-files=all", "--ignore-submodules=all", "--", *rels)
    if dirty.strip():
        names = sorted({line[3:] for line in dirty.splitlines() if len(line) > 3})
        raise Refused(f"uncommitted changes to {', '.join(names)}: commit or stash them first")
    for edit in edits:
        try:
            current: bytes | None = (top / edit.rel).read_bytes()
        except FileNotFoundError:
            current = None
        if current != edit.old:
            raise Refused(f"{edit.rel} changed on disk while dslim was running")


def commit(top: Path, branch: str, edits: list[Edit], message: str) -> dict:
    """Commit ``edits`` on a new ``branch`` from HEAD; the user's checkout stays as it was.

    Returns the outcome for summary.json: committed (with the commit id) or already (the branch
    exists and holds exactly these files). Raises Refused with the reason otherwise.
    """
    preflight(top, branch)
    _check_files(top, edits)
    ref = f"refs/heads/{branch}"
    if git(top, "rev-parse", "--verify", "-q", ref, check=False).strip():
        same = all(
            git(top, "rev-parse", "-q", "--verify", f"{ref}:{e.rel}", check=False).strip() == _blob(top, e, False) for e in edits
        )
        if same:
            return {"status": "already", "branch": branch, "reason": f"branch {branch} already holds these changes"}
        raise Refused(f"branch {branch} already exists: delete it or pass another --branch")
    identity = (
        []
        if git(top, "config", "user.email", check=False).strip()
        else ["-c", "user.name=dslim", "-c", "user.email=dslim@localhost"]
    )
    head = git(top, "rev-parse", "--verify", "HEAD^{commit}").strip()
    with tempfile.TemporaryDirectory(prefix="dslim-index-") as tmp:
        index = str(Path(tmp) / "index")
        git(top, "read-tree", head, index=index)
        for edit in edits:
            listed = git(top, "ls-tree", head, "--", edit.rel).split()
            mode = listed[0] if listed and listed[0] in ("100644", "100755") else "100644"
            git(top, "update-index", "--add", "--cacheinfo", f"{mode},{_blob(top, edit, True)},{edit.rel}", index=index)
        tree = git(top, "write-tree", index=index).strip()
    sha = git(top, *identity, "commit-tree", tree, "-p", head, data=message.encode("utf-8")).strip()
    git(top, "update-ref", "-m", "dslim bulk", ref, sha, _ZERO)  # creates the branch or fails: never moves one
    return {"status": "committed", "branch": branch, "sha": sha, "reason": None}
