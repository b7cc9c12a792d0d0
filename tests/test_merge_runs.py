"""merge-runs keeps behaviour: run the original bodies in fresh shells and the merged body in one.

Each scenario is a list of RUN bodies; they run with /bin/sh in a scratch WORKDIR, each in a new shell
(as BuildKit does), then the merged RUN runs once in another scratch WORKDIR. The files left behind,
their contents and modes, stdout and the exit status must be identical.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from dockerslim_rewrite.model import parse
from dockerslim_rewrite.pipeline import rewrite
from dockerslim_rewrite.shell import analyse
from dockerslim_rewrite.transform import Options

# the mechanics of merging are tested on any RUNs, not only on those where merging saves bytes
MERGE_ONLY = Options(select=frozenset({"merge-runs"}), settings={"merge-runs": {"only-when-smaller": False}})

SCENARIOS = {
    "cd": ["mkdir -p sub && cd sub", "pwd | sed 's|.*/||' > where.txt"],
    "cd-last-not-isolated": ["touch a", "mkdir d && cd d && touch inner"],
    "export": ["export GREETING=hi", 'echo "g=$GREETING" > g.txt'],
    "bare-assignment": ["V=1", 'echo "v=$V" > v.txt'],
    "umask": ["umask 077", "touch loose && stat -c %a loose > mode.txt"],
    "set-e": ["set -e; false; echo unreachable > u.txt", "echo next > n.txt"],
    "set-e-later": ["echo first > f.txt", "set -eu; false; echo unreachable > u.txt", "echo next > n.txt"],
    "set-e-last": ["echo first > f.txt", "set -e; touch x; false; echo unreachable > u.txt"],
    "set-e-off": ["false; echo reached > r.txt", "echo next > n.txt"],
    "or": ["test -f nope || echo fallback > f.txt", "echo next > n.txt"],
    "semicolon-failure-ignored": ["false; true", "echo ran > ran.txt"],
    "failure-stops": ["echo one > 1.txt", "false", "echo never > never.txt"],
    "pipe-status": ["false | true", "echo ran > ran.txt"],
    "exit-zero-early": ["test -d . && exit 0; echo skipped > s.txt", "echo always > a.txt"],
    "if-for-case": [
        "if [ -d . ]; then echo yes > if.txt; fi",
        "for f in x y; do touch $f; done",
        'case "$f" in "") echo empty > case.txt ;; *) echo "$f" > case.txt ;; esac',
    ],
    "set-u": ["set -u", 'echo "${UNSET_VAR:-default}" > d.txt'],
    "function": ["greet() { echo hi; }", "command -v greet > fn.txt || echo none > fn.txt"],
    "subshell-already": ["(cd / && true)", "pwd | sed 's|.*/||' > where.txt"],
    "stdout": ["echo visible", "echo also"],
}


NOT_MERGED = {"set-e"}  # errexit bodies may only end a chain


def _dockerfile(bodies: list[str]) -> bytes:
    return ("FROM scratch\n" + "".join(f"RUN {b}\n" for b in bodies)).encode()


def _state(folder: Path) -> dict:
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        mode = stat.S_IMODE(path.stat().st_mode)
        found[rel] = (path.read_text() if path.is_file() else "<dir>", oct(mode))
    return found


def _run(bodies: list[str], folder: Path) -> tuple[int, str, dict]:
    folder.mkdir(parents=True)
    out, status = "", 0
    for body in bodies:
        proc = subprocess.run(
            ["/bin/sh", "-c", body], cwd=folder, capture_output=True, text=True, env={"PATH": os.environ["PATH"]}
        )
        out += proc.stdout
        status = proc.returncode
        if status:
            break
    return status, out, _state(folder)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_merged_body_behaves_like_separate_runs(name: str, tmp_path: Path) -> None:
    bodies = SCENARIOS[name]
    result = rewrite(_dockerfile(bodies), MERGE_ONLY)
    runs = [i for i in parse(result.output).instructions if i.keyword == "RUN"]
    assert len(runs) < len(bodies) or name in NOT_MERGED, result.output.decode()
    assert all(analyse(r.args).ok for r in runs)
    before = _run(bodies, tmp_path / "before" / "work")
    after = _run([r.args for r in runs], tmp_path / "after" / "work")
    assert (before[0] == 0) == (after[0] == 0)
    assert before[1:] == after[1:]


def test_skips_are_reported_with_reasons() -> None:
    data = b'FROM x\nRUN echo a\nRUN ["echo", "b"]\nRUN sleep 1 &\nRUN echo c # note\n'
    result = rewrite(data, MERGE_ONLY)
    assert result.output == data
    reasons = [s.reason for s in result.skips]
    assert any("exec (JSON) form" in r for r in reasons)
    assert any("background job" in r for r in reasons)
    assert any("shell comment" in r for r in reasons)


def test_change_is_safe_and_explained() -> None:
    result = rewrite(b"FROM x\nRUN cd /a\nRUN make\n", MERGE_ONLY)
    (change,) = result.changes
    assert change.safety == "safe" and change.line == 2
    assert "merged 2 RUN instructions" in change.explanation and "subshell" in change.explanation


def test_untouched_instructions_keep_their_bytes() -> None:
    data = b"FROM x  \nENV A=1\t\nRUN echo a\nRUN echo b\nCOPY  .   /app \n"
    out = rewrite(data, MERGE_ONLY).output.decode()
    assert out.startswith("FROM x  \nENV A=1\t\n") and out.endswith("COPY  .   /app \n")


ERREXIT_SHELL = ["/bin/bash", "-eo", "pipefail", "-c"]
ERREXIT_SCENARIOS = {
    "sequence-fails": ["echo one > 1.txt", "false; echo two > 2.txt", "echo three > 3.txt", "echo four > 4.txt"],
    "pipe-fails": ["false | true", "echo after > a.txt"],
    "subshell-sequence": ["(false; echo x > x.txt)", "echo after > a.txt"],
}


@pytest.mark.parametrize("name", sorted(ERREXIT_SCENARIOS))
def test_errexit_shell_keeps_failures(name: str, tmp_path: Path) -> None:
    """Under SHELL ["/bin/bash", "-eo", "pipefail", "-c"], a merged body must fail where the original did."""
    bodies = ERREXIT_SCENARIOS[name]
    data = ("FROM scratch\nSHELL " + str(ERREXIT_SHELL).replace("'", '"') + "\n" + "".join(f"RUN {b}\n" for b in bodies)).encode()
    output = rewrite(data, MERGE_ONLY).output
    runs = [i.args for i in parse(output).instructions if i.keyword == "RUN"]
    again = rewrite(output, MERGE_ONLY).output
    assert again == output

    def run(scripts: list[str], folder: Path) -> tuple[bool, dict]:
        folder.mkdir(parents=True)
        for script in scripts:
            if subprocess.run(["/bin/bash", "-eo", "pipefail", "-c", script], cwd=folder).returncode:
                return False, _state(folder)
        return True, _state(folder)

    assert run(bodies, tmp_path / "a" / "w") == run(runs, tmp_path / "b" / "w")
