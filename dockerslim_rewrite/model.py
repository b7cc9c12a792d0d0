"""Lossless Dockerfile model.

Every character of the input belongs to exactly one node (directive, comment, blank line or
instruction), so ``parse(data).render() == data`` for every input we accept. The line rules mirror
BuildKit's parser (moby/buildkit frontend/dockerfile/parser): directives only at the top,
whole-line comments, continuation by the escape character, comment and empty lines skipped inside
continuations, heredocs read after the instruction line for RUN/COPY/ADD.
"""

from __future__ import annotations

import bisect
import gc
import json
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from dockerfile_parse.util import WordSplitter, extract_key_values

from .memo import Memo

if TYPE_CHECKING:  # pragma: no cover
    from .shell import Script

KNOWN_INSTRUCTIONS = frozenset(
    [
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ]
)
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
JSON_FORM_INSTRUCTIONS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
POSIX_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox"})
VALID_DIRECTIVES = ("syntax", "escape", "check")
DEFAULT_SHELL = ("/bin/sh", "-c")
# Far above any real Dockerfile; they keep time and memory bounded on hostile input.
MAX_INSTRUCTIONS = 75_000
MAX_LINE_CHARS = 256 * 1024

_DIRECTIVE_RE = re.compile(r"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")
_HEREDOC_WORD_RE = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_FLAG_RE = re.compile(r"--([A-Za-z][A-Za-z0-9-]*)(?:=(.*))?$", re.S)
_UTF8_BOM = b"\xef\xbb\xbf"
# Go's unicode.IsSpace: BuildKit splits words on all of these, not only on blanks and tabs
GO_SPACE = frozenset(" \t\n\v\f\r\u0085\u00a0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B))))


class ParseError(ValueError):
    """Input that BuildKit would reject or that we cannot model safely."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class Node:
    start: int
    end: int
    line: int


@dataclass
class Directive(Node):
    name: str = ""
    value: str = ""


@dataclass
class Comment(Node):
    text: str = ""  # without the leading '#', stripped

    def __init__(self, start: int, end: int, line: int, text: str = "") -> None:  # written out to be compiled: see setup.py
        self.start = start
        self.end = end
        self.line = line
        self.text = text


@dataclass
class Blank(Node):
    def __init__(self, start: int, end: int, line: int) -> None:  # written out to be compiled: see setup.py
        self.start = start
        self.end = end
        self.line = line


@dataclass
class Flag:
    name: str
    value: str | None
    text: str  # as written, e.g. --mount=type=cache,target=/root/.cache


@dataclass
class Heredoc:
    name: str
    strip_tabs: bool
    quoted: bool
    fd: int
    body_start: int  # offset in Document.text of the first body character
    body_end: int  # offset just past the body (before the terminator line)
    body: str

    def __init__(  # written out to be compiled: see setup.py
        self,
        name: str,
        strip_tabs: bool,
        quoted: bool,
        fd: int,
        body_start: int,
        body_end: int,
        body: str,
    ) -> None:
        self.name = name
        self.strip_tabs = strip_tabs
        self.quoted = quoted
        self.fd = fd
        self.body_start = body_start
        self.body_end = body_end
        self.body = body


# Every transform asks for the words and ENV pairs of the same instructions, in every round: they are
# worked out once per text (bounded: a run over many files must not keep them all).
@lru_cache(maxsize=8192)
def _split_words(args: str, escape: str) -> tuple[str, ...]:
    return tuple(unquote(w, escape) for w, _, _ in iter_words(args, escape))


@lru_cache(maxsize=4096)
def _literal_key_values(args: str) -> tuple[tuple[str, str], ...]:
    return tuple(extract_key_values(False, {}, {}, args))


# Every state walk (one per parse, so after every edit) substitutes the same ENV/ARG/WORKDIR values
# with the same variables: dockerfile-parse's splitter is slow enough that this is worth remembering.
@lru_cache(maxsize=4096)
def _substituted_key_values(args: str, variables: frozenset[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(extract_key_values(True, dict(variables), {}, args))


@lru_cache(maxsize=4096)
def _substituted(text: str, variables: frozenset[tuple[str, str]] | None) -> str:
    return WordSplitter(text, args=dict(variables)).dequote() if variables is not None else WordSplitter(text).dequote()


@dataclass
class Instruction(Node):
    """One instruction with its continuation lines, interior comments and heredoc bodies."""

    doc: Document = field(repr=False, default=None)  # type: ignore[assignment]
    keyword: str = ""
    keyword_text: str = ""  # as written (may be lower-case)
    end_line: int = 0
    flags: list[Flag] = field(default_factory=list)
    args: str = ""  # joined logical line after keyword and flags, as BuildKit hands it on
    json_args: list[str] | None = None
    heredocs: list[Heredoc] = field(default_factory=list)
    stage: int = -1
    node_index: int = 0  # position in Document.nodes
    stage_position: int = 0  # position in its Stage.instructions
    shell: list[str] = field(default_factory=lambda: list(DEFAULT_SHELL))  # the SHELL in force
    _joined_map: list[tuple[int, int, int]] = field(default_factory=list, repr=False)
    _args_offset: int = 0  # index of args inside the joined line

    def __init__(  # written out to be compiled: see setup.py
        self,
        start: int,
        end: int,
        line: int,
        doc: Document = None,  # type: ignore[assignment]
        keyword: str = "",
        keyword_text: str = "",
        end_line: int = 0,
        flags: list[Flag] | None = None,
        args: str = "",
        json_args: list[str] | None = None,
        heredocs: list[Heredoc] | None = None,
        stage: int = -1,
        node_index: int = 0,
        stage_position: int = 0,
        shell: list[str] | None = None,
        _joined_map: list[tuple[int, int, int]] | None = None,
        _args_offset: int = 0,
    ) -> None:
        self.start = start
        self.end = end
        self.line = line
        self.doc = doc
        self.keyword = keyword
        self.keyword_text = keyword_text
        self.end_line = end_line
        self.flags = [] if flags is None else flags
        self.args = args
        self.json_args = json_args
        self.heredocs = [] if heredocs is None else heredocs
        self.stage = stage
        self.node_index = node_index
        self.stage_position = stage_position
        self.shell = list(DEFAULT_SHELL) if shell is None else shell
        self._joined_map = [] if _joined_map is None else _joined_map
        self._args_offset = _args_offset

    @property
    def raw(self) -> str:
        return self.doc.text[self.start : self.end]

    @property
    def body_start(self) -> int:
        return self.doc_offset(0)

    @property
    def body_end(self) -> int:
        """End of the argument text (before the line break / heredoc bodies)."""
        if not self.args:
            return self.body_start
        return self.doc_offset(len(self.args) - 1) + 1

    def doc_offset(self, args_index: int) -> int:
        """Map an index into ``args`` to an offset in ``Document.text``."""
        joined_index = self._args_offset + args_index
        k = bisect.bisect_right(self._joined_map, (joined_index, float("inf"), 0)) - 1
        seg_start, text_start, length = self._joined_map[max(k, 0)]
        return text_start + min(joined_index - seg_start, length)

    def key_values(self, variables: dict[str, str] | None = None) -> dict[str, str]:
        """ENV / LABEL / ARG pairs, dequoted; ``$VAR`` substituted from ``variables`` when given.

        dockerfile-parse does the quoting and substitution rules; an ARG without a default maps to "".
        """
        if self.keyword == "ARG":
            pairs = {}
            for word, _, _ in iter_words(self.args, self.doc.escape):
                name, _, default = word.partition("=")
                pairs[unquote(name, self.doc.escape)] = substitute(default, variables)
            return pairs
        if self.keyword not in ("ENV", "LABEL") or not self.args:
            return {}
        if variables is None:
            return dict(_literal_key_values(self.args))
        return dict(_substituted_key_values(self.args, frozenset(variables.items())))

    def continuation_style(self) -> Continuation | None:
        """How this instruction writes its continued lines, or None when it has none.

        The indentation of its own ``&&`` lines (else of its first continued line), and whether it
        ends lines with ``&& \\`` (and with which spacing) instead of starting them with ``&&``.
        """
        return _continuation_style(self.doc.text[self.body_start : self.body_end], self.doc.escape)

    def words(self) -> list[str]:
        """The arguments as BuildKit splits them, quotes and escapes removed (exec form: the JSON strings)."""
        if self.json_args is not None:
            return list(self.json_args)
        return list(_split_words(self.args, self.doc.escape))

    def flag(self, name: str) -> str | None:
        values = self.flag_values(name)
        return values[0] if values else None

    def flag_values(self, name: str) -> list[str]:
        return [f.value or "" for f in self.flags if f.name == name]

    @property
    def is_exec_form(self) -> bool:
        return self.json_args is not None

    @property
    def stage_shell(self) -> list[str]:
        """The SHELL in force for this instruction (default /bin/sh -c)."""
        return self.shell

    @property
    def shell_form_posix(self) -> bool:
        """True when the body is shell form and runs under a POSIX shell."""
        if self.json_args is not None:
            return False
        shell = self.stage_shell
        return bool(shell) and _is_posix_shell(shell[0])

    def script(self) -> Script | None:
        """Shell analysis of a shell-form body under a POSIX shell; None otherwise."""
        if not self.shell_form_posix:
            return None
        from .shell import analyse

        return analyse(self.args)


@dataclass(frozen=True)
class Continuation:
    """An instruction's line-continuation style, for lines a transform adds to it."""

    indent: str = "    "
    trailing: str | None = None  # " && " when lines end with `&& \`, None when they start with `&&`

    def __init__(  # written out to be compiled: see setup.py
        self,
        indent: str = "    ",
        trailing: str | None = None,
    ) -> None:
        object.__setattr__(self, "indent", indent)
        object.__setattr__(self, "trailing", trailing)

    def join(self, escape: str, newline: str, command: str) -> str:
        """The text that continues a body with ``command`` on a new line."""
        if self.trailing is not None:
            return f"{self.trailing}{escape}{newline}{self.indent}{command}"
        return f" {escape}{newline}{self.indent}&& {command}"


def _line_starts(text: str) -> list[int]:
    """The offset of each line's first character (a loop of str.find: no match object per line)."""
    starts = [0]
    at = text.find("\n")
    while at >= 0:
        starts.append(at + 1)
        at = text.find("\n", at + 1)
    return starts


@lru_cache(maxsize=1024)  # merge-runs compares the style of every RUN of a chain with the others'
def _continuation_style(body: str, escape: str) -> Continuation | None:
    """See ``Instruction.continuation_style``."""
    lines = body.split("\n")
    if len(lines) < 2:
        return None
    esc = re.escape(escape)
    ends = [re.search(rf"(\s*&&\s*){esc}\s*\r?$", line) for line in lines[:-1]]
    starts = [line.lstrip(" \t") for line in lines[1:]]
    trailing = next((m.group(1) for m in ends if m), None) if not any(s.startswith("&&") for s in starts) else None
    indents = [
        line[: len(line) - len(stripped)]
        for line, stripped in zip(lines[1:], starts)
        if stripped and not stripped.startswith("#")
    ]
    and_indents = [line[: len(line) - len(stripped)] for line, stripped in zip(lines[1:], starts) if stripped.startswith("&&")]
    # the indentation of its `&&` lines, else of its last line (after `fi`, not inside the if)
    indent = and_indents[0] if and_indents else (indents[-1] if indents else "    ")
    return Continuation(indent, trailing)


@lru_cache(maxsize=64)  # every transform asks about every instruction: a few programs, asked thousands of times
def _is_posix_shell(program: str) -> bool:
    name = program.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return name.removesuffix(".exe") in POSIX_SHELLS


def continuation_of(instructions: list[Instruction]) -> Continuation:
    """The style to continue a group of instructions in: the first one's that has continued lines,
    else the file's ``&&`` indentation, else four spaces with leading ``&&``."""
    for ins in instructions:
        style = ins.continuation_style()
        if style is not None:
            return style
    doc = instructions[0].doc if instructions else None
    return Continuation(doc.continuation_indent if doc is not None and doc.continuation_indent is not None else "    ")


@dataclass(frozen=True)
class State:
    """What is in force when an instruction runs: the image config so far and the build args in scope.

    Derived once per stage by ``Document.walk`` (from the stage it is built FROM, if any), so every
    transform reads the same WORKDIR, USER, ENV, ARG and SHELL rules.
    """

    workdir: str = "/"
    user: str = "root"
    env: Mapping[str, str] = field(default_factory=dict)
    args: Mapping[str, str] = field(default_factory=dict)
    shell: tuple[str, ...] = DEFAULT_SHELL
    escape: str = "\\"
    unknown: frozenset[str] = frozenset()  # ENV/ARG names without a static value (a build arg with no default)
    workdir_known: bool = True  # False once a WORKDIR used a variable without a static value

    def __init__(  # written out to be compiled: see setup.py
        self,
        workdir: str = "/",
        user: str = "root",
        env: Mapping[str, str] | None = None,
        args: Mapping[str, str] | None = None,
        shell: tuple[str, ...] = DEFAULT_SHELL,
        escape: str = "\\",
        unknown: frozenset[str] = frozenset(),
        workdir_known: bool = True,
    ) -> None:
        object.__setattr__(self, "workdir", workdir)
        object.__setattr__(self, "user", user)
        object.__setattr__(self, "env", {} if env is None else env)
        object.__setattr__(self, "args", {} if args is None else args)
        object.__setattr__(self, "shell", shell)
        object.__setattr__(self, "escape", escape)
        object.__setattr__(self, "unknown", unknown)
        object.__setattr__(self, "workdir_known", workdir_known)

    @property
    def variables(self) -> dict[str, str]:
        """What ``$VAR`` expands to in an instruction: build args, overridden by ENV."""
        return {**self.args, **self.env}

    def expand(self, text: str) -> str | None:
        """``text`` with ``$VAR``/``${VAR}``/``${VAR:-default}``/``${VAR:+alt}`` expanded from static
        values only; None when it uses a variable whose value is not known here."""
        return expand_static(text, self.variables, self.unknown)

    @property
    def user_is_root(self) -> bool:
        return self.user.split(":", 1)[0] in ("root", "0", "")

    def after(self, ins: Instruction, global_args: Mapping[str, str], global_unknown: frozenset[str] = frozenset()) -> State:
        """The state after ``ins`` has run."""
        keyword = ins.keyword
        if keyword == "ENV":
            raw = ins.key_values()  # dequoted, not yet expanded: tells which values are static
            static = {k: self.expand(v) for k, v in raw.items()}
            best_effort = ins.key_values(self.variables)
            values = {k: v if v is not None else best_effort.get(k, "") for k, v in static.items()}
            unknown = {k for k, v in static.items() if v is None}
            return _replace(self, env={**self.env, **values}, unknown=self.unknown.difference(raw).union(unknown))
        if keyword == "ARG":
            declared, unknown = {}, set()
            for name, value in ins.key_values(self.variables).items():
                default = next((w.split("=", 1)[1] for w in ins.words() if w.split("=", 1)[0] == name and "=" in w), None)
                if default is not None:
                    declared[name] = value
                    if self.expand(default) is None:
                        unknown.add(name)
                elif name in global_args:
                    declared[name] = global_args[name]
                    if name in global_unknown:
                        unknown.add(name)
                else:
                    declared[name] = self.args.get(name, "")
                    if name not in self.args or name in self.unknown:
                        unknown.add(name)  # no default anywhere: whatever --build-arg says
            return _replace(self, args={**self.args, **declared}, unknown=self.unknown.difference(declared).union(unknown))
        if keyword == "WORKDIR":
            path = substitute(ins.args.strip(), self.variables)
            known = self.workdir_known and self.expand(ins.args.strip()) is not None
            workdir = posixpath.normpath(posixpath.join(self.workdir, path)) if path else self.workdir
            return _replace(self, workdir=workdir, workdir_known=known)
        if keyword == "USER":
            user = self.expand(ins.args.strip())  # a user from an unknown build arg is not known to be root
            return _replace(self, user=user if user is not None else ins.args.strip())
        if keyword == "SHELL" and ins.json_args:
            return _replace(self, shell=tuple(ins.json_args))
        return self


_VARIABLE_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


_STATE_FIELDS = tuple(f.name for f in fields(State))


def expand_static(text: str, variables: Mapping[str, str], unknown: Iterable[str] = ()) -> str | None:
    """Dockerfile variable expansion with static values only; None when a variable's value is not known.

    ``${X:-d}`` gives ``d`` when X is unset or empty, ``${X:+a}`` gives ``a`` when X is set and not
    empty (BuildKit's rules); a variable in ``unknown`` or not in ``variables`` has no static value.
    """
    unknown = frozenset(unknown)
    failed = False

    def sub(m: re.Match) -> str:
        nonlocal failed
        name = m.group(1) or m.group(4)
        op, word = m.group(2), m.group(3) or ""
        known = name in variables and name not in unknown
        if op in (":-", "-"):
            if known:
                value = variables[name]
                return value if value or op == "-" else word
            if name not in unknown:
                return word
        elif op in (":+", "+"):
            if known:
                return word if variables[name] or op == "+" else ""
            if name not in unknown:
                return ""
        elif known:
            return variables[name]
        failed = True
        return ""

    out = _VARIABLE_RE.sub(sub, text)
    return None if failed else out


def _replace(state: State, **changes: Any) -> State:
    """``dataclasses.replace`` without its look-up of the fields on every call: the state walk makes
    one per ENV, ARG, WORKDIR, USER and SHELL, after every edit."""
    values = {name: getattr(state, name) for name in _STATE_FIELDS}
    values.update(changes)
    return State(**values)


@dataclass
class Stage:
    index: int
    name: str | None
    base: str
    platform: str | None
    from_instruction: Instruction
    instructions: list[Instruction] = field(default_factory=list)
    parent: int | None = None
    copies_from: list[str] = field(default_factory=list)
    is_final: bool = False
    resolved_base: str = ""  # the base with the global ARG defaults substituted
    base_pattern: re.Pattern[str] | None = None  # for a base built from ARGs: which stage names it may be

    def __init__(  # written out to be compiled: see setup.py
        self,
        index: int,
        name: str | None,
        base: str,
        platform: str | None,
        from_instruction: Instruction,
        instructions: list[Instruction] | None = None,
        parent: int | None = None,
        copies_from: list[str] | None = None,
        is_final: bool = False,
        resolved_base: str = "",
        base_pattern: re.Pattern[str] | None = None,
    ) -> None:
        self.index = index
        self.name = name
        self.base = base
        self.platform = platform
        self.from_instruction = from_instruction
        self.instructions = [] if instructions is None else instructions
        self.parent = parent
        self.copies_from = [] if copies_from is None else copies_from
        self.is_final = is_final
        self.resolved_base = resolved_base
        self.base_pattern = base_pattern

    @property
    def label(self) -> str:
        return self.name or str(self.index)

    def image(self, aliases: dict[str, str] | None = None):
        """The base as an ImageRef (registry, repository, tag, digest, ARG references)."""
        from .imageref import parse_image_ref

        return parse_image_ref(self.base, aliases)


class Document:
    """A parsed Dockerfile that renders back to the exact input bytes."""

    def __init__(self, text: str, bom: bool):
        self.text = text
        self.bom = bom
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self.escape = "\\"
        self.directives: dict[str, str] = {}
        self.nodes: list[Node] = []
        self.instructions: list[Instruction] = []
        self.stages: list[Stage] = []
        self._stages_by_name: dict[str, Stage] = {}  # first stage of each name, as BuildKit resolves them
        self.final_shells: list[tuple[str, ...]] = []  # per stage: the SHELL in force at its end
        self.line_starts = _line_starts(text)
        #: answers derived from the parsed document (it never changes once parsed), for its readers too
        self.memo = Memo()

    def release(self) -> None:
        """Let go of the nodes and derived answers: call it once nothing reads the document again.

        Each instruction points back at its document (``Instruction.doc``), so a parsed document is
        a reference cycle that only Python's cyclic collector frees; the pipeline parses the file
        again after every edit, and the collector's scans of those documents cost ~4 % of a rewrite.
        Released, a document and its nodes are freed as soon as the last reference goes.
        """
        self.nodes = []
        self.instructions = []
        self.stages = []
        self._stages_by_name = {}
        self.memo = Memo()

    @property
    def _instruction_starts(self) -> list[int]:
        return self.memo.remember("instruction_starts", self._find_instruction_starts)

    def _find_instruction_starts(self) -> list[int]:
        return [ins.start for ins in self.instructions]

    def instructions_in(self, start: int, end: int) -> list[Instruction]:
        """Instructions overlapping the text range [start, end) (or containing start when empty)."""
        k = max(bisect.bisect_right(self._instruction_starts, start) - 1, 0)
        found = []
        while k < len(self.instructions) and self.instructions[k].start < max(end, start + 1):
            if self.instructions[k].end > start:
                found.append(self.instructions[k])
            k += 1
        return found

    def render(self) -> bytes:
        return (_UTF8_BOM if self.bom else b"") + self.text.encode("utf-8")

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset)

    def stage_by_ref(self, ref: str) -> Stage | None:
        """A stage named (case-insensitively) or indexed by ``ref`` (as used by COPY --from / FROM)."""
        named = self._stages_by_name.get(ref.lower())
        if named is not None:
            return named
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None

    def lineage(self, index: int) -> list[int]:
        """A stage and the stages it is built FROM, nearest first (its files start from theirs)."""
        chain: list[int] = []
        current: int | None = index
        while current is not None and current >= 0 and current not in chain:
            chain.append(current)
            current = self.stages[current].parent
        return chain

    @property
    def _global_state(self) -> State:
        return self.memo.remember("global_state", self._find_global_state)

    def _find_global_state(self) -> State:
        """The build args declared before the first FROM, walked like a stage's."""
        state = State(escape=self.escape)
        for ins in self.instructions:
            if ins.keyword == "FROM":
                break
            if ins.keyword == "ARG":
                state = state.after(ins, {})
        return state

    @property
    def global_args(self) -> Mapping[str, str]:
        """ARG defaults declared before the first FROM (what ``FROM ${X}`` and a bare ``ARG X`` see)."""
        return self._global_state.args

    @property
    def global_unknown(self) -> frozenset[str]:
        """Global ARGs without a static default: their value comes from --build-arg."""
        return self._global_state.unknown

    @property
    def _states(self) -> dict[int, list[State]]:
        return self.memo.remember("states", self._find_states)

    def _find_states(self) -> dict[int, list[State]]:
        """Per stage: the state before each of its instructions, then the state after the last one."""
        states: dict[int, list[State]] = {}
        for stage in self.stages:
            parent = states[stage.parent][-1] if stage.parent is not None else None
            state = State(escape=self.escape) if parent is None else _replace(parent, args={})
            timeline = []
            for ins in stage.instructions:
                timeline.append(state)
                state = state.after(ins, self.global_args, self.global_unknown)
            timeline.append(state)
            states[stage.index] = timeline
        return states

    def walk(self, stage: int) -> Iterator[tuple[Instruction, State]]:
        """Each instruction of a stage with the state in force when it runs (FROM included)."""
        return zip(self.stages[stage].instructions, self._states[stage])

    def state_at(self, ins: Instruction) -> State:
        """The state in force when ``ins`` runs."""
        return self._states[ins.stage][ins.stage_position]

    def final_state(self, stage: int) -> State:
        return self._states[stage][-1]

    @property
    def _children(self) -> dict[int, list[int]]:
        return self.memo.remember("children", self._find_children)

    def _find_children(self) -> dict[int, list[int]]:
        children: dict[int, list[int]] = {}
        for stage in self.stages:
            if stage.parent is not None:
                children.setdefault(stage.parent, []).append(stage.index)
        return children

    def descendants(self, stage: int) -> list[int]:
        """The stage and every stage built FROM it, directly or not, in file order."""
        found, todo = {stage}, [stage]
        while todo:
            for child in self._children.get(todo.pop(), []):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return sorted(found)

    def shipping_stages(self, targets: Iterable[str] = ()) -> frozenset[int]:
        """Stages whose files end up in an image someone runs or builds on.

        The final stage, every stage with its own CMD/ENTRYPOINT (a ``--target`` of the file), the
        stages named in ``targets``, and, from those: the stages they are built FROM (including any
        stage an ARG-built ``FROM ${X}-name`` may pick) and the stages they copy whole
        (``COPY --from=stage / /``).
        """
        key = tuple(sorted({t.lower() for t in targets}))
        return self.memo.remember(("shipping", key), lambda: frozenset(self._shipping(key)))

    def _shipping(self, targets: tuple[str, ...]) -> set[int]:
        if not self.stages:
            return set()
        roots = {len(self.stages) - 1}
        roots |= {s.index for s in self.stages if any(i.keyword in ("CMD", "ENTRYPOINT") for i in s.instructions)}
        roots |= {s.index for t in targets if (s := self.stage_by_ref(t)) is not None}
        found: set[int] = set()
        todo = sorted(roots)
        while todo:
            index = todo.pop()
            if index in found:
                continue
            found.add(index)
            stage = self.stages[index]
            if stage.parent is not None:
                todo.append(stage.parent)
            if stage.base_pattern is not None:
                todo += [s.index for s in self.stages[:index] if s.name and stage.base_pattern.fullmatch(s.name)]
            for ins in stage.instructions:
                source = ins.flag("from") if ins.keyword == "COPY" else None
                if source is not None and _copies_whole_filesystem(ins):
                    copied = self.stage_by_ref(substitute(source, self.global_args))
                    if copied is not None and copied.index < index:
                        todo.append(copied.index)
        return found

    def root_base(self, stage: int) -> str:
        """The image the stage's lineage starts from (its first ancestor's FROM), global build args resolved."""
        root = self.stages[self.lineage(stage)[-1]]
        return root.resolved_base or root.base

    def root_image(self, stage: int, aliases: dict[str, str] | None = None):
        """``root_base`` parsed as an ImageRef, or None when it is not a valid reference."""
        from .imageref import parse_image_ref

        try:
            return parse_image_ref(self.root_base(stage), aliases)
        except ValueError:
            return None

    @property
    def _reaching_final(self) -> frozenset[int]:
        return self.memo.remember("reaching_final", self._find_reaching_final)

    def _find_reaching_final(self) -> frozenset[int]:
        return frozenset(self.lineage(len(self.stages) - 1)) if self.stages else frozenset()

    @property
    def continuation_indent(self) -> str | None:
        return self.memo.remember("continuation_indent", self._find_continuation_indent)

    def _find_continuation_indent(self) -> str | None:
        """The file's own indentation for continued ``&&`` lines (None: the file has none)."""
        m = re.search(r"\n([ \t]+)&& ", self.text)
        return m.group(1) if m else None

    def stages_reaching_final(self) -> frozenset[int]:
        """The final stage and the stages it is built FROM: their files end up in the image."""
        return self._reaching_final

    def comments_above(self, instruction: Instruction) -> list[Comment]:
        """The block of comment lines directly above an instruction (no blank line between)."""
        block: list[Comment] = []
        index = instruction.node_index - 1
        while index >= 0 and isinstance(self.nodes[index], Comment):
            block.append(self.nodes[index])  # type: ignore[arg-type]
            index -= 1
        return block[::-1]


