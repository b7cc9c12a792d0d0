"""The result cache: a second run reuses results, and anything a result depends on makes it miss."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockerslim_rewrite import resultcache, runner
from dockerslim_rewrite.pipeline import rewrite as real_pipeline

DOCKERFILE = b"""FROM python:3.12
COPY requirements.txt .
RUN pip install -r requirements.txt
RUN apt-get update
RUN apt-get install -y curl
COPY . /app
CMD ["python", "/app/main.py"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "Dockerfile").write_bytes(DOCKERFILE)
    (app / "requirements.txt").write_text("flask\n")
    (app / "main.py").write_text("print('hi')\n")
    return app


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Dockerfiles the pipeline really computed (the rest came from the cache)."""
    names: list[str] = []

    def counting(data, options=None, build_context=None, dockerfile_name="Dockerfile"):
        names.append(dockerfile_name)
        return real_pipeline(data, options, build_context, dockerfile_name)

    monkeypatch.setattr(runner, "run_pipeline", counting)
    resultcache.open_cache.cache_clear()
    yield names
    resultcache.open_cache.cache_clear()


def _run(project: Path, cache: Path | None, **flags) -> runner.FileReport:
    runner.SCANS.forget()
    (report,) = runner.rewrite_all([project / "Dockerfile"], runner.Flags(cache_dir=cache, **flags), write=False, jobs=1)
    assert report.error is None and report.result is not None
    return report


def test_a_second_run_reuses_the_result(project: Path, tmp_path: Path, computed: list[str]) -> None:
    first = _run(project, tmp_path / "cache")
    second = _run(project, tmp_path / "cache")
    assert computed == ["Dockerfile"]  # computed once
    assert second.result.output == first.result.output and first.result.changed
    assert [c.explanation for c in second.result.changes] == [c.explanation for c in first.result.changes]
    assert [fc.new for fc in second.result.file_changes] == [fc.new for fc in first.result.file_changes]
    assert (tmp_path / "cache" / "CACHEDIR.TAG").is_file()


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda p: (p / "Dockerfile").write_bytes(DOCKERFILE + b"EXPOSE 8080\n"), id="dockerfile-bytes"),
        pytest.param(lambda p: (p / "node_modules").mkdir(), id="context-listing"),
        pytest.param(lambda p: (p / "main.py").write_text("print('a longer program')\n"), id="context-file-size"),
        pytest.param(lambda p: (p / "requirements.txt").write_text("django\n"), id="context-text-read"),
        pytest.param(lambda p: (p / ".dslim.toml").write_text('ignore = ["merge-runs"]\n'), id="config"),
    ],
)
def test_anything_the_result_depends_on_makes_it_miss(project: Path, tmp_path: Path, computed: list[str], edit) -> None:
    _run(project, tmp_path / "cache")
    edit(project)
    _run(project, tmp_path / "cache")
    assert computed == ["Dockerfile", "Dockerfile"]


def test_options_are_part_of_the_key(project: Path, tmp_path: Path, computed: list[str]) -> None:
    _run(project, tmp_path / "cache")
    safe = _run(project, tmp_path / "cache", safe_only=True)
    _run(project, tmp_path / "cache", select="merge-runs")
    assert len(computed) == 3
    assert all(c.safety == "safe" for c in safe.result.changes)


def test_the_dockerfile_place_in_its_context_is_part_of_the_key(project: Path, tmp_path: Path, computed: list[str]) -> None:
    _run(project, tmp_path / "cache")
    _run(project, tmp_path / "cache", context=project.parent)  # same bytes, seen from the parent folder
    assert len(computed) == 2


def test_a_new_dslim_build_starts_afresh(project: Path, tmp_path: Path, computed: list[str], monkeypatch) -> None:
    cache = tmp_path / "cache"
    _run(project, cache)
    old = [p.name for p in cache.iterdir() if p.is_dir()]
    monkeypatch.setattr(resultcache, "build_fingerprint", lambda: "0123456789abcdef")
    resultcache.open_cache.cache_clear()
    _run(project, cache)
    assert len(computed) == 2
    assert [p.name for p in cache.iterdir() if p.is_dir()] == ["0123456789abcdef"] != old  # the old build's entries went


def test_a_damaged_entry_is_a_miss(project: Path, tmp_path: Path, computed: list[str]) -> None:
    first = _run(project, tmp_path / "cache")
    (entry,) = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.name != "CACHEDIR.TAG"]
    entry.write_bytes(b"\x80\x05 not a pickle")
    again = _run(project, tmp_path / "cache")
    assert len(computed) == 2 and again.result.output == first.result.output


def test_a_folder_others_can_write_is_not_used(project: Path, tmp_path: Path, computed: list[str]) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone could plant an entry: loading it would run their code
    _run(project, shared)
    _run(project, shared)
    assert len(computed) == 2 and list(shared.iterdir()) == []


def test_without_cache_nothing_is_read_or_written(project: Path, tmp_path: Path, computed: list[str]) -> None:
    _run(project, None)
    _run(project, None)
    assert len(computed) == 2


def test_results_with_internal_errors_are_not_kept(project: Path, tmp_path: Path, computed: list[str], monkeypatch) -> None:
    def failing(data, options=None, build_context=None, dockerfile_name="Dockerfile"):
        computed.append(dockerfile_name)
        result = real_pipeline(data, options, build_context, dockerfile_name)
        result.errors.append("pkg-cache: internal error (MemoryError: )")
        return result

    monkeypatch.setattr(runner, "run_pipeline", failing)
    _run(project, tmp_path / "cache")
    _run(project, tmp_path / "cache")
    assert len(computed) == 2


def _dslim(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dockerslim_rewrite", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_runs_in_worker_processes_agree_with_and_without_the_cache(tmp_path: Path) -> None:
    for k in range(40):  # enough folders for two workers
        folder = tmp_path / "repo" / f"svc{k}"
        folder.mkdir(parents=True)
        (folder / "Dockerfile").write_bytes(DOCKERFILE.replace(b"curl", b"curl wget" if k % 2 else b"curl"))
        (folder / "requirements.txt").write_text("flask\n")
    env = {**os.environ, "DSLIM_CACHE_DIR": str(tmp_path / "cache")}
    cold = _dslim("rewrite", "--check", "-j", "2", "repo", cwd=tmp_path, env=env)
    entries = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.name != "CACHEDIR.TAG"]
    warm = _dslim("rewrite", "--check", "-j", "2", "repo", cwd=tmp_path, env=env)
    uncached = _dslim("rewrite", "--check", "-j", "2", "--no-cache", "repo", cwd=tmp_path, env=env)
    assert cold.returncode == warm.returncode == uncached.returncode == 1
    assert cold.stdout == warm.stdout == uncached.stdout and cold.stderr == warm.stderr == uncached.stderr
    assert len(entries) == 2  # same bytes in same-looking contexts: one entry serves every such folder
    off = _dslim("rewrite", "--check", "repo", cwd=tmp_path, env={**env, "DSLIM_NO_CACHE": "1", "DSLIM_CACHE_DIR": str(tmp_path / "c2")})
    assert off.returncode == 1 and not (tmp_path / "c2").exists()


def test_in_place_from_a_cached_result_writes_the_same_file(project: Path, tmp_path: Path) -> None:
    env = {**os.environ, "DSLIM_CACHE_DIR": str(tmp_path / "cache")}
    assert _dslim("rewrite", "--check", "Dockerfile", cwd=project, env=env).returncode == 1  # computes and keeps
    assert _dslim("rewrite", "-i", "Dockerfile", cwd=project, env=env).returncode == 0  # writes from the cache
    written = (project / "Dockerfile").read_bytes()
    (project / "Dockerfile").write_bytes(DOCKERFILE)
    assert _dslim("rewrite", "-i", "--no-cache", "Dockerfile", cwd=project, env=env).returncode == 0
    assert (project / "Dockerfile").read_bytes() == written != DOCKERFILE
