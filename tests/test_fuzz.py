"""Property tests of the whole pipeline: grammar-generated Dockerfiles and byte mutations of the corpus.

Invariants, for every input the model accepts (``model.ParseError`` is the only exception allowed):
- no transform reports an internal error (``result.errors`` empty),
- the output parses with BuildKit's parser and with our model, agreeing on instruction boundaries,
- BOM and CRLF line endings survive,
- the pipeline is idempotent: a second run changes nothing and reports nothing,
- a run that reports no change returns the input byte for byte,
- transform by transform, every instruction outside the span of all reported changes keeps its exact
  text, its boundaries and its meaning for BuildKit; a change names (by line) the instructions it edits.

Example counts are small by default (the file stays fast on 2 cores); set DSLIM_FUZZ_EXAMPLES=2000
for a long run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import FIXTURES, oracle_parse, shell_syntax_errors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockerslim_rewrite.buildcontext import Entry, Snapshot
from dockerslim_rewrite.model import ParseError, parse
from dockerslim_rewrite.pipeline import rewrite

try:
    from dockerslim_rewrite.pipeline import MAX_ROUNDS
except ImportError:  # a pipeline that runs its transforms once
    MAX_ROUNDS = 1
from dockerslim_rewrite.transform import Options
from dockerslim_rewrite.transforms import all_transforms

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` skips this suite for a fast loop; CI runs it

EXAMPLES = int(os.environ.get("DSLIM_FUZZ_EXAMPLES", "0")) or None
BOM = b"\xef\xbb\xbf"


def fuzz_settings(default: int):
    return settings(
        max_examples=EXAMPLES or default,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        derandomize=EXAMPLES is None,  # CI runs are reproducible; long runs explore
        database=None,
    )


OPTION_SETS = {
    "default": Options(),
    "safe-only": Options(safe_only=True),
    "unsafe": Options(unsafe_fixes=True, cache_mounts=True),
}


def make_snapshot(kind: str) -> Snapshot | None:
    """A small build context so the context-driven transforms (dockerignore, multi-stage, slim-base) run too."""
    if kind == "none":
        return None
    texts = {
        "requirements.txt": "flask==3.0.0\nrequests>=2\n",
        "package.json": '{"name": "app", "scripts": {"build": "tsc"}, "dependencies": {"express": "4"}}\n',
        "go.mod": "module example.com/app\n\ngo 1.22\n",
        "main.go": "package main\n\nfunc main() {}\n",
    }
    files = [Entry(p, len(t)) for p, t in texts.items()]
    files += [
        Entry("app.py", 300),
        Entry(".git", 40000, is_dir=True, collapsed=True, file_count=30),
        Entry("node_modules", 900000, is_dir=True, collapsed=True, file_count=800),
        Entry("__pycache__", 4000, is_dir=True, collapsed=True, file_count=4),
        Entry(".env", 40),
        Entry("debug.log", 5000),
        Entry("src", is_dir=True),
        Entry("src/index.ts", 200),
    ]
    files.sort(key=lambda e: e.path)
    return Snapshot(files=files, texts=texts, dockerfile="Dockerfile")


def with_file_changes(snapshot: Snapshot | None, file_changes) -> Snapshot | None:
    """The snapshot as it would be after --in-place wrote the generated files."""
    if snapshot is None or not file_changes:
        return snapshot
    texts = dict(snapshot.texts)
    files = {e.path: e for e in snapshot.files}
    for fc in file_changes:
        texts[fc.path] = fc.new.decode("utf-8")
        files[fc.path] = Entry(fc.path, len(fc.new))
    return Snapshot(files=sorted(files.values(), key=lambda e: e.path), texts=texts, dockerfile=snapshot.dockerfile)


# --------------------------------------------------------------------------------------------- invariants


def _oracle_commands(data: bytes):
    text = data.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    return oracle_parse(text)


def _oracle_key(c) -> tuple:
    return (c.cmd.upper(), c.sub_cmd, c.json, c.flags, c.value, tuple((h.name, h.content) for h in c.heredocs))


def _boundaries(doc) -> list[tuple[str, int, int]]:
    return [(i.keyword, i.line, i.end_line) for i in doc.instructions]


def _oracle_boundaries(commands) -> list[tuple[str, int, int]]:
    return [(c.cmd.upper(), c.start_line, c.end_line) for c in commands]


def _touches(change, ins) -> bool:
    if change.start == change.end:  # an insertion edits the instruction that holds the point
        at_eof_end = change.start == ins.end and not ins.raw.endswith("\n")  # last line, no line break
        return ins.start <= change.start < ins.end or at_eof_end
    return change.start < ins.end and change.end > ins.start


def _line_endings(data: bytes) -> str:
    body = data[3:] if data.startswith(BOM) else data
    lf = body.count(b"\n")
    crlf = body.count(b"\r\n")
    if lf and crlf == lf:
        return "crlf"
    if lf and crlf == 0:
        return "lf"
    return "mixed"


_PRAGMA_OFF = re.compile(r"^dslim:\s*off\s*$")
_PRAGMA = re.compile(r"^dslim:\s*ignore(?:\s*=\s*([\w,\s-]+))?\s*$")


def _ignored(doc, ins, transform_id: str) -> bool:
    """Does a ``# dslim: ignore[=ids]`` comment right above the instruction opt it out of this transform?"""
    for comment in doc.comments_above(ins):
        m = _PRAGMA.match(comment.text)
        if m and (m.group(1) is None or transform_id in {x.strip() for x in m.group(1).split(",")}):
            return True
    return False


