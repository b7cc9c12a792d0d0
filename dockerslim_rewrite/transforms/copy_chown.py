"""# copy-chown: fold `RUN chown -R` of freshly copied files into `COPY --chown`

## What it does
Folds a `RUN chown -R USER:GROUP PATH` that only re-owns what earlier `COPY`/`ADD`
instructions of the same stage put at `PATH` into those instructions as `--chown=USER:GROUP`, and
removes the `chown` from the `RUN` (the whole `RUN` when it was its only command; otherwise only its
item of the top-level `&&` chain, the rest kept byte for byte).

## Why it saves bytes
`chown` changes the metadata of every file, so the `RUN` layer stores a second
full copy of every copied byte. `COPY --chown` writes the files with the right owner in one layer.

## Example
```dockerfile
RUN useradd --system --home-dir /srv/app app
COPY data/ /srv/app/data/
COPY report.sh /srv/app/
RUN chown -R app:app /srv/app
```

becomes

```dockerfile
RUN useradd --system --home-dir /srv/app app
COPY --chown=app:app data/ /srv/app/data/
COPY --chown=app:app report.sh /srv/app/
```

Exactness rules (checked on a real BuildKit engine):
- `COPY --chown` owns the files and the directories it creates, parents included, but leaves a
  directory that already existed alone. A directory of the tree that existed before the COPY
  (`WORKDIR`, `mkdir`) is therefore still chowned, non-recursively: `RUN chown app:app /app` (one
  directory entry, not a copy of the files). The parent of `PATH` must exist before the COPY (a
  standard directory such as `/`, `/srv`, `/opt`, or one made by `WORKDIR`/`mkdir`/an earlier COPY),
  otherwise COPY --chown would own it too.
- `chown app` (no group) keeps the group, root: it becomes `--chown=app:0` (`--chown=app` would use
  app's own group). Numeric ids are kept as they are.
- User names are resolved by COPY at the COPY, so no `RUN` may run between the first folded COPY and
  the `chown`, and the `chown` must be the first command of its `RUN`.
- A plain `chown` (no `-R`) is folded only when the build context shows that the COPY source is a
  single regular file copied to exactly that path.

## When it is not applied
The report says why. Stages whose files end up in no image (neither the
final stage, a stage with its own CMD/ENTRYPOINT or a configured target, nor one they build on); `COPY
--from` (keeps the source stage's owners and setuid bits), heredoc COPY, COPY/ADD with any flag
(`--chmod`, `--link`, `--chown`, ...), ADD of a URL, a git repository or a file that may be an archive
(ADD extracts local tars); `chown` with a variable, a glob, `..`, `~`, flags other than `-R`/`-v`/`-c`
(`-h`, `-H`, `-L`, `--from`, `--reference`, ...), the `user.group` spelling or `user:`/`:group`;
paths with variables; a relative destination or `chown` path when WORKDIR is not known; a `chown`
that also changes paths no COPY created, or only part of what a COPY created; a COPY in another
stage, a `RUN` before the COPY that may leave files in the tree (run inside it, mentions it,
`useradd -m` with that home); a `RUN`, `USER` or COPY into `/etc` between the COPY and the `chown`;
a `chown` under a non-root `USER`; system trees (`/usr`, `/etc`, `/var`, ... and home directories);
exec-form or flagged `RUN`s, non-POSIX `SHELL`, the backtick escape directive (Windows), and
`# dslim: ignore` pragmas.

## Limits
The base image is not inspected: the fix assumes it has nothing under `PATH`. `chown`
clears setuid/setgid bits, `COPY --chown` keeps them: the fix assumes no copied file has them.

## Fix safety
`review`. Assumption printed with the change: nothing but these COPY/ADD instructions
put files under the path (not the base image), and no copied file is setuid/setgid.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..model import Document, Instruction, Stage
from ..shell import Command, Script, commands_named, parse_options
from ..transform import Change, Context, Result, Skip, transform

ID = "copy-chown"

# Directories present in every Linux base image: a path directly under one of them has an existing parent.
STANDARD_DIRS = frozenset(
    [
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/bin",
        "/usr/lib",
        "/usr/local",
        "/usr/local/bin",
        "/usr/local/lib",
        "/usr/local/sbin",
        "/usr/local/share",
        "/usr/sbin",
        "/usr/share",
        "/usr/src",
        "/var",
        "/var/cache",
        "/var/lib",
        "/var/log",
        "/var/tmp",
    ]
)
# Trees that base images and packages fill: a recursive chown there changes files no COPY made.
SYSTEM_TREES = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var",
)
APP_TREES_IN_SYSTEM = ("/usr/src/", "/usr/local/src/", "/var/www/")
CHOWN_OK_FLAGS = frozenset({"-R", "--recursive", "-v", "--verbose", "-c", "--changes"})
USER_ADMIN = frozenset({"useradd", "adduser", "groupadd", "addgroup"})
NON_CREATING = USER_ADMIN | {"mkdir", "chown", "chmod", "true"}
ARCHIVE_SUFFIXES = (
    ".tar",
    ".tgz",
    ".tbz",
    ".tbz2",
    ".txz",
    ".tar.gz",
    ".tar.bz2",
    ".tar.xz",
    ".tar.zst",
    ".gz",
    ".bz2",
    ".xz",
    ".zst",
)
_OWNER_RE = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]*))?$")
ASSUMPTION = (
    "nothing but these COPY/ADD instructions puts files under {paths} (the base image has nothing there, "
    "or at most an empty directory already owned by {owner}), and no copied file is setuid/setgid "
    "(chown clears those bits, COPY --chown keeps them)"
)


class Unsure(Exception):
    """A reason not to fold, shown as a Skip."""


class NotThePattern(Exception):
    """Not a chown that duplicates copied bytes (e.g. the non-recursive chown this transform keeps): no Skip."""


@dataclass
class _Copy:
    ins: Instruction
    sources: list[str]
    dest: str  # absolute, normalised
    dir_like: bool  # the destination is a directory (trailing slash, several sources, glob)


@dataclass
class _Step:
    ins: Instruction
    cwd: str | None  # WORKDIR in force, None when unknown
    own: bool  # in the stage being rewritten (not an ancestor stage)


@dataclass
class _Fold:
    """One chown command of the RUN prefix and what it folds into."""

    cmd: Command
    spec: str  # value for --chown=
    owner_text: str
    targets: list[tuple[str, str, bool]]  # (absolute path, word as written, is a file)
    copies: list[_Copy] = field(default_factory=list)
    keep_dirs: list[tuple[str, str]] = field(default_factory=list)  # (path, word) still chowned non-recursively


@transform(ID)
def copy_chown(doc: Document, ctx: Context) -> Iterator[Result]:
    shipping = ctx.shipping_stages(doc)
    for stage in doc.stages:
        if stage.index in shipping:
            yield from _stage(doc, stage, ctx)


def _mentions_chown(ins) -> bool:
    if ins.keyword != "RUN":
        return False
    if ins.is_exec_form:
        return bool(ins.json_args) and posixpath.basename(ins.json_args[0]) == "chown"
    script = ins.script()
    return script is not None and bool(commands_named(script, "chown"))


def _stage(doc: Document, stage: Stage, ctx: Context) -> Iterator[Result]:
    if not any(_mentions_chown(ins) for ins in stage.instructions):
        return  # the common case; the stage history below walks every ancestor stage
    steps = _history(doc, stage)
    claimed: set[int] = set()  # COPY instructions given --chown in this pass
    for k, step in enumerate(steps):
        ins = step.ins
        if not step.own or ins.keyword != "RUN":
            continue
        if ins.is_exec_form:
            if ins.json_args and posixpath.basename(ins.json_args[0]) == "chown":
                yield Skip(ins.line, "exec-form RUN chown is not folded into COPY --chown")
            continue
        script = ins.script()
        if script is None or not commands_named(script, "chown"):
            continue
        if doc.escape == "`":
            yield Skip(ins.line, "escape directive ` (Windows Dockerfile): COPY --chown not used")
            continue
        try:
            folds = _plan(doc, steps, k, script, ctx)
        except Unsure as exc:
            yield Skip(ins.line, f"chown at line {ins.line} not folded into COPY --chown: {exc}")
            continue
        except NotThePattern:
            continue
        lines = {c.ins.line for f in folds for c in f.copies}
        if lines & claimed:
            yield Skip(
                ins.line, f"chown at line {ins.line} not folded into COPY --chown: another chown already folds into the same COPY"
            )
            continue
        claimed |= lines
        yield from _changes(doc, ins, script, folds)


def _history(doc: Document, stage: Stage) -> list[_Step]:
    """The instructions whose effects the stage starts from (ancestor stages) and its own, with the WORKDIR in force.

    The path is the model's (``Document.walk``); it is trusted only from an absolute literal WORKDIR on:
    the base image's WORKDIR is not in the file, and a variable may be a build arg set at build time.
    """
    steps: list[_Step] = []
    known = False
    for index in reversed(doc.lineage(stage.index)):
        timeline = [state for _, state in doc.walk(index)][1:] + [doc.final_state(index)]
        for ins, after in zip(doc.stages[index].instructions, timeline):  # a WORKDIR's step is in its own directory
            if ins.keyword == "FROM":
                continue
            if ins.keyword == "WORKDIR":
                words = ins.words()
                if len(words) != 1 or "$" in words[0] or "\\" in words[0]:
                    known = False
                elif words[0].startswith("/"):
                    known = True
            steps.append(_Step(ins, _norm(after.workdir) if known else None, index == stage.index))
    return steps


# --------------------------------------------------------------------------- planning


def _plan(doc: Document, steps: list[_Step], k: int, script: Script, ctx: Context) -> list[_Fold]:
    run = steps[k]
    ins = run.ins
    if ctx.is_ignored(ins, ID):
        raise Unsure("ignore pragma (# dslim: ignore, or # hadolint ignore of the rule this fix answers)")
    if ins.flags:
        raise Unsure("the RUN has flags (" + ", ".join(f"--{f.name}" for f in ins.flags) + ")")
    if ins.heredocs or script.has_heredoc:
        raise Unsure("heredoc RUN")
    if not script.ok:
        raise Unsure("the shell parser could not parse the body cleanly")
    prefix = _chown_prefix(script)
    if not prefix:
        raise Unsure("chown is not the first command of the RUN: what runs before it may create files or the user")
    if len(script.items) > 1 and not script.is_and_chain:
        raise Unsure("the RUN is not a plain && chain")
    user = _non_root_user(doc, steps, k)
    if user is not None:
        raise Unsure(f"the chown runs as USER {user}")
    folds = [_parse_chown(cmd, run.cwd) for cmd in prefix]
    stage_copies = _copies(steps, k)
    claimed: dict[int, str] = {}
    for fold in folds:
        _match_copies(fold, stage_copies, ctx, ins.stage)
        for copy in fold.copies:
            if claimed.setdefault(id(copy.ins), fold.spec) != fold.spec:
                raise Unsure(f"COPY at line {copy.ins.line} is chowned by two commands with different owners")
        _check_between(fold, steps, k)
        _check_before(fold, steps, k, stage_copies)
    return folds


def _chown_prefix(script: Script) -> list[Command]:
    """The chown commands that open the RUN (items of its top-level chain, nothing before them)."""
    found: list[Command] = []
    for item in script.items:
        cmd = next((c for c in script.commands if c.start == item.start and c.depth == 0 and not c.in_subshell), None)
        if cmd is None or cmd.name != "chown" or cmd.prefix_words or cmd.end != item.end:
            break
        found.append(cmd)
    return found


def _non_root_user(doc: Document, steps: list[_Step], k: int) -> str | None:
    """The user the chown runs as when that may not be root (None: root); a USER with a variable, as written.

    A variable may be a build arg given at build time, so its default does not say who runs the chown.
    """
    written = next((s.ins.args for s in reversed(steps[:k]) if s.ins.keyword == "USER"), None)
    if written is not None and "$" in written:
        return written
    state = doc.state_at(steps[k].ins)
    return None if state.user_is_root else state.user


def _parse_chown(cmd: Command, cwd: str | None) -> _Fold:
    if any(not w.static for w in cmd.words):
        raise Unsure("chown with a variable or command substitution")
    parsed = parse_options(cmd.words, "chown")
    for name, values in parsed.options.items():
        if name not in CHOWN_OK_FLAGS:
            shown = name + (f"={values[0]}" if values[0] else "")
            raise Unsure(f"chown option {shown} (only -R, -v, -c are folded)")
    recursive = parsed.has("-R", "--recursive")
    operands = parsed.operands
    if len(operands) < 2:
        raise Unsure("chown without an owner and a path")
    owner = operands[0].value
    m = _OWNER_RE.match(owner)
    if not m or (m.group(2) is None and "." in owner):
        raise Unsure(f"owner {owner!r} is not a plain USER or USER:GROUP")
    spec = owner if m.group(2) is not None else f"{owner}:0"  # chown USER keeps the group (root)
    targets = []
    for w in operands[1:]:
        path = w.value
        if any(ch in path for ch in "*?[]{}~") or ".." in path.split("/"):
            raise Unsure(f"chown path {path!r} has a glob, ~ or ..")
        resolved = _resolve(path, cwd)
        if resolved is None:
            raise Unsure(f"relative chown path {path!r} and the WORKDIR is not known")
        targets.append((resolved, w.text, not recursive))
    return _Fold(cmd, spec, operands[0].text, targets)


def _copies(steps: list[_Step], k: int) -> list[tuple[int, _Copy | None, str]]:
    """Every COPY/ADD before the RUN (ancestor stages too): (step index, parsed copy or None, why not parsed)."""
    found: list[tuple[int, _Copy | None, str]] = []
    for index, step in enumerate(steps[:k]):
        ins = step.ins
        if ins.keyword not in ("COPY", "ADD"):
            continue
        words = ins.words()
        if len(words) < 2 or any("$" in w for w in words):
            found.append((index, None, f"cannot tell where {ins.keyword} at line {ins.line} writes (variables)"))
            continue
        raw_dest = words[-1]
        dest = _resolve(raw_dest, step.cwd)
        if dest is None:
            found.append((index, None, f"relative destination of {ins.keyword} at line {ins.line} and the WORKDIR is not known"))
            continue
        sources = words[:-1]
        dir_like = (
            raw_dest.endswith("/")
            or raw_dest in (".", "./")
            or raw_dest.endswith("/.")
            or len(sources) > 1
            or any(ch in s for s in sources for ch in "*?[")
        )
        found.append((index, _Copy(ins, sources, dest, dir_like), ""))
    return found


def _match_copies(fold: _Fold, stage_copies: list, ctx: Context, stage: int) -> None:
    """Find the COPYs each chown path covers; every one must be foldable and fully inside the path."""
    targets = []
    for path, word, plain in fold.targets:
        is_file = False
        related = []
        for _, copy, why in stage_copies:
            if copy is None:
                raise Unsure(why)
            if _within(copy.dest, path) or _within(path, copy.dest) or _single_file_copy(copy, ctx) == path:
                related.append(copy)
        if not related:
            raise Unsure(f"no earlier COPY/ADD of this stage created {path}")
        for copy in related:
            if copy.ins.stage != stage:
                raise Unsure(f"{copy.ins.keyword} at line {copy.ins.line} (another stage) also wrote into {path}")
            single_file = _single_file_copy(copy, ctx)
            if (
                plain
                and single_file != path
                and (
                    copy.ins.flag("chown") is not None
                    or copy.dir_like
                    or copy.sources[-1].endswith("/")
                    or copy.sources[-1] in (".", "./")
                    or _context_knows(ctx, copy.sources[-1])
                )
            ):
                raise NotThePattern()  # a directory: a plain chown changes only its own entry
            if single_file == path:
                is_file = True
            elif plain or (copy.dest != path and _within(path, copy.dest)):
                if plain:
                    raise Unsure(
                        f"{path} is not a single file copied by {copy.ins.keyword} at line {copy.ins.line} "
                        "(a chown without -R only changes the path itself)"
                        + (
                            ""
                            if ctx.build_context is not None and getattr(ctx.build_context, "files", None)
                            else "; no build context to tell"
                        )
                    )
                raise Unsure(
                    f"{copy.ins.keyword} at line {copy.ins.line} writes to {copy.dest}, above {path}: "
                    "--chown would own more than the chown did"
                )
            _check_foldable(copy, ctx)
        if is_file and len(related) > 1:
            raise Unsure(f"several COPY/ADD write {path}")
        fold.copies.extend(c for c in related if c not in fold.copies)
        targets.append((path, word, is_file))
    fold.targets = targets


def _context_knows(ctx: Context, source: str) -> bool:
    snapshot = ctx.build_context
    return bool(snapshot is not None and hasattr(snapshot, "entry") and snapshot.entry(source) is not None)


def _single_file_copy(copy: _Copy, ctx: Context) -> str | None:
    """The absolute path of the one regular file this COPY creates, when the build context proves it."""
    if len(copy.sources) != 1 or copy.ins.keyword != "COPY":
        return None
    snapshot = ctx.build_context
    entry = snapshot.entry(copy.sources[0]) if snapshot is not None and hasattr(snapshot, "entry") else None
    if entry is None or entry.is_dir or entry.is_symlink or getattr(entry, "collapsed", False):
        return None
    if copy.dir_like:
        return _norm(posixpath.join(copy.dest, posixpath.basename(copy.sources[0].rstrip("/"))))
    return copy.dest


def _check_foldable(copy: _Copy, ctx: Context) -> None:
    ins = copy.ins
    where = f"{ins.keyword} at line {ins.line}"
    if ctx.is_ignored(ins, ID):
        raise Unsure(f"{where} has an ignore pragma (# dslim: ignore, or # hadolint ignore of the rule this fix answers)")
    if ins.heredocs:
        raise Unsure(f"heredoc {where}")
    if ins.flag("from") is not None:
        raise Unsure(f"{where} uses --from: it keeps the source's owners and setuid bits, which chown changes")
    if ins.flags:
        raise Unsure(f"{where} already has " + ", ".join(f"--{f.name}" for f in ins.flags))
    if ins.keyword == "ADD":
        for source in copy.sources:
            low = source.lower()
            if "://" in low or low.startswith("git@") or low.endswith(".git"):
                raise Unsure(f"{where} downloads {source}")
            entry = (
                ctx.build_context.entry(source) if ctx.build_context is not None and hasattr(ctx.build_context, "entry") else None
            )
            is_dir = source.endswith("/") or source in (".", "./") or (entry is not None and entry.is_dir)
            if not is_dir or low.endswith(ARCHIVE_SUFFIXES):
                raise Unsure(f"{where} may extract a local archive ({source}); its owners would differ")


def _check_between(fold: _Fold, steps: list[_Step], k: int) -> None:
    """Nothing between the first folded COPY and the chown may add files, users or change USER."""
    first = min(c.ins.line for c in fold.copies)
    member_lines = {c.ins.line for c in fold.copies}
    for step in steps[:k]:
        ins = step.ins
        if not step.own or ins.line <= first or ins.line in member_lines:
            continue
        if ins.keyword == "RUN" and not _only_chowns_elsewhere(step, fold):
            raise Unsure(
                f"RUN at line {ins.line} runs between the COPY at line {first} and the chown: "
                "files it makes would keep their owner, and a user it creates would not exist yet"
            )
        if ins.keyword == "USER":
            raise Unsure(f"USER at line {ins.line} between the COPY and the chown")
        if ins.keyword in ("COPY", "ADD"):
            words = ins.words()
            dest = _resolve(words[-1], step.cwd) if words and "$" not in words[-1] else None
            if dest is None or _within(dest, "/etc"):
                raise Unsure(f"{ins.keyword} at line {ins.line} may change users or groups before the chown")


def _only_chowns_elsewhere(step: _Step, fold: _Fold) -> bool:
    """A RUN of only chown/chmod commands on paths outside every target creates no file and no user."""
    script = step.ins.script()
    if script is None or not script.ok or step.ins.flags or step.ins.heredocs or not script.commands:
        return False
    for cmd in script.commands:
        if cmd.name not in ("chown", "chmod") or cmd.prefix_words or any(not w.static for w in cmd.words):
            return False
        for w in parse_options(
            cmd.words, cmd.name
        ).operands:  # the owner or mode too: checked like a path, which can only refuse more
            if any(ch in w.value for ch in "*?[{~"):
                return False
            resolved = _resolve(w.value, step.cwd)
            if resolved is not None and any(_within(resolved, t) or _within(t, resolved) for t, _, _ in fold.targets):
                return False
    return True


def _check_before(fold: _Fold, steps: list[_Step], k: int, stage_copies: list) -> None:
    """The tree must hold only what the COPYs put there; directories that existed are still chowned."""
    first_line = min(c.ins.line for c in fold.copies)
    first_index = next(i for i, s in enumerate(steps) if s.ins is not None and s.ins.line == first_line)
    evidence: set[str] = set()  # directories known to exist before the first COPY
    for _, copy, _ in stage_copies:
        if copy is not None and copy.ins.line < first_line:
            evidence.add(copy.dest if copy.dir_like else posixpath.dirname(copy.dest))
    keep: dict[str, str] = {}
    for path, word, is_file in fold.targets:
        if not is_file:
            _check_tree_location(path)
        made: set[str] = set()
        for index, step in enumerate(steps[:k]):
            ins = step.ins
            if ins.keyword == "WORKDIR":
                if step.cwd is None:
                    raise Unsure(f"WORKDIR at line {ins.line} has a variable")
                if index < first_index:
                    evidence.add(step.cwd)
                if _within(step.cwd, path) and (step.cwd != path or index < first_index):
                    made.add(step.cwd)
            elif ins.keyword == "RUN" and index < first_index:
                made |= _run_before(step, path, evidence, _path_vars(steps[:k], path))
        if is_file and made:
            raise Unsure(f"{path} is a directory made before the COPY")
        parent = posixpath.dirname(path)
        if path not in made and not (parent in STANDARD_DIRS or any(_within(e, parent) for e in evidence)):
            raise Unsure(f"{parent} may not exist before the COPY: COPY --chown would own it too, the chown did not")
        for p in sorted(made):
            for d in _dirs_between(path, p):
                keep.setdefault(d, word if d == path else shlex.quote(d))
    fold.keep_dirs = sorted(keep.items())


def _path_vars(steps: list[_Step], path: str) -> list[str]:
    """ENV/ARG names whose value names the tree (a RUN using variables might write there)."""
    names = []
    for step in steps:
        if step.ins.keyword in ("ENV", "ARG"):
            for key, value in step.ins.key_values().items():
                if any(_mentions(piece, None, path) for piece in _pieces(value)):
                    names.append(key)
    return names


def _check_tree_location(path: str) -> None:
    if path in STANDARD_DIRS:
        raise Unsure(f"{path} is a system directory with files of its own")
    if any(_within(path, tree) for tree in SYSTEM_TREES) and not path.startswith(APP_TREES_IN_SYSTEM):
        raise Unsure(f"{path} lies in a system tree (base image and packages put files there)")
    if path.startswith(APP_TREES_IN_SYSTEM) and path.rstrip("/").count("/") < 3:
        raise Unsure(f"{path} is a shared directory")
    if posixpath.dirname(path) == "/home":
        raise Unsure(f"{path} is a home directory (it may already hold files)")


def _run_before(step: _Step, path: str, evidence: set[str], path_vars: list[str]) -> set[str]:
    """Directories of the tree a RUN before the COPY made (mkdir); Unsure when it may have left files there."""
    ins = step.ins
    where = f"RUN at line {ins.line}"
    if ins.is_exec_form:
        if any(_mentions(piece, step.cwd, path) for w in ins.json_args or [] for piece in _pieces(w)):
            raise Unsure(f"{where} mentions {path}")
        return set()
    script = ins.script()
    if script is None or not script.ok or ins.heredocs or script.has_heredoc:
        raise Unsure(f"{where} could not be analysed")
    names = {c.name for c in script.commands}
    if step.cwd is not None and _within(step.cwd, path) and not names <= NON_CREATING:
        raise Unsure(f"{where} runs inside {path} (WORKDIR {step.cwd}): it may have left files there")
    made: set[str] = set()
    explained: set[str] = set()  # words of the commands understood here
    for cmd in script.commands:
        if cmd.name in ("cd", "pushd"):
            target = _resolve(cmd.argv[-1], step.cwd) if cmd.argv and cmd.words[-1].static else None
            if target is None or _within(target, path) or _within(path, target):
                raise Unsure(f"{where} changes directory (cd) near {path}: relative paths cannot be followed")
            continue
        if cmd.name not in NON_CREATING:
            continue
        explained.update(w.value for w in cmd.words)
        if cmd.name in ("useradd", "adduser"):
            home = _check_home(cmd, path, where)
            if home is not None:
                evidence.add(home)  # a home made outside the tree: its folder exists
        elif cmd.name == "mkdir":
            for w in parse_options(cmd.words, "mkdir").operands:
                resolved = _resolve(w.value, step.cwd) if w.static else None
                if resolved is None:
                    if not w.static:
                        raise Unsure(f"{where}: mkdir with a variable")
                    continue
                evidence.add(resolved)
                if _within(resolved, path):
                    made.add(resolved)
    # Safety net over every word of the body (redirections, --opt=PATH, KEY=PATH included): the
    # commands above are the only ones allowed to name the tree.
    for value in ins.words():
        if value in explained:
            continue
        if ("$" in value or "`" in value) and path_vars:
            raise Unsure(f"{where} uses variables, and {', '.join(path_vars)} point into {path}")
        for piece in _pieces(value):
            if _mentions(piece, step.cwd, path):
                raise Unsure(f"{where} mentions {piece}: it may have left files in {path}")
    return made


def _pieces(word: str) -> list[str]:
    """The path-like parts of a word: split at redirections, '=', ':' and separators."""
    table = str.maketrans({ch: " " for ch in "<>=:,;|&()'\""})
    return word.translate(table).split()


def _check_home(cmd: Command, path: str, where: str) -> str | None:
    """Unsure when the command may create a home directory in the tree; else the home it surely creates (or None)."""
    parsed = parse_options(cmd.words, cmd.name)
    names = [w.value for w in parsed.operands]
    if cmd.name == "useradd":
        home, base = parsed.value("-d", "--home-dir"), parsed.value("-b", "--base-dir") or "/home"
        name = names[-1] if names else ""
        if parsed.has("-m", "--create-home"):
            created: bool | None = True
        elif parsed.has("-M", "--no-create-home", "-r", "--system"):
            created = False
        else:
            created = None
    else:
        home, base = parsed.value("-h", "--home"), "/home"
        name = names[0] if names else ""
        if parsed.has("-H", "--no-create-home"):
            created = False
        elif home is None and parsed.has("-S", "--system"):
            created = None  # Debian: /nonexistent, not made; busybox: /home/NAME, made
        else:
            created = True
    home = _norm(home) if home and home.startswith("/") else _norm(posixpath.join(base, name)) if name else None
    if home is None or not _within(home, path):
        return home if created else None
    if created is None:
        raise Unsure(f"{where}: {cmd.name} may create the home directory {home} (CREATE_HOME in login.defs)")
    if created:
        raise Unsure(f"{where}: {cmd.name} creates the home directory {home} with skeleton files")
    return None  # the home is in the tree but not created


def _mentions(value: str, cwd: str | None, path: str) -> bool:
    """Does a word name the path, something inside it, or one of its parents (other than /)?"""
    if "/" not in value and cwd is None:
        return False
    resolved = _resolve(value, cwd) if not value.startswith("-") else None
    if resolved is None:
        return False
    return _within(resolved, path) or (
        resolved != "/" and _within(path, resolved) and value.startswith("/") and resolved not in STANDARD_DIRS
    )


# --------------------------------------------------------------------------- edits


def _changes(doc: Document, ins: Instruction, script: Script, folds: list[_Fold]) -> Iterator[Result]:
    copies: list[_Copy] = []
    for fold in folds:
        copies += [c for c in fold.copies if c not in copies]
    specs = {id(c.ins): f.spec for f in folds for c in f.copies}
    paths = sorted({p for f in folds for p, _, _ in f.targets})
    owners = sorted({f.spec for f in folds})
    assumption = ASSUMPTION.format(paths=", ".join(paths), owner=" / ".join(owners))
    copy_lines = ", ".join(str(c.ins.line) for c in sorted(copies, key=lambda c: c.ins.line))
    for copy in copies:
        yield Change(
            copy.ins.body_start,
            copy.ins.body_start,
            f"--chown={specs[id(copy.ins)]} ",
            "review",
            f"{copy.ins.keyword} at line {copy.ins.line} sets the owner itself (--chown={specs[id(copy.ins)]}) "
            f"instead of the chown at line {ins.line}",
            assumption,
        )
    kept = []
    for fold in folds:
        if fold.keep_dirs:
            kept.append(f"chown {fold.owner_text} " + " ".join(word for _, word in fold.keep_dirs))
    body = script.text
    rest = script.items[len(folds)] if len(folds) < len(script.items) else None
    chown_texts = "; ".join(body[f.cmd.start : f.cmd.end] for f in folds)
    explanation = (
        f"`{chown_texts}` stored every copied byte a second time; the COPY/ADD at line(s) {copy_lines} "
        "now set the owner with --chown"
    )
    if kept:
        dirs = ", ".join(p for f in folds for p, _ in f.keep_dirs)
        explanation += (
            f"; `{' && '.join(kept)}` (not recursive) is kept for directories that existed before the COPY "
            f"({dirs}): COPY --chown does not change an existing directory"
        )
    start = ins.doc_offset(script.items[0].start)
    if rest is not None:
        replacement = "".join(k + " && " for k in kept)
        yield Change(start, ins.doc_offset(rest.start), replacement, "review", explanation, assumption)
    elif kept:
        yield Change(start, ins.body_end, " && ".join(kept), "review", explanation, assumption)
    else:
        yield Change(ins.start, ins.end, "", "review", explanation + "; the RUN is removed", assumption)


# --------------------------------------------------------------------------- paths


def _norm(path: str) -> str:
    normal = posixpath.normpath(path)
    return "/" + normal.lstrip("/") if normal.startswith("/") else normal


def _resolve(path: str | None, cwd: str | None) -> str | None:
    """An absolute, normalised path; None when it has a variable or is relative to an unknown WORKDIR."""
    if path is None or "$" in path or "\\" in path or not path:
        return None
    if path.startswith("/"):
        return _norm(path)
    if cwd is None:
        return None
    return _norm(posixpath.join(cwd, path))


def _within(path: str, tree: str) -> bool:
    return path == tree or tree == "/" or path.startswith(tree.rstrip("/") + "/")


def _dirs_between(top: str, inner: str) -> list[str]:
    """top and every directory from top down to inner (both included)."""
    out = [top]
    if inner == top:
        return out
    rel = inner[len(top.rstrip("/")) + 1 :].split("/")
    current = top.rstrip("/")
    for part in rel:
        current = f"{current}/{part}"
        out.append(current)
    return out
