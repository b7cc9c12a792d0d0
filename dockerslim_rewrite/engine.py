"""A small client for a Docker engine, over the `docker` CLI (subprocess).

Why the CLI and not the Docker SDK: the CLI already honours DOCKER_HOST, contexts, TLS
settings and the buildx plugin exactly as the user's own builds do, and needs no extra
dependency. Everything here is used by `dslim verify` and the end-to-end tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

START_HINT = "start one (e.g. `bash tests/e2e/lab.sh` in a dslim checkout, as root) or set DOCKER_HOST"

# `# syntax=...` / `# syntax = ...` in the leading parser-directive block
_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*([A-Za-z]+)[ \t]*=[ \t]*(\S.*?)[ \t]*$")


class EngineUnavailable(Exception):
    """No engine answers: message is one line saying how to get one."""


class EngineError(Exception):
    """A docker command failed in a way that is not the Dockerfile's fault."""


@dataclass
class BuildResult:
    ok: bool
    tag: str
    seconds: float
    log_tail: list[str] = field(default_factory=list)  # last lines of the build output
    notices: list[str] = field(default_factory=list)  # what dslim changed about the build (e.g. syntax)


@dataclass
class RunResult:
    exit_code: int | None  # None when it timed out
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float


def strip_syntax_directive(text: str) -> tuple[str, str | None]:
    """Remove a `# syntax=` parser directive (offline engines cannot pull the frontend image).

    Only the leading directive block counts, as in BuildKit: the first line that is not a
    directive ends it. Returns the new text and the removed directive value (or None).
    """
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        m = _DIRECTIVE.match(line.rstrip("\r\n"))
        if not m:
            break
        if m.group(1).lower() == "syntax":
            return "".join(lines[:i] + lines[i + 1 :]), m.group(2)
    return text, None