def check_step(before: bytes, after: bytes, changes, transform_id: str) -> None:
    """One transform's step: untouched instructions keep text, boundaries and BuildKit meaning."""
    old, new = parse(before), parse(after)
    if not changes:
        assert after == before, f"{transform_id}: output differs but no change was reported"
        return
    old_oracle = {c.start_line: c for c in _oracle_commands(before)}
    new_oracle = {c.start_line: c for c in _oracle_commands(after)}
    new_by_start = {i.start: i for i in new.instructions}
    changes = sorted(changes, key=lambda c: (c.start, c.end))
    for change in changes:
        touched = [i for i in old.instructions if _touches(change, i)]
        for ins in touched:
            assert not _ignored(old, ins, transform_id), (
                f"{transform_id} edited the {ins.keyword} at line {ins.line} despite its ignore pragma (# dslim: ignore, or # hadolint ignore of the rule this fix answers)"
            )
        if touched:
            first = touched[0]
            assert first.line <= change.line <= first.end_line, (
                f"{transform_id}: change reported at line {change.line} edits the instruction at line {first.line}"
            )
        if len(touched) > 1 and transform_id == "merge-runs":
            m = re.search(r"lines ([\d, ]+)", change.explanation)
            named = {int(n) for n in m.group(1).split(",")} if m else set()
            assert {i.line for i in touched} <= named, (
                f"merge-runs: change edits lines {[i.line for i in touched]} but names {change.explanation!r}"
            )
    for ins in old.instructions:
        if any(_touches(c, ins) for c in changes):
            continue
        shift = sum(len(c.replacement) - (c.end - c.start) for c in changes if c.end <= ins.start and not _touches(c, ins))
        moved = new_by_start.get(ins.start + shift)
        assert moved is not None and moved.raw == ins.raw and moved.keyword == ins.keyword, (
            f"{transform_id}: untouched {ins.keyword} at line {ins.line} changed or lost its boundaries: "
            f"{ins.raw!r} -> {moved.raw if moved else None!r}"
        )
        a, b = old_oracle.get(ins.line), new_oracle.get(moved.line)
        assert a is not None and b is not None and _oracle_key(a) == _oracle_key(b), (
            f"{transform_id}: untouched {ins.keyword} at line {ins.line} means something else to BuildKit now: {a} -> {b}"
        )


def check_invariants(data: bytes, options: Options, snapshot: Snapshot | None = None, stepwise: bool = True):
    """Run the whole pipeline on ``data`` and assert every invariant; returns the result (None on ParseError)."""
    try:
        doc = parse(data)
    except ParseError:
        with pytest.raises(ParseError):
            rewrite(data, options, snapshot)
        return None
    assert doc.render() == data
    try:
        oracle_in = _oracle_commands(data)
    except Exception as exc:
        pytest.fail(f"model accepts input that BuildKit rejects ({exc}): {data!r}")
    assert _boundaries(doc) == _oracle_boundaries(oracle_in), f"model and BuildKit disagree on {data!r}"

    result = rewrite(data, options, snapshot)
    assert result.errors == [], f"transform bug on {data!r}: {result.errors}"
    first = doc.instructions[0].start
    if any(_PRAGMA_OFF.match(getattr(n, "text", "") or "") for n in doc.nodes if n.start < first):
        assert result.output == data and not result.changes and not result.file_changes, "'# dslim: off' file was changed"
    out = result.output
    assert result.original == data
    if not result.changes:
        assert out == data, "no change reported but the output differs"

    # the output is a Dockerfile both parsers accept, with the same instruction boundaries
    try:
        out_doc = parse(out)
    except ParseError as exc:  # pragma: no cover - a failure message
        pytest.fail(f"output does not parse with the model ({exc}): {out!r}")
    try:
        oracle_out = _oracle_commands(out)
    except Exception as exc:
        pytest.fail(f"output rejected by BuildKit ({exc}): {out!r}")
    assert _boundaries(out_doc) == _oracle_boundaries(oracle_out), f"output boundaries disagree: {out!r}"
    assert out.startswith(BOM) == data.startswith(BOM)
    if _line_endings(data) == "crlf" and result.changes:
        assert _line_endings(out) == "crlf", f"CRLF line endings not kept: {data!r} -> {out!r}"
    if _line_endings(data) == "lf" and result.changes:
        assert b"\r\n" not in out, f"CRLF introduced into an LF file: {out!r}"

    # every RUN body a real shell would have accepted still is accepted (bash -n, dash -n)
    if result.changes:
        assert shell_syntax_errors(out) == shell_syntax_errors(data), f"a RUN body no longer parses: {out!r}"

    # idempotence: a second run is a no-op, also for the generated files
    again = rewrite(out, options, with_file_changes(snapshot, result.file_changes))
    assert again.errors == []
    assert again.output == out, (
        f"not idempotent:\n{out.decode('utf-8', 'replace')}\n---\n{again.output.decode('utf-8', 'replace')}"
    )
    assert again.changes == [], f"second run reports changes: {[(c.transform, c.line, c.explanation) for c in again.changes]}"
    assert [fc for fc in again.file_changes if fc.new != fc.old] == []

    if stepwise:
        # the pipeline runs its transforms in rounds until nothing changes: replay it one transform at a time
        current = data
        base = {k: getattr(options, k) for k in ("safe_only", "unsafe_fixes", "cache_mounts")}
        for _ in range(MAX_ROUNDS):
            start = current
            for t in all_transforms():
                step = rewrite(current, Options(select=frozenset({t.id}), **base), snapshot)
                assert step.errors == []
                check_step(current, step.output, step.changes, t.id)
                current = step.output
            if current == start:
                break
        assert current == out, "transform-by-transform run differs from the whole pipeline"
    return result


# --------------------------------------------------------------------------------------------- grammar


class Gen:
    """Drawing helpers bound to one file's escape character and line break."""

    def __init__(self, rng, escape: str, nl: str):
        self.rng = rng
        self.escape = escape
        self.nl = nl

    def pick(self, options):
        return self.rng.choice(options)

    def maybe(self, p: float = 0.5) -> bool:
        return self.rng.random() < p

    def some(self, pool, low: int, high: int, unique: bool = False) -> list:
        k = self.rng.randint(low, high)
        return self.rng.sample(pool, min(k, len(pool))) if unique else [self.rng.choice(pool) for _ in range(k)]

    def cont(self) -> str:
        """A line continuation, sometimes with a comment or blank line inside (BuildKit skips them)."""
        tail = self.pick(["", "", "", " ", "\t"])
        extra = self.pick(["", "", "", f"# inside a continuation{self.nl}", f"   # indented{self.nl}", self.nl])
        return f" {self.escape}{tail}{self.nl}{extra}{self.pick(['    ', '  ', '', chr(9)])}"


