"""What every edited RUN body must still satisfy after a transform: the pipeline's second line of defence.

Transforms are written to keep these rules; this module checks them on the result, so that a mistake
in one transform (or two transforms' edits meeting in one RUN) can never reach a user's file. Each
rule is counted per RUN body, before and after the edit: an edit may keep a hazard the user wrote,
never add one.

- ``unparsed``: the body does not parse cleanly as shell (tree-sitter ERROR/MISSING nodes). A body
  that did not parse before is never edited at all.
- ``errexit``: a group that relies on ``set -e`` (or a ``;`` sequence under an errexit SHELL) stands
  before ``&&``/``||``: POSIX shells ignore errexit there, so a failing command inside would pass.
- ``after-exit``: a command follows ``exit`` or ``exec CMD`` at the top level: it never runs.
- ``lost-cwd``: a command follows the removal of the directory the shell has ``cd``-ed into: it runs
  in a directory that no longer exists (npm, pip and others fail with ENOENT/uv_cwd).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from functools import lru_cache

from .model import Instruction
from .shell import COMPOUND_TYPES, Script, analyse, cmd_has_args

RULES = ("unparsed", "errexit", "after-exit", "lost-cwd")
# compound commands that run a list of commands, so errexit inside them is what is at stake
_GROUPS = COMPOUND_TYPES - {"function_definition", "negated_command"}


@dataclass(frozen=True)
class Hazards:
    unparsed: int = 0
    errexit: int = 0
    after_exit: int = 0
    lost_cwd: int = 0

    def __init__(
        self, unparsed: int = 0, errexit: int = 0, after_exit: int = 0, lost_cwd: int = 0
    ) -> None:  # written out to be compiled: see setup.py
        object.__setattr__(self, "unparsed", unparsed)
        object.__setattr__(self, "errexit", errexit)
        object.__setattr__(self, "after_exit", after_exit)
        object.__setattr__(self, "lost_cwd", lost_cwd)

    def __add__(self, other: Hazards) -> Hazards:
        return Hazards(*(a + b for a, b in zip(self.counts(), other.counts())))

    def counts(self) -> tuple[int, int, int, int]:
        return (self.unparsed, self.errexit, self.after_exit, self.lost_cwd)

    def added_by(self, before: Hazards) -> list[str]:
        """The rules this state breaks more often than ``before`` did."""
        return [rule for rule, now, was in zip(RULES, self.counts(), before.counts()) if now > was]


def shell_body(ins: Instruction) -> str | None:
    """The shell text a RUN runs, when it is a POSIX shell script we analyse; None otherwise."""
    if ins.keyword != "RUN" or not ins.shell_form_posix:
        return None
    if ins.heredocs:
        words = ins.words()
        if len(ins.heredocs) == 1 and len(words) == 1 and words[0].lstrip("<-").strip("'\"") == ins.heredocs[0].name:
            return ins.heredocs[0].body
        return None  # heredocs feeding commands: their bodies are data, not checked here
    return ins.args


def hazards(ins: Instruction) -> Hazards:
    body = shell_body(ins)
    if body is None or not body.strip():
        return Hazards()
    return _body_hazards(body, errexit_shell(ins.stage_shell))


# the pipeline counts them before and after every edit, and the same bodies recur across the rounds
# and the files of a run
@lru_cache(maxsize=1024)
def _body_hazards(body: str, shell_errexit: bool) -> Hazards:
    script = analyse(body)
    if not script.ok:
        return Hazards(unparsed=1)
    return Hazards(
        errexit=_errexit_hazards(script, shell_errexit),
        after_exit=_after_exit(script),
        lost_cwd=_lost_cwd(script),
    )


def errexit_shell(shell: list[str] | tuple[str, ...]) -> bool:
    """Does the SHELL run its scripts with ``-e`` (``["/bin/bash", "-eo", "pipefail", "-c"]``)?"""
    for k, arg in enumerate(shell[1:], start=1):
        if arg.startswith("-") and not arg.startswith("--") and "e" in arg[1:] and arg != "-c":
            return True
        if arg == "-o" and k + 1 < len(shell) and shell[k + 1] == "errexit":
            return True
    return False


def relies_on_errexit(text: str, shell_errexit: bool) -> bool:
    """Would this piece of script behave differently as a non-last element of an && list?"""
    script = analyse(text)
    if script.sets_errexit:
        return True
    return shell_errexit and (script.has_sequence or script.needs_grouping)


def _errexit_hazards(script: Script, shell_errexit: bool) -> int:
    count = 0
    for k, item in enumerate(script.items[:-1]):
        if script.operators[k] not in ("&&", "||"):
            continue
        text = script.text[item.start : item.end]
        if item.node_type in _GROUPS and relies_on_errexit(text, shell_errexit):
            count += 1
    return count


def _after_exit(script: Script) -> int:
    enders = [c for c in script.commands if c.depth == 0 and not c.in_subshell and _ends_shell(c)]
    if not enders:
        return 0
    first_end = min(c.end for c in enders)
    return sum(1 for item in script.items if item.start >= first_end)


def _ends_shell(cmd) -> bool:
    if cmd.name == "exit":
        return True
    return cmd.name == "exec" and bool(cmd.words)


def _lost_cwd(script: Script) -> int:
    """Commands that run after ``rm -r`` removed the directory a top-level ``cd`` entered."""
    return _cwd_walk(script)[0]


def _cwd_walk(script: Script) -> tuple[int, bool]:
    """(commands run in a removed directory, is the directory gone at the end of the script?)"""
    cwd: str | None = None
    removed_at: int | None = None
    count = 0
    for cmd in script.commands:
        if cmd.in_subshell or cmd.depth != 0:
            continue
        if cmd.name == "cd":
            target = next((w for w in cmd.words if not w.value.startswith("-")), None)
            if target is None or not target.static:
                cwd, removed_at = None, None
            elif target.value.startswith("/"):
                cwd, removed_at = posixpath.normpath(target.value), None
            elif cwd is not None and removed_at is None:
                cwd = posixpath.normpath(posixpath.join(cwd, target.value))
            else:
                cwd = None
            continue
        if removed_at is not None:
            count += 1
            continue
        if cmd.name == "rm" and cwd is not None and cmd_has_args(cmd, "-r", "-R", "--recursive"):
            paths = [w.value for w in cmd.words if not w.value.startswith("-") and w.static]
            if any(cwd == p.rstrip("/") or cwd.startswith(p.rstrip("/") + "/") for p in paths if p.startswith("/")):
                removed_at = cmd.end
    return count, removed_at is not None


@dataclass(frozen=True)
class AppendPoint:
    """Where and how to add a command that must run last in a RUN body (a cleanup)."""

    offset: int  # script offset to insert at
    separator: str  # "&&" or ";"
    from_root: bool  # the shell's directory may be gone by then: run the command from /


def append_point(script: Script, shell: list[str] | tuple[str, ...]) -> AppendPoint | None:
    """Where ``&& cleanup`` keeps every rule above, or None when no such place is known.

    After the last item, not after a trailing ``;`` (``a; && b`` is a syntax error). A last group that
    relies on ``set -e`` is entered (``(set -e; a; b && cleanup)``), since after it the group would
    stand before ``&&`` and lose errexit. A last compound command under an active errexit gets ``;``.
    """
    if (
        not script.items
        or _after_exit(script)
        or any(_ends_shell(c) and c.depth == 0 and not c.in_subshell for c in script.commands)
    ):
        return None
    shell_errexit = errexit_shell(shell)
    last = script.items[-1]
    text = script.text[last.start : last.end]
    from_root = _cwd_walk(script)[1]
    if last.node_type in ("subshell", "compound_statement") and relies_on_errexit(text, shell_errexit):
        closer = ")" if last.node_type == "subshell" else "}"
        inner_end = text.rstrip().rfind(closer)
        if inner_end <= 0:
            return None
        inner = analyse(text[1:inner_end])
        point = append_point(inner, ("/bin/sh", "-ec") if shell_errexit or script.sets_errexit else shell)
        if point is None:
            return None
        return AppendPoint(last.start + 1 + point.offset, point.separator, from_root or point.from_root)
    compound = last.node_type in _GROUPS
    errexit = shell_errexit or _errexit_before(script, last.start)
    if compound and errexit:
        return AppendPoint(last.end, ";", from_root)
    if errexit and script.operators and "&&" not in script.operators:
        return AppendPoint(last.end, ";", from_root)  # `set -eux; a; b` goes on in its own `;` style
    return AppendPoint(last.end, "&&", from_root)


def _errexit_before(script: Script, offset: int) -> bool:
    """Is ``set -e`` in force at the top level when the script reaches ``offset``?"""
    head = script.text[:offset]
    return (
        any(c.depth == 0 and not c.in_subshell and c.end <= offset for c in script.commands if c.name == "set")
        and analyse(head).sets_errexit
    )


def appended_text(ins: Instruction, point: AppendPoint, command: str) -> str:
    """The text that appends ``command`` at ``point`` of a RUN, in the RUN's own continuation style."""
    from .model import continuation_of

    doc = ins.doc
    one_line = "\n" not in doc.text[ins.body_start : ins.body_end]
    style = continuation_of([ins])
    if point.separator == ";":
        return f"; {command}" if one_line else f"; {doc.escape}{doc.newline}{style.indent}{command}"
    if one_line:
        return f" && {command}"
    return style.join(doc.escape, doc.newline, command)
