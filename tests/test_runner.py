"""How `rewrite` and `bulk` hand Dockerfiles to worker processes (runner.process_groups)."""

from __future__ import annotations

import pickle
import sys
import threading
from pathlib import Path

import pytest

from dockerslim_rewrite import runner
from dockerslim_rewrite.report import FileReport

DOCKERFILE = b"FROM python:3.11\nRUN apt-get update && apt-get install -y curl\nRUN pip install flask\n"


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked only on Linux")
def test_workers_are_forked_from_a_single_threaded_process_unless_they_must_be_recycled() -> None:
    if threading.active_count() != 1:
        pytest.skip("the test runner itself has threads")
    most = 2 * runner._CHUNKS_PER_WORKER  # chunks two workers do without being replaced
    assert runner._worker_start(most, 2)["mp_context"].get_start_method() == "fork"
    recycled = runner._worker_start(most + 1, 2)
    assert recycled["mp_context"].get_start_method() == "spawn"
    if sys.version_info >= (3, 11):
        assert recycled["max_tasks_per_child"] == runner._CHUNKS_PER_WORKER


def test_a_process_with_other_threads_spawns_its_workers() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert runner._worker_start(2, 2)["mp_context"].get_start_method() == "spawn"
    finally:
        release.set()
        other.join()


@pytest.mark.parametrize("start", ["forked", "spawned"])
def test_workers_answer_as_one_process_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: str) -> None:
    if start == "spawned":
        monkeypatch.setattr(runner, "_CHUNKS_PER_WORKER", 1)  # a long run: spawned, and replaced after each chunk
    groups: list[runner.Group] = []
    for k in range(40):  # more than one chunk, so that two workers run
        folder = tmp_path / f"svc{k}"
        folder.mkdir()
        (folder / "Dockerfile").write_bytes(DOCKERFILE.replace(b"curl", b"curl wget" if k % 2 else b"curl"))
        groups.append(([folder / "Dockerfile"], False))
    flags = runner.Flags()

    def collect(jobs: int) -> list[tuple[str, bytes | None, str | None]]:
        done: dict[int, list[FileReport]] = {}
        runner.process_groups(groups, flags, jobs, done.__setitem__)
        assert sorted(done) == list(range(len(groups)))
        return [(r.path, r.result.output if r.result else None, r.error) for g in sorted(done) for r in done[g]]

    alone, together = collect(1), collect(2)
    assert together == alone
    assert all(output is not None and output != DOCKERFILE for _, output, _ in alone)


@pytest.mark.parametrize("jobs", [1, 2])
def test_each_report_is_handed_on_in_the_order_given_as_soon_as_those_before_it_are_done(tmp_path: Path, jobs: int) -> None:
    targets = []
    for k in range(20):  # two Dockerfiles per folder, listed apart: a folder's group is done before the files between
        folder = tmp_path / f"svc{k}"
        folder.mkdir()
        (folder / "Dockerfile").write_bytes(DOCKERFILE)
        (folder / "Dockerfile.dev").write_bytes(DOCKERFILE)
        targets.append(folder / "Dockerfile")
    targets += [path.with_name("Dockerfile.dev") for path in targets]
    seen: list[FileReport] = []
    reports = runner.rewrite_all(targets, runner.Flags(), False, jobs, on_report=seen.append)
    assert [r.path for r in seen] == [r.path for r in reports] == [str(p) for p in targets]
    assert all(r.result is not None and r.result.changed for r in seen)


def test_a_report_survives_the_trip_from_a_worker(tmp_path: Path) -> None:
    """Reports are pickled from workers to the parent (and results into the result cache): every
    class they hold must unpickle, in the compiled build too (see setup.py on written-out __init__)."""
    (tmp_path / "Dockerfile").write_bytes(DOCKERFILE + b"RUN <<EOF\necho hi\nEOF\n")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "big.js").write_bytes(b"x" * 100_000)
    (report,) = runner.process_paths([tmp_path / "Dockerfile"], runner.Flags(), False)
    assert report.result is not None and report.result.changes and report.result.skips
    again = pickle.loads(pickle.dumps(report))
    assert again == report


