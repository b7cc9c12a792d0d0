"""Adversarial use of the real `dslim` command: bad inputs, hostile file systems, signals, hostile contexts.

Every test runs the installed console script in a subprocess (what users run), so tracebacks,
exit codes and files on disk are observed from outside. Bad input must give exit code 2, exactly one
``error:`` line naming the file, no traceback, and leave the file untouched (bytes and mtime).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import oracle_parse

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` skips this suite for a fast loop; CI runs it

DSLIM = (
    str(Path(sys.executable).with_name("dslim")) if Path(sys.executable).with_name("dslim").exists() else shutil.which("dslim")
)
MERGEABLE = b"FROM debian:bookworm\nRUN touch /tmp/one\nRUN rm /tmp/one\n"
MERGED = b"FROM debian:bookworm\nRUN touch /tmp/one \\\n    && rm /tmp/one\n"
TMP_MARK = "dslim-tmp"


def dslim(
    *args: str, cwd: Path | None = None, timeout: float = 120, prefix: list[str] | None = None, input_: bytes | None = None
):
    """Run the console script; never inherits a terminal."""
    assert DSLIM, "the dslim console script is not installed"
    return subprocess.run(
        [*(prefix or []), DSLIM, *args],
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        input=input_,
        env={**os.environ, "NO_COLOR": "1"},
    )


def python_child(code: str, *args: str, cwd: Path | None = None, **kwargs) -> subprocess.Popen:
    """A child python that imports dslim, patches something, then runs the CLI with ``args``."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def snapshot(path: Path) -> tuple:
    st = path.lstat()
    data = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
    return data, st.st_mtime_ns, st.st_mode, st.st_ino


def assert_rejected(proc, path: Path, before: tuple | None, message: str | None = None) -> str:
    """Exit 2, one 'error:' line naming the file, no traceback, the file untouched."""
    stderr = proc.stderr.decode("utf-8", "replace")
    stdout = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 2, (proc.returncode, stderr[-2000:])
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr[-2000:]
    assert str(path) in errors[0], errors[0]
    assert len(errors[0]) < 400, "the error should be one short line"
    if message:
        assert message.lower() in errors[0].lower(), errors[0]
    assert "Traceback" not in stderr and "Traceback" not in stdout
    if before is not None:
        assert snapshot(path) == before, "the file was touched"
    return errors[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TMP_MARK in p.name)


# --------------------------------------------------------------------------------------------- bad inputs

BAD_INPUTS = {
    "empty": (b"", "no instructions"),
    "only-comments": (b"# syntax=docker/dockerfile:1\n# a comment\n\n   # another\n", "no instructions"),
    "only-arg": (b"ARG VERSION=1\nARG OTHER\n", "FROM"),
    "binary": (bytes(range(256)) * 4, "binary"),
    "png-header": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None),
    "invalid-utf8": (b"FROM debian\nRUN echo \xc3\x28 \xff\n", "UTF-8"),
    "latin1": (b'FROM debian\nLABEL author="J\xfcrgen"\n', "UTF-8"),
    "utf16-le-bom": ("FROM debian\nRUN echo hi\n".encode("utf-16"), "UTF-16"),
    "utf16-be-bom": (b"\xfe\xff" + "FROM debian\n".encode("utf-16-be"), "UTF-16"),
    "utf16-no-bom": ("FROM debian\nRUN echo hi\n".encode("utf-16-le"), None),
    "unterminated-heredoc": (b"FROM debian\nRUN <<EOF\necho never closed\n", "heredoc"),
    "unterminated-heredoc-dash": (b"FROM debian\nRUN <<-EOT\n\techo x\nEOT2\n", "heredoc"),
    "unterminated-json": (b'FROM debian\nCMD ["python", "app.py"\n', "JSON"),
    "unterminated-json-run": (b'FROM debian\nRUN ["sh", "-c", "echo \n', "JSON"),
    "unknown-instruction": (b"FROM debian\nINSTALL curl\n", "unknown instruction"),
    "shell-shell-form": (b"FROM debian\nSHELL /bin/bash -c\n", "SHELL"),
    "instruction-before-from": (b"RUN echo hi\nFROM debian\n", "FROM"),
    "from-without-image": (b"FROM\n", None),
    "continuation-only": (b"\\\n\\\n", None),
    "bad-escape-directive": (b"# escape=x\nFROM debian\n", "escape"),
    "duplicate-directive": (b"# escape=`\n# escape=\\\nFROM debian\n", "escape"),
    "html-page": (b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n", None),
    "yaml-compose-file": (b"services:\n  web:\n    build: .\n", None),
    "nul-after-valid": (b"FROM debian\nRUN echo hi\n\x00\x00\x00", "binary"),
}


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory) -> dict:
    """Every bad input in its own folder, all given to ONE dslim run per mode (a subprocess start is ~1 s)."""
    runs = {}
    for mode, flags in (("diff", []), ("in-place", ["-i"]), ("check-json", ["--check", "--format", "json"])):
        root = tmp_path_factory.mktemp(f"bad-{mode}")
        paths, before = {}, {}
        for name, (content, _) in BAD_INPUTS.items():
            (root / name).mkdir()
            path = root / name / "Dockerfile"
            path.write_bytes(content)
            os.utime(path, ns=(1_000_000_000, 1_000_000_000))
            paths[name], before[name] = path, snapshot(path)
        proc = dslim("rewrite", *flags, *(str(p) for p in paths.values()), timeout=300)
        runs[mode] = (proc, paths, before)
    return runs


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
@pytest.mark.parametrize("mode", ["diff", "in-place", "check-json"])
def test_bad_input_is_one_error_line_exit_2_untouched(bad_input_runs: dict, name: str, mode: str) -> None:
    proc, paths, before = bad_input_runs[mode]
    path = paths[name]
    message = BAD_INPUTS[name][1]
    assert proc.returncode == 2
    stderr = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr and b"Traceback" not in proc.stdout
    assert snapshot(path) == before[name], "the file was touched"
    assert sorted(p.name for p in path.parent.iterdir()) == ["Dockerfile"], "no file (temp, .dockerignore) may be written"
    if mode == "check-json":
        entries = [f for f in json.loads(proc.stdout)["files"] if f["path"] == str(path)]
        assert len(entries) == 1 and entries[0].get("error"), entries
        line = entries[0]["error"]
    else:
        mine = [line for line in stderr.splitlines() if line.startswith("error:") and f"{path.parent}/" in line]
        assert len(mine) == 1, stderr[-3000:]
        line = mine[0]
    assert str(path) in line and len(line) < 400 and "\n" not in line
    if message:
        assert message.lower() in line.lower(), line


