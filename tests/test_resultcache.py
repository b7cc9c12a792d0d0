"""The result cache: a second run reuses results, and anything a result depends on makes it miss."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
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
    if cache is not None:
        resultcache.check_folder(cache)
    build = resultcache.build_stamp() if cache is not None else None
    (report,) = runner.rewrite_all(
        [project / "Dockerfile"], runner.Flags(cache_dir=cache, cache_build=build, **flags), write=False, jobs=1
    )
    assert report.error is None and report.result is not None
    return report


def _entries(cache: Path) -> list[Path]:
    return [p for p in cache.glob("*/*/*") if p.is_file()]


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
    not_ours = cache / "0123456789abcdee"  # looks like a build folder, but dslim did not make it
    not_ours.mkdir()
    (not_ours / "keep.txt").write_text("someone's file\n")
    monkeypatch.setattr(resultcache, "build_stamp", lambda: "0123456789abcdef")
    monkeypatch.setattr(resultcache, "_stamp_with", lambda files_stamp: "0123456789abcdef")
    _run(project, cache)
    assert len(computed) == 2
    builds = sorted(p.name for p in cache.iterdir() if p.is_dir())
    assert builds == ["0123456789abcdee", "0123456789abcdef"] and old[0] not in builds  # the old build's entries went
    assert (not_ours / "keep.txt").read_text() == "someone's file\n"


def test_an_edit_of_dslim_during_the_run_writes_nothing(project: Path, tmp_path: Path, computed: list[str], monkeypatch) -> None:
    """Results of the code as it was imported must not be filed under the stamp of the edited files."""
    cache = tmp_path / "cache"
    monkeypatch.setattr(resultcache, "_package_files_stamp", lambda: "edited after the command started")
    _run(project, cache)
    assert _entries(cache) == []
    monkeypatch.undo()
    _run(project, cache)
    assert len(_entries(cache)) == 1


def test_every_declared_dependency_is_in_the_stamp() -> None:
    names = {name for name, _ in resultcache._library_versions()}
    assert {"libcst", "tree-sitter", "tree-sitter-bash", "dockerfile-parse", "jinja2"} <= names


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda e: e.write_bytes(b"\x80\x05 not a pickle"), id="not-a-pickle"),
        pytest.param(lambda e: e.write_bytes(pickle.dumps(0)), id="not-a-result"),
        pytest.param(lambda e: e.chmod(0o666), id="writable-by-others"),
        pytest.param(lambda e: e.parent.chmod(0o777), id="folder-writable-by-others"),
        pytest.param(lambda e: (e.rename(e.with_name("x")), e.symlink_to(e.with_name("x"))), id="symlink"),
        pytest.param(
            lambda e: os.chown(e, 65534, 65534),
            id="another-owner",
            marks=pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a file away"),
        ),
    ],
)
def test_an_entry_that_is_damaged_or_not_private_is_a_miss(project: Path, tmp_path: Path, computed: list[str], damage) -> None:
    first = _run(project, tmp_path / "cache")
    (entry,) = _entries(tmp_path / "cache")
    damage(entry)
    again = _run(project, tmp_path / "cache")
    assert len(computed) == 2 and again.result.output == first.result.output


def test_a_folder_others_can_write_is_not_used(project: Path, tmp_path: Path, computed: list[str]) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone could plant an entry: loading it would run their code
    with pytest.raises(resultcache.CacheFolderError):
        resultcache.check_folder(shared)
    assert resultcache.open_cache(shared, resultcache.build_stamp()) is None
    assert list(shared.iterdir()) == []


def test_a_cache_folder_inside_the_build_context_is_not_used(project: Path, computed: list[str]) -> None:
    _run(project, project / ".cache")
    _run(project, project / ".cache")
    assert len(computed) == 2 and _entries(project / ".cache") == []


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
    entries = _entries(tmp_path / "cache")
    warm = _dslim("rewrite", "--check", "-j", "2", "repo", cwd=tmp_path, env=env)
    uncached = _dslim("rewrite", "--check", "-j", "2", "--no-cache", "repo", cwd=tmp_path, env=env)
    assert cold.returncode == warm.returncode == uncached.returncode == 1
    assert cold.stdout == warm.stdout == uncached.stdout and cold.stderr == warm.stderr == uncached.stderr
    assert len([p for p in entries if p.parent.parent != tmp_path / "cache"]) == 2  # one entry per look-alike context
    off = _dslim(
        "rewrite", "--check", "repo", cwd=tmp_path, env={**env, "DSLIM_NO_CACHE": "1", "DSLIM_CACHE_DIR": str(tmp_path / "c2")}
    )
    assert off.returncode == 1 and not (tmp_path / "c2").exists()


def test_in_place_from_a_cached_result_writes_the_same_file(project: Path, tmp_path: Path) -> None:
    env = {**os.environ, "DSLIM_CACHE_DIR": str(tmp_path / "cache")}
    assert _dslim("rewrite", "--check", "Dockerfile", cwd=project, env=env).returncode == 1  # computes and keeps
    assert _dslim("rewrite", "-i", "Dockerfile", cwd=project, env=env).returncode == 0  # writes from the cache
    written = (project / "Dockerfile").read_bytes()
    (project / "Dockerfile").write_bytes(DOCKERFILE)
    assert _dslim("rewrite", "-i", "--no-cache", "Dockerfile", cwd=project, env=env).returncode == 0
    assert (project / "Dockerfile").read_bytes() == written != DOCKERFILE


def test_an_unusable_cache_dir_is_a_usage_error_and_touches_nothing(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(DOCKERFILE)
    repo = tmp_path / "repo"
    (repo / "0123456789abcdef").mkdir(parents=True)
    (repo / "0123456789abcdef" / "data.txt").write_text("mine\n")
    env = {**os.environ}
    for args in (["--cache-dir", ""], ["--cache-dir", str(repo)], ["--cache-dir", str(tmp_path / "Dockerfile")]):
        proc = _dslim("rewrite", "--check", *args, "Dockerfile", cwd=tmp_path, env=env)
        assert proc.returncode == 2 and proc.stderr.startswith("error: --cache-dir"), (args, proc.stderr)
    assert sorted(p.name for p in repo.rglob("*")) == ["0123456789abcdef", "data.txt"]


def test_without_a_home_folder_the_run_goes_on_without_a_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DSLIM_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert resultcache.default_folder() is None
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec: a relative path is ignored
    assert resultcache.default_folder() is None
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resultcache.default_folder() == tmp_path / "xdg" / "dslim"


def test_pruning_drops_old_and_surplus_entries_once_a_day(project: Path, tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    _run(project, cache)
    (entry,) = _entries(cache)
    month_ago = time.time() - 31 * 24 * 3600
    leftover = entry.with_name(".tmp-killed")
    leftover.write_bytes(b"half")
    os.utime(leftover, (time.time() - 7200, time.time() - 7200))
    fresh = [entry.with_name(f"{k:064x}") for k in range(3)]
    for k, path in enumerate(fresh):
        path.write_bytes(b"x")
        os.utime(path, (time.time() - k, time.time() - k))
    os.utime(entry, (month_ago, month_ago))
    monkeypatch.setattr(resultcache, "_MAX_ENTRIES", 2)
    resultcache.prune(cache)
    assert sorted(_entries(cache)) == sorted(fresh[:2])  # too old, beyond the newest 2: gone
    assert not leftover.exists()  # a killed run's half-written entry: gone
    fresh[0].unlink()
    resultcache.prune(cache)  # not again the same day
    assert _entries(cache) == [fresh[1]]


def test_a_run_served_from_the_cache_imports_no_transform(project: Path, tmp_path: Path) -> None:
    """Checking the options reads data/transforms.toml: a warm run (pre-commit, an editor) skips the imports."""
    env = {**os.environ, "DSLIM_CACHE_DIR": str(tmp_path / "cache")}
    probe = (
        "import sys\n"
        "from dockerslim_rewrite.cli import run\n"
        "sys.argv = ['dslim', 'rewrite', '--check', 'Dockerfile']\n"
        "try:\n    run()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('dockerslim_rewrite.transforms.'))\n"
        "print(code, ','.join(loaded), file=sys.stderr)\n"
    )
    cold = subprocess.run([sys.executable, "-c", probe], cwd=project, env=env, capture_output=True, text=True)
    warm = subprocess.run([sys.executable, "-c", probe], cwd=project, env=env, capture_output=True, text=True)
    assert cold.stdout == warm.stdout != ""
    assert cold.stderr.splitlines()[-1].startswith("1 dockerslim_rewrite.transforms.")  # computed: transforms ran
    assert warm.stderr.splitlines()[-1] == "1 "  # exit 1 (would change), and no transform module imported
