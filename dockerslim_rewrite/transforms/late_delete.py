"""# late-delete

## What it does

Moves an `rm` of a file or directory into the `RUN` that created it, when other instructions
(`ENV`, `COPY`, `WORKDIR`, `USER`, `LABEL`, ...) stand between the two `RUN`s so that they cannot be
merged. The `rm` is appended at the end of the creating `RUN` and removed from the later one (the
whole `RUN` when the `rm` was all it did). A file copied in from the build context or another stage
and deleted later is reported with the bytes at stake (a `COPY` cannot delete), and so is any other
late delete that cannot be moved, with the reason.

## Why it saves bytes

Every instruction that changes files is a layer, and a layer only adds to the image: a file written
in one layer and deleted in a later one is stored in full in the first layer, and the later layer
only adds a "whiteout" entry that hides it. Deleting it in the layer that wrote it means its bytes
are never stored.

## Example

```dockerfile
FROM debian:bookworm-slim
RUN head -c 20000000 /dev/urandom > /tmp/blob && sha256sum /tmp/blob > /blob.sha256
ENV APP_HOME=/srv/app
RUN rm /tmp/blob
```

becomes

```dockerfile
FROM debian:bookworm-slim
RUN head -c 20000000 /dev/urandom > /tmp/blob && sha256sum /tmp/blob > /blob.sha256 && rm /tmp/blob
ENV APP_HOME=/srv/app
```

A delete of a file the build context provides (`COPY big.tar.gz /tmp/` then a later
`RUN tar xf /tmp/big.tar.gz && rm /tmp/big.tar.gz`) is reported, not changed, with the file's size
from the build context. Excluding the file in `.dockerignore` would break the `COPY` that still
copies it; the fix is to read it through a bind mount in the RUN that uses it
(`RUN --mount=type=bind,source=big.tar.gz,target=/tmp/big.tar.gz tar xf /tmp/big.tar.gz`), which
needs the reviewer to check that nothing else uses the copied file.

## When it is not applied

The report says why. The delete must be a plain top-level `rm` (options `-f`, `-r`/`-R`, `-v`, `-d`
only; no `sudo`, no glob, no variable, no `~`) that is an item of the later `RUN`'s top-level `&&`
chain; every path it removes must be written at the top level of one earlier `RUN` of the same stage
with a static path (`curl -o`, `wget -O`, `cp`/`mv`/`install`/`ln` destinations, `mkdir`,
`tar -c -f`, `tar -x -C`, `unzip -d`, `git clone`, `dd of=`, `> file` redirections, `-o` of
compilers). Not moved when:
- the two `RUN`s are consecutive: `merge-runs` merges them when the later one deletes what the
  earlier one wrote;
- an instruction between names the path, a directory above it or anything inside it (a `RUN`
  mentioning it, a `COPY`/`ADD` whose destination overlaps it, a `WORKDIR` inside it, a `VOLUME`
  over it), or a `RUN` between uses a variable or command substitution (it might name the path);
  a command before the `rm` in the same `RUN` does the same;
- the two `RUN`s run as different users (or a user from a build arg), or with a different `PATH`:
  the `rm` could fail, or succeed, where it did not before;
- either `RUN` has a `--mount` (a cache or tmpfs mount changes where the file lives), or flags on
  the deleting `RUN`; exec form, a non-POSIX `SHELL`, a heredoc, a shell comment, a background job,
  a body the shell parser cannot parse, a creating `RUN` that ends with `exit`/`exec`;
- a relative path in a `RUN` that `cd`s, or under a `WORKDIR` that is not known;
- the stage does not ship; an instruction marked `# dslim: ignore`.

## Limits

Only deletes within one stage are moved (other stages see the stage's final files, which do not
change). The size of a file a `RUN` made is not known before building, so the report names the
path, not the bytes; for files from the build context the size comes from the context scan. Files
made by programs the `RUN` starts without naming the path (an installer writing `/tmp/x`) are not
recognised as created there.

## Fix safety

`safe` when only non-`RUN` instructions stand between the two `RUN`s and the `rm` opens the later
`RUN`: none of them can read the file, and the same user removes the same paths. `review` when
`RUN`s stand between (or commands run before the `rm` in its own `RUN`): they do not name the path,
but a program they start could still read it; the assumption is printed with the change.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from .. import postconditions
from ..datafiles import data_toml
from ..model import Comment, Document, Instruction, Stage, State
from ..shell import Command, Script, parse_options
from ..transform import Change, Context, Result, Safety, Skip, transform

ID = "late-delete"
_MOUNT_FLAGS = ("mount",)
_SAFE_BETWEEN = frozenset(
    {"ENV", "ARG", "LABEL", "EXPOSE", "USER", "CMD", "ENTRYPOINT", "HEALTHCHECK", "STOPSIGNAL", "SHELL", "ONBUILD", "MAINTAINER"}
)
_REDIRECT_RE = re.compile(r"(?:^|[^<>&0-9])(?:[12])?>>?\|?[ \t]*([^\s;&|<>()]+)")


@cache
def _kb() -> dict:
    return data_toml("late_delete.toml")


class _Unsure(Exception):
    """A reason not to move the delete (reported as a Skip)."""


@dataclass
class _Delete:
    run: Instruction
    script: Script
    cmd: Command
    span: tuple[int, int] | None  # the text of the body to remove (None: the whole RUN)
    paths: list[str]  # absolute, normalised


@dataclass
class _Source:
    ins: Instruction
    kind: str  # "run", "context", "stage", "url"
    what: str  # for the report: the COPY source or the command that wrote it


@transform(ID)
def late_delete(doc: Document, ctx: Context) -> Iterator[Result]:
    shipping = ctx.shipping_stages(doc)
    planned: list[tuple[int, int]] = []
    for stage in doc.stages:
        yield from _stage(doc, stage, ctx, stage.index in shipping, planned)


def _stage(doc: Document, stage: Stage, ctx: Context, ships: bool, planned: list[tuple[int, int]]) -> Iterator[Result]:
    instructions = stage.instructions
    for position, run in enumerate(instructions):
        if run.keyword != "RUN" or run.is_exec_form or not run.shell_form_posix or position == 0:
            continue
        script = run.script()
        if script is None or not script.ok or not any(c.name == "rm" for c in script.commands):
            continue
        state = doc.state_at(run)
        for cmd in _top_level_rms(script):
            paths = _rm_paths(cmd, state)
            if not paths or _writes_itself(script, cmd, state, paths):
                continue
            sources = {p: _latest_source(doc, instructions[:position], p) for p in paths}
            found = {p: s for p, s in sources.items() if s is not None}
            if not found:
                continue
            where = f"rm at line {run.line}"
            if not ships:
                yield Skip(run.line, f"{where} not moved: stage '{stage.label}' does not ship (its layers reach no image)")
                continue
            first = next(iter(found.values()))
            if any(s.kind != "run" for s in found.values()):
                yield from _report_copied(doc, run, found, ctx)
                continue
            if len(found) != len(paths) or any(s.ins is not first.ins for s in found.values()):
                yield Skip(
                    run.line,
                    f"{where} not moved: it also removes paths the RUN at line {first.ins.line} did not write"
                    f" (late delete: the bytes of {', '.join(found)} stay in that layer)",
                )
                continue
            try:
                delete = _delete(run, script, cmd, paths)
                yield from _move(doc, first.ins, delete, ctx, planned)
            except _Unsure as exc:
                yield Skip(
                    run.line,
                    f"{where} not moved into the RUN at line {first.ins.line}: {exc}"
                    f" (late delete: the bytes of {', '.join(paths)} stay in that layer)",
                )


# --------------------------------------------------------------------------- finding deletes


def _top_level_rms(script: Script) -> list[Command]:
    return [c for c in script.commands if c.name == "rm" and c.depth == 0 and not c.in_subshell]


def _writes_itself(script: Script, cmd: Command, state: State, paths: list[str]) -> bool:
    """Does the deleting RUN write the path itself before the rm (a delete in the same layer)?"""
    head = script.text[: cmd.start]
    if not head.strip():
        return False
    from ..shell import analyse

    return any(_within(w, p) for w in _created(analyse(head.rstrip().removesuffix("&&").rstrip()), state) for p in paths)


def _rm_paths(cmd: Command, state: State) -> list[str]:
    """The absolute paths an rm names, when all of them are static and plain; else []."""
    bad = _kb()["unsafe_path_chars"]
    parsed = parse_options(cmd.words, "rm")
    if not parsed.operands or any(not w.static or any(ch in w.value for ch in bad) for w in parsed.operands):
        return []
    paths = []
    for w in parsed.operands:
        resolved = _resolve(w.value, state.workdir if state.workdir_known else None)
        if resolved is None or resolved == "/":
            return []
        paths.append(resolved)
    return paths


def _delete(run: Instruction, script: Script, cmd: Command, paths: list[str]) -> _Delete:
    if run.flags:
        raise _Unsure("the deleting RUN has flags (" + ", ".join(f"--{f.name}" for f in run.flags) + ")")
    if run.heredocs or script.has_heredoc:
        raise _Unsure("the deleting RUN has a heredoc")
    if script.has_comment:
        raise _Unsure("the deleting RUN contains a shell comment")
    if script.background:
        raise _Unsure("the deleting RUN starts a background job")
    if not script.is_and_chain or script.hidden_or:
        raise _Unsure("the deleting RUN is not a plain && chain: the rm may not run unconditionally")
    text = script.text
    before = text[: cmd.start].rstrip()
    after = text[cmd.end :].lstrip()
    if before and not before.endswith("&&"):
        raise _Unsure("the rm is not a plain item of the RUN's && chain")
    if after and not after.startswith("&&"):
        raise _Unsure("the rm is not a plain item of the RUN's && chain (a redirection or another operator follows)")
    if not before and not after:
        span = None  # the whole RUN
    elif not before:
        rest = text[cmd.end :].lstrip()[2:]
        span = (cmd.start, len(text) - len(rest.lstrip()))
    else:
        span = (len(before[:-2].rstrip()), cmd.end)
    if cmd.prefix_words:
        raise _Unsure("the rm runs through a wrapper or with variable assignments (sudo, env, VAR=x)")
    allowed = set(_kb()["rm_options"])
    for name in parse_options(cmd.words, "rm").options:
        if name not in allowed:
            raise _Unsure(f"rm option {name}")
    relative = any(not w.value.startswith("/") for w in parse_options(cmd.words, "rm").operands)
    if relative and any(c.changes_state and c.end <= cmd.start for c in script.commands):
        raise _Unsure("a relative rm path after a command that changes the shell's directory or state")
    return _Delete(run, script, cmd, span, paths)


def _latest_source(doc: Document, before: list[Instruction], path: str) -> _Source | None:
    """The last instruction before the delete that wrote ``path`` (or inside it), if it is known."""
    for ins in reversed(before):
        state = doc.state_at(ins)
        if ins.keyword == "RUN":
            script = ins.script()
            if script is None or not script.ok:
                continue
            written = _created(script, state)
            hit = next((w for w in written if _within(w, path)), None)
            if hit is not None:
                return _Source(ins, "run", hit)
        elif ins.keyword in ("COPY", "ADD") and not ins.heredocs:
            dest = _copy_dest(ins, state)
            if dest is None or not (_within(path, dest) or _within(dest, path)):
                continue
            words = ins.words()
            if ins.flag("from") is not None:
                return _Source(ins, "stage", f"--from={ins.flag('from')}")
            if ins.keyword == "ADD" and any("://" in w or w.startswith("git@") for w in words[:-1]):
                return _Source(ins, "url", " ".join(words[:-1]))
            return _Source(ins, "context", " ".join(words[:-1]))
    return None


def _created(script: Script, state: State) -> list[str]:
    """Absolute paths the top level of a RUN body writes with a static path."""
    kb = _kb()["creators"]
    cwd = state.workdir if state.workdir_known else None
    moves = any(c.name in ("cd", "pushd", "popd") for c in script.commands)
    found: list[str] = []

    def add(value: str | None) -> None:
        if not value or "$" in value or "`" in value or "://" in value or value == "-":
            return
        if not value.startswith("/") and moves:
            return
        resolved = _resolve(value, cwd)
        if resolved is not None and resolved != "/":
            found.append(resolved)

    for cmd in script.commands:
        if cmd.depth != 0 or cmd.in_subshell:
            continue
        name = cmd.name
        if name in kb["output_option"]:
            parsed = parse_options(cmd.words, name, kb["output_option"][name])
            add(parsed.value(*kb["output_option"][name]))
        if name in kb["directory_option"]:
            spec = kb["directory_option"][name]
            parsed = parse_options(cmd.words, name, spec["options"])
            if parsed.has(*spec["when"]) or _old_style_tar(cmd, "x"):
                add(parsed.value(*spec["options"]))
        if name in kb["archive"]:
            spec = kb["archive"][name]
            parsed = parse_options(cmd.words, name, spec["file"])
            if parsed.has(*spec["when"]):
                add(parsed.value(*spec["file"]))
            elif _old_style_tar(cmd, "c") and len(parsed.operands) > 1:
                add(parsed.operands[1].value)
        if name in kb["destination"]:
            parsed = parse_options(cmd.words, name, kb["destination"][name])
            target = parsed.value(*kb["destination"][name]) if kb["destination"][name] else None
            operands = [w for w in parsed.operands if w.static]
            if target is None and len(operands) >= 2 and len(operands) == len(parsed.operands):
                target = operands[-1].value
                for source in operands[:-1]:
                    add(posixpath.join(target, posixpath.basename(source.value.rstrip("/"))))
            add(target)
        if name in kb["operands"]:
            for w in parse_options(cmd.words, name).operands:
                if w.static:
                    add(w.value)
        if name in kb["key_value"]:
            for w in cmd.words:
                key, eq, value = w.value.partition("=")
                if eq and key in kb["key_value"][name] and w.static:
                    add(value)
        if name == "git":
            operands = [w for w in cmd.words if not w.value.startswith("-")]
            if len(operands) >= 3 and operands[0].value == "clone" and operands[2].static:
                add(operands[2].value)
    top = [c for c in script.commands if c.depth == 0 and not c.in_subshell]
    for k, cmd in enumerate(top):
        region = script.text[cmd.end : top[k + 1].start if k + 1 < len(top) else len(script.text)]
        region = re.split(r"&&|\|\||;|\n", region, maxsplit=1)[0]
        for m in _REDIRECT_RE.finditer(region):
            target = m.group(1)
            if target.startswith(("'", '"')) and target.endswith(target[0]) and len(target) > 1:
                target = target[1:-1]
            if target.startswith(("/dev/", "&")):
                continue
            add(target)
    return found


def _old_style_tar(cmd: Command, letter: str) -> bool:
    """``tar xzf a.tgz`` / ``tar czf out.tgz dir``: the first word is a cluster of letters without a dash."""
    words = cmd.words
    return (
        bool(words)
        and words[0].static
        and re.fullmatch(r"[A-Za-z]+", words[0].value) is not None
        and (letter in words[0].value and "f" in words[0].value)
    )


def _copy_dest(ins: Instruction, state: State) -> str | None:
    words = ins.words()
    if len(words) < 2:
        return None
    dest = state.expand(words[-1])
    if dest is None:
        return None
    return _resolve(dest, state.workdir if state.workdir_known else None)


# --------------------------------------------------------------------------- reports


def _report_copied(doc: Document, run: Instruction, found: dict[str, _Source], ctx: Context) -> Iterator[Result]:
    for path, source in found.items():
        ins = source.ins
        if source.kind == "run":
            yield Skip(
                run.line,
                f"late delete at line {run.line}: {path} is written by the RUN at line {ins.line}; not moved because "
                "the same rm also removes files that a COPY/ADD put there (the bytes stay in those layers)",
            )
            continue
        if source.kind == "context":
            size = _context_bytes(doc, ins, path, ctx)
            if size is not None and size < _kb()["min_report_bytes"]:
                continue  # a few bytes: not worth a line in the report
            bytes_text = (
                f"{_human(size)} of the build context" if size is not None else "bytes of the build context (size not known)"
            )
            yield Skip(
                run.line,
                f"late delete at line {run.line}: {path} comes from the build context ({ins.keyword} at line {ins.line}):"
                f" {bytes_text} stay in that layer. Not changed: an rm cannot move into a {ins.keyword}, and excluding"
                f" the file in .dockerignore would break the {ins.keyword} that copies it. To keep it out of the image,"
                " read it through a bind mount in the RUN that uses it (RUN --mount=type=bind,source=...,target=...)"
                f" instead of copying it, or stop copying what the image deletes",
            )
        elif source.kind == "stage":
            yield Skip(
                run.line,
                f"late delete at line {run.line}: {path} is copied from another stage ({ins.keyword} {source.what} at line"
                f" {ins.line}) and its bytes stay in that layer. Not changed: copy only what the image keeps, or read it"
                f" through RUN --mount=type=bind,from=...,source=...,target=... in the RUN that uses it",
            )
        else:
            yield Skip(
                run.line,
                f"late delete at line {run.line}: {path} is downloaded by ADD at line {ins.line} and its bytes stay in"
                " that layer. Not changed: download it in the RUN that uses and deletes it",
            )


def _context_bytes(doc: Document, ins: Instruction, path: str, ctx: Context) -> int | None:
    """Bytes of the build context that a COPY/ADD put at ``path`` (or below it), when the scan knows them."""
    snapshot = ctx.build_context
    if snapshot is None or not hasattr(snapshot, "entry"):
        return None
    state = doc.state_at(ins)
    dest = _copy_dest(ins, state)
    words = ins.words()
    sources = words[:-1]
    if dest is None or any(any(ch in s for ch in "*?[$") for s in sources):
        return None
    dir_like = words[-1].endswith("/") or len(sources) > 1
    total = 0
    for source in sources:
        rel = posixpath.normpath(source.lstrip("/")) if source not in (".", "./") else "."
        entry = snapshot.entry(rel) if rel != "." else None
        is_dir = rel == "." or (entry is not None and entry.is_dir)
        if entry is None and rel != ".":
            return None
        target = posixpath.join(dest, posixpath.basename(rel)) if dir_like and not is_dir else dest
        if _within(path, target):
            inner = path[len(target) :].lstrip("/")
            context_path = posixpath.normpath(posixpath.join(rel, inner)) if inner else rel
        elif _within(target, path):
            context_path = rel
        else:
            continue
        size = _tree_bytes(snapshot, context_path)
        if size is None:
            return None
        total += size
    return total


def _tree_bytes(snapshot, relpath: str) -> int | None:
    if relpath in (".", ""):
        return snapshot.total_bytes
    entry = snapshot.entry(relpath)
    if entry is None:
        return None
    if not entry.is_dir or entry.collapsed:
        return entry.size
    prefix = relpath.rstrip("/") + "/"
    return sum(e.size for e in snapshot.counted() if e.path.startswith(prefix))


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} bytes"


# --------------------------------------------------------------------------- moving


def _move(doc: Document, creator: Instruction, delete: _Delete, ctx: Context, planned: list[tuple[int, int]]) -> Iterator[Result]:
    run = delete.run
    if ctx.is_ignored(creator, ID) or ctx.is_ignored(run, ID):
        raise _Unsure("ignore pragma (# dslim: ignore, or # hadolint ignore of the rule this fix answers)")
    between = doc.stages[run.stage].instructions[creator.stage_position + 1 : run.stage_position]
    if not between and not any(isinstance(n, Comment) for n in doc.nodes[creator.node_index + 1 : run.node_index]):
        raise _Unsure("the RUNs are consecutive: merge-runs merges them")
    script = _creator_script(creator)
    c_state, d_state = doc.state_at(creator), doc.state_at(run)
    for state in (c_state, d_state):
        if "$" in state.user or not state.user:
            raise _Unsure(f"USER {state.user!r} is not known statically")
    if c_state.user != d_state.user:
        raise _Unsure(
            f"the RUN at line {creator.line} runs as {c_state.user!r} and the rm as {d_state.user!r}: "
            "the rm could succeed or fail differently"
        )
    _check_volumes(doc, run, delete.paths)
    runs_between = _check_between(doc, between, delete.paths)
    if c_state.env.get("PATH") != d_state.env.get("PATH") or "PATH" in c_state.unknown or "PATH" in d_state.unknown:
        raise _Unsure("PATH differs between the two RUNs: another rm could run")
    before_rm = delete.script.text[: delete.cmd.start].strip()
    if before_rm:
        _check_text(before_rm, d_state, delete.paths, f"a command before the rm in the RUN at line {run.line}")
    point = postconditions.append_point(script, creator.stage_shell)
    if point is None:
        raise _Unsure(f"the RUN at line {creator.line} ends the shell (exit/exec)")
    command = _moved_command(delete)
    if point.from_root:
        command = f"cd / && {command}"
    pos = creator.doc_offset(point.offset)
    inserted = postconditions.appended_text(creator, point, command)
    removal_start, removal_end, whole = _removal(doc, delete)
    if any(not (removal_end <= a or pos >= b) for a, b in planned):
        return  # overlaps a move planned in this round: the next round makes it
    planned.append((pos, removal_end))
    paths = ", ".join(delete.paths)
    explanation = (
        f"`{delete.script.text[delete.cmd.start : delete.cmd.end]}` moved from line {run.line} into the RUN at line"
        f" {creator.line} that wrote {paths}: deleted in a later layer, its bytes were still stored in the image"
    )
    if whole:
        explanation += "; the RUN is removed"
    safety: Safety = "review" if runs_between or before_rm else "safe"
    assumption = None
    if safety == "review":
        readers = [f"the RUN at line {i.line}" for i in runs_between]
        if before_rm:
            readers.append(f"the commands before the rm at line {run.line}")
        assumption = f"nothing in {' or '.join(readers)} reads {paths}: they do not name it, but a program they start could"
    replacement = inserted + doc.text[pos:removal_start]
    yield Change(pos, removal_end, replacement, safety, explanation, assumption)


def _creator_script(creator: Instruction) -> Script:
    if creator.is_exec_form or not creator.shell_form_posix:
        raise _Unsure("the creating RUN is exec form or runs under a non-POSIX SHELL")
    if any(f.name in _MOUNT_FLAGS for f in creator.flags):
        raise _Unsure(f"the RUN at line {creator.line} has --mount: the file may live in the mount, not the layer")
    if creator.heredocs:
        raise _Unsure(f"the RUN at line {creator.line} has a heredoc")
    script = creator.script()
    if script is None or not script.ok:
        raise _Unsure(f"the RUN at line {creator.line} could not be parsed cleanly")
    if script.has_comment or script.has_heredoc or script.background:
        raise _Unsure(f"the RUN at line {creator.line} has a shell comment, a heredoc or a background job")
    return script


def _check_volumes(doc: Document, run: Instruction, paths: list[str]) -> None:
    for index in doc.lineage(run.stage):
        for ins in doc.stages[index].instructions:
            if index == run.stage and ins.stage_position >= run.stage_position:
                break
            if ins.keyword != "VOLUME":
                continue
            for word in ins.words():
                volume = _resolve(word.strip("[]\",'"), "/")
                if volume is None or any(_within(p, volume) or _within(volume, p) for p in paths):
                    raise _Unsure(f"VOLUME at line {ins.line} covers the path: changes below it may be discarded")


def _check_between(doc: Document, between: list[Instruction], paths: list[str]) -> list[Instruction]:
    """RUNs between the two (which make the move `review`); _Unsure when an instruction may touch the paths."""
    runs: list[Instruction] = []
    for ins in between:
        state = doc.state_at(ins)
        keyword = ins.keyword
        if keyword in _SAFE_BETWEEN or keyword == "VOLUME":
            continue
        if keyword == "WORKDIR":
            after = doc.state_at(ins).after(ins, doc.global_args, doc.global_unknown)
            if not after.workdir_known:
                raise _Unsure(f"WORKDIR at line {ins.line} uses a variable")
            if any(_within(after.workdir, p) for p in paths):
                raise _Unsure(f"WORKDIR at line {ins.line} creates a directory inside {', '.join(paths)}")
            continue
        if keyword in ("COPY", "ADD"):
            dest = _copy_dest(ins, state)
            if dest is None:
                raise _Unsure(f"cannot tell where {keyword} at line {ins.line} writes")
            if any(_within(dest, p) or _within(p, dest) for p in paths):
                raise _Unsure(f"{keyword} at line {ins.line} writes to {dest}, over or around the deleted path")
            continue
        if keyword == "RUN":
            if ins.is_exec_form:
                text = " ".join(ins.json_args or [])
            else:
                if not ins.shell_form_posix:
                    raise _Unsure(f"RUN at line {ins.line} runs under a non-POSIX SHELL")
                text = ins.args + "".join(h.body for h in ins.heredocs)
            if any(f.name == "mount" for f in ins.flags):
                text += " " + " ".join(f.text for f in ins.flags)
            _check_text(text, state, paths, f"RUN at line {ins.line}")
            runs.append(ins)
            continue
        raise _Unsure(f"{keyword} at line {ins.line} stands between")
    return runs


def _check_text(text: str, state: State, paths: list[str], where: str) -> None:
    """_Unsure when the shell text names one of the paths, a directory above it, something inside it,
    uses a variable or command substitution, or runs in a directory above it."""
    if "$" in text or "`" in text:
        raise _Unsure(f"{where} uses a variable or command substitution (it might name the path)")
    cwd = state.workdir if state.workdir_known else None
    if cwd is None:
        raise _Unsure(f"{where} runs in a WORKDIR that is not known")
    if cwd != "/" and any(_within(p, cwd) or _within(cwd, p) for p in paths):
        raise _Unsure(f"{where} runs in {cwd}, which holds the deleted path")
    for piece in _pieces(text):
        if piece.startswith("-"):
            if "/" not in piece:
                continue
            piece = piece[piece.index("/") :]
        for glob_char in "*?[":
            if glob_char in piece:
                piece = piece[: piece.index(glob_char)]
                piece = piece.rsplit("/", 1)[0] if "/" in piece else piece
        if not piece:
            piece = "."
        resolved = _resolve(piece, cwd)
        if resolved is None:
            continue
        for path in paths:
            if _within(resolved, path) or (_within(path, resolved) and (resolved != "/" or piece.strip("./") == "")):
                raise _Unsure(f"{where} names {piece}, which may read the deleted path")


def _pieces(text: str) -> list[str]:
    table = str.maketrans({ch: " " for ch in "<>=:,;|&()'\"\n\t\\"})
    return text.translate(table).split()


def _moved_command(delete: _Delete) -> str:
    """The rm as it will run in the creating RUN: its options as written, its paths made absolute."""
    options = [w.text for w in delete.cmd.words if w.value.startswith("-") and w.value != "--"]
    return " ".join(["rm", *options, *(shlex.quote(p) for p in delete.paths)])


def _removal(doc: Document, delete: _Delete) -> tuple[int, int, bool]:
    """The text range that removes the rm from its RUN (the whole instruction when it was alone)."""
    run = delete.run
    if delete.span is None:
        return run.start, run.end, True
    start, end = delete.span
    return run.doc_offset(start - 1) + 1 if start else run.doc_offset(0), run.doc_offset(end - 1) + 1, False


# --------------------------------------------------------------------------- paths


def _resolve(path: str, cwd: str | None) -> str | None:
    if not path or "$" in path:
        return None
    if path.startswith("/"):
        normal = posixpath.normpath(path)
    elif cwd is None:
        return None
    else:
        normal = posixpath.normpath(posixpath.join(cwd, path))
    return "/" + normal.lstrip("/")


def _within(path: str, tree: str) -> bool:
    return path == tree or tree == "/" or path.startswith(tree.rstrip("/") + "/")