class Engine:
    """One reachable engine. Use `Engine.detect()`."""

    def __init__(self, docker: str, server_version: str, buildx: bool, env: dict[str, str] | None = None):
        self.docker = docker
        self.server_version = server_version
        self.buildx = buildx
        self.env = dict(os.environ if env is None else env)

    # -- discovery ------------------------------------------------------------------------
    @classmethod
    def detect(cls, docker: str | None = None, timeout: float = 20.0) -> Engine:
        exe = docker or os.environ.get("DOCKER") or shutil.which("docker")
        if not exe:
            raise EngineUnavailable(f"no `docker` CLI on PATH: {START_HINT}")
        env = dict(os.environ)
        try:
            info = subprocess.run(
                [exe, "info", "--format", "{{json .ServerVersion}}"], capture_output=True, text=True, timeout=timeout, env=env
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EngineUnavailable(f"docker engine not reachable ({exc.__class__.__name__}): {START_HINT}") from exc
        version = info.stdout.strip().strip('"')
        if info.returncode != 0 or not version or version == "null":
            where = env.get("DOCKER_HOST") or "the default socket"
            raise EngineUnavailable(f"no docker engine answers at {where}: {START_HINT}")
        try:
            bx = subprocess.run([exe, "buildx", "version"], capture_output=True, text=True, timeout=timeout, env=env)
            buildx = bx.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            buildx = False
        return cls(exe, version, buildx, env)

    def describe(self) -> str:
        builder = "buildx" if self.buildx else "docker build (DOCKER_BUILDKIT=1)"
        return f"docker engine {self.server_version} via {self.env.get('DOCKER_HOST') or 'default socket'}, {builder}"

    # -- plumbing -------------------------------------------------------------------------
    def _run(self, args: list[str], timeout: float | None = 120, check: bool = True, **kw) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run([self.docker, *args], capture_output=True, text=True, timeout=timeout, env=self.env, **kw)
        except subprocess.TimeoutExpired as exc:
            raise EngineError(f"`docker {' '.join(args[:2])}` timed out after {timeout}s") from exc
        if check and proc.returncode != 0:
            raise EngineError(f"`docker {' '.join(args[:3])}` failed: {proc.stderr.strip()[-500:]}")
        return proc

    def has_bridge_network(self) -> bool:
        """False on engines started with `--bridge=none` (like the lab's): a build's RUN then
        fails with "network bridge not found" unless it uses `--network host`."""
        return self._run(["network", "inspect", "bridge"], timeout=30, check=False).returncode == 0

    # -- build ----------------------------------------------------------------------------
    def build(
        self,
        context: Path,
        dockerfile: Path,
        tag: str,
        build_args: dict[str, str] | None = None,
        progress: IO[str] | None = None,
        timeout: float = 1800,
        network: str | None = None,
        prefix: str = "",
    ) -> BuildResult:
        """Build with BuildKit and load the result into the engine's image store.

        Progress lines go to `progress` (stderr by default) as they come. A `# syntax=`
        directive is removed from a scratch copy of the Dockerfile first, and the result
        says so in `notices`.
        """
        progress = sys.stderr if progress is None else progress
        notices: list[str] = []
        scratch: tempfile.TemporaryDirectory | None = None
        text = dockerfile.read_bytes().decode("utf-8", errors="surrogateescape")
        stripped, syntax = strip_syntax_directive(text)
        if syntax is not None:
            scratch = tempfile.TemporaryDirectory(prefix="dslim-df-")
            copy = Path(scratch.name) / dockerfile.name
            copy.write_bytes(stripped.encode("utf-8", errors="surrogateescape"))
            ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
            if ignore.exists():  # a per-Dockerfile ignore file is looked up beside the Dockerfile
                shutil.copyfile(ignore, copy.with_name(ignore.name))
            dockerfile = copy
            notices.append(
                f"removed the `# syntax={syntax}` directive from the build copy: the engine may be "
                f"offline and BuildKit would pull that frontend image; its built-in frontend is used"
            )
        common = ["--progress=plain", "-t", tag, "-f", str(dockerfile)]
        for key, value in (build_args or {}).items():
            common += ["--build-arg", f"{key}={value}"]
        if network:
            common += ["--network", network]
        env = dict(self.env)
        if self.buildx:
            cmd = [self.docker, "buildx", "build", "--load", *common, str(context)]
        else:
            env["DOCKER_BUILDKIT"] = "1"
            cmd = [self.docker, "build", *common, str(context)]
        tail: deque[str] = deque(maxlen=40)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=env)
        except OSError as exc:
            raise EngineError(f"cannot run docker: {exc}") from exc
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail.append(line.rstrip("\n"))
                progress.write(prefix + line)
                progress.flush()
            rc = proc.wait()
        finally:
            timer.cancel()
            if scratch is not None:
                scratch.cleanup()
        seconds = time.monotonic() - started
        if rc != 0 and seconds >= timeout:
            tail.append(f"(dslim: build killed after {timeout:.0f}s)")
        return BuildResult(ok=rc == 0, tag=tag, seconds=seconds, log_tail=list(tail), notices=notices)

    # -- images ---------------------------------------------------------------------------
    def save(self, path: Path, *tags: str, timeout: float = 900) -> Path:
        """`docker save` one or more images into one tar (layers they share are stored once)."""
        self._run(["save", "-o", str(path), *tags], timeout=timeout)
        return path

    def inspect(self, tag: str) -> dict:
        out = self._run(["image", "inspect", tag], timeout=60).stdout
        data = json.loads(out)
        if not data:
            raise EngineError(f"image {tag} not found")
        return data[0]

    def exists(self, tag: str) -> bool:
        return self._run(["image", "inspect", tag], timeout=60, check=False).returncode == 0

    def rmi(self, *tags: str) -> None:
        if tags:
            self._run(["rmi", "--force", *tags], timeout=120, check=False)

    # -- run ------------------------------------------------------------------------------
    def run(self, image: str, args: list[str] | None = None, timeout: float = 60, entrypoint: str | None = None) -> RunResult:
        """`docker run --rm --network none IMAGE [ARGS...]`; ARGS replace CMD, ENTRYPOINT stays.

        On timeout the container is killed by its name (killing the CLI would leave it running).
        """
        name = f"dslim-verify-{uuid.uuid4().hex[:12]}"
        cmd = [self.docker, "run", "--rm", "--network", "none", "--name", name]
        if entrypoint is not None:
            cmd += ["--entrypoint", entrypoint]
        cmd += [image, *(args or [])]
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, errors="replace", timeout=timeout, env=self.env, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired as exc:
            self._run(["rm", "--force", name], timeout=60, check=False)
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            return RunResult(None, out, err, True, time.monotonic() - started)
        return RunResult(proc.returncode, proc.stdout, proc.stderr, False, time.monotonic() - started)
