"""dslim bulk: many repositories, one git-apply-able patch each, a report, optional commits."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from test_cli import MERGEABLE, invoke


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _make_repo(path: Path, git: bool = True) -> Path:
    (path / "svc").mkdir(parents=True)
    (path / "Dockerfile").write_bytes(MERGEABLE)
    (path / "svc" / "Dockerfile").write_bytes(b"FROM debian:bookworm\nRUN echo clean\n")
    if git:
        _git(path, "init", "-q")
        _git(path, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", ".")
        _git(path, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "init")
    return path


def test_bulk_writes_patches_that_git_applies(tmp_path: Path) -> None:
    one, two = _make_repo(tmp_path / "one"), _make_repo(tmp_path / "two")
    pristine = tmp_path / "pristine"
    shutil.copytree(one, pristine)
    out = tmp_path / "out"
    result = invoke("bulk", str(one), str(two), "--out", str(out), "--select", "merge-runs", "-j", "2")
    assert result.exit_code == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert [(r["dockerfiles"], r["changed"]) for r in report["repos"]] == [(2, 1), (2, 1)]
    assert (one / "Dockerfile").read_bytes() == MERGEABLE  # without --apply nothing is written
    _git(pristine, "apply", str(out / "one.patch"))
    assert (pristine / "Dockerfile").read_bytes() == b"FROM debian:bookworm\nRUN touch /tmp/one \\\n    && rm /tmp/one\n"


def test_bulk_apply_commit_on_a_branch(tmp_path: Path) -> None:
    repo = _make_repo(tmp_path / "repo")
    plain = _make_repo(tmp_path / "plain", git=False)
    (repo / "Dockerfile.link").symlink_to("Dockerfile")  # the same file twice: written once
    result = invoke(
        "bulk", str(repo), str(plain), "--apply", "--commit", "--out", str(tmp_path / "out"), "--select", "merge-runs"
    )
    assert result.exit_code == 0, result.stderr
    assert _git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "dslim/smaller-images"
    assert "merge-runs [safe]" in _git(repo, "log", "-1", "--format=%B")
    assert _git(repo, "status", "--porcelain").strip() == "?? Dockerfile.link"  # only the untracked link
    assert (plain / "Dockerfile").read_bytes() != MERGEABLE
    assert "not a git repository" in result.stderr


def test_bulk_usage_errors(tmp_path: Path) -> None:
    assert invoke("bulk", str(tmp_path), "--commit").exit_code == 2
    assert invoke("bulk", str(tmp_path / "missing"), "--out", str(tmp_path / "o")).exit_code == 2