WORDS = ["hello", "wörld", "日本語", "emoji-🐳", "a b", "$HOME", "${VAR:-x}", "--flag", "*.txt", "100%", "tab\there"]
PACKAGES = ["curl", "ca-certificates", "git", "build-essential", "libpq-dev", "python3=3.11.2-1", "gcc", "make", "jq"]
PIP_PKGS = ["flask", "requests==2.31.0", "numpy>=1.26", "-r requirements.txt", "gunicorn", "uvicorn[standard]"]
IMAGES = [
    "debian:bookworm",
    "ubuntu:22.04",
    "alpine:3.19",
    "python:3.11",
    "python:3.12-slim",
    "node:20",
    "golang:1.22",
    "scratch",
    "gcr.io/distroless/static-debian12",
    "busybox",
    "ruby:3.3",
    "openjdk:17",
    "rust:1.77",
    "registry.example.com/team/base:1.0@sha256:" + "a" * 64,
    "${BASE_IMAGE}",
    "$REGISTRY/app:${TAG:-latest}",
]


def shell_command(g: Gen) -> str:
    word = lambda: g.pick(WORDS)
    pkgs = lambda pool: " ".join(g.some(pool, 1, 3, unique=True))
    return g.pick(
        [
            "apt-get update",
            f"apt-get install -y {pkgs(PACKAGES)}",
            f"apt-get install -qy --no-install-recommends {pkgs(PACKAGES)}",
            f"apt-get -y install {pkgs(PACKAGES)}",
            "rm -rf /var/lib/apt/lists/*",
            "apt-get clean",
            f"apk add {pkgs(PACKAGES[:5])}",
            f"apk add --no-cache {pkgs(PACKAGES[:5])}",
            "apk update",
            f"pip install {pkgs(PIP_PKGS)}",
            f"pip3 install --no-cache-dir {pkgs(PIP_PKGS)}",
            f"python -m pip install {pkgs(PIP_PKGS)}",
            "npm install",
            "npm ci --omit=dev",
            "npm run build",
            "yarn install --frozen-lockfile",
            f"yum install -y {pkgs(PACKAGES[:3])}",
            f"dnf install -y {pkgs(PACKAGES[:3])}",
            "gem install bundler",
            "go build -o /out/app .",
            "cargo build --release",
            "cd /app",
            "cd /tmp && make",
            "export PATH=/opt/bin:$PATH",
            "FOO=bar",
            "umask 022",
            "set -eux",
            "set -o pipefail",
            "source /etc/profile",
            f"echo {word()}",
            f'echo "{word()}" > /etc/motd',
            f"echo '{word()}'",
            "curl -fsSL https://example.invalid/x.tgz | tar -xz -C /opt",
            "mkdir -p /app/data",
            "useradd -r app",
            "chown -R app /app",
            "if [ -f /etc/os-release ]; then cat /etc/os-release; fi",
            "for f in a b c; do echo $f; done",
            "while false; do :; done",
            "case $X in a) echo a;; *) echo b;; esac",
            "(cd /src && make install)",
            "{ echo a; echo b; }",
            "test -d /x || mkdir /x",
            "VAR=$(cat /etc/hostname)",
            "echo `uname -a`",
            "sleep 1 &",
            "exit 0",
            "true",
            ":",
            "echo x # trailing comment",
            "echo " + "x" * g.pick([10, 300, 5000]),
            f"DEBIAN_FRONTEND=noninteractive apt-get install -y {pkgs(PACKAGES)}",
            f"sudo apt-get install -y {pkgs(PACKAGES)}",
            f"env LANG=C apt-get -qq install {pkgs(PACKAGES)}",
            "apt-get install -y $PKGS",
            f"apk add --no-cache --virtual .build-deps {pkgs(PACKAGES[:5])}",
            "apk del .build-deps",
            "pip install --user flask",
            "pip install -e .",
            "pip install --upgrade pip setuptools wheel",
            "npm install -g pnpm",
            "yarn global add serve",
            "poetry install --no-root",
            "uv pip install --system -r requirements.txt",
            "conda install -y numpy",
            "microdnf install -y shadow-utils",
            f"zypper -n install {pkgs(PACKAGES[:3])}",
            'echo "quoted' + g.cont() + 'continuation"',
            "echo 'it''s'",
            "printf '%s\\n' a b",
            "ls C:\\Windows" if g.escape == "`" else "ls /usr/lib",
            '[ -n "$CI" ] && echo ci',
            "cat /etc/os-release | grep -q debian && apt-get update",
            "apt-get update; apt-get install -y curl",
            "(apt-get update && apt-get install -y git)",
            "if command -v apt-get; then apt-get update && apt-get install -y jq; fi",
        ]
    )


def run_body(g: Gen) -> str:
    commands = [shell_command(g) for _ in range(g.rng.randint(1, 5))]
    out = commands[0]
    for cmd in commands[1:]:
        joiner = g.pick([" && ", " && ", " || ", "; ", " | ", " &&" + g.cont(), g.cont() + "&& ", ";" + g.cont()])
        out += joiner + cmd
    return out


def heredoc_instruction(g: Gen, keyword: str) -> str:
    name = g.pick(["EOF", "EOT", "SCRIPT", "end"])
    quoted = g.pick(["", "'", '"'])
    dash = g.pick(["", "-"])
    nl = g.nl
    body_lines = g.some(["set -e", "echo hi", "\techo tabbed", "apt-get update", "RUN not an instruction", "# comment", ""], 0, 4)
    if dash:
        terminator = "\t" * g.rng.randint(0, 2) + name
    else:
        terminator = name
    body = "".join(line + nl for line in body_lines)
    if keyword == "RUN":
        head = g.pick(
            [
                f"RUN <<{dash}{quoted}{name}{quoted}",
                f"RUN cat <<{dash}{quoted}{name}{quoted} > /etc/x.conf",
                f"RUN python3 <<{dash}{name}",
            ]
        )
    else:
        head = f"{keyword} {g.pick(['', '--chmod=755 ', '--link '])}<<{dash}{quoted}{name}{quoted} /usr/local/bin/x"
    return head + nl + body + terminator + nl