def test_bad_input_alone_exits_2_with_exactly_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM debian\nRUN <<EOF\n")
    before = snapshot(path)
    assert_rejected(dslim("rewrite", "-i", str(path)), path, before, "heredoc")


def test_bad_input_json_report_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM debian\nRUN <<EOF\n")
    proc = dslim("rewrite", "--format", "json", str(path))
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    (entry,) = report["files"]
    assert entry["path"] == str(path) and "heredoc" in entry["error"]
    assert report["summary"]["errors"] == 1
    assert b"Traceback" not in proc.stderr


def test_one_bad_file_among_good_ones_is_reported_and_the_rest_written(tmp_path: Path) -> None:
    for name, data in [("a", MERGEABLE), ("b", b"\xff\xfeB\x00"), ("c", MERGEABLE)]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_bytes(data)
    before = snapshot(tmp_path / "b" / "Dockerfile")
    proc = dslim("rewrite", "-i", "--select", "merge-runs", str(tmp_path))
    assert_rejected(proc, tmp_path / "b" / "Dockerfile", before, "UTF-16")
    assert (tmp_path / "a" / "Dockerfile").read_bytes() == MERGED
    assert (tmp_path / "c" / "Dockerfile").read_bytes() == MERGED


# --------------------------------------------------------------------------------------------- size limits


def test_a_50_mb_file_is_refused_quickly_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    line = b"RUN echo this line is repeated to make a huge file\n"
    with open(path, "wb") as fh:
        fh.write(b"FROM debian\n")
        chunk = line * 20000
        while fh.tell() < 50 * 1024 * 1024:
            fh.write(chunk)
    before = snapshot(path)
    proc = dslim("rewrite", "-i", str(path), timeout=60)
    assert_rejected(proc, path, before, "too large")


def test_100000_instructions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM debian\n" + b"".join(b"ENV V%d=%d\n" % (i, i) for i in range(100_000)))
    before = snapshot(path)
    proc = dslim("rewrite", "-i", str(path), timeout=120)
    assert_rejected(proc, path, before, "instructions")


def test_a_line_of_1_mb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM debian\nRUN echo " + b"x" * (1024 * 1024) + b"\n")
    before = snapshot(path)
    proc = dslim("rewrite", "-i", str(path), timeout=60)
    assert_rejected(proc, path, before, "long")


def test_a_1_mb_logical_line_of_continuations_is_bounded(tmp_path: Path) -> None:
    """Short physical lines, one long logical RUN (3,000 continuation lines): processed or refused, never hung."""
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM debian\nRUN true" + b" \\\n    && echo 0123456789012345678901234567890123456789" * 3_000 + b"\n")
    before = snapshot(path)
    proc = dslim("rewrite", str(path), timeout=60)
    assert b"Traceback" not in proc.stderr
    assert proc.returncode in (0, 2)
    assert snapshot(path) == before


# --------------------------------------------------------------------------------------------- odd file types


