"""dslim bulk: patches that apply, PR.md a reviewer can use, summaries, failures that never stop a run."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from bulk_helpers import git, make_repo
from test_cli import MERGEABLE, invoke

from dockerslim_rewrite.bulk.run import BulkOptions, run_bulk
from dockerslim_rewrite.runner import Flags

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "python-app"


def test_bulk_writes_patches_that_git_applies(tmp_path: Path) -> None:
    one, two = make_repo(tmp_path / "one"), make_repo(tmp_path / "two")
    pristine = tmp_path / "pristine"
    shutil.copytree(one, pristine)
    out = tmp_path / "out"
    result = invoke("bulk", str(one), str(two), "--out", str(out), "--select", "merge-runs", "-j", "2")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["key"], r["dockerfiles"], r["changed"]) for r in summary["repos"]] == [("one", 2, 1), ("two", 2, 1)]
    assert summary["totals"]["dockerfiles_changed"] == 2
    assert (one / "Dockerfile").read_bytes() == MERGEABLE  # without --apply nothing is written
    git(pristine, "apply", str(out / "one" / "changes.patch"))
    assert (pristine / "Dockerfile").read_bytes() == b"FROM debian:bookworm\nRUN touch /tmp/one \\\n    && rm /tmp/one\n"
    assert {p.name for p in out.iterdir()} == {"one", "two", "summary.json", "summary.md", "summary.html"}


def test_pr_md_explains_every_change_groups_assumptions_and_estimates(tmp_path: Path) -> None:
    repo = tmp_path / "repos" / "app"
    shutil.copytree(EXAMPLE, repo)
    shutil.copytree(EXAMPLE, repo / "worker")  # two Dockerfiles that rely on the same assumptions
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    out = tmp_path / "out"
    assert invoke("bulk", str(tmp_path / "repos"), "--out", str(out), "-j", "1").exit_code == 0
    pr = (out / "app" / "PR.md").read_text()
    title = pr.splitlines()[0]
    assert title.startswith("# Smaller container images: ") and "slim-base" in title and "est. ~1780 MB smaller" in title
    for expected in (
        "### `Dockerfile`",
        "### `worker/Dockerfile`",
        "`slim-base` | `review`",
        "`pkg-cache` | `safe`",
        "--no-cache-dir",
    ):
        assert expected in pr
    assert "an estimate, not a measurement" in pr and "image catalog" in pr and "python:3.11 -> python:3.11-slim" in pr
    assert "build context scanned at rewrite time" in pr
    assert "Not estimated: `pkg-cache`" in pr
    # each assumption once, naming both Dockerfiles that rely on it
    wheels = [line for line in pr.splitlines() if "install from wheels" in line]
    assert len(wheels) == 1 and "Dockerfile:1 (slim-base)" in wheels[0] and "worker/Dockerfile:1 (slim-base)" in wheels[0]
    assert "dslim verify Dockerfile\ndslim verify worker/Dockerfile\n" in pr
    assert "Not applied" in pr and "[`unsafe`]" in pr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["repos"][0]["saving"]["image_mb"] == 1780.0
    assert summary["totals"]["image_mb"] == 1780.0 and summary["totals"]["context_mb"] >= 0
    md = (out / "summary.md").read_text()
    assert "| app | changed | 2/2 | 1,780 |" in md and "[PR.md](app/PR.md)" in md


def test_pipe_in_an_explanation_does_not_break_the_markdown_table() -> None:
    from dockerslim_rewrite.bulk.render import md_cell

    assert md_cell("a | b\nc") == "a \\| b c"


def test_second_run_over_migrated_repositories_changes_nothing_and_says_so(tmp_path: Path) -> None:
    make_repo(tmp_path / "repos" / "one")
    make_repo(tmp_path / "repos" / "two")
    out = tmp_path / "out"
    first = invoke("bulk", str(tmp_path / "repos"), "--apply", "--out", str(out), "--select", "merge-runs")
    assert first.exit_code == 0 and (out / "one" / "PR.md").exists()
    second = invoke("bulk", str(tmp_path / "repos"), "--apply", "--out", str(out), "--select", "merge-runs")
    assert second.exit_code == 0
    assert "nothing to change: 2 repositories, 4 Dockerfiles, all already migrated" in second.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"]["dockerfiles_changed"] == 0 and {r["status"] for r in summary["repos"]} == {"unchanged"}
    assert not (out / "one" / "PR.md").exists()  # last run's files no longer describe a proposed change


def test_one_repository_failing_never_stops_the_run(tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    make_repo(repos / "good")
    make_repo(repos / "binary", second=b"FROM x\x00\n")  # unparseable
    broken = make_repo(repos / "broken")
    (broken / "svc" / "Dockerfile").unlink()
    (broken / "svc" / "Dockerfile").symlink_to("missing")  # unreadable
    dirty = make_repo(repos / "dirty")
    (dirty / "Dockerfile").write_bytes(MERGEABLE + b"RUN touch /x\nRUN rm /x\n")  # uncommitted change
    out = tmp_path / "out"
    result = invoke("bulk", str(repos), "--apply", "--commit", "--out", str(out), "--select", "merge-runs")
    assert result.exit_code == 2
    summary = json.loads((out / "summary.json").read_text())
    by_key = {r["key"]: r for r in summary["repos"]}
    assert by_key["good"]["commit"]["status"] == "committed" and by_key["good"]["status"] == "changed"
    assert any("binary file" in e for e in by_key["binary"]["errors"])
    assert any("broken symlink" in e for e in by_key["broken"]["errors"])
    assert by_key["binary"]["commit"]["status"] == "refused"  # a half-processed repository gets no branch
    assert "uncommitted changes to Dockerfile" in by_key["dirty"]["commit"]["reason"]
    assert summary["totals"]["repos_failed"] == 3
    assert git(repos / "binary", "branch", "--list", "dslim/*") == ""


def test_usage_errors(tmp_path: Path) -> None:
    assert invoke("bulk", str(tmp_path), "--commit").exit_code == 2
    missing = invoke("bulk", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert missing.exit_code == 2 and "not a directory" in missing.stderr
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["errors"] == [f"{tmp_path / 'missing'}: not a directory"]
    for bad in ("0/3", "4/3", "x", "1/0"):
        result = invoke("bulk", str(tmp_path), "--shard", bad)
        assert result.exit_code == 2 and "--shard" in result.stderr
    assert invoke("bulk").exit_code == 2


def test_plain_progress_lines_when_not_a_terminal(tmp_path: Path) -> None:
    make_repo(tmp_path / "repos" / "one")
    make_repo(tmp_path / "repos" / "two")
    err = io.StringIO()
    code = run_bulk([tmp_path / "repos"], BulkOptions(tmp_path / "out", Flags(select="merge-runs")), err=err, tty=False)
    lines = err.getvalue().splitlines()
    assert code == 0
    assert lines[0] == "[2/4] one: 2 Dockerfile(s), 1 changed, 0 error(s)"
    assert lines[1] == "[4/4] two: 2 Dockerfile(s), 1 changed, 0 error(s)"


def test_rich_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    pytest.importorskip("rich")
    make_repo(tmp_path / "repos" / "one")
    err = io.StringIO()
    code = run_bulk([tmp_path / "repos"], BulkOptions(tmp_path / "out", Flags(select="merge-runs")), err=err, tty=True)
    assert code == 0
    assert "one: 2 Dockerfile(s), 1 changed" in err.getvalue()
    from dockerslim_rewrite.bulk.progress import Bar

    bar = Bar(io.StringIO(), 10)
    columns = [type(c).__name__ for c in bar.progress.columns]
    assert "MofNCompleteColumn" in columns and "Rate" in columns and "TimeRemainingColumn" in columns


def test_permission_denied_is_recorded(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file: permission errors cannot be provoked")
    repo = make_repo(tmp_path / "repos" / "locked")
    (repo / "Dockerfile").chmod(0)
    try:
        result = invoke("bulk", str(tmp_path / "repos"), "--out", str(tmp_path / "out"))
    finally:
        (repo / "Dockerfile").chmod(0o644)
    assert result.exit_code == 2
    assert "permission denied" in json.dumps(json.loads((tmp_path / "out" / "summary.json").read_text()))