def instruction(g: Gen, stage_names: list[str]) -> str:
    """One instruction (with its line break) of any kind."""
    nl = g.nl
    kind = g.pick(
        ["RUN"] * 8
        + [
            "RUN-flags",
            "RUN-json",
            "RUN-heredoc",
            "COPY",
            "COPY",
            "ADD",
            "COPY-heredoc",
            "ENV",
            "ARG",
            "LABEL",
            "EXPOSE",
            "VOLUME",
            "USER",
            "WORKDIR",
            "CMD",
            "ENTRYPOINT",
            "HEALTHCHECK",
            "STOPSIGNAL",
            "SHELL",
            "ONBUILD",
            "MAINTAINER",
        ]
    )
    kw = lambda k: k if g.maybe(0.85) else k.lower()
    if kind == "RUN":
        return f"{kw('RUN')} {run_body(g)}{nl}"
    if kind == "RUN-flags":
        flag = g.pick(
            [
                "--mount=type=cache,target=/var/cache/apt,sharing=locked",
                "--mount=type=cache,target=/root/.cache/pip",
                "--mount=type=secret,id=npmrc,target=/root/.npmrc",
                "--mount=type=bind,source=.,target=/src",
                "--network=none",
                "--network=host",
                "--security=insecure",
            ]
        )
        return f"{kw('RUN')} {flag} {run_body(g)}{nl}"
    if kind == "RUN-json":
        body = g.pick(['["/bin/sh", "-c", "apt-get update"]', '["echo", "日本"]', "[]"])
        return f"{kw('RUN')} {body}{nl}"
    if kind == "RUN-heredoc":
        return heredoc_instruction(g, "RUN")
    if kind == "COPY-heredoc":
        return heredoc_instruction(g, g.pick(["COPY", "ADD"]))
    if kind in ("COPY", "ADD"):
        flags = []
        if stage_names and g.maybe(0.3):
            flags.append(f"--from={g.pick(stage_names)}")
        for flag in ["--chown=app:app", "--chmod=0755", "--link", "--parents", "--exclude=*.md"]:
            if g.maybe(0.1):
                flags.append(flag)
        src = g.pick(
            [
                ". .",
                "./ /app/",
                "requirements.txt /app/",
                "package*.json ./",
                "src /app/src",
                '["a b.txt", "/dst/"]',
                "--chown=1000 app.py /app/",
                "https://example.invalid/f.tgz /tmp/",
            ]
        )
        return f"{kw(kind)} {' '.join(flags)}{' ' if flags else ''}{src}{nl}"
    if kind == "ENV":
        return (
            f"{kw('ENV')} "
            + g.pick(
                [
                    "A=1",
                    'A=1 B="two words"',
                    "PATH=/opt/bin:$PATH",
                    "LEGACY value with spaces",
                    f"A=1{g.cont()}B=2",
                    "PIP_NO_CACHE_DIR=1",
                ]
            )
            + nl
        )
    if kind == "ARG":
        return f"{kw('ARG')} " + g.pick(["VERSION", "VERSION=1.2", "TARGETARCH", 'MSG="hi there"']) + nl
    if kind == "LABEL":
        return f"{kw('LABEL')} " + g.pick(['org.opencontainers.image.title="x"', "a=b c=d", f'desc="{g.pick(WORDS)}"']) + nl
    if kind == "EXPOSE":
        return f"{kw('EXPOSE')} " + g.pick(["80", "8080/tcp 53/udp", "${PORT}"]) + nl
    if kind == "VOLUME":
        return f"{kw('VOLUME')} " + g.pick(['["/data"]', "/data /logs", '["/a", "/b"]']) + nl
    if kind == "USER":
        return f"{kw('USER')} " + g.pick(["app", "1000:1000", "nobody", "${UID}"]) + nl
    if kind == "WORKDIR":
        return f"{kw('WORKDIR')} " + g.pick(["/app", "/src/app", "relative", "$HOME/x"]) + nl
    if kind in ("CMD", "ENTRYPOINT"):
        return (
            f"{kw(kind)} "
            + g.pick(['["python", "app.py"]', '["/app"]', "python app.py", 'node "server.js"', "[]", '["sh", "-c", "echo $X"]'])
            + nl
        )
    if kind == "HEALTHCHECK":
        return (
            f"{kw('HEALTHCHECK')} "
            + g.pick(["NONE", "--interval=30s --timeout=3s CMD curl -f http://localhost/ || exit 1", 'CMD ["true"]'])
            + nl
        )
    if kind == "STOPSIGNAL":
        return f"{kw('STOPSIGNAL')} " + g.pick(["SIGTERM", "9"]) + nl
    if kind == "SHELL":
        return (
            f"{kw('SHELL')} "
            + g.pick(
                [
                    '["/bin/bash", "-o", "pipefail", "-c"]',
                    '["/bin/sh", "-ec"]',
                    '["powershell", "-Command"]',
                    '["cmd", "/S", "/C"]',
                ]
            )
            + nl
        )
    if kind == "ONBUILD":
        if g.maybe(0.2):
            return f"{kw('ONBUILD')} " + heredoc_instruction(g, g.pick(["RUN", "COPY"]))
        return f"{kw('ONBUILD')} " + g.pick(["RUN apt-get update", "COPY . /app", "RUN pip install -r requirements.txt"]) + nl
    return f"{kw('MAINTAINER')} someone <a@b.c>{nl}"


