"""dslim bulk --apply --commit: a branch per repository, the checkout left exactly as it was, or a refusal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from bulk_helpers import git, make_repo, snapshot
from test_cli import MERGEABLE, invoke

from dockerslim_rewrite.bulk import git as gitops
from dockerslim_rewrite.bulk.run import BulkOptions, run_bulk
from dockerslim_rewrite.runner import Flags

MERGED = b"FROM debian:bookworm\nRUN touch /tmp/one \\\n    && rm /tmp/one\n"
BRANCH = "dslim/smaller-images"


def _bulk(*roots: str, cwd: Path | None = None, extra: tuple[str, ...] = ()):
    return invoke("bulk", *roots, "--apply", "--commit", "--select", "merge-runs", "-j", "1", *extra, cwd=cwd)


def _committed(repo: Path, before: dict) -> None:
    """The branch holds the change; the user's branch, index, status and files are as they were."""
    assert git(repo, "show", f"{BRANCH}:Dockerfile").encode() == MERGED
    assert git(repo, "rev-parse", f"{BRANCH}~1") == git(repo, "rev-parse", "HEAD")
    assert "merge-runs [safe]" in git(repo, "log", "-1", "--format=%B", BRANCH)
    after = snapshot(repo)
    assert after["refs"] != before["refs"]
    assert {k: v for k, v in after.items() if k != "refs"} == {k: v for k, v in before.items() if k != "refs"}


@pytest.mark.parametrize("relative", [True, False])
def test_commit_with_relative_and_absolute_roots(tmp_path: Path, relative: bool) -> None:
    repo = make_repo(tmp_path / "repos" / "a")
    before = snapshot(repo)
    root = "repos/a" if relative else str(repo)
    result = _bulk(root, cwd=tmp_path, extra=("--out", str(tmp_path / "out")))
    assert result.exit_code == 0, result.stderr
    assert "committed on dslim/smaller-images" in result.stderr
    _committed(repo, before)
    assert (repo / "Dockerfile").read_bytes() == MERGEABLE  # the checkout stays on the user's branch, untouched


def test_folder_of_repositories_given_relative(tmp_path: Path) -> None:
    for name in ("a", "b"):
        make_repo(tmp_path / "org" / name)
    befores = {n: snapshot(tmp_path / "org" / n) for n in ("a", "b")}
    result = _bulk("org", cwd=tmp_path, extra=("--out", "out"))
    assert result.exit_code == 0, result.stderr
    for name, before in befores.items():
        _committed(tmp_path / "org" / name, before)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["totals"]["committed"] == 2


def test_commit_in_a_worktree(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "main")
    git(main, "worktree", "add", "-q", "-b", "feature", str(tmp_path / "wt"))
    wt = tmp_path / "wt"
    before_wt, before_main = snapshot(wt), snapshot(main)
    result = _bulk(str(wt), extra=("--out", str(tmp_path / "out")))
    assert result.exit_code == 0, result.stderr
    _committed(wt, before_wt)
    assert git(wt, "symbolic-ref", "HEAD").strip() == "refs/heads/feature"
    assert snapshot(main)["files"] == before_main["files"] and snapshot(main)["head"] == before_main["head"]


def test_repository_hooks_never_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    marker = tmp_path / "hook-ran"
    hooks = [
        "pre-commit",
        "commit-msg",
        "post-commit",
        "post-checkout",
        "reference-transaction",
        "pre-auto-gc",
        "post-index-change",
    ]
    for hooks_dir in (repo / ".git" / "hooks", repo / "myhooks"):
        hooks_dir.mkdir(exist_ok=True)
        for name in hooks:
            hook = hooks_dir / name
            hook.write_text(f"#!/bin/sh\necho {name} >> {marker}\n")
            hook.chmod(0o755)
    git(repo, "config", "core.hooksPath", "myhooks")  # a repository's own config points at its hooks
    git(repo, "add", "myhooks")
    git(repo, "commit", "-qm", "hooks")
    before = snapshot(repo)
    result = _bulk(str(repo), extra=("--out", str(tmp_path / "out")))
    assert result.exit_code == 0, result.stderr
    assert not marker.exists(), marker.read_text()
    _committed(repo, before)