def test_config_lookup_looks_at_each_folder_once_and_the_nearest_file_still_wins(tmp_path: Path) -> None:
    from dockerslim_rewrite.config import find_config

    (tmp_path / "pyproject.toml").write_text('[tool.dslim]\nignore = ["slim-base"]\n')
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_bytes(DOCKERFILE)
    (tmp_path / "b" / ".dslim.toml").write_text('ignore = ["merge-runs"]\n')
    known: dict = {}
    assert find_config(tmp_path / "a" / "Dockerfile", known).path == tmp_path / "pyproject.toml"
    assert find_config(tmp_path / "b" / "Dockerfile", known).path == tmp_path / "b" / ".dslim.toml"
    (tmp_path / "pyproject.toml").unlink()  # the run already looked at this folder
    assert find_config(tmp_path / "c" / "Dockerfile", known).path == tmp_path / "pyproject.toml"
    assert find_config(tmp_path / "c" / "Dockerfile").path is None  # without the memo: looked at again
    runner.SCANS.forget()
    (tmp_path / "pyproject.toml").write_text('[tool.dslim]\nignore = ["slim-base"]\n')
    assert runner.SCANS.config(tmp_path / "a" / "Dockerfile").values == {"ignore": ["slim-base"]}
    (tmp_path / "pyproject.toml").write_text('[tool.dslim]\nignore = ["pkg-cache"]\n')
    runner.SCANS.forget()  # a new command
    assert runner.SCANS.config(tmp_path / "a" / "Dockerfile").values == {"ignore": ["pkg-cache"]}


def test_paths_resolve_as_path_resolve_does_with_each_folder_resolved_once_per_run(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "app").mkdir(parents=True)
    (real / "app" / "Dockerfile").write_bytes(DOCKERFILE)
    (real / "elsewhere").mkdir()
    (real / "elsewhere" / "Dockerfile.shared").write_bytes(DOCKERFILE)
    (tmp_path / "link").symlink_to(real)  # a symlinked folder on the way
    (real / "app" / "Dockerfile.linked").symlink_to(real / "elsewhere" / "Dockerfile.shared")  # a symlinked file
    scans = runner.ContextScans()
    asked = [
        tmp_path / "link" / "app" / "Dockerfile",
        tmp_path / "link" / "app" / "Dockerfile.linked",
        tmp_path / "link" / "app" / ".." / "app" / "Dockerfile",
        tmp_path / "link" / "app" / "..",
        tmp_path / "link" / "app" / "missing",
    ]
    for path in asked:
        assert scans.resolve(path) == path.resolve(), path
    assert scans.resolve(tmp_path / "link" / "app" / "Dockerfile.linked") == real / "elsewhere" / "Dockerfile.shared"
    # the folder's answer is kept for the run: a folder swapped for a link meanwhile is not seen ...
    (tmp_path / "link").unlink()
    (tmp_path / "link").symlink_to(real / "elsewhere")
    assert scans.resolve(tmp_path / "link" / "app" / "Dockerfile") == real / "app" / "Dockerfile"
    scans.forget()  # ... until the next command, or a write
    assert scans.resolve(tmp_path / "link" / "app" / "Dockerfile") == real / "elsewhere" / "app" / "Dockerfile"


def test_config_lookup_trusts_the_run_s_folder_listings(tmp_path: Path) -> None:
    from dockerslim_rewrite.config import find_config

    (tmp_path / "pyproject.toml").write_text('[tool.dslim]\nignore = ["slim-base"]\n')
    (tmp_path / ".dslim.toml").mkdir()  # listed, but no file: not a config
    listed = {tmp_path: frozenset({"pyproject.toml", ".dslim.toml"})}
    asked: list[Path] = []

    def names(folder: Path) -> frozenset[str] | None:
        asked.append(folder)
        return listed.get(folder)  # None (unreadable, or not listed): looked at directly

    assert find_config(tmp_path, {}, names).path == tmp_path / "pyproject.toml"
    assert asked[0] == tmp_path
    listed[tmp_path] = frozenset()  # a listing without the file: no system call, no config
    assert find_config(tmp_path, {}, names).path is None


def test_files_that_grew_after_their_stat_are_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The read buffers are sized from stat; a file longer by then (or a size-0 /proc file) is read on."""
    import stat
    import types

    from dockerslim_rewrite import buildcontext, fsio

    path = tmp_path / "Dockerfile"
    path.write_bytes(DOCKERFILE)
    real_stat = Path.stat
    shorter = types.SimpleNamespace(st_mode=stat.S_IFREG | 0o644, st_size=10)
    monkeypatch.setattr(Path, "stat", lambda self, *a, **k: shorter if self == path else real_stat(self, *a, **k))
    assert fsio.read_dockerfile(path) == DOCKERFILE
    assert buildcontext._read_prefix(str(path), 4096, 0) == DOCKERFILE.decode()
    assert buildcontext._read_prefix(str(path), 8, len(DOCKERFILE)) == DOCKERFILE[:8].decode()  # the limit holds