@st.composite
def dockerfiles(draw) -> bytes:
    rng = draw(st.randoms(use_true_random=False))
    escape = rng.choice(["\\", "\\", "\\", "`"])
    nl = rng.choice(["\n", "\n", "\r\n"])
    g = Gen(rng, escape, nl)
    parts: list[str] = []
    if g.maybe(0.2):
        parts.append(f"# syntax=docker/dockerfile:1.7{nl}")
    file_off = g.maybe(0.03)
    if escape == "`" or g.maybe(0.05):
        parts.append(f"# escape={escape}{nl}")
    if g.maybe(0.1):
        parts.append(f"# check=skip=JSONArgsRecommended{nl}")
    if file_off:
        parts.append(f"# dslim: off{nl}")
    if g.maybe(0.2):
        parts.append(f"ARG BASE_IMAGE=debian:bookworm{nl}")
    stage_names: list[str] = []
    for index in range(rng.randint(1, 3)):
        if parts and g.maybe(0.3):
            parts.append(g.pick([nl, f"# stage {index}{nl}", f"# dslim: ignore{nl}", f"# dslim: ignore=slim-base{nl}"]))
        platform = "--platform=$BUILDPLATFORM " if g.maybe(0.1) else ""
        image = g.pick(IMAGES + stage_names) if stage_names else g.pick(IMAGES)
        name = f"stage{index}" if g.maybe(0.5) else None
        kw = "FROM" if g.maybe(0.9) else "from"
        parts.append(f"{kw} {platform}{image}{f' AS {name}' if name else ''}{nl}")
        for _ in range(rng.randint(0, 7)):
            if g.maybe(0.2):
                parts.append(
                    g.pick(
                        [
                            nl,
                            f"# a comment {g.pick(WORDS)}{nl}",
                            f"  # indented comment{nl}",
                            f"\t{nl}",
                            f"# dslim: ignore{nl}",
                            f"# dslim: ignore=merge-runs{nl}",
                            f"# dslim: ignore=pkg-cache{nl}",
                            f"#dslim: ignore = merge-runs, pkg-cache{nl}",
                        ]
                    )
                )
            parts.append(instruction(g, stage_names))
        if name:
            stage_names.append(name)
    text = "".join(parts)
    if g.maybe(0.15):  # no final line break
        text = text.rstrip("\r\n")
    if g.maybe(0.1):  # trailing whitespace on lines
        text = text.replace(nl, "  " + nl, 1)
    data = text.encode("utf-8")
    if g.maybe(0.15):
        data = BOM + data
    return data


# --------------------------------------------------------------------------------------------- tests


@fuzz_settings(default=120)
@given(data=dockerfiles(), option_set=st.sampled_from(sorted(OPTION_SETS)), context=st.sampled_from(["none", "app"]))
def test_generated_dockerfiles_hold_the_invariants(data: bytes, option_set: str, context: str) -> None:
    check_invariants(data, OPTION_SETS[option_set], make_snapshot(context))


@fuzz_settings(default=60)
@given(data=dockerfiles())
def test_generated_dockerfiles_mostly_parse(data: bytes) -> None:
    """The generator itself stays honest: what it makes is valid for BuildKit (else the fuzzing above is moot)."""
    _oracle_commands(data)


CORPUS = sorted(FIXTURES.glob("*/*/in.Dockerfile"))


@st.composite
def mutated_fixtures(draw) -> bytes:
    path = draw(st.sampled_from(CORPUS))
    data = bytearray(path.read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup-line", "drop-newline", "swap-lines", "splice-token"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(
                st.sampled_from(
                    [
                        b"\\",
                        b"`",
                        b"\n",
                        b"\r\n",
                        b"#",
                        b"<<EOF",
                        b"[",
                        b'"',
                        b"'",
                        b"&&",
                        b" ",
                        b"\t",
                        b"\x00",
                        b"\xff",
                        b"\xc3\xa9",
                        b"$(",
                    ]
                )
            )
        elif op == "delete" and data:
            data[pos : pos + draw(st.integers(1, 8))] = b""
        else:
            lines = bytes(data).splitlines(keepends=True)
            if not lines:
                continue
            k = draw(st.integers(0, len(lines) - 1))
            if op == "dup-line":
                lines.insert(k, lines[k])
            elif op == "drop-newline":
                lines[k] = lines[k].rstrip(b"\r\n")
            elif op == "swap-lines" and len(lines) > 1:
                j = draw(st.integers(0, len(lines) - 1))
                lines[k], lines[j] = lines[j], lines[k]
            elif op == "splice-token":
                lines.insert(
                    k,
                    draw(
                        st.sampled_from(
                            [
                                b"RUN apt-get update\n",
                                b"RUN cd /x && export A=1\n",
                                b"FROM alpine AS x\n",
                                b"ONBUILD RUN echo\n",
                                b"RUN <<EOF\n",
                                b"EOF\n",
                                b"# escape=`\n",
                                b'SHELL ["pwsh", "-c"]\n',
                                b"COPY --from=0 / /\n",
                            ]
                        )
                    ),
                )
            data = bytearray(b"".join(lines))
    return bytes(data)


@fuzz_settings(default=250)
@given(data=mutated_fixtures(), option_set=st.sampled_from(sorted(OPTION_SETS)))
def test_mutated_corpus_holds_the_invariants(data: bytes, option_set: str) -> None:
    check_invariants(data, OPTION_SETS[option_set], None)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_fixture_corpus_holds_the_invariants_with_all_transforms(path: Path) -> None:
    """Every fixture input through ALL transforms (the fixture test only runs its own one)."""
    context = path.parent / "context"
    snapshot = None
    if context.is_dir():
        from dockerslim_rewrite.buildcontext import scan_context

        snapshot = scan_context(context, None)
    check_invariants(path.read_bytes(), Options(unsafe_fixes=True), snapshot)