def _copies_whole_filesystem(ins: Instruction) -> bool:
    """``COPY --from=stage / /``: everything the stage holds, caches included, lands here."""
    words = ins.words()
    return any(posixpath.normpath(w) == "/" or w in ("/*", "/.") for w in words[:-1])


# --------------------------------------------------------------------------- decoding


def decode(data: bytes) -> tuple[str, bool]:
    """Bytes to text; reject what is not a UTF-8 text file with a clear message."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ParseError("file is UTF-16 encoded; Dockerfiles must be UTF-8")
    bom = data.startswith(_UTF8_BOM)
    if bom:
        data = data[3:]
    if b"\x00" in data:
        raise ParseError("binary file (contains NUL bytes), not a Dockerfile")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParseError(f"not valid UTF-8 (byte {exc.start})", line) from None
    return text, bom


# --------------------------------------------------------------------------- lexing helpers


@dataclass(slots=True)
class _Line:
    start: int
    end: int  # including the line break
    content: str  # without the line break

    def __init__(self, start: int, end: int, content: str) -> None:  # written out to be compiled: see setup.py
        self.start = start
        self.end = end
        self.content = content


def _split_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    pos = 0
    for raw in text.split("\n"):
        end = pos + len(raw) + 1
        lines.append(_Line(pos, end, raw[:-1] if raw.endswith("\r") else raw))
        pos = end
    if lines and lines[-1].start == len(text):
        lines.pop()  # text ends with a line break: no last empty line
    elif lines:
        lines[-1].end = len(text)
    return lines


def _lstrip(s: str) -> str:
    return s.lstrip(" \t\v\f\r\u00a0\u0085")


def _is_comment(content: str) -> bool:
    return _lstrip(content).startswith("#")


def split_words(text: str, escape: str = "\\") -> list[tuple[str, int, int]]:
    """Split on unquoted whitespace, keeping quotes; returns (word, start, end) spans."""
    return list(iter_words(text, escape))


def iter_words(text: str, escape: str = "\\") -> Iterator[tuple[str, int, int]]:
    """Lazy split_words: callers that only need the first words stop early."""
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in GO_SPACE:
            i += 1
        if i >= n:
            break
        start = i
        quote = ""
        while i < n:
            ch = text[i]
            if quote:
                if ch == escape and quote == '"' and i + 1 < n:
                    i += 2
                    continue
                if ch == quote:
                    quote = ""
            elif ch == escape and i + 1 < n:
                i += 2
                continue
            elif ch in "'\"":
                quote = ch
            elif ch in GO_SPACE:
                break
            i += 1
        yield text[start:i], start, i


def substitute(text: str, variables: Mapping[str, str] | None = None) -> str:
    """Dequote a value and expand ``$VAR``/``${VAR}`` from ``variables`` (Dockerfile rules, via dockerfile-parse)."""
    return _substituted(text, frozenset(variables.items()) if variables is not None else None)


def unquote(word: str, escape: str = "\\") -> str:
    """Remove shell-style quotes and escapes from one word (no expansion)."""
    if "'" not in word and '"' not in word and escape not in word:
        return word
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(word):
        ch = word[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote == '"' and i + 1 < len(word):
                i += 1
                out.append(word[i])
            else:
                out.append(ch)
        elif ch in "'\"":
            quote = ch
        elif ch == escape and i + 1 < len(word):
            i += 1
            out.append(word[i])
        else:
            out.append(ch)
        i += 1
    return "".join(out)


class _DirectiveParser:
    def __init__(self) -> None:
        self.done = False
        self.seen: set[str] = set()

    def parse(self, content: str, line: int) -> tuple[str, str] | None:
        if self.done:
            return None
        m = _DIRECTIVE_RE.match(content)
        if not m or m.group(1).lower() not in VALID_DIRECTIVES:
            self.done = True
            return None
        key = m.group(1).lower()
        if key in self.seen:
            raise ParseError(f"only one {key} parser directive can be used", line)
        self.seen.add(key)
        return key, m.group(2)


# --------------------------------------------------------------------------- parsing


class CollectorPaused:
    """``with CollectorPaused():`` pauses Python's cyclic garbage collector, and nests.

    Parsing, rewriting and scanning a build context make many new objects that are nearly all acyclic
    and freed by reference counting; the collector's repeated scans of them cost more than the work
    itself (5 % of a rewrite, 20 % of a big file's parse). It runs again once the block is left.
    """

    def __enter__(self) -> None:
        self.enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            gc.enable()


def parse(data: bytes | str) -> Document:
    """Parse a Dockerfile into a lossless Document; raise ParseError for input we must not touch."""
    with CollectorPaused():
        return _parse(data)


def _parse(data: bytes | str) -> Document:
    if isinstance(data, bytes):
        text, bom = decode(data)
    else:
        text, bom = data, False
    doc = Document(text, bom)
    lines = _split_lines(text)
    for number, line in enumerate(lines, start=1):
        if len(line.content) > MAX_LINE_CHARS:
            raise ParseError(f"line is {len(line.content)} characters long (limit {MAX_LINE_CHARS}): not a Dockerfile", number)
    directives = _DirectiveParser()
    i = 0
    while i < len(lines):
        line = lines[i]
        content = _lstrip(line.content)
        found = directives.parse(content, i + 1)
        if found:
            key, value = found
            if key == "escape":
                if value not in ("\\", "`"):
                    raise ParseError(f"invalid escape token '{value}' (use \\ or `)", i + 1)
                doc.escape = value
            doc.directives[key] = value
            doc.nodes.append(Directive(line.start, line.end, i + 1, key, value))
            i += 1
            continue
        if content.startswith("#"):
            doc.nodes.append(Comment(line.start, line.end, i + 1, content[1:].strip()))
            i += 1
            continue
        body, complete = _trim_continuation(content, doc.escape)
        if complete and not body.strip():
            doc.nodes.append(Blank(line.start, line.end, i + 1))
            i += 1
            continue
        i = _parse_instruction(doc, lines, i, directives)
    _build_stages(doc)
    return doc


def _trim_continuation(content: str, escape: str) -> tuple[str, bool]:
    stripped = content.rstrip(" \t")
    if stripped.endswith(escape):
        return stripped[:-1], False
    return content, True


def _parse_instruction(doc: Document, lines: list[_Line], i: int, directives: _DirectiveParser) -> int:
    first = lines[i]
    lead = len(first.content) - len(_lstrip(first.content))
    body, complete = _trim_continuation(first.content[lead:], doc.escape)
    joined = body
    joined_map = [(0, first.start + lead, len(body))]
    first_index = i
    i += 1
    while not complete and i < len(lines):
        content = lines[i].content
        directives.parse(_lstrip(content), i + 1)
        if _is_comment(content) or not _lstrip(content):
            i += 1
            continue
        part, complete = _trim_continuation(content, doc.escape)
        joined_map.append((len(joined), lines[i].start, len(part)))
        joined += part
        i += 1
    line_no = first_index + 1
    try:
        keyword_text, keyword, flags, args_offset, args, json_args = _head(joined, doc.escape)
    except _HeadError as exc:
        raise ParseError(str(exc), line_no) from None
    ins = Instruction(
        start=first.start,
        end=lines[i - 1].end,
        line=line_no,
        doc=doc,
        keyword=keyword,
        keyword_text=keyword_text,
        flags=list(flags),
        args=args,
        json_args=None if json_args is None else list(json_args),
        _joined_map=joined_map,
        _args_offset=args_offset,
    )
    sub_keyword = args.split(None, 1)[0].upper() if keyword == "ONBUILD" and args.strip() else ""
    reads_heredocs = keyword in HEREDOC_INSTRUCTIONS or sub_keyword in HEREDOC_INSTRUCTIONS
    if reads_heredocs and "<<" in joined and ins.json_args is None:
        i = _read_heredocs(doc, ins, joined, lines, i)
        ins.end = lines[i - 1].end
    ins.end_line = i
    if len(doc.instructions) >= MAX_INSTRUCTIONS:
        raise ParseError(f"more than {MAX_INSTRUCTIONS} instructions: not processed", line_no)
    ins.node_index = len(doc.nodes)
    doc.nodes.append(ins)
    doc.instructions.append(ins)
    return i


class _HeadError(ValueError):
    """An instruction's own text is not valid (a ParseError but for the line, which the caller knows)."""


@lru_cache(maxsize=1024)
def _head(joined: str, escape: str) -> tuple[str, str, tuple[Flag, ...], int, str, tuple[str, ...] | None]:
    """(keyword as written, KEYWORD, flags, index of args in ``joined``, args, JSON form) of an
    instruction's joined logical line, checked as BuildKit checks it.

    Worked out once per text: the pipeline parses the file again after each transform's edits, and
    all but the edited instructions come back unchanged. Callers copy the lists they keep.
    """
    m = re.match(r"(\S+)", joined)
    if m is None:
        raise _HeadError("a line continuation with no instruction")
    keyword_text = m.group(1)
    keyword = keyword_text.upper()
    if keyword not in KNOWN_INSTRUCTIONS:
        raise _HeadError(f"unknown instruction: {keyword_text}")
    rest_at = m.end()
    while rest_at < len(joined) and joined[rest_at] in " \t":
        rest_at += 1
    flags, args_offset = _parse_flags(joined, rest_at, escape) if keyword != "ONBUILD" else ([], rest_at)
    args = joined[args_offset:].rstrip(" \t")
    json_args = _json_form(keyword, args)
    if keyword in ("ENV", "LABEL"):
        _check_name_values(keyword, args, escape)
    if keyword == "SHELL" and json_args is None:
        raise _HeadError('SHELL requires the JSON form, e.g. SHELL ["/bin/bash", "-c"]')
    return keyword_text, keyword, tuple(flags), args_offset, args, None if json_args is None else tuple(json_args)


def _parse_flags(joined: str, at: int, escape: str) -> tuple[list[Flag], int]:
    """BuildKit's extractBuilderFlags: leading ``--name[=value]`` words, ``--`` ends them."""
    if not joined.startswith("--", at):
        return [], at  # the common case: no flags
    flags: list[Flag] = []
    for word, start, end in iter_words(joined[at:], escape):
        if not word.startswith("--"):
            return flags, at + start
        if word == "--":
            at_end = at + end
            while at_end < len(joined) and joined[at_end] in " \t":
                at_end += 1
            return flags, at_end
        m = _FLAG_RE.match(unquote(word, escape))
        if not m:
            return flags, at + start
        flags.append(Flag(m.group(1).lower(), m.group(2), word))
    return flags, len(joined)


def _check_name_values(keyword: str, args: str, escape: str) -> None:
    """BuildKit's parseNameVal rules: either ``KEY VALUE...`` or only ``KEY=VALUE`` words."""
    words = [w for w, _, _ in split_words(args, escape)]
    if not words:
        raise _HeadError(f"{keyword} requires at least one argument")
    if "=" not in words[0]:
        if len(words) < 2:
            raise _HeadError(f"{keyword} must have two arguments (KEY VALUE or KEY=VALUE)")
        return
    for word in words:
        if "=" not in word:
            raise _HeadError(f"{keyword}: can't find = in {word!r}; use the form name=value")


def _json_form(keyword: str, args: str) -> list[str] | None:
    if keyword not in JSON_FORM_INSTRUCTIONS or not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except ValueError:
        value = None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    # `RUN [ "$X" = true ] && ...` is the shell's test command (`[` then a blank), which BuildKit runs as
    # shell form; a broken JSON array otherwise is almost surely a typo that would run as a shell string
    if re.match(r"\[\"" if keyword == "RUN" else r"\[\s*\"", args):
        raise _HeadError(f"{keyword} looks like a JSON array but is not valid JSON: {args[:60]}")
    return None


def _read_heredocs(doc: Document, ins: Instruction, joined: str, lines: list[_Line], i: int) -> int:
    for word, _, _ in split_words(joined, "\\"):
        m = _HEREDOC_WORD_RE.match(word)
        if not m or not m.group(3):
            continue
        rest = m.group(3)
        name = unquote(rest)
        quoted = name != rest
        strip_tabs = m.group(2) == "-"
        body_start = lines[i].start if i < len(lines) else len(doc.text)
        terminated = False
        while i < len(lines):
            candidate = lines[i].content
            if strip_tabs:
                candidate = candidate.lstrip("\t")
            if candidate == name:
                terminated = True
                break
            i += 1
        if not terminated:
            raise ParseError(f"unterminated heredoc <<{name} (no line '{name}' follows)", ins.line)
        body_end = lines[i].start
        ins.heredocs.append(
            Heredoc(name, strip_tabs, quoted, int(m.group(1) or 0), body_start, body_end, doc.text[body_start:body_end])
        )
        i += 1
    return i


def _build_stages(doc: Document) -> None:
    if not doc.instructions:
        raise ParseError("no instructions: the file is empty or only has comments")
    shell = list(DEFAULT_SHELL)
    for ins in doc.instructions:
        if ins.keyword == "FROM":
            if doc.stages:
                doc.final_shells.append(tuple(shell))
            shell = list(DEFAULT_SHELL)
            words = [unquote(w, doc.escape) for w, _, _ in split_words(ins.args, doc.escape)]
            if not words:
                raise ParseError("FROM needs an image", ins.line)
            name = None
            if len(words) >= 3 and words[1].lower() == "as":
                name = words[2].lower()
            elif len(words) != 1:
                raise ParseError(f"FROM expects 'image [AS name]', got: {ins.args}", ins.line)
            stage = Stage(len(doc.stages), name, words[0], ins.flag("platform"), ins)
            stage.resolved_base = substitute(words[0], doc.global_args) if "$" in words[0] else words[0]
            if (
                "$" in words[0]
                and expand_static(words[0], doc.global_args, doc.global_unknown) is None
                and not re.fullmatch(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", words[0])
            ):
                # `FROM ${VARIANT}-install`: a build arg picks one of these stages. A bare `FROM ${BASE}`
                # names an image (treating it as one only ever leaves a stage unoptimised)
                stage.base_pattern = _arg_pattern(words[0])
            parent = doc.stage_by_ref(stage.resolved_base) if "/" not in stage.resolved_base else None
            if parent is not None and parent.index < stage.index:
                stage.parent = parent.index
                shell = list(doc.final_shells[parent.index])  # SHELL is image config: children inherit it
            doc.stages.append(stage)
            if name is not None:
                doc._stages_by_name.setdefault(name, stage)
        elif not doc.stages:
            if ins.keyword != "ARG":
                raise ParseError(f"{ins.keyword} before the first FROM (only ARG may come first)", ins.line)
            continue
        ins.stage = len(doc.stages) - 1
        ins.shell = shell
        if ins.keyword == "SHELL" and ins.json_args:
            shell = ins.json_args
        stage = doc.stages[ins.stage]
        ins.stage_position = len(stage.instructions)
        stage.instructions.append(ins)
        if ins.keyword == "COPY" and ins.flag("from"):
            stage.copies_from.append(ins.flag("from") or "")
    if not doc.stages:
        raise ParseError("no FROM instruction: not a Dockerfile")
    doc.stages[-1].is_final = True


def _arg_pattern(base: str) -> re.Pattern[str]:
    """A FROM reference built from ARGs as a pattern of the stage names it may resolve to."""
    pieces = re.split(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*", base.lower())
    return re.compile(".*".join(re.escape(p) for p in pieces))