def test_a_directory_named_dockerfile(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.mkdir()
    before = snapshot(path)
    proc = dslim("rewrite", "-i", str(path))
    assert_rejected(proc, path, before)


def test_a_fifo_named_dockerfile_given_or_discovered(tmp_path: Path) -> None:
    fifo = tmp_path / "Dockerfile"
    os.mkfifo(fifo)
    before = snapshot(fifo)
    assert_rejected(dslim("rewrite", "-i", str(fifo), timeout=30), fifo, before, "regular file")
    # found by walking the folder: still refused, never opened (opening a FIFO blocks forever)
    assert_rejected(dslim("rewrite", "-i", str(tmp_path), timeout=30), fifo, before, "regular file")


def test_fifos_and_devices_in_the_build_context_are_not_opened(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(b"FROM python:3.12\nCOPY . /app\nRUN pip install -r /app/requirements.txt\n")
    for name in ("requirements.txt", "package.json", "go.mod", ".dockerignore", "main.go"):
        os.mkfifo(tmp_path / name)
    (tmp_path / "null.txt").symlink_to("/dev/zero")
    proc = dslim("rewrite", "--format", "json", str(tmp_path / "Dockerfile"), timeout=60)
    assert b"Traceback" not in proc.stderr
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]


def test_a_broken_symlink_named_dockerfile(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.symlink_to(tmp_path / "missing")
    before = snapshot(path)
    assert_rejected(dslim("rewrite", "-i", str(path)), path, before)


def test_a_symlink_loop_named_dockerfile(tmp_path: Path) -> None:
    a, b = tmp_path / "Dockerfile", tmp_path / "Dockerfile.other"
    a.symlink_to(b.name)
    b.symlink_to(a.name)
    proc = dslim("rewrite", "-i", str(a), timeout=30)
    assert_rejected(proc, a, snapshot(a))


# --------------------------------------------------------------------------------------------- permissions

# The suite runs as root, for whom permission bits mean nothing. Dropping CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH (uid stays 0, so the interpreter under /root stays reachable) makes the kernel
# apply the owner's permission bits to the dslim process: the real code path, not a mock.
NO_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]


def _unprivileged_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop CAP_DAC_OVERRIDE while running as root")
    probe = subprocess.run([*NO_DAC, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return NO_DAC


def test_no_read_permission(tmp_path: Path) -> None:
    prefix = _unprivileged_prefix()
    path = tmp_path / "Dockerfile"
    path.write_bytes(MERGEABLE)
    path.chmod(0o000)
    before = snapshot(path)
    for args in (["rewrite"], ["rewrite", "-i"], ["rewrite", "--check"]):
        assert_rejected(dslim(*args, str(path), prefix=prefix), path, before, "permission denied")


def test_no_write_permission_on_the_file_with_in_place(tmp_path: Path) -> None:
    prefix = _unprivileged_prefix()
    path = tmp_path / "Dockerfile"
    path.write_bytes(MERGEABLE)
    path.chmod(0o444)
    before = snapshot(path)
    assert_rejected(dslim("rewrite", "-i", "--select", "merge-runs", str(path), prefix=prefix), path, before, "permission")
    assert leftovers(tmp_path) == []
    # without -i a read-only file is fine: the diff is printed
    proc = dslim("rewrite", "--select", "merge-runs", str(path), prefix=prefix)
    assert proc.returncode == 0 and b"+RUN touch /tmp/one \\" in proc.stdout


def test_no_write_permission_on_the_folder_with_in_place(tmp_path: Path) -> None:
    """A writable file in a read-only folder: an atomic replace is impossible, so nothing is written."""
    prefix = _unprivileged_prefix()
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "Dockerfile"
    path.write_bytes(MERGEABLE)
    folder.chmod(0o555)
    try:
        before = snapshot(path)
        assert_rejected(dslim("rewrite", "-i", "--select", "merge-runs", str(path), prefix=prefix), path, before, "permission")
        assert leftovers(folder) == []
    finally:
        folder.chmod(0o755)


def test_unreadable_files_in_the_context_are_skipped_not_fatal(tmp_path: Path) -> None:
    prefix = _unprivileged_prefix()
    (tmp_path / "Dockerfile").write_bytes(b"FROM python:3.12\nCOPY . /app\nRUN pip install -r /app/requirements.txt\n")
    (tmp_path / "requirements.txt").write_bytes(b"flask\n")
    (tmp_path / "requirements.txt").chmod(0o000)
    secret = tmp_path / "private"
    secret.mkdir()
    (secret / "Dockerfile").write_bytes(MERGEABLE)
    secret.chmod(0o000)
    try:
        proc = dslim("rewrite", str(tmp_path / "Dockerfile"), prefix=prefix)
        assert b"Traceback" not in proc.stderr
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    finally:
        secret.chmod(0o755)


# --------------------------------------------------------------------------------------------- races


def test_a_file_changed_while_being_processed_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(MERGEABLE)
    concurrent = b"FROM debian:bookworm\nRUN echo edited by someone else\nRUN echo meanwhile\n"
    child = python_child(
        """
        import sys
        from pathlib import Path
        from dockerslim_rewrite import cli, runner
        real = runner.run_pipeline
        target, concurrent = sys.argv[1], sys.argv[2].encode()
        def slow_pipeline(data, *args, **kwargs):
            result = real(data, *args, **kwargs)
            Path(target).write_bytes(concurrent)   # an editor saves the file while dslim works
            return result
        runner.run_pipeline = slow_pipeline
        sys.argv = ["dslim", "rewrite", "-i", "--select", "merge-runs", sys.argv[1]]
        cli.run()
        """,
        str(path),
        concurrent.decode(),
    )
    out, err = child.communicate(timeout=60)
    assert child.returncode == 2, err.decode()
    errors = [line for line in err.decode().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0] and "changed" in errors[0]
    assert b"Traceback" not in err
    assert path.read_bytes() == concurrent
    assert leftovers(tmp_path) == []


def test_concurrent_in_place_runs_never_double_apply(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(MERGEABLE)
    procs = [
        subprocess.Popen(
            [DSLIM, "rewrite", "-i", "--select", "merge-runs", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, 2) and b"Traceback" not in err
        if proc.returncode == 2:
            assert b"changed on disk" in err
    assert path.read_bytes() == MERGED
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------------- writing


def test_in_place_is_an_atomic_replace(tmp_path: Path) -> None:
    """A reader holding the old file sees the old bytes in full; the new bytes arrive as a new inode."""
    path = tmp_path / "Dockerfile"
    path.write_bytes(MERGEABLE)
    old_inode = path.stat().st_ino
    with open(path, "rb") as reader:
        proc = dslim("rewrite", "-i", "--select", "merge-runs", str(path))
        assert proc.returncode == 0, proc.stderr.decode()
        assert reader.read() == MERGEABLE
    assert path.read_bytes() == MERGED
    assert path.stat().st_ino != old_inode
    assert leftovers(tmp_path) == []


def test_a_failing_replace_leaves_the_original_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(MERGEABLE)
    before = snapshot(path)
    child = python_child(
        """
        import os, sys
        from dockerslim_rewrite import cli
        def broken_replace(src, dst):
            raise OSError(28, "No space left on device")
        os.replace = broken_replace
        sys.argv = ["dslim", "rewrite", "-i", "--select", "merge-runs", sys.argv[1]]
        cli.run()
        """,
        str(path),
    )
    out, err = child.communicate(timeout=60)
    assert leftovers(tmp_path) == []
    assert snapshot(path) == before
    assert b"Traceback" not in err, "an OS error while writing must be a one-line error, not a traceback"
    assert child.returncode == 2
    errors = [line for line in err.decode().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0]


def test_mode_and_ownership_are_preserved(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(MERGEABLE)
    path.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(path, 1234, 5678)
    st = path.stat()
    proc = dslim("rewrite", "-i", "--select", "merge-runs", str(path))
    assert proc.returncode == 0, proc.stderr.decode()
    after = path.stat()
    assert path.read_bytes() == MERGED
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert (after.st_uid, after.st_gid) == (st.st_uid, st.st_gid)


def test_unusual_modes_are_preserved(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(MERGEABLE)
    path.chmod(0o2755)  # setgid bit and executable: kept as they were
    proc = dslim("rewrite", "-i", "--select", "merge-runs", str(path))
    assert proc.returncode == 0, proc.stderr.decode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o2755


def test_symlinks_are_written_through(tmp_path: Path) -> None:
    real_dir = tmp_path / "shared"
    real_dir.mkdir()
    real = real_dir / "base.Dockerfile"
    real.write_bytes(MERGEABLE)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").symlink_to("../shared/base.Dockerfile")  # relative link
    (repo / "Dockerfile.chain").symlink_to(repo / "Dockerfile")  # link to a link
    proc = dslim("rewrite", "-i", "--select", "merge-runs", str(repo / "Dockerfile.chain"))
    assert proc.returncode == 0, proc.stderr.decode()
    assert (repo / "Dockerfile").is_symlink() and (repo / "Dockerfile.chain").is_symlink()
    assert os.readlink(repo / "Dockerfile") == "../shared/base.Dockerfile"
    assert real.read_bytes() == MERGED
    assert leftovers(repo) == [] and leftovers(real_dir) == []


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"FROM debian\r\nRUN touch b\r\nRUN rm b\r\n", b"FROM debian\r\nRUN touch b \\\r\n    && rm b\r\n"),
        (b"\xef\xbb\xbfFROM debian\nRUN touch b\nRUN rm b\n", b"\xef\xbb\xbfFROM debian\nRUN touch b \\\n    && rm b\n"),
        (b"\xef\xbb\xbfFROM debian\r\nRUN touch b\r\nRUN rm b", b"\xef\xbb\xbfFROM debian\r\nRUN touch b \\\r\n    && rm b"),
        (
            b"# escape=`\r\nFROM debian\r\nRUN touch b\r\nRUN rm b\r\n",
            b"# escape=`\r\nFROM debian\r\nRUN touch b `\r\n    && rm b\r\n",
        ),
    ],
    ids=["crlf", "bom", "bom-crlf-no-final-newline", "backtick-crlf"],
)
def test_crlf_and_bom_are_preserved(tmp_path: Path, data: bytes, expected: bytes) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(data)
    proc = dslim("rewrite", "-i", "--select", "merge-runs", str(path))
    assert proc.returncode == 0, proc.stderr.decode()
    assert path.read_bytes() == expected


BLOCKING_WRITE = """
import os, sys, time
from pathlib import Path
from dockerslim_rewrite import cli
ready = Path(sys.argv[2])
def stuck_fsync(fd):
    ready.write_text("temp file exists")
    time.sleep(60)                      # the disk hangs: the user presses Ctrl-C / CI kills the job
os.fsync = stuck_fsync
sys.argv = ["dslim", "rewrite", "-i", "--select", "merge-runs", sys.argv[1]]
cli.run()
"""


def _interrupt_during_write(tmp_path: Path, sig: int) -> tuple[subprocess.Popen, bytes]:
    repo = tmp_path / "repo"
    repo.mkdir()
    path = repo / "Dockerfile"
    path.write_bytes(MERGEABLE)
    ready = tmp_path / "ready"
    child = python_child(BLOCKING_WRITE, str(path), str(ready))
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None, child.communicate()[1].decode()
        assert time.monotonic() < deadline, "the child never reached the write"
        time.sleep(0.02)
    assert len(leftovers(repo)) == 1, "the temp file should exist while the write is blocked"
    child.send_signal(sig)
    _, err = child.communicate(timeout=30)
    assert path.read_bytes() == MERGEABLE
    assert leftovers(repo) == [], "a temp file was left behind"
    return child, err


def test_no_temp_file_left_after_sigint(tmp_path: Path) -> None:
    child, err = _interrupt_during_write(tmp_path, signal.SIGINT)
    assert child.returncode == 130
    assert b"Traceback" not in err


def test_no_temp_file_left_after_sigterm(tmp_path: Path) -> None:
    """CI runners and `timeout` send SIGTERM, not SIGINT: the same cleanup must happen."""
    child, err = _interrupt_during_write(tmp_path, signal.SIGTERM)
    assert child.returncode != 0
    assert b"Traceback" not in err


# --------------------------------------------------------------------------------------------- security

MARKER_DOCKERFILE = """\
ARG X=$(touch {m}/arg)
FROM debian:bookworm$(touch {m}/from) AS base
ENV A=`touch {m}/env`
RUN touch {m}/run
RUN ["touch", "{m}/run-json"]
RUN <<EOF
touch {m}/heredoc
EOF
ONBUILD RUN touch {m}/onbuild
HEALTHCHECK CMD touch {m}/healthcheck
COPY --from=$(touch {m}/copy) / /
SHELL ["/bin/sh", "-c", "touch {m}/shell"]
RUN apt-get install -y curl; touch {m}/run2
CMD touch {m}/cmd
"""


def test_nothing_from_the_dockerfile_or_context_is_executed(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    m = str(markers)
    (ctx / "Dockerfile").write_text(MARKER_DOCKERFILE.format(m=m))
    (ctx / "setup.py").write_text(
        f"import pathlib\npathlib.Path({m!r}, 'setup.py').touch()\nfrom setuptools import setup\nsetup(name='x')\n"
    )
    (ctx / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "evil"\n[project]\nname = "x"\n'
    )
    (ctx / "evil.py").write_text(f"import pathlib\npathlib.Path({m!r}, 'backend').touch()\n")
    (ctx / "conftest.py").write_text(f"import pathlib\npathlib.Path({m!r}, 'conftest').touch()\n")
    (ctx / "Makefile").write_text(f"all:\n\ttouch {m}/make\n")
    (ctx / "package.json").write_text(
        json.dumps({"name": "x", "scripts": {"preinstall": f"touch {m}/npm", "build": f"touch {m}/npm-build"}})
    )
    (ctx / "go.mod").write_text("module x\n\ngo 1.22\n")
    (ctx / "main.go").write_text(f'package main\n\n//go:generate touch {m}/go-generate\nimport "C"\nfunc main() {{}}\n')
    (ctx / "build.rs").write_text(f'fn main() {{ std::process::Command::new("touch").arg("{m}/cargo"); }}\n')
    (ctx / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\nbuild = "build.rs"\n')
    # modules a careless tool might import from the current directory
    for module in ("typer", "jinja2", "tree_sitter", "dockerfile_parse", "libcst", "sitecustomize", "usercustomize"):
        (ctx / f"{module}.py").write_text(f"import pathlib\npathlib.Path({m!r}, {module!r}).touch()\n")
    (ctx / "evil.pth").write_text(f"import pathlib; pathlib.Path({m!r}, 'pth').touch()\n")
    for args in (
        ["rewrite", "Dockerfile"],
        ["rewrite", "--format", "json", "--unsafe-fixes", "Dockerfile"],
        ["rewrite", "-i", "--unsafe-fixes", "."],
        ["rewrite", "--check", "--context", ".", "Dockerfile"],
        ["rules"],
        ["rule", "multi-stage"],
    ):
        proc = dslim(*args, cwd=ctx, timeout=120)
        assert b"Traceback" not in proc.stderr, proc.stderr.decode()[-2000:]
        assert list(markers.iterdir()) == [], f"dslim {' '.join(args)} executed something: {list(markers.iterdir())}"


def _outside_and_context(tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "Dockerfile").write_bytes(MERGEABLE)
    (outside / "deep" / "Dockerfile").write_bytes(MERGEABLE)
    (outside / "package.json").write_text('{"name": "SECRET-OUTSIDE-PACKAGE"}')
    with open(outside / "huge.bin", "wb") as fh:
        fh.truncate(3 * 1024**3)  # sparse: 3 GB on paper, nothing on disk
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_bytes(b'FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD ["node", "index.js"]\n')
    (ctx / "index.js").write_text("console.log(1)\n")
    (ctx / "linked").symlink_to(outside, target_is_directory=True)
    (ctx / "package.json").symlink_to(outside / "package.json")
    (ctx / "loop").symlink_to(ctx, target_is_directory=True)
    (ctx / "up").symlink_to("..", target_is_directory=True)
    return outside, ctx


def test_the_context_scan_never_follows_symlinks_out_of_the_context(tmp_path: Path) -> None:
    from dockerslim_rewrite.buildcontext import scan_context

    outside, ctx = _outside_and_context(tmp_path)
    snap = scan_context(ctx, ctx / "Dockerfile")
    paths = {e.path for e in snap.files}
    assert not any(p.startswith(("linked/", "loop/", "up/")) for p in paths), sorted(paths)
    assert all(e.is_symlink for e in snap.files if e.path in ("linked", "loop", "up", "package.json"))
    assert snap.read_text("package.json") is None, "the text of a symlink pointing outside the context was read"
    assert snap.total_bytes < 1024**2, "sizes behind symlinks were counted"


def test_the_cli_never_follows_symlinks_out_of_the_context(tmp_path: Path) -> None:
    outside, ctx = _outside_and_context(tmp_path)
    before = {p: snapshot(p) for p in (outside / "Dockerfile", outside / "deep" / "Dockerfile")}
    proc = dslim("rewrite", "-i", "--format", "json", "--unsafe-fixes", str(ctx), timeout=120)
    assert b"Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    processed = [f["path"] for f in report["files"]]
    assert processed == [str(ctx / "Dockerfile")], processed
    assert b"SECRET-OUTSIDE-PACKAGE" not in proc.stdout
    for path, snap in before.items():
        assert snapshot(path) == snap, f"{path} outside the context was touched"
    ignore = ctx / ".dockerignore"
    if ignore.exists():
        assert "SECRET" not in ignore.read_text()


HOSTILE_NAMES = [
    "with space.log",
    'dq"uote.log',
    "sq'uote.log",
    "new\nline.log",
    "{{ 7*7 }}.log",
    "{% raw %}x.log",
    "{# c #}.log",
    "$(touch pwned).log",
    "`id`.log",
    "-rf.log",
    "!keep.log",
    "#comment.log",
    "back\\slash.log",
    "star*.log",
    "ünï cödé.log",
    "tab\there.log",
    "cr\rreturn.log",
    ".env",
    "id_rsa",
    "sec ret.pem",
]


def test_file_names_in_the_context_do_not_inject_into_generated_files(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_bytes(
        b'FROM node:20\nWORKDIR /app\nCOPY package.json package-lock.json ./\nRUN npm ci\nCOPY . .\nRUN npm run build\nCMD ["node", "dist/index.js"]\n'
    )
    (ctx / "package.json").write_text('{"name": "x", "scripts": {"build": "tsc"}}')
    (ctx / "package-lock.json").write_text("{}")
    for folder in ("node_modules", ".git", "logs dir", "{{ 7*7 }}", "new\nline"):
        (ctx / folder).mkdir()
        (ctx / folder / "x.log").write_text("x" * 100)
    for name in HOSTILE_NAMES:
        (ctx / name).write_text("x" * 100)
    proc = dslim("rewrite", "-i", "--unsafe-fixes", str(ctx / "Dockerfile"), cwd=ctx, timeout=120)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()[-2000:]
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert not (ctx / "pwned").exists()
    dockerfile = (ctx / "Dockerfile").read_text()
    oracle_parse(dockerfile)
    generated = [p for p in ctx.iterdir() if p.name.endswith(".dockerignore")]
    for path in generated:
        text = path.read_text()
        assert "49" not in text, "a jinja expression from a file name was evaluated"
        for line in text.splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            # a line is a pattern: a name cut by an injected line break would leave a fragment
            assert stripped not in ("line.log", "line", "return.log", "return"), f"line break injected: {text!r}"
            assert "\r" not in line
    for name in ("{{ 7*7 }}.log", "$(touch pwned).log", "new\nline.log"):
        assert (ctx / name).exists(), "a context file was touched"


@pytest.mark.parametrize(
    "build, cmd, expected",
    [
        ('go build -o "/out/my app" .', '["/out/my app"]', "/out/my app"),
        ("""go build -o '/out/my "q" app' .""", '["/out/my \\"q\\" app"]', '/out/my "q" app'),
    ],
    ids=["space", "double-quotes"],
)
def test_paths_with_spaces_and_quotes_in_generated_dockerfile_lines_are_quoted(
    tmp_path: Path, build: str, cmd: str, expected: str
) -> None:
    """multi-stage copies build output named in the Dockerfile into a runtime stage: an odd path must stay one path."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "go.mod").write_text("module example.com/app\n\ngo 1.22\n")
    (ctx / "main.go").write_text("package main\n\nfunc main() {}\n")
    (ctx / "Dockerfile").write_text(f"FROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN {build}\nCMD {cmd}\n")
    proc = dslim("rewrite", "-i", "--unsafe-fixes", str(ctx / "Dockerfile"), timeout=120)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr.decode()[-2000:]
    commands = oracle_parse((ctx / "Dockerfile").read_text())
    copies = [c for c in commands if c.cmd.upper() == "COPY" and any(f.startswith("--from") for f in c.flags)]
    assert copies, "multi-stage no longer splits this build: the quoting check needs another generator of COPY lines"
    for copy in copies:
        assert copy.value == (expected, expected), copy
    assert commands[-1].cmd.upper() == "CMD" and commands[-1].value == (expected,)


def test_file_names_cannot_forge_report_lines(tmp_path: Path) -> None:
    """A hostile repo must not be able to print fake `error:` lines (or terminal escapes) into CI logs."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_bytes(b'FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD ["node", "index.js"]\n')
    (ctx / "package.json").write_text('{"name": "x"}')
    (ctx / "index.js").write_text("console.log(1)\n")
    (ctx / "node_modules").mkdir()
    (ctx / "big\nerror: injected by a file name\n.log").write_bytes(b"x" * 100_000)
    (ctx / "esc\x1b[2Jclear.log").write_bytes(b"x" * 90_000)
    proc = dslim("rewrite", str(ctx / "Dockerfile"), timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    stderr = proc.stderr.decode("utf-8", "replace")
    assert not [line for line in stderr.splitlines() if line.startswith("error:")], stderr
    assert "\x1b" not in stderr, "a terminal escape sequence from a file name reached the report"


# --------------------------------------------------------------------------------------------- bulk

NODE_APP = b'FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD ["node", "index.js"]\n'


def _node_repo(path: Path, dockerfiles: dict[str, bytes]) -> Path:
    path.mkdir(parents=True)
    (path / "package.json").write_text('{"name": "x"}')
    (path / "index.js").write_text("console.log(1)\n")
    (path / "node_modules" / "left-pad").mkdir(parents=True)
    (path / "node_modules" / "left-pad" / "index.js").write_text("x" * 5000)
    (path / "debug.log").write_text("x" * 5000)
    for name, data in dockerfiles.items():
        (path / name).write_bytes(data)
    return path


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args], capture_output=True, text=True
    )


def test_bulk_workers_sharing_a_context_do_not_write_the_same_file_twice(tmp_path: Path) -> None:
    """Three Dockerfiles in one folder share its context: the generated ignore file is written once, and no worker fails.

    The child makes every worker wait after its context scan until all three have scanned, so all of them plan before
    any writes: the race happens on every run instead of one run in two.
    """
    repo = _node_repo(tmp_path / "repo", {"Dockerfile": NODE_APP, "Dockerfile.prod": NODE_APP, "api.Dockerfile": NODE_APP})
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    # the patch must reach the worker processes too (they are spawned, not forked): a sitecustomize
    # on PYTHONPATH runs in every interpreter of the run
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import os, time, uuid
            from pathlib import Path
            from dockerslim_rewrite import runner
            barrier = Path(os.environ["DSLIM_TEST_BARRIER"])
            real_scan = runner.scan_context
            def scan_then_wait(*args, **kwargs):
                snapshot = real_scan(*args, **kwargs)
                (barrier / uuid.uuid4().hex).touch()
                deadline = time.monotonic() + 4  # a bulk that serialises shared contexts never reaches 3: go on
                while len(os.listdir(barrier)) < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                return snapshot
            runner.scan_context = scan_then_wait
            """
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
        "DSLIM_TEST_BARRIER": str(barrier),
    }
    child = python_child(
        """
        import sys
        from dockerslim_rewrite import cli
        sys.argv = ["dslim", "bulk", sys.argv[1], "--apply", "--out", sys.argv[2], "-j", "3"]
        cli.run()
        """,
        str(repo),
        str(tmp_path / "out"),
        env=env,
    )
    _, err = child.communicate(timeout=180)
    stderr = err.decode()
    assert "Traceback" not in stderr, stderr[-3000:]
    report = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert report["repos"][0]["errors"] == [], report
    assert child.returncode == 0, stderr[-3000:]
    assert report["repos"][0]["changed"] == 3
    assert os.listdir(barrier), "the patched scan never ran in a worker: the test proves nothing"
    assert leftovers(repo) == []
    for ignore in repo.glob("*dockerignore"):
        text = ignore.read_text()
        patterns = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert len(patterns) == len(set(patterns)), f"{ignore.name} got the same lines twice:\n{text}"


def test_bulk_repositories_with_the_same_name_get_separate_patches(tmp_path: Path) -> None:
    one = tmp_path / "team-a" / "app"
    two = tmp_path / "team-b" / "app"
    for repo in (one, two):
        repo.mkdir(parents=True)
        (repo / "Dockerfile").write_bytes(MERGEABLE)
    out = tmp_path / "out"
    proc = dslim("bulk", str(one), str(two), "--select", "merge-runs", "--out", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    report = json.loads((out / "summary.json").read_text())
    patches = [r["patch"] for r in report["repos"]]
    assert None not in patches and len(set(patches)) == 2, f"one patch overwrote the other: {patches}"
    assert all((out / p).read_text().count("+++ b/Dockerfile") == 1 for p in patches)


def test_bulk_commit_runs_no_hook_or_command_from_the_repository(tmp_path: Path) -> None:
    """A repository being migrated is untrusted: its git hooks and config commands must not run."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    markers = tmp_path / "markers"
    markers.mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").write_bytes(MERGEABLE)
    assert _git(repo, "init", "-q").returncode == 0
    assert _git(repo, "add", ".").returncode == 0
    assert _git(repo, "commit", "-qm", "init").returncode == 0
    hooks = repo / ".git" / "hooks"
    for hook in ("pre-commit", "commit-msg", "post-commit", "prepare-commit-msg", "post-checkout", "reference-transaction"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {markers}/{hook}\n")
        (hooks / hook).chmod(0o755)
    with open(repo / ".git" / "config", "a") as fh:
        fh.write(f'[core]\n\tfsmonitor = "touch {markers}/fsmonitor; false"\n')
    proc = dslim("bulk", str(repo), "--apply", "--commit", "--select", "merge-runs", "--out", str(tmp_path / "out"), timeout=120)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()[-2000:]
    assert sorted(p.name for p in markers.iterdir()) == [], "dslim bulk --commit ran code from the repository"
    log = _git(repo, "log", "--oneline", "dslim/smaller-images")
    assert log.returncode == 0 and len(log.stdout.splitlines()) == 2, log.stdout + log.stderr


def test_bulk_with_hostile_inputs_reports_errors_and_keeps_going(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "bad").mkdir(parents=True)
    (repo / "good").mkdir()
    (repo / "bad" / "Dockerfile").write_bytes(b"\xff\xfeF\x00R\x00")
    (repo / "good" / "Dockerfile").write_bytes(MERGEABLE)
    os.mkfifo(repo / "Dockerfile.fifo")
    (repo / "Dockerfile.loop").symlink_to("Dockerfile.loop")
    proc = dslim(
        "bulk",
        str(repo),
        str(tmp_path / "missing"),
        "--apply",
        "--select",
        "merge-runs",
        "--out",
        str(tmp_path / "out"),
        timeout=120,
    )
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in stderr, stderr[-3000:]
    assert (repo / "good" / "Dockerfile").read_bytes() == MERGED
    report = json.loads((tmp_path / "out" / "summary.json").read_text())
    errors = report["repos"][0]["errors"] + report["errors"]
    assert len(errors) == 4, errors


# --------------------------------------------------------------------------------------------- saying what was not handled


def test_every_transform_documents_when_it_is_not_applied_and_its_limits() -> None:
    listing = dslim("rules")
    assert listing.returncode == 0
    ids = [line.split()[0] for line in listing.stdout.decode().splitlines() if line.strip()]
    assert "merge-runs" in ids and len(ids) >= 5
    from dockerslim_rewrite.transforms import all_transforms

    docs = {t.id: t.doc for t in all_transforms()}  # what `dslim rule ID` prints (checked once below)
    assert sorted(docs) == sorted(ids)
    assert dslim("rule", "merge-runs").stdout.decode().strip() == docs["merge-runs"].strip()
    for transform_id, doc in docs.items():
        assert "when it is not applied" in doc.lower(), transform_id
        assert "limits" in doc.lower(), transform_id
        assert "fix safety" in doc.lower(), transform_id


def test_json_report_lists_the_constructs_it_skipped_and_why(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(
        b"FROM mcr.microsoft.com/windows/servercore:ltsc2022\n"
        b'SHELL ["powershell", "-Command"]\n'
        b"RUN Install-WindowsFeature Web-Server\n"
        b"RUN Remove-Item C:\\temp -Recurse\n"
    )
    proc = dslim("rewrite", "--format", "json", str(path))
    assert proc.returncode == 0, proc.stderr.decode()
    (entry,) = json.loads(proc.stdout)["files"]
    assert entry["changed"] is False
    skipped = {(s["line"], s["transform"]) for s in entry["skipped"]}
    assert {(3, "merge-runs"), (4, "merge-runs")} <= skipped
    assert all("powershell" in s["reason"] for s in entry["skipped"] if s["line"] in (3, 4))


@pytest.mark.parametrize("link_name", [".dockerignore", "Dockerfile.dockerignore", "Dockerfile.prod.dockerignore"])
def test_generated_files_are_never_written_through_a_symlink_out_of_the_context(tmp_path: Path, link_name: str) -> None:
    """A hostile repo plants `<name>.dockerignore -> ~/.bashrc`: `dslim rewrite -i` must not overwrite the target."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious\n")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "package.json").write_text('{"name": "x"}')
    (ctx / "node_modules" / "a").mkdir(parents=True)
    (ctx / "node_modules" / "a" / "index.js").write_text("x" * 1000)
    (ctx / ".git").mkdir()
    (ctx / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (ctx / "Dockerfile").write_bytes(NODE_APP)
    # a second Dockerfile that needs .git: the two need different ignore lists, so per-Dockerfile files are written
    (ctx / "Dockerfile.prod").write_bytes(NODE_APP.replace(b"COPY . .\n", b"COPY . .\nCOPY .git /g\n"))
    (ctx / link_name).symlink_to(victim)
    if link_name == ".dockerignore":
        (ctx / "Dockerfile.prod.dockerignore").symlink_to(victim)
    proc = dslim("rewrite", "-i", str(ctx), timeout=120)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()[-2000:]
    assert victim.read_text() == "precious\n", "dslim wrote through a symlink to a file outside the build context"
    assert (ctx / link_name).is_symlink()


def test_a_dockerfile_path_with_a_line_break_gives_one_error_line(tmp_path: Path) -> None:
    folder = tmp_path / "x\nerror: forged by a folder name"
    folder.mkdir()
    path = folder / "Dockerfile"
    path.write_bytes(b"FROM debian\nRUN <<EOF\n")
    proc = dslim("rewrite", str(path))
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "heredoc" in errors[0], stderr


def test_a_closed_stdout_is_not_a_traceback(tmp_path: Path) -> None:
    """`dslim rewrite big | head -1`: the pipe closes early; no traceback, no partial write."""
    path = tmp_path / "Dockerfile"
    data = b"FROM debian\n" + b"".join(b"RUN rm %d %s\n" % (i, b"a" * 60) for i in range(5000))
    path.write_bytes(data)
    proc = subprocess.Popen(
        [DSLIM, "rewrite", "--select", "merge-runs", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout.readline().startswith(b"--- ")
    proc.stdout.close()  # like `head -1` exiting
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert b"Traceback" not in err, err.decode()[-2000:]
    assert path.read_bytes() == data


def test_in_place_is_all_or_nothing_when_a_generated_file_cannot_be_written(tmp_path: Path) -> None:
    """Dockerfile writable, context folder read-only: writing the Dockerfile but not its .dockerignore is a half migration."""
    prefix = _unprivileged_prefix()
    ctx = _node_repo(tmp_path / "ctx", {})
    (ctx / ".git").mkdir()
    folder = tmp_path / "df"
    folder.mkdir()
    path = folder / "Dockerfile"
    path.write_bytes(NODE_APP + b"RUN echo a\nRUN echo b\n")
    before = snapshot(path)
    ctx.chmod(0o555)
    try:
        proc = dslim("rewrite", "-i", "--context", str(ctx), str(path), prefix=prefix, timeout=120)
    finally:
        ctx.chmod(0o755)
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in stderr, stderr
    assert [line for line in stderr.splitlines() if line.startswith("error:")], stderr
    assert snapshot(path) == before, "the Dockerfile was rewritten although its generated .dockerignore could not be written"


@pytest.mark.parametrize("command", ["rewrite", "bulk"])
def test_a_repository_config_cannot_send_writes_outside_the_repository(tmp_path: Path, command: str) -> None:
    """`.dslim.toml` is part of the (untrusted) repository: its `context` must not point dslim at a folder outside it."""
    victim = _node_repo(tmp_path / "victim", {})
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".dslim.toml").write_text('context = "../victim"\n')
    (repo / "Dockerfile").write_bytes(NODE_APP)
    args = (
        ["rewrite", "-i", str(repo / "Dockerfile")]
        if command == "rewrite"
        else ["bulk", str(repo), "--apply", "--out", str(tmp_path / "out")]
    )
    proc = dslim(*args, timeout=120)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()[-2000:]
    assert not (victim / ".dockerignore").exists(), "a file was written outside the repository"


def test_a_generated_stage_name_never_captures_an_existing_from_reference(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "go.mod").write_text("module example.com/app\n\ngo 1.22\n")
    (ctx / "main.go").write_text("package main\n\nfunc main() {}\n")
    (ctx / "Dockerfile").write_bytes(
        b'FROM golang:1.22\nWORKDIR /src\nCOPY --from=build /etc/ssl/certs /etc/ssl/certs\nCOPY . .\nRUN go build -o /out/app .\nCMD ["/out/app"]\n'
    )
    proc = dslim("rewrite", "-i", str(ctx / "Dockerfile"), timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    commands = oracle_parse((ctx / "Dockerfile").read_text())
    stage_names = {c.value[2].lower() for c in commands if c.cmd.upper() == "FROM" and len(c.value) == 3}
    assert "build" not in stage_names, "COPY --from=build (an image) now copies from a stage of the same file"