def test_a_file_with_nothing_to_change_is_byte_identical() -> None:
    """Clean files in many shapes (CRLF, BOM, no final newline, odd spacing) come back byte for byte."""
    bodies = [
        'FROM scratch\nCOPY app /app\nENTRYPOINT ["/app"]\n',
        'FROM gcr.io/distroless/static-debian12\nCOPY --chown=65532 server /server\nUSER 65532\nCMD ["/server"]',
        "# syntax=docker/dockerfile:1\n# escape=`\nFROM mcr.microsoft.com/windows/nanoserver:ltsc2022\nRUN dir `\n  C:\\\n",
        'FROM alpine:3.19\n\n\n  # indented comment   \nRUN apk add --no-cache curl   \n\tCMD  ["sh"]\n',
    ]
    for body in bodies:
        for variant in range(4):
            text = body.replace("\n", "\r\n") if variant & 1 else body
            data = (BOM if variant & 2 else b"") + text.encode()
            result = check_invariants(data, Options(), None)
            assert result is not None
            if not result.changes:
                assert result.output == data


@pytest.mark.parametrize(
    "data",
    [
        b"FROM debian\nENV A=1 B\n",
        b"FROM debian\nENV A\n",
        b"FROM debian\nLABEL a=b c\n",
        b"FROM node:18\nENV NODE_ENV=developmentWORKDIR /usr/src/api\nCOPY . .\n",
        b"FROM debian\nENV A=1\x0bB\n",
        "FROM debian\nENV A=1\u00a0B\n".encode(),
        b"FROM debian\nLABEL a=1\x0bb\n",
    ],
    ids=["env-mixed-forms", "env-no-value", "label-mixed-forms", "env-lost-newline", "env-vtab", "env-nbsp", "label-vtab"],
)
def test_model_rejects_what_buildkit_rejects(data: bytes) -> None:
    """Found by the mutation test: BuildKit refuses these, so dslim must not rewrite them as if they were fine."""
    with pytest.raises(Exception):  # noqa: B017 - the oracle raises its own Go error type
        _oracle_commands(data)
    with pytest.raises(ParseError):
        parse(data)


# --------------------------------------------------------------------------------------------- the checker itself


def _change(start: int, end: int, replacement: str, explanation: str = "x"):
    from dockerslim_rewrite.transform import Change

    return Change(start, end, replacement, "safe", explanation)


def test_check_step_catches_an_edit_outside_the_reported_changes() -> None:
    before = b"FROM debian\nRUN a\nRUN b\n"
    after = b"FROM debian\nRUN a\nRUN c\n"  # RUN b changed, but the only change reported is on RUN a
    change = _change(12, 17, "RUN a")
    change.line = 2
    with pytest.raises(AssertionError, match="untouched RUN at line 3"):
        check_step(before, after, [change], "pkg-cache")


def test_check_step_catches_an_edit_that_swallows_the_next_instruction() -> None:
    before = b"FROM debian\nRUN a\nENV X=1\n"
    after = b"FROM debian\nRUN a \\\nENV X=1\n"  # a continuation added to RUN a makes ENV part of the RUN
    change = _change(17, 17, " \\")
    change.line = 2
    with pytest.raises(AssertionError, match="untouched ENV at line 3"):
        check_step(before, after, [change], "pkg-cache")


def test_check_step_catches_an_edit_of_an_ignored_instruction() -> None:
    before = b"FROM debian\n# dslim: ignore=pkg-cache\nRUN apt-get update\n"
    after = b"FROM debian\n# dslim: ignore=pkg-cache\nRUN apt-get update && x\n"
    change = _change(56, 56, " && x")
    change.line = 3
    with pytest.raises(AssertionError, match="pragma"):
        check_step(before, after, [change], "pkg-cache")
    check_step(before, after, [change], "merge-runs")  # the pragma names another transform


def test_check_step_catches_a_report_line_that_points_elsewhere() -> None:
    before = b"FROM debian\nRUN a\nRUN b\n"
    after = b"FROM debian\nRUN a\nRUN b c\n"
    change = _change(23, 23, " c")
    change.line = 2  # the edit is on line 3
    with pytest.raises(AssertionError, match="reported at line 2"):
        check_step(before, after, [change], "pkg-cache")


# --------------------------------------------------------------------------------------------- whitespace soup

SPACES = [
    " ",
    "\t",
    "\v",
    "\f",
    "\r",
    "\u00a0",
    "\u0085",
    "\u1680",
    "\u2000",
    "\u2009",
    "\u200b",
    "\u2028",
    "\u2029",
    "\u3000",
    "\ufeff",
]
PIECES = [
    "FROM debian",
    "RUN echo a",
    "run  b",
    "ENV A=1",
    "COPY a b",
    "# c",
    "#",
    "&& echo c",
    "RUN <<EOF",
    "EOF",
    'CMD ["x"]',
    "ONBUILD RUN x",
    "x",
    "",
]
SUFFIXES = ["", "", " \\", "\\", " `", " # not a comment", "\\ "]


@fuzz_settings(default=300)
@given(
    lines=st.lists(
        st.tuples(
            st.lists(st.sampled_from(SPACES), max_size=2),
            st.sampled_from(PIECES),
            st.lists(st.sampled_from(SPACES), max_size=2),
            st.sampled_from(SUFFIXES),
        ),
        min_size=1,
        max_size=8,
    ),
    escape=st.sampled_from(["", "# escape=`\n"]),
)
def test_odd_whitespace_boundaries_agree_with_buildkit(lines, escape: str) -> None:
    """Unicode and control whitespace around keywords, escapes and comments: model and BuildKit split alike, or we refuse."""
    text = escape + "FROM debian\n" + "".join("".join(a) + piece + "".join(b) + suffix + "\n" for a, piece, b, suffix in lines)
    check_invariants(text.encode("utf-8"), OPTION_SETS["default"], None, stepwise=False)


