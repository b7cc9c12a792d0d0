"""The dslim CLI contract: outputs, exit codes, writing, and one-line errors that touch no file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dockerslim_rewrite.cli import app

MERGEABLE = b"FROM debian:bookworm\nRUN touch /tmp/one\nRUN rm /tmp/one\n"
CLEAN = b"FROM debian:bookworm\nRUN echo one\n"


def invoke(*args: str, cwd: Path | None = None):
    runner = CliRunner()
    old = Path.cwd()
    if cwd:
        os.chdir(cwd)
    try:
        return runner.invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_bytes(MERGEABLE)
    return tmp_path


def test_default_prints_diff_and_summary_and_writes_nothing(repo: Path) -> None:
    result = invoke("rewrite", str(repo / "Dockerfile"), "--select", "merge-runs")
    assert result.exit_code == 0
    assert "+RUN touch /tmp/one \\" in result.stdout and "-RUN rm /tmp/one" in result.stdout
    assert "merge-runs [safe]" in result.stderr
    assert (repo / "Dockerfile").read_bytes() == MERGEABLE


def test_check_exits_1_on_changes_and_0_when_clean(repo: Path) -> None:
    assert invoke("rewrite", "--check", "--select", "merge-runs", str(repo)).exit_code == 1
    (repo / "Dockerfile").write_bytes(CLEAN)
    assert invoke("rewrite", "--check", "--select", "merge-runs", str(repo)).exit_code == 0


def test_in_place_writes_and_second_run_is_clean(repo: Path) -> None:
    result = invoke("rewrite", "-i", "--select", "merge-runs", str(repo))
    assert result.exit_code == 0
    assert (repo / "Dockerfile").read_bytes() == b"FROM debian:bookworm\nRUN touch /tmp/one \\\n    && rm /tmp/one\n"
    assert invoke("rewrite", "--check", "--select", "merge-runs", str(repo)).exit_code == 0


def test_in_place_keeps_mode_crlf_bom_and_writes_through_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real.Dockerfile"
    real.write_bytes(b"\xef\xbb\xbfFROM x\r\nRUN touch b\r\nRUN rm b\r\n")
    real.chmod(0o640)
    link = tmp_path / "Dockerfile"
    link.symlink_to(real.name)
    assert invoke("rewrite", "-i", "--select", "merge-runs", str(link)).exit_code == 0
    assert link.is_symlink()
    assert real.read_bytes() == b"\xef\xbb\xbfFROM x\r\nRUN touch b \\\r\n    && rm b\r\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir() if "dslim-tmp" in p.name] == []


def test_json_report(repo: Path) -> None:
    result = invoke("rewrite", "--format", "json", "--select", "merge-runs", str(repo / "Dockerfile"))
    data = json.loads(result.stdout)
    (entry,) = data["files"]
    assert entry["changed"] and entry["transforms"] == ["merge-runs"]
    assert entry["changes"][0] == {
        "transform": "merge-runs",
        "line": 2,
        "safety": "safe",
        "explanation": "merged 2 RUN instructions (lines 2, 3) into one layer",
        "assumption": None,
    }
    assert data["summary"] == {"files": 1, "changed": 1, "errors": 0}


def test_directory_discovery_skips_vendor_folders(tmp_path: Path) -> None:
    for rel in [
        "Dockerfile",
        "svc/Dockerfile.prod",
        "svc/api.Dockerfile",
        "Containerfile",
        "node_modules/x/Dockerfile",
        ".git/Dockerfile",
    ]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(MERGEABLE)
    result = invoke("rewrite", "--format", "json", "--select", "merge-runs", str(tmp_path))
    paths = sorted(Path(f["path"]).relative_to(tmp_path).as_posix() for f in json.loads(result.stdout)["files"])
    assert paths == ["Containerfile", "Dockerfile", "svc/Dockerfile.prod", "svc/api.Dockerfile"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "no instructions"),
        (b"# just a comment\n", "no instructions"),
        (b"ARG A=1\n", "no FROM"),
        (b"\x00\x01binary", "binary"),
        (b"FROM x\nRUN \xff\n", "UTF-8"),
        (b"\xff\xfeF\x00", "UTF-16"),
        (b"FROM x\nBOGUS y\n", "Dockerfile:2: unknown instruction"),
        (b"FROM x\nRUN <<EOF\nnever closed\n", "unterminated heredoc"),
        (b'FROM x\nCMD ["a", \n', "not valid JSON"),
    ],
)
def test_bad_input_is_one_line_exit_2_untouched(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(content)
    result = invoke("rewrite", "-i", str(path))
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and str(path) in errors[0]
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == content


def test_multi_file_run_processes_the_rest_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "Dockerfile").write_bytes(b"FROM x\nNOPE\n")
    (tmp_path / "b" / "Dockerfile").write_bytes(MERGEABLE)
    result = invoke("rewrite", "-i", "--select", "merge-runs", str(tmp_path))
    assert result.exit_code == 2
    assert (tmp_path / "b" / "Dockerfile").read_bytes() != MERGEABLE


def test_usage_errors(tmp_path: Path) -> None:
    assert invoke("rewrite", str(tmp_path / "missing")).exit_code == 2
    assert invoke("rewrite", str(tmp_path)).exit_code == 2  # no Dockerfiles
    (tmp_path / "Dockerfile").mkdir()
    result = invoke("rewrite", str(tmp_path / "Dockerfile"))
    assert result.exit_code == 2  # a directory named Dockerfile holding no Dockerfiles
    assert invoke("rewrite", "--select", "no-such-rule", str(tmp_path)).exit_code == 2
    assert invoke("rewrite", "--format", "xml", str(tmp_path)).exit_code == 2
    assert invoke("rewrite", "--in-place", "--check", str(tmp_path)).exit_code == 2
    assert invoke("rewrite", "--safe-only", "--unsafe-fixes", str(tmp_path)).exit_code == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read and write any file")
def test_permission_errors(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    path = tmp_path / "Dockerfile"
    path.write_bytes(MERGEABLE)
    path.chmod(0o000)
    assert invoke("rewrite", str(path)).exit_code == 2


def test_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "Dockerfile"
    os.mkfifo(fifo)
    result = invoke("rewrite", str(fifo))
    assert result.exit_code == 2 and "not a regular file" in result.stderr


def test_read_only_directory_with_in_place_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(MERGEABLE)
    from dockerslim_rewrite import fsio

    original = fsio._can_write
    try:
        fsio._can_write = lambda directory, target: False  # a read-only folder, even as root
        result = invoke("rewrite", "-i", "--select", "merge-runs", str(path))
    finally:
        fsio._can_write = original
    assert result.exit_code == 2 and "permission denied" in result.stderr
    assert path.read_bytes() == MERGEABLE


def test_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"# dslim: off\nFROM x\nRUN a\nRUN b\n")
    assert invoke("rewrite", "--check", str(path)).exit_code == 0
    path.write_bytes(b"FROM x\nRUN a\n# dslim: ignore\nRUN b\n")
    assert invoke("rewrite", "--check", "--select", "merge-runs", str(path)).exit_code == 0


def test_config_file_select_and_cli_override(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.dslim]\nselect = ["merge-runs"]\nignore = ["merge-runs"]\n')
    (tmp_path / "Dockerfile").write_bytes(MERGEABLE)
    assert invoke("rewrite", "--check", str(tmp_path / "Dockerfile")).exit_code == 0
    assert invoke("rewrite", "--check", "--ignore", "dockerignore", str(tmp_path / "Dockerfile")).exit_code == 0
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dslim]\nselect = ["merge-runs"]\n[tool.dslim.per-path]\n"legacy/*" = { ignore = ["merge-runs"] }\n'
    )
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "Dockerfile").write_bytes(MERGEABLE)
    assert invoke("rewrite", "--check", str(tmp_path / "Dockerfile")).exit_code == 1
    assert invoke("rewrite", "--check", str(tmp_path / "legacy" / "Dockerfile")).exit_code == 0


def test_invalid_config_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / ".dslim.toml").write_text("select = [unterminated\n")
    (tmp_path / "Dockerfile").write_bytes(MERGEABLE)
    result = invoke("rewrite", str(tmp_path / "Dockerfile"))
    assert result.exit_code == 2 and "invalid configuration" in result.stderr


def test_rules_and_rule_docs() -> None:
    listing = invoke("rules")
    assert listing.exit_code == 0 and "merge-runs" in listing.stdout
    doc = invoke("rule", "merge-runs")
    assert doc.exit_code == 0 and "Fix safety" in doc.stdout
    assert invoke("rule", "nope").exit_code == 2


def test_rules_listing_matches_the_registered_transforms() -> None:
    """data/transforms.toml (what `dslim rules` reads without importing) is the registry, entry for entry."""
    from dockerslim_rewrite.transform import listed_transforms
    from dockerslim_rewrite.transforms import all_transforms

    listed = [(e["id"], e["summary"], e["order"], f"dockerslim_rewrite.transforms.{e['module']}") for e in listed_transforms()]
    assert listed == [(t.id, t.summary, t.order, t.module) for t in all_transforms()]
    modules = {p.stem for p in (Path(__file__).parents[1] / "dockerslim_rewrite" / "transforms").glob("*.py")}
    assert modules - {"__init__"} == {e["module"] for e in listed_transforms()}


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["rules"], ["rewrite", "--help"]])
def test_quick_commands_import_nothing_heavy(args: list[str]) -> None:
    """`--help`, `--version` and `rules` start fast because they never import the model, the pipeline or pydantic."""
    code = (
        "import sys\n"
        "from dockerslim_rewrite.cli import run\n"
        f"sys.argv = ['dslim', *{args!r}]\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "heavy = ['dockerslim_rewrite.model', 'dockerslim_rewrite.pipeline', 'dockerslim_rewrite.shell', 'tree_sitter',"
        " 'jinja2', 'rich', 'pydantic']\n"
        "print('HEAVY:' + ' '.join(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "HEAVY:", proc.stdout


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM x\nRUN <<EOF\n")
    proc = subprocess.run([sys.executable, "-m", "dockerslim_rewrite", "rewrite", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") <= 2 and "Traceback" not in proc.stderr


def test_read_and_rewrite_names_the_dockerfile_inside_its_context(tmp_path: Path) -> None:
    """The one read-scan-rewrite helper of `rewrite` and `verify`: the context and the Dockerfile's name in it."""
    from dockerslim_rewrite.fsio import InputError
    from dockerslim_rewrite.runner import read_and_rewrite

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Dockerfile").write_bytes(MERGEABLE)
    inside = read_and_rewrite(tmp_path / "sub" / "Dockerfile", None, tmp_path)
    assert (inside.name, inside.inside, inside.context_root) == ("sub/Dockerfile", True, tmp_path.resolve())
    assert inside.data == MERGEABLE and inside.result.changed
    (tmp_path / "ctx").mkdir()
    outside = read_and_rewrite(tmp_path / "sub" / "Dockerfile", None, tmp_path / "ctx")
    assert (outside.name, outside.inside) == ("Dockerfile", False)
    with pytest.raises(InputError, match="not a directory"):
        read_and_rewrite(tmp_path / "sub" / "Dockerfile", None, tmp_path / "missing")


def test_a_dockerfile_rendered_from_a_template_is_left_alone(tmp_path) -> None:
    """cimg/caddy-style repositories: per-version Dockerfiles rendered from a template at the root."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "Dockerfile.template").write_text("FROM debian:%%VERSION%%\n")
    (repo / "3.9").mkdir()
    (repo / "3.9" / "Dockerfile").write_bytes(MERGEABLE)
    proc = subprocess.run(
        [sys.executable, "-m", "dockerslim_rewrite", "rewrite", "--check", str(repo / "3.9")], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "generated file (template" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "dockerslim_rewrite", "rewrite", "--check", "--include-generated", str(repo / "3.9")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1


def test_an_unknown_config_key_is_an_error_with_a_suggestion(tmp_path) -> None:
    (tmp_path / "Dockerfile").write_bytes(MERGEABLE)
    (tmp_path / ".dslim.toml").write_text('slect = ["merge-runs"]\n')
    proc = subprocess.run([sys.executable, "-m", "dockerslim_rewrite", "rewrite", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown key 'slect' (did you mean 'select'?)" in proc.stderr and (tmp_path / "Dockerfile").read_bytes() == MERGEABLE
