"""--shard I/N and --merge-reports: N shards merge into exactly the report of one unsharded run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bulk_helpers import make_repo
from test_cli import invoke

from dockerslim_rewrite.bulk.shard import ShardError, parse_shard, shard_of


def test_parse_shard() -> None:
    assert parse_shard("1/1") == (1, 1) and parse_shard("3/4") == (3, 4)
    for bad in ("0/4", "5/4", "1/0", "a/b", "2", "1/2/3"):
        with pytest.raises(ShardError):
            parse_shard(bad)


def test_shards_are_stable_and_cover_everything_once() -> None:
    keys = [f"org/repo-{n}" for n in range(200)]
    assignment = [shard_of(k, 4) for k in keys]
    assert assignment == [shard_of(k, 4) for k in keys]  # deterministic (sha256, not the salted hash())
    assert shard_of("org/repo-0", 4) == 2  # and the same on every machine and Python version
    assert set(assignment) == {1, 2, 3, 4} and all(assignment.count(s) > 25 for s in range(1, 5))


def _normalised(path: Path) -> dict:
    data = json.loads(path.read_text())
    for key in ("generated_at", "shard", "merged_from"):
        data.pop(key)
    return data


def test_merged_shards_equal_the_unsharded_run(tmp_path: Path) -> None:
    root = tmp_path / "org"
    for n in range(7):
        make_repo(root / f"repo-{n}")
    (root / "notes").mkdir()  # a ROOT error-free folder that is no repository is simply not one
    full = tmp_path / "full"
    assert invoke("bulk", str(root), "--out", str(full), "--select", "merge-runs", "-j", "2").exit_code == 0
    shards = []
    for i in range(1, 4):
        out = tmp_path / f"shard-{i}"
        assert invoke("bulk", str(root), "--out", str(out), "--select", "merge-runs", "--shard", f"{i}/3").exit_code == 0
        assert json.loads((out / "summary.json").read_text())["shard"] == f"{i}/3"
        shards.append(str(out))
    keys = [{r["key"] for r in json.loads(Path(s, "summary.json").read_text())["repos"]} for s in shards]
    assert sum(len(k) for k in keys) == 7 and set().union(*keys) == {f"repo-{n}" for n in range(7)}
    assert sum(1 for k in keys if k) >= 2  # the work really was split
    merged = tmp_path / "merged"
    result = invoke("bulk", "--merge-reports", *shards, "--out", str(merged))
    assert result.exit_code == 0, result.stderr
    assert _normalised(merged / "summary.json") == _normalised(full / "summary.json")
    assert json.loads((merged / "summary.json").read_text())["merged_from"] == ["1/3", "2/3", "3/3"]
    assert (merged / "summary.md").read_text().split("\n", 2)[2] == (full / "summary.md").read_text().split("\n", 2)[2]
    assert (merged / "summary.html").exists()
    assert (merged / "repo-0" / "changes.patch").read_text() == (full / "repo-0" / "changes.patch").read_text()


def test_merge_reports_refuses_what_is_not_a_summary(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "summary.json").write_text("{}")
    result = invoke("bulk", "--merge-reports", str(tmp_path / "x"), "--out", str(tmp_path / "m"))
    assert result.exit_code == 2 and "not a dslim bulk summary.json" in result.stderr


def test_readme_engine_examples_are_valid_yaml() -> None:
    yaml = pytest.importorskip("yaml")
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Bulk migration", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```yaml\n")[1:]]
    docs = [yaml.safe_load(b) for b in blocks]
    assert "shard-${{ matrix.shard }}" in blocks[0] and docs[0]["jobs"]["migrate"]["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    assert docs[1]["spec"]["completionMode"] == "Indexed" and "--shard $((JOB_COMPLETION_INDEX + 1))/4" in blocks[1]