@pytest.mark.parametrize(
    "data",
    [
        b"FROM debian\nONBUILD RUN <<USER\nRUN echo b\nRUN echo c\nUSER\n",
        b"FROM debian\nONBUILD RUN <<EOF\necho hi\nEOF\nRUN echo after\n",
        b"FROM debian\nONBUILD COPY <<EOF /etc/motd\nRUN not an instruction\nEOF\n",
        b"FROM debian\nONBUILD RUN <<EOF\n",
    ],
    ids=["body-looks-like-runs", "plain-body", "copy-body", "unterminated"],
)
def test_onbuild_heredocs_agree_with_buildkit(data: bytes) -> None:
    """Found by the whitespace fuzz: BuildKit reads heredocs after ONBUILD RUN/COPY/ADD too."""
    try:
        oracle = _oracle_commands(data)
    except Exception:
        with pytest.raises(ParseError):
            parse(data)
        return
    assert _boundaries(parse(data)) == _oracle_boundaries(oracle)
    result = rewrite(data, Options())
    assert all(c.line <= 2 for c in result.changes if c.transform == "merge-runs"), "a heredoc body was rewritten"


# --------------------------------------------------------------------------------------------- merge-runs behaviour

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402  (only this section runs shells: the bodies below touch nothing outside a temp dir)

BODY_FRAGMENTS = [
    "cd sub",
    "cd ..",
    "pwd",
    "echo X=$X",
    "X=1",
    "export X=2",
    "unset X",
    "umask 077",
    "umask",
    "set -e",
    "false",
    "true",
    "false || echo recovered",
    "echo a | cat",
    "(cd sub && pwd)",
    "test -d sub && cd sub",
    "command cd sub",
    "f() { echo fn; }",
    "f",
    "trap 'echo trapped' EXIT",
    "exit 0",
    "exit 3",
    "readonly R=1",
    "echo R=$R",
    "set -u",
    "echo ${UNDEF:-unset}",
    "set -- a b",
    "echo args=$#",
    "if true; then cd sub; fi",
    "for i in 1 2; do echo $i; done",
    "echo i=$i",
    "X=3 true",
    ". ./env.sh",
    "echo S=$S",
    "touch made-$X",
    "echo done > out.txt",
    "cat out.txt",
    "exec echo replaced",
    "kill -0 $$ && echo alive",
    "echo $((1 + 2))",
]
BASH_FRAGMENTS = [
    "printf -v P '%s' p",
    "echo P=$P",
    "let L=5",
    "echo L=$L",
    "(( Q = 7 ))",
    "echo Q=$Q",
    "shopt -s nullglob",
    "echo *.none",
    "set -o pipefail",
    "false | true",
]


def _merged_args(data: bytes) -> list[str]:
    out = rewrite(data, Options(select=frozenset({"merge-runs"}), settings={"merge-runs": {"only-when-smaller": False}})).output
    return [" ".join(i.args.split()) for i in parse(out).instructions if i.keyword == "RUN"]


# Fragments that hit a known, reported merge-runs bug stay out of the random search until the bug is fixed (each has
# its own pinned test below), so the fuzz keeps hunting for NEW bugs. The check runs the bug's minimal input.
KNOWN_BUG_FRAGMENTS = {
    # CORE_BUGS C14: `a || b > f` as the last body is merged without a group
    "echo done > out.txt": lambda: (
        _merged_args(b"FROM debian\nRUN false\nRUN echo a || echo done > out.txt\n") != ["false && echo a || echo done > out.txt"]
    ),
    # CORE_BUGS C15: state changes the shell analysis does not see
    "command cd sub": lambda: _merged_args(b"FROM debian\nRUN command cd /tmp\nRUN pwd\n") != ["command cd /tmp && pwd"],
    "printf -v P '%s' p": lambda: (
        "printf -v P %s p && echo P=$P"
        not in _merged_args(b'FROM debian\nSHELL ["/bin/bash", "-c"]\nRUN printf -v P %s p\nRUN echo P=$P\n')
    ),
    "let L=5": lambda: (
        "let L=5 && echo L=$L" not in _merged_args(b'FROM debian\nSHELL ["/bin/bash", "-c"]\nRUN let L=5\nRUN echo L=$L\n')
    ),
    "(( Q = 7 ))": lambda: (
        "(( Q = 7 )) && echo Q=$Q"
        not in _merged_args(b'FROM debian\nSHELL ["/bin/bash", "-c"]\nRUN (( Q = 7 ))\nRUN echo Q=$Q\n')
    ),
}
BEHAVIOUR_FRAGMENTS = [f for f in BODY_FRAGMENTS + BASH_FRAGMENTS if f not in KNOWN_BUG_FRAGMENTS or KNOWN_BUG_FRAGMENTS[f]()]


def _run_bodies(bodies: list[str], shell: list[str], root: Path) -> tuple:
    """Run each body like BuildKit runs a RUN: a fresh shell in the WORKDIR; stop at the first failure."""
    work = root / "work"
    (work / "sub").mkdir(parents=True)
    (work / "env.sh").write_text("S=sourced\n")
    out = []
    status = 0
    for body in bodies:
        proc = subprocess.run(
            [*shell, body],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=10,
            env={"PATH": os.environ["PATH"], "HOME": str(root)},
        )
        out.append(proc.stdout)
        status = proc.returncode
        if status:
            break
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    return "".join(out), status != 0, files


