"""`dslim rewrite --color/--no-color` and NO_COLOR: color on a terminal by default, never in a pipe,
the flags over everything, and never in json or sarif output."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dockerslim_rewrite.cli import app

MERGEABLE = b"FROM debian:bookworm\nRUN touch /tmp/one\nRUN rm /tmp/one\n"
RED, GREEN, CYAN = "\x1b[31m", "\x1b[32m", "\x1b[36m"


@pytest.fixture
def dockerfile(tmp_path: Path) -> Path:
    path = tmp_path / "Dockerfile"
    path.write_bytes(MERGEABLE)
    return path


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["rewrite", "--select", "merge-runs", *args], env=env, catch_exceptions=False)


def in_terminal(*args: str, no_color: str | None = None) -> str:
    """stdout of `dslim rewrite ...` run with a pseudo-terminal as its stdout."""
    pty = pytest.importorskip("pty")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    if no_color is not None:
        env["NO_COLOR"] = no_color
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockerslim_rewrite", "rewrite", "--select", "merge-runs", *args],
        stdout=child,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError as exc:  # Linux: EIO once the child closed the terminal
            if exc.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode()


def test_color_flag_forces_colored_diff_into_a_pipe(dockerfile: Path) -> None:
    out = invoke("--color", str(dockerfile)).stdout
    assert f"{RED}-RUN touch /tmp/one\x1b[0m" in out
    assert f"{GREEN}+RUN touch /tmp/one \\\x1b[0m" in out
    assert f"{CYAN}@@ " in out
    assert "\n--- a/" in "\n" + out and "\x1b" not in out.splitlines()[0]  # file headers stay plain


def test_no_color_and_pipes_are_plain(dockerfile: Path) -> None:
    assert "\x1b[" not in invoke(str(dockerfile)).stdout
    assert "\x1b[" not in invoke("--no-color", str(dockerfile)).stdout


def test_color_flag_wins_over_no_color_env(dockerfile: Path) -> None:
    assert RED in invoke("--color", str(dockerfile), env={"NO_COLOR": "1"}).stdout


def test_terminal_default_is_color_unless_no_color(dockerfile: Path) -> None:
    assert RED in in_terminal(str(dockerfile))
    assert "\x1b[" not in in_terminal(str(dockerfile), no_color="1")
    assert RED in in_terminal(str(dockerfile), no_color="")  # no-color.org: an empty NO_COLOR is unset
    assert "\x1b[" not in in_terminal("--no-color", str(dockerfile))
    assert RED in in_terminal("--color", str(dockerfile), no_color="1")


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_machine_formats_are_never_colored(dockerfile: Path, fmt: str) -> None:
    out = invoke("--color", "--format", fmt, str(dockerfile)).stdout
    assert "\x1b[" not in out
    json.loads(out)
    assert "\x1b[" not in in_terminal("--format", fmt, str(dockerfile))
