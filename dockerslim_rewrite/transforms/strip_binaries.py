"""# strip-binaries: build the shipped binary without its symbol table and debug info

## What it does
Adds the compiler's own strip option to a build whose binary ships:
- `go build` without `-s` in `-ldflags`: adds `-ldflags="-s -w"` right after `build`, or appends
  ` -s -w` (only what is missing) inside an existing quoted `-ldflags` value;
- `cargo build --release` (or `--profile release`) that does not strip: adds the
  `CARGO_PROFILE_RELEASE_STRIP=true` environment prefix to that one command;
- `gcc`/`cc`/`g++`/`c++`/`clang`/`clang++` linking a program (`-o FILE`, no `-c`/`-S`/`-E`/`-shared`)
  without `-s`: adds `-s` after the compiler's name.

The binary ships when the build runs in a shipping stage, or when a shipping stage copies it with
`COPY --from` (the source is the output path, a folder holding it, or a glob matching it; `cp`, `mv`
and `install` of the output later in the same stage are followed).

## Why it saves bytes
A Go binary carries its symbol table and DWARF debug info: `-s -w` typically removes 25-35 % of
it. A Rust release build keeps the standard library's symbols (a few hundred KB to several MB).
A C/C++ program linked without `-s` keeps its symbol table (and all of `-g`'s debug info).

## Example
```dockerfile
FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -o /out/app ./cmd/app

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
```

becomes

```dockerfile
RUN CGO_ENABLED=0 go build -ldflags="-s -w" -o /out/app ./cmd/app
```

## When it is not applied
The report says why. The binary does not ship (a test or tool binary of a builder stage that no
shipping stage copies); the build already strips (`-s` in `-ldflags`, `strip` in the release profile
of a `Cargo.toml` in the build context or in `--config`, `CARGO_PROFILE_RELEASE_STRIP` or a `RUSTFLAGS`
strip setting, `-s`/`-Wl,-s`/`-Wl,--strip-all`); a debug build (`-gcflags` with `-N`/`-l`, the delve
debugger in the file, `cargo build` without `--release`, a custom cargo profile, `debug` set in
`[profile.release]`, `gcc -g`); `GOFLAGS` that sets or may set `-ldflags`; `-ldflags` given more than
once, with a package pattern, or as an unquoted variable; a `cargo` behind a wrapper other than `env`
(`sudo` resets the environment); a compile-only `gcc` (`-c`, `-S`, `-E`) or a shared library;
exec-form, heredoc and non-POSIX `RUN`s; a relative output path when the directory is not known.

## Limits
Builds driven by `make`, `cmake`, `go install`, `cargo install` or scripts are not changed. Copies
through an intermediate stage are not followed. `strip` run as its own command is not recognised as
stripping (the binary is then stripped twice, which changes nothing).

## Fix safety
`unsafe` (only with `--unsafe-fixes`). Assumption printed with the change: nobody debugs the shipped
binary with a debugger or needs its symbol table (panics keep their stack traces in Go; Rust
backtraces lose symbol names; C/C++ crash dumps lose function names).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..datafiles import TOMLDecodeError, loads_toml
from ..model import Document, Instruction, State
from ..shell import Command, Script, Word, parse_options
from ..transform import Change, Context, Result, Skip, transform

ID = "strip-binaries"

GO_NAMES = frozenset({"go", "xx-go"})
CARGO_NAMES = frozenset({"cargo", "xx-cargo"})
CC_NAMES = frozenset({"gcc", "cc", "g++", "c++", "clang", "clang++"})
COMPILE_ONLY = ("-c", "-S", "-E", "-M", "-MM", "-r")
LINKER_STRIP = frozenset({"-s", "--strip-all", "-S", "--strip-debug"})
CARGO_STRIP_ENV = "CARGO_PROFILE_RELEASE_STRIP"
_PATTERN_RE = re.compile(r"^[^\s=-][^\s=]*=")  # -ldflags=all=-s: a package pattern before the flags
_DELVE_RE = re.compile(r"\b(dlv|go-delve)\b")

_GO_ASSUMPTION = (
    "nobody debugs the shipped binary with a debugger or needs its symbol table (panics keep their stack traces in Go)"
)
_CARGO_ASSUMPTION = (
    "nobody debugs the shipped binary with a debugger or needs its symbol table (Rust backtraces lose symbol names)"
)
_CC_ASSUMPTION = "nobody debugs the shipped binary with a debugger or needs its symbol table (crash dumps lose function names)"


@dataclass
class _Build:
    ins: Instruction
    state: State
    cmd: Command
    script: Script
    cwd: str | None  # the shell's directory when the command runs (None: not known)


@transform(ID)
def strip_binaries(doc: Document, ctx: Context) -> Iterator[Result]:
    shipping = ctx.shipping_stages(doc)
    delve = bool(_DELVE_RE.search(doc.text))
    for stage in doc.stages:
        for ins, state in doc.walk(stage.index):
            if ins.keyword != "RUN":
                continue
            if ins.is_exec_form or ins.heredocs:
                continue
            script = ins.script()
            if script is None or not script.ok:
                continue
            for cmd in script.commands:
                if cmd.name_word is None or cmd.name not in GO_NAMES | CARGO_NAMES | CC_NAMES:
                    continue  # the cwd walk below is only worth it for a build command
                build = _Build(ins, state, cmd, script, _cwd_at(script, cmd, state))
                if cmd.name in GO_NAMES:
                    yield from _go(doc, ctx, build, shipping, delve)
                elif cmd.name in CARGO_NAMES:
                    yield from _cargo(doc, ctx, build, shipping)
                elif cmd.name in CC_NAMES:
                    yield from _cc(doc, build, shipping)


# --------------------------------------------------------------------------- go


def _go(doc: Document, ctx: Context, b: _Build, shipping: frozenset[int], delve: bool) -> Iterator[Result]:
    words = b.cmd.words
    parsed = parse_options(words, "go")
    if not parsed.operands or parsed.operands[0].value != "build":
        return
    line = b.ins.line
    ldflags = parsed.options.get("-ldflags", [])
    if any("-s" in value.split() for value in ldflags):
        return  # already stripped
    gcflags = " ".join(parsed.options.get("-gcflags", []))
    if re.search(r"(^|[\s=])-[Nl]\b", gcflags):
        yield Skip(line, "go build is a debug build (-gcflags with -N/-l): not stripped", ID)
        return
    if delve:
        yield Skip(line, "the file uses the delve debugger: go build not stripped", ID)
        return
    goflags = _variable(b, "GOFLAGS")
    if goflags is None or "ldflags" in goflags:
        yield Skip(line, "GOFLAGS sets (or may set) -ldflags: go build not stripped", ID)
        return
    if "-c" in parsed.options or "-n" in parsed.options:
        return
    packages = parsed.operands[1:]
    output = parsed.value("-o")
    if output is None and len(packages) > 1:
        return  # several packages without -o: go build writes no binary
    out_path = _resolve(output, b.cwd) if output is not None else (f"{b.cwd}/*" if b.cwd else None)
    reason = _ships(doc, ctx, b, shipping, [out_path] if out_path else [])
    if reason is not None:
        yield Skip(line, f"go build: {reason}", ID)
        return
    if len(ldflags) > 1:
        yield Skip(line, "go build: -ldflags given more than once: not stripped", ID)
        return
    explanation = "go build without -s -w: the binary ships its symbol table and DWARF debug info (often 25-35 % of it)"
    if not ldflags:
        build_word = parsed.operands[0]
        at = b.ins.doc_offset(build_word.end - 1) + 1
        yield Change(at, at, ' -ldflags="-s -w"', "unsafe", explanation, _GO_ASSUMPTION)
        return
    value = ldflags[0]
    if _PATTERN_RE.match(value):
        yield Skip(line, "go build: -ldflags with a package pattern: not stripped", ID)
        return
    missing = " ".join(flag for flag in ("-s", "-w") if flag not in value.split())
    word = _ldflags_value_word(words)
    if word is None:
        yield Skip(line, "go build: the -ldflags value is not a literal this transform can extend", ID)
        return
    text = word.text
    if len(text) >= 2 and text[-1] in "\"'" and not text.endswith('\\"') and text.count(text[-1]) % 2 == 0:
        at = b.ins.doc_offset(word.end - 1)
        yield Change(at, at, f" {missing}" if value.strip() else missing, "unsafe", explanation, _GO_ASSUMPTION)
        return
    yield Skip(line, "go build: the -ldflags value is not quoted (append -s -w to it yourself)", ID)


def _ldflags_value_word(words: list[Word]) -> Word | None:
    """The word holding the -ldflags value: `-ldflags=VALUE` itself, or the word after `-ldflags`."""
    for k, word in enumerate(words):
        name = word.value.split("=", 1)[0]
        if name not in ("-ldflags", "--ldflags"):
            continue
        if "=" in word.value:
            return word
        return words[k + 1] if k + 1 < len(words) else None
    return None


# --------------------------------------------------------------------------- cargo


def _cargo(doc: Document, ctx: Context, b: _Build, shipping: frozenset[int]) -> Iterator[Result]:
    parsed = parse_options(b.cmd.words, "cargo")
    operands = [w for w in parsed.operands if not w.value.startswith("+")]  # cargo +nightly build
    if not operands or operands[0].value not in ("build", "b"):
        return
    line = b.ins.line
    profile = parsed.value("--profile")
    if not parsed.has("--release", "-r") and profile != "release":
        if profile is not None:
            yield Skip(line, f"cargo build --profile {profile}: a custom profile, its strip setting is not known", ID)
        return  # a debug build
    if profile not in (None, "release"):
        yield Skip(line, f"cargo build --profile {profile}: a custom profile, its strip setting is not known", ID)
        return
    configs = " ".join(parsed.options.get("--config", []))
    strip_env = _variable(b, CARGO_STRIP_ENV)
    rustflags = " ".join(v for v in (_variable(b, "RUSTFLAGS"), _variable(b, "CARGO_ENCODED_RUSTFLAGS")) if v is not None)
    if "strip" in configs or strip_env is None or strip_env != "" or re.search(r"strip=|link-arg=-s\b", rustflags):
        return  # already stripped (--config, CARGO_PROFILE_RELEASE_STRIP or RUSTFLAGS)
    release = _manifest_release_profile(ctx)
    if release is None:
        yield Skip(line, "cargo build: a Cargo.toml or .cargo/config in the build context could not be read", ID)
        return
    if "strip" in release:
        return  # the release profile already says
    if release.get("debug") not in (None, False, 0, "none"):
        yield Skip(line, "cargo build: the release profile keeps debug info on purpose (debug = ...): not stripped", ID)
        return
    wrappers = [
        w.value for w in b.cmd.prefix_words if not re.match(r"[A-Za-z_][A-Za-z0-9_]*=", w.value) and not w.value.startswith("-")
    ]
    if any(name.rsplit("/", 1)[-1] != "env" for name in wrappers):
        yield Skip(line, "cargo build runs behind a wrapper that may reset the environment: not stripped", ID)
        return
    target_dir = parsed.value("--target-dir") or _variable(b, "CARGO_TARGET_DIR") or None
    manifest = parsed.value("--manifest-path")
    if target_dir is None:
        target_dir = posixpath.join(posixpath.dirname(manifest), "target") if manifest else "target"
    out_path = _resolve(target_dir, b.cwd)
    reason = _ships(doc, ctx, b, shipping, [out_path] if out_path else [])
    if reason is not None:
        yield Skip(line, f"cargo build: {reason}", ID)
        return
    assert b.cmd.name_word is not None
    at = b.ins.doc_offset(b.cmd.name_word.start)
    explanation = "cargo build --release does not strip: the binary ships the standard library's symbols"
    yield Change(at, at, f"{CARGO_STRIP_ENV}=true ", "unsafe", explanation, _CARGO_ASSUMPTION)


def _manifest_release_profile(ctx: Context) -> dict | None:
    """The merged [profile.release] of the Cargo.toml files and cargo configs in the build context ({}: none)."""
    snap = ctx.build_context
    if snap is None:
        return {}
    merged: dict = {}
    for path, text in sorted(snap.texts.items()):
        name = path.rsplit("/", 1)[-1]
        if name != "Cargo.toml" and not path.endswith((".cargo/config.toml", ".cargo/config")):
            continue
        try:
            data = loads_toml(text)
        except TOMLDecodeError:
            return None
        release = data.get("profile", {}).get("release", {})
        if isinstance(release, dict):
            merged.update(release)
    return merged


# --------------------------------------------------------------------------- gcc / cc / g++


def _cc(doc: Document, b: _Build, shipping: frozenset[int]) -> Iterator[Result]:
    parsed = parse_options(b.cmd.words, "gcc")
    output = parsed.value("-o")
    if output is None or any(parsed.has(flag) for flag in COMPILE_ONLY):
        return  # no named program is linked here
    line = b.ins.line
    if parsed.has("-shared"):
        return
    linker = [part for name in parsed.options if name.startswith("-Wl,") for part in name[4:].split(",")]
    linker += parsed.options.get("-Xlinker", [])
    if parsed.has("-s") or LINKER_STRIP & set(linker):
        return  # already stripped
    if any(name.startswith("-g") and name != "-gz" for name in parsed.options):
        yield Skip(line, f"{b.cmd.name} builds with debug info (-g): not stripped", ID)
        return
    out_path = _resolve(output, b.cwd)
    reason = _ships(doc, None, b, shipping, [out_path] if out_path else [])
    if reason is not None:
        yield Skip(line, f"{b.cmd.name} -o {output}: {reason}", ID)
        return
    assert b.cmd.name_word is not None
    at = b.ins.doc_offset(b.cmd.name_word.end - 1) + 1
    explanation = f"{b.cmd.name} links {output} without -s: the program ships its symbol table"
    yield Change(at, at, " -s", "unsafe", explanation, _CC_ASSUMPTION)


# --------------------------------------------------------------------------- shared


def _variable(b: _Build, name: str) -> str | None:
    """The value of an environment variable for this command ("" when unset; None when not known)."""
    for word in b.cmd.prefix_words:
        key, eq, value = word.value.partition("=")
        if eq and key == name:
            return value if word.static else None
    if re.search(rf"\b{name}=", b.script.text[: b.cmd.start]):  # set or exported earlier in the RUN
        return None
    if name in b.state.unknown:
        return None
    return b.state.env.get(name, "")


def _cwd_at(script: Script, cmd: Command, state: State) -> str | None:
    """The directory the command runs in: WORKDIR, then the `cd`s before it in the same RUN."""
    cwd: str | None = state.workdir if state.workdir_known else None
    for other in script.commands:
        if other.start >= cmd.start:
            break
        if other.name != "cd":
            continue
        if other.in_subshell or other.depth > 0:
            if not (cmd.in_subshell or cmd.depth > 0):
                continue  # `(cd x && make)` does not move the top-level shell
            return None  # which subshell? not known
        args = [w for w in other.words if not w.value.startswith("-")]
        if len(args) != 1 or not args[0].static or args[0].value.startswith("~"):
            return None
        cwd = _resolve(args[0].value, cwd)
    return cwd


def _resolve(path: str, cwd: str | None) -> str | None:
    if "$" in path or "`" in path:
        return None
    if path.startswith("/"):
        return posixpath.normpath(path)
    if cwd is None:
        return None
    return posixpath.normpath(posixpath.join(cwd, path))


def _ships(doc: Document, ctx: Context | None, b: _Build, shipping: frozenset[int], outputs: list[str]) -> str | None:
    """None when the built binary ships, else the reason it is left alone."""
    stage = b.ins.stage
    if stage in shipping:
        return None
    if not outputs:
        return "cannot tell where the binary is written (relative path, unknown directory)"
    outputs = _follow_copies(doc, b, outputs)
    for index in sorted(shipping):
        for ins, state in doc.walk(index):
            if ins.keyword != "COPY" or ins.flag("from") is None or ins.heredocs:
                continue
            ref = state.expand(ins.flag("from") or "")
            source_stage = doc.stage_by_ref(ref) if ref else None
            if source_stage is None or stage not in doc.lineage(source_stage.index):
                continue
            for source in ins.words()[:-1]:
                src = state.expand(source)
                if src is None:
                    continue
                src = posixpath.normpath("/" + src.lstrip("/"))
                if any(_covers(src, out) for out in outputs):
                    return None
    return "the binary does not ship (no shipping stage copies it)"


def _covers(src: str, out: str) -> bool:
    """Does copying ``src`` take (part of) the output ``out`` (``dir/*``: any file right in dir)?"""
    if out.endswith("/*"):
        folder = out[:-2]
        return src == folder or src == "/" or folder.startswith(src.rstrip("/") + "/") or posixpath.dirname(src) == folder
    if src == "/" or src == out or out.startswith(src + "/") or src.startswith(out + "/"):
        return True
    return any(ch in src for ch in "*?[") and (fnmatch.fnmatchcase(out, src) or fnmatch.fnmatchcase(out, src + "/*"))


def _follow_copies(doc: Document, b: _Build, outputs: list[str]) -> list[str]:
    """Add where `cp`/`mv`/`install` later in the stage put the outputs (`cp target/release/app /usr/local/bin/`)."""
    found = list(outputs)
    seen_build = False
    for ins, state in doc.walk(b.ins.stage):
        if ins is b.ins:
            seen_build = True
        if not seen_build or ins.keyword != "RUN":
            continue
        script = ins.script()
        if script is None or not script.ok:
            continue
        for cmd in script.commands:
            if cmd.name not in ("cp", "mv", "install") or (ins is b.ins and cmd.start < b.cmd.start):
                continue
            operands = [w.value for w in parse_options(cmd.words, cmd.name).operands]
            if len(operands) < 2:
                continue
            cwd = _cwd_at(script, cmd, state)
            dest = _resolve(operands[-1], cwd)
            sources = [_resolve(s, cwd) for s in operands[:-1]]
            if dest is not None and any(
                s is not None and any(_covers(s, out) or _covers(out, s) for out in found) for s in sources
            ):
                found.append(dest)
    return found