def test_unrelated_work_in_progress_is_kept_and_not_committed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "notes.txt").write_text("wip\n")
    git(repo, "add", "notes.txt")  # staged, unrelated
    (repo / "svc" / "extra").write_text("untracked\n")
    before = snapshot(repo)
    assert _bulk(str(repo), extra=("--out", str(tmp_path / "out"))).exit_code == 0
    _committed(repo, before)
    assert git(repo, "show", "--name-only", "--format=", BRANCH).split() == ["Dockerfile"]


def _refused(tmp_path: Path, repo: Path, reason: str) -> None:
    before = snapshot(repo)
    result = _bulk(str(repo), extra=("--out", str(tmp_path / "out")))
    assert result.exit_code == 2
    record = json.loads((tmp_path / "out" / "summary.json").read_text())["repos"][0]
    assert record["commit"]["status"] == "refused" and reason in record["commit"]["reason"], record["commit"]
    assert any(reason in e for e in record["errors"])
    assert snapshot(repo) == before
    assert (tmp_path / "out" / record["name"] / "changes.patch").exists()  # the patch is still there to review


def test_refuses_uncommitted_changes_to_the_files(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "Dockerfile").write_bytes(MERGEABLE.replace(b"one", b"two"))
    _refused(tmp_path, repo, "uncommitted changes to Dockerfile")


def test_refuses_staged_changes_to_the_files(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "Dockerfile").write_bytes(MERGEABLE.replace(b"one", b"two"))
    git(repo, "add", "Dockerfile")
    _refused(tmp_path, repo, "uncommitted changes to Dockerfile")


def test_refuses_detached_head(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "checkout", "-q", "--detach")
    _refused(tmp_path, repo, "HEAD is detached")


def test_refuses_an_existing_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "branch", BRANCH)
    _refused(tmp_path, repo, "branch dslim/smaller-images already exists")


def test_refuses_a_merge_in_progress(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "svc" / "Dockerfile").write_text("FROM alpine\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "svc" / "Dockerfile").write_text("FROM busybox\n")
    git(repo, "commit", "-qam", "main")
    git(repo, "merge", "-q", "other", check=False)  # conflicts: MERGE_HEAD stays
    assert (repo / ".git" / "MERGE_HEAD").exists()
    _refused(tmp_path, repo, "a merge is in progress")


def test_refuses_a_rebase_in_progress(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / ".git" / "rebase-merge").mkdir()
    _refused(tmp_path, repo, "a rebase is in progress")


def test_second_run_finds_the_branch_already_done(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    assert _bulk(str(repo), extra=("--out", str(tmp_path / "out"))).exit_code == 0
    before = snapshot(repo)
    again = _bulk(str(repo), extra=("--out", str(tmp_path / "out")))
    assert again.exit_code == 0
    assert "nothing new" in again.stderr
    assert snapshot(repo) == before


def test_a_failing_git_step_leaves_the_repository_exactly_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo")
    before = snapshot(repo)
    real = gitops.git

    def failing(top: Path, *args: str, **kwargs):
        if args and args[0] == "update-ref":
            raise gitops.Refused("git update-ref failed: simulated")
        return real(top, *args, **kwargs)

    monkeypatch.setattr(gitops, "git", failing)
    err = io.StringIO()
    opts = BulkOptions(tmp_path / "out", Flags(select="merge-runs"), apply=True, commit=True)
    assert run_bulk([repo], opts, err=err, tty=False) == 2
    assert "refused: git update-ref failed: simulated" in err.getvalue()
    assert snapshot(repo) == before


def test_plain_folder_is_written_and_not_committed(tmp_path: Path) -> None:
    plain = make_repo(tmp_path / "plain", git_init=False)
    result = _bulk(str(plain), extra=("--out", str(tmp_path / "out")))
    assert result.exit_code == 0, result.stderr
    assert (plain / "Dockerfile").read_bytes() == MERGED
    record = json.loads((tmp_path / "out" / "summary.json").read_text())["repos"][0]
    assert record["commit"]["status"] == "not-git"