@fuzz_settings(default=60)
@given(
    bodies=st.lists(st.lists(st.sampled_from(BEHAVIOUR_FRAGMENTS), min_size=1, max_size=3), min_size=2, max_size=4),
    joiners=st.lists(st.sampled_from([" && ", "; ", " || ", " | "]), min_size=12, max_size=12),
    shell=st.sampled_from([["/bin/sh", "-c"], ["/bin/sh", "-ec"], ["/bin/bash", "-c"], ["/bin/bash", "-o", "pipefail", "-c"]]),
)
def test_merge_runs_keeps_what_the_runs_do(tmp_path_factory, bodies, joiners, shell: list[str]) -> None:
    """Run the RUN bodies before and after merge-runs in real shells: same output, same success, same files."""
    bash = shell[0] == "/bin/bash"
    if not bash and any(f in BASH_FRAGMENTS for body in bodies for f in body):
        return  # bash-only syntax under dash: not a meaningful program
    if "pipefail" in shell or any("pipefail" in f for body in bodies for f in body):
        # `a | b` where b does not read: a may die of SIGPIPE or not, and pipefail reports it: a racy program
        joiners = [" && " if j == " | " else j for j in joiners]
    texts = []
    k = 0
    for body in bodies:
        text = body[0]
        for fragment in body[1:]:
            text += joiners[k % len(joiners)] + fragment
            k += 1
        texts.append(text)
    shell_line = "" if shell == ["/bin/sh", "-c"] else "SHELL " + json.dumps(shell) + "\n"
    data = ("FROM debian\n" + shell_line + "".join(f"RUN {t}\n" for t in texts)).encode()
    result = rewrite(data, Options(select=frozenset({"merge-runs"}), settings={"merge-runs": {"only-when-smaller": False}}))
    if not result.changes:
        return
    merged = [i.args for i in parse(result.output).instructions if i.keyword == "RUN"]
    root = tmp_path_factory.mktemp("merge")  # the same path for both runs: pwd output is compared
    before = _run_bodies(texts, shell, root)
    shutil.rmtree(root)
    root.mkdir()
    after = _run_bodies(merged, shell, root)
    if before[1]:  # the original build fails: the merged one must fail too (what it printed first does not matter)
        assert after[1], f"merge-runs turned a failing build into a passing one:\n{data.decode()}\n->\n{result.output.decode()}"
    else:
        assert after == before, f"merge-runs changed behaviour:\n{data.decode()}\n->\n{result.output.decode()}"


@pytest.mark.parametrize(
    "last",
    ["echo a || echo done > out.txt", "make test || echo failed >> /tmp/log", "echo a; echo b > f", "true && echo b > f"],
)
def test_merge_runs_groups_a_list_that_ends_in_a_redirect(last: str) -> None:
    """Found by the behaviour fuzz: `false && a || b > f` would turn a failing build into a passing one."""
    data = f"FROM debian\nRUN false\nRUN {last}\n".encode()
    out = rewrite(data, Options(select=frozenset({"merge-runs"}), settings={"merge-runs": {"only-when-smaller": False}})).output
    runs = [" ".join(i.args.split()) for i in parse(out).instructions if i.keyword == "RUN"]
    allowed = [["false", last], [f"false && ({last})"], [f"false && {{ {last}; }}"]]  # left alone, or grouped
    if "||" not in last and ";" not in last:
        allowed.append([f"false && {last}"])  # a pure && chain needs no group
    assert runs in allowed, out.decode()


@pytest.mark.parametrize(
    "shell, first, second",
    [
        ("", "command cd /tmp", "pwd"),
        ('SHELL ["/bin/bash", "-c"]\n', "let L=5", "echo L=$L"),
        ('SHELL ["/bin/bash", "-c"]\n', "printf -v P %s p", "echo P=$P"),
        ('SHELL ["/bin/bash", "-c"]\n', "(( Q = 7 ))", "echo Q=$Q"),
    ],
    ids=["command-cd", "let", "printf-v", "arith-assign"],
)
def test_merge_runs_isolates_every_state_change(shell: str, first: str, second: str, tmp_path: Path) -> None:
    """Found by the behaviour fuzz: these set shell state the next RUN must not see."""
    data = f"FROM debian\n{shell}RUN {first}\nRUN {second}\n".encode()
    out = rewrite(data, Options(select=frozenset({"merge-runs"}), settings={"merge-runs": {"only-when-smaller": False}})).output
    runs = [i.args for i in parse(out).instructions if i.keyword == "RUN"]
    interpreter = ["/bin/bash", "-c"] if shell else ["/bin/sh", "-c"]
    before = _run_bodies([first, second], interpreter, tmp_path)
    shutil.rmtree(tmp_path)
    tmp_path.mkdir()
    assert _run_bodies(runs, interpreter, tmp_path) == before, out.decode()


# --------------------------------------------------------------------------------------------- regressions (found here, fixed)

REGRESSIONS = {
    # a mutated fixture: slim-base adds an install RUN, pkg-cache mounts it, merge-runs merges it: 4 rounds to converge
    "cascade-converges": (
        b"FROM node:20\nRUN apt-get update &&!apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n"
        b"COPY dist /app\nHEALTHCHECK CMD curl -f http://localhost:3000/ || exit 1\n",
        Options(unsafe_fixes=True, cache_mounts=True),
    ),
    # the RUN slim-base adds must already be in pkg-cache's final form (idempotence)
    "slim-base-install-run": (
        b'FROM buildpack-deps:bookworm-curl\nCOPY fetch.sh /usr/local/bin/fetch.sh\nCMD ["/usr/local/bin/fetch.sh"]\n',
        Options(unsafe_fixes=True, cache_mounts=True),
    ),
    # BuildKit rejects mixed ENV forms: so must the model (the fixture had lost a line break)
    "env-lost-newline": (b"FROM node:18\nENV NODE_ENV=developmentWORKDIR /usr/src/api\nCOPY . .\n", Options()),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regressions_hold_the_invariants(name: str) -> None:
    data, options = REGRESSIONS[name]
    check_invariants(data, options, None)


@pytest.mark.parametrize("transform_id", [t.id for t in all_transforms()])
def test_a_deep_stage_chain_hits_no_recursion_limit(transform_id: str) -> None:
    """1,100 stages each built FROM the previous one (pkg-cache once recursed per parent: RecursionError)."""
    data = (
        "FROM debian:bookworm AS st0\n"
        + "".join(f"FROM st{k - 1} AS st{k}\n" for k in range(1, 1100))
        + "RUN apt-get update && apt-get install -y curl\n"
    ).encode()
    assert rewrite(data, Options(select=frozenset({transform_id}), unsafe_fixes=True)).errors == []


def test_apt_lists_stay_for_an_onbuild_install_that_needs_them() -> None:
    data = b"FROM debian\nRUN apt-get update && apt-get install -y curl\nONBUILD RUN apt-get install -y git\n"
    out = rewrite(data, Options(select=frozenset({"pkg-cache"}))).output.decode()
    onbuild = [line for line in out.splitlines() if line.startswith("ONBUILD")]
    assert "rm -rf /var/lib/apt/lists" not in out or "apt-get update" in onbuild[0], out
