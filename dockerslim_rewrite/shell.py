"""The one shared shell-query module: tree-sitter-bash over RUN bodies.

Transforms ask questions here (which commands run, with which arguments, joined how, does a
command change shell state) instead of running regexes over raw RUN text. Offsets are character
offsets into the analysed script string.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from .datafiles import data_toml

_LANGUAGE = Language(tree_sitter_bash.language())

# statement-level node types that are compound commands
COMPOUND_TYPES = frozenset(
    {
        "if_statement",
        "for_statement",
        "c_style_for_statement",
        "while_statement",
        "case_statement",
        "subshell",
        "compound_statement",
        "function_definition",
        "negated_command",
    }
)
_ASSIGNMENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_COMMAND_TYPES = frozenset({"command", "declaration_command", "unset_command"})


@cache
def _knowledge() -> dict:
    return data_toml("shell.toml")


def _parser() -> Parser:
    return Parser(_LANGUAGE)


@dataclass
class Word:
    text: str  # source text
    value: str  # dequoted value when static, else the source text
    start: int
    end: int
    static: bool

    def __init__(
        self, text: str, value: str, start: int, end: int, static: bool
    ) -> None:  # written out to be compiled: see setup.py
        self.text = text
        self.value = value
        self.start = start
        self.end = end
        self.static = static


@dataclass
class Command:
    """A simple command (or declaration/unset builtin, or a bare assignment)."""

    name: str  # effective command name (after sudo/env/VAR=x prefixes); "" for a bare assignment
    prefix_words: list[Word]  # sudo, env, their options and VAR=x assignments before the name
    name_word: Word | None
    start: int
    end: int
    changes_state: bool
    depth: int  # 0 when the command is an item of the top-level chain
    in_subshell: bool  # inside ( ), $( ), a pipeline element or similar child process
    in_top_and_chain: bool  # a top-level item of a pure && chain
    _words: list[Word] | None = field(default=None, repr=False)
    _arg_nodes: list[Node] = field(default_factory=list, repr=False)
    _to_char: Callable[[int], int] | None = field(default=None, repr=False)

    def __init__(  # written out to be compiled: see setup.py
        self,
        name: str,
        prefix_words: list[Word],
        name_word: Word | None,
        start: int,
        end: int,
        changes_state: bool,
        depth: int,
        in_subshell: bool,
        in_top_and_chain: bool,
        _words: list[Word] | None = None,
        _arg_nodes: list[Node] | None = None,
        _to_char: Callable[[int], int] | None = None,
    ) -> None:
        self.name = name
        self.prefix_words = prefix_words
        self.name_word = name_word
        self.start = start
        self.end = end
        self.changes_state = changes_state
        self.depth = depth
        self.in_subshell = in_subshell
        self.in_top_and_chain = in_top_and_chain
        self._words = _words
        self._arg_nodes = [] if _arg_nodes is None else _arg_nodes
        self._to_char = _to_char

    @property
    def words(self) -> list[Word]:
        """Arguments after the effective name (built on first use: most commands are only asked their name)."""
        if self._words is None:
            self._words = [_word(n, self._to_char) for n in self._arg_nodes]
            self._arg_nodes = []
        return self._words

    @property
    def argv(self) -> list[str]:
        return [w.value for w in self.words]


@dataclass
class Item:
    """A top-level element of the script: an item of an && / || chain, split by ; & and newlines."""

    node_type: str
    start: int
    end: int

    def __init__(self, node_type: str, start: int, end: int) -> None:  # written out to be compiled: see setup.py
        self.node_type = node_type
        self.start = start
        self.end = end


@dataclass
class Script:
    text: str
    ok: bool
    commands: list[Command] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    operators: list[str] = field(default_factory=list)  # between items: && || ; & \n
    has_comment: bool = False
    has_heredoc: bool = False
    background: bool = False  # some command runs with a trailing &
    compound: bool = False  # a top-level item is a compound command (if/for/case/while)
    hidden_or: bool = False  # `a || b > f`: tree-sitter nests the || list inside the redirection
    has_sequence: bool = False  # a ; or newline separates statements somewhere (nested too)

    def __init__(  # written out to be compiled: see setup.py
        self,
        text: str,
        ok: bool,
        commands: list[Command] | None = None,
        items: list[Item] | None = None,
        operators: list[str] | None = None,
        has_comment: bool = False,
        has_heredoc: bool = False,
        background: bool = False,
        compound: bool = False,
        hidden_or: bool = False,
        has_sequence: bool = False,
    ) -> None:
        self.text = text
        self.ok = ok
        self.commands = [] if commands is None else commands
        self.items = [] if items is None else items
        self.operators = [] if operators is None else operators
        self.has_comment = has_comment
        self.has_heredoc = has_heredoc
        self.background = background
        self.compound = compound
        self.hidden_or = hidden_or
        self.has_sequence = has_sequence

    @property
    def is_and_chain(self) -> bool:
        """Only simple commands or pipelines joined by && at the top level: safe to extend."""
        return (
            self.ok
            and not self.has_comment
            and not self.has_heredoc
            and not self.background
            and all(op == "&&" for op in self.operators)
        )

    @property
    def changes_state(self) -> bool:
        """Would running this body leave the shell in a different state (cwd, env, options...)?"""
        if "$$" in self.text or "((" in self.text:  # signals the shell itself / arithmetic assignments
            return True
        return any(c.changes_state and not c.in_subshell for c in self.commands) or any(
            item.node_type in _knowledge()["state_changing_nodes"] for item in self.items
        )

    @property
    def needs_grouping(self) -> bool:
        """Is appending ``&& next`` unable to keep this body's exit status and control flow?"""
        # a pipeline binds tighter than &&, and a compound command (if/for/case) is one command of the list
        return bool(set(self.operators) - {"&&"}) or self.hidden_or

    @property
    def sets_errexit(self) -> bool:
        """Does the body turn on ``set -e``? Inside an && list (other than last) POSIX shells ignore it."""
        for cmd in self.commands:
            if cmd.name != "set":
                continue
            argv = cmd.argv
            for k, arg in enumerate(argv):
                if arg.startswith("-") and not arg.startswith("--") and "e" in arg[1:]:
                    return True
                if arg == "-o" and k + 1 < len(argv) and argv[k + 1] == "errexit":
                    return True
        return False

    def top_level(self, name: str) -> list[Command]:
        return [c for c in self.commands if c.name == name and c.depth == 0]


@cache
def analyse(script: str) -> Script:
    """Parse a shell body with tree-sitter-bash and index its commands.

    Cached: every transform asks about the same RUN bodies, in every pipeline round. The pipeline
    empties this cache after each file (``forget_analyses``): a run over thousands of files must not
    keep every body, and a file of thousands of RUNs must not parse one twice. The last few hundred
    bodies stay for the next files (``_recent``): the same bodies recur across the Dockerfiles of a
    run. Callers must treat the returned Script as read-only.
    """
    return _recent(script)


@lru_cache(maxsize=256)  # ~6 KB each; over 500 generated files this saves 42 % of the parses
def _recent(script: str) -> Script:
    data = script.encode("utf-8")
    tree = _parser().parse(data)
    to_char = _offset_mapper(script, data)
    root = tree.root_node
    result = Script(text=script, ok=not root.has_error)  # has_error covers MISSING nodes too
    _top_level(root, result, to_char)
    _walk(root, result, to_char)
    result.commands.sort(key=lambda c: c.start)
    chain_ok = all(op == "&&" for op in result.operators)
    for cmd in result.commands:
        cmd.in_top_and_chain = chain_ok and cmd.depth == 0 and not cmd.in_subshell
    return result


def forget_analyses() -> None:
    """Drop every cached parse (see ``analyse``): called once a file is done."""
    analyse.cache_clear()


def _offset_mapper(script: str, data: bytes):
    if len(script) == len(data):
        return lambda b: b
    table = [0] * (len(data) + 1)
    pos = 0
    for index, ch in enumerate(script):
        width = len(ch.encode("utf-8"))
        for k in range(width):
            table[pos + k] = index
        pos += width
    table[len(data)] = len(script)
    return lambda b: table[b]


def _top_level(root: Node, result: Script, to_char) -> None:
    """Flatten the program into items joined by operators (iteratively: chains can be very long)."""

    def add_chain(node: Node) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            if current.type == "list":
                stack.extend(reversed(current.children))
                continue
            if current.type in ("&&", "||"):
                result.operators.append(current.type)
                continue
            node_type = current.type
            if node_type == "redirected_statement" and current.named_children:
                node_type = current.named_children[0].type
                if any(c.type == "heredoc_redirect" for c in current.children):
                    result.has_heredoc = True
                if node_type == "list" and _list_operators(current.named_children[0]) - {"&&"}:
                    result.hidden_or = True  # `a || b > f`: the operators hide inside the redirected list
                # `a && b > f` is `a && (b > f)`: a plain && chain whatever tree-sitter nests
            if node_type in COMPOUND_TYPES and node_type not in ("subshell", "compound_statement"):
                result.compound = True
            result.items.append(Item(node_type, to_char(current.start_byte), to_char(current.end_byte)))

    pending_separator = False
    for child in root.children:
        if child.type in (";", "&", "\n", ";;"):
            result.operators.append(child.type)
            if child.type == "&":
                result.background = True
            pending_separator = False
            continue
        if child.type == "comment":
            result.has_comment = True
            continue
        if child.type == "heredoc_body":
            result.has_heredoc = True
            continue
        if pending_separator:
            result.operators.append("\n")
        add_chain(child)
        pending_separator = True


def _list_operators(node: Node) -> set[str]:
    """The && / || operators of a (nested) list node."""
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        for child in current.children:
            if child.type in ("&&", "||"):
                found.add(child.type)
            elif child.type == "list":
                stack.append(child)
    return found


_CHAIN_TYPES = ("list", "redirected_statement")
# nodes that cannot hold a command, a comment, a heredoc or an operator: not walked into
_LEAF_TYPES = frozenset(
    {"word", "raw_string", "number", "variable_name", "string_content", "special_variable_name", "test_operator"}
)
_CHILD_PROCESS_TYPES = ("subshell", "command_substitution", "process_substitution", "pipeline")


def _walk(root: Node, result: Script, to_char) -> None:
    """Index every command (iteratively: nesting can be deep). depth 0 = an item of the top-level chain."""
    stack: list[tuple[Node, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, in_subshell = stack.pop()
        for child in node.children:
            kind = child.type
            if kind in _LEAF_TYPES:
                continue
            if kind == "comment":
                result.has_comment = True
            elif kind in ("heredoc_redirect", "heredoc_body", "heredoc_start"):
                result.has_heredoc = True
            elif kind == "&" and node.type != "program":
                result.background = True
            elif kind in (";", "\n"):
                result.has_sequence = True
            if kind in _COMMAND_TYPES:
                result.commands.append(_command(child, to_char, depth, in_subshell))
                stack.append((child, depth + 1, True))  # command substitutions inside
            elif kind == "variable_assignment" and (node.type == "program" or node.type in _CHAIN_TYPES):
                result.commands.append(_bare_assignment(child, to_char, depth, in_subshell))
            else:
                nested = in_subshell or kind in _CHILD_PROCESS_TYPES
                if node.type == "program" and kind in _CHAIN_TYPES:
                    next_depth = 0
                else:
                    next_depth = depth if kind in _CHAIN_TYPES else depth + 1
                stack.append((child, next_depth, nested))


def _word(node: Node, to_char) -> Word:
    text = (node.text or b"").decode("utf-8", "replace")
    value, static = _static_value(node, text)
    return Word(text, value if static else text, to_char(node.start_byte), to_char(node.end_byte), static)


def _static_value(node: Node, text: str | None = None) -> tuple[str, bool]:
    """The word's value with quotes removed, and whether it is static (no expansion)."""
    if text is None:
        text = (node.text or b"").decode("utf-8", "replace")
    kind = node.type
    if kind == "command_name" and node.named_children:
        return _static_value(node.named_children[0], text)
    if kind in ("word", "number", "command_name"):
        return _unescape(text), "$" not in text and "`" not in text
    if kind == "raw_string":
        return text[1:-1], True
    if kind == "string":
        if any(c.type != "string_content" for c in node.named_children):
            return text, False
        return _unescape_dq(text[1:-1]), True
    if kind == "concatenation":
        parts = [_static_value(c) for c in node.children]
        return "".join(p for p, _ in parts), all(s for _, s in parts)
    return text, False


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out)


def _unescape_dq(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in '"\\$`':
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out)


def _command(node: Node, to_char, depth: int, in_subshell: bool) -> Command:
    knowledge = _knowledge()
    prefix: list[Word] = []
    arg_nodes: list[Node] = []
    name_word: Word | None = None
    if node.type in ("declaration_command", "unset_command"):
        keyword = node.children[0]
        name_word = _word(keyword, to_char)
        name_word.value, name_word.static = keyword.type, True
        arg_nodes = list(node.children[1:])
    else:
        for child in node.children:
            if child.type == "variable_assignment" and name_word is None:
                prefix.append(_word(child, to_char))
            elif child.type == "command_name":
                name_word = _word(child, to_char)
            elif child.type in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
                continue
            elif name_word is not None:
                arg_nodes.append(child)
    words: list[Word] | None = None
    # look through wrappers such as sudo and env: the command that really runs is what we ask about
    wrappers = knowledge["wrappers"]
    if name_word is not None and name_word.value in wrappers and arg_nodes:
        words = [_word(n, to_char) for n in arg_nodes]
        arg_nodes = []
        while name_word is not None and name_word.value in wrappers and words:
            options_with_value = set(wrappers[name_word.value])
            prefix.append(name_word)
            skip_next = False
            while words:
                w = words[0]
                if skip_next or w.value.startswith("-") or _ASSIGNMENT_RE.match(w.value):
                    skip_next = w.value in options_with_value
                    prefix.append(words.pop(0))
                    continue
                break
            name_word = words.pop(0) if words else None
    name = name_word.value if name_word is not None else ""
    base = name.rsplit("/", 1)[-1]
    changes_state = base in knowledge["state_changing_commands"]
    if base in knowledge["builtin_prefixes"] or base in knowledge["state_changing_with_option"]:
        argv = [_word(n, to_char).value for n in arg_nodes] if words is None else [w.value for w in words]
        if base in knowledge["builtin_prefixes"]:  # `command cd /x` / `builtin export A=1` run the builtin
            first = next((a for a in argv if not a.startswith("-")), "")
            changes_state = changes_state or first in knowledge["state_changing_commands"]
        else:  # printf -v VAR sets a variable
            changes_state = any(a in knowledge["state_changing_with_option"][base] for a in argv)
    return Command(
        name=base,
        prefix_words=prefix,
        name_word=name_word,
        start=to_char(node.start_byte),
        end=to_char(node.end_byte),
        changes_state=changes_state,
        depth=depth,
        in_subshell=in_subshell,
        in_top_and_chain=False,
        _words=words,
        _arg_nodes=arg_nodes,
        _to_char=to_char,
    )


def _bare_assignment(node: Node, to_char, depth: int, in_subshell: bool) -> Command:
    word = _word(node, to_char)
    return Command("", [word], None, word.start, word.end, True, depth, in_subshell, False, _words=[])


# --------------------------------------------------------------------------- queries


def commands_named(script: Script, *names: str) -> list[Command]:
    return [c for c in script.commands if c.name in names]


def has_command(script: Script, name: str) -> bool:
    return any(c.name == name for c in script.commands)


def cmd_has_args(cmd: Command, *flags: str) -> bool:
    """Is any of the flags present? ``-y`` also matches clusters like ``-qy``; ``--x`` matches ``--x=v``."""
    for word in cmd.words:
        value = word.value
        for flag in flags:
            if value == flag:
                return True
            if flag.startswith("--") and value.startswith(flag + "="):
                return True
            if (
                len(flag) == 2
                and flag[0] == "-"
                and value.startswith("-")
                and not value.startswith("--")
                and flag[1] in value[1:]
                and value[1:].isalpha()
            ):
                return True
    return False


def positional_args(cmd: Command) -> list[str]:
    """Arguments that are not options (a rough split: words not starting with '-')."""
    return [w.value for w in cmd.words if not w.value.startswith("-")]


@dataclass
class ParsedArgs:
    """A command's arguments split by ``parse_options``: options (name -> values) and operands."""

    options: dict[str, list[str]] = field(default_factory=dict)  # "-o" / "--output" -> ["file"]; flags -> [""]
    operands: list[Word] = field(default_factory=list)

    def __init__(
        self, options: dict[str, list[str]] | None = None, operands: list[Word] | None = None
    ) -> None:  # written out to be compiled: see setup.py
        self.options = {} if options is None else options
        self.operands = [] if operands is None else operands

    def has(self, *names: str) -> bool:
        return any(name in self.options for name in names)

    def value(self, *names: str) -> str | None:
        """The last value given to any of ``names`` (the one the tool uses), else None."""
        found = [(k, v) for name in names for k, v in enumerate(self.options.get(name, []))]
        return found[-1][1] if found else None


# aliases: commands that take the same options as another one
_OPTION_ALIASES = {
    "pip3": "pip",
    "pip2": "pip",
    "cc": "gcc",
    "g++": "gcc",
    "c++": "gcc",
    "clang": "gcc",
    "clang++": "gcc",
    "gmake": "make",
    "tdnf": "dnf",
}


def option_table(command: str) -> frozenset[str]:
    """The options of ``command`` that take a value (data/shell.toml [options.*])."""
    return frozenset(_option_spec(command).get("value", ()))


def _option_spec(command: str) -> dict:
    return _knowledge().get("options", {}).get(_OPTION_ALIASES.get(command, command), {})


def parse_argv(
    argv: list[str], command: str, value_options: Iterable[str] = (), single_dash_long: bool | None = None
) -> ParsedArgs:
    """``parse_options`` over plain strings (static arguments already expanded)."""
    words = [Word(a, a, 0, 0, True) for a in argv]
    return parse_options(words, command, value_options, single_dash_long)


def parse_options(
    words: list[Word], command: str, value_options: Iterable[str] = (), single_dash_long: bool | None = None
) -> ParsedArgs:
    """Split ``words`` (a command's arguments) into options and operands, POSIX/GNU style.

    ``--name=value``, ``--name value`` and ``-o value`` / ``-ovalue`` for the options that take a value
    (``option_table``); clustered short flags (``-qy``) count as each flag; ``--`` ends the options.
    Options may follow operands (GNU permutation), as apt, pip and most tools allow.
    """
    takes_value = option_table(command) | frozenset(value_options)
    if single_dash_long is None:
        single_dash_long = bool(_option_spec(command).get("single_dash_long"))
    parsed = ParsedArgs()
    k, done = 0, False
    while k < len(words):
        word = words[k]
        value = word.value
        k += 1
        if done or not value.startswith("-") or value == "-":
            parsed.operands.append(word)
            continue
        if value == "--":
            done = True
            continue
        if value.startswith("--") and single_dash_long and value[1:].partition("=")[0] in takes_value:
            value = value[1:]  # Go's flag package: --o is -o
        if value.startswith("--"):
            name, eq, attached = value.partition("=")
            if eq:
                parsed.options.setdefault(name, []).append(attached)
            elif name in takes_value and k < len(words):
                parsed.options.setdefault(name, []).append(words[k].value)
                k += 1
            else:
                parsed.options.setdefault(name, []).append("")
            continue
        if single_dash_long and value not in takes_value:  # go -trimpath, gcc -Wall -lssl -I/usr
            name, eq, attached = value.partition("=")
            if eq or name in takes_value:
                parsed.options.setdefault(name, []).append(attached)
            elif value[:2] in takes_value and len(value) > 2:
                parsed.options.setdefault(value[:2], []).append(value[2:])
            else:
                parsed.options.setdefault(value, []).append("")
            continue
        if value in takes_value:  # -o file, and single-dash long options (go -ldflags, java -jar)
            if k < len(words):
                parsed.options.setdefault(value, []).append(words[k].value)
                k += 1
            else:
                parsed.options.setdefault(value, []).append("")
            continue
        for at, letter in enumerate(value[1:], start=1):  # -qy, -ofile
            name = "-" + letter
            if name in takes_value:
                rest = value[at + 1 :]
                if not rest and k < len(words):
                    rest = words[k].value
                    k += 1
                parsed.options.setdefault(name, []).append(rest)
                break
            parsed.options.setdefault(name, []).append("")
    return parsed


def rewritten_paths(script: Script, cwd: str = "/") -> list[str]:
    """Paths the script removes, moves or rewrites (the operands of ``[layer_rewriters]`` commands,
    made absolute from ``cwd``, and the directories a package manager's remove/clean touches)."""
    return list(_rewritten_paths(script.text, cwd))


# merge-runs asks both about every RUN in every round, and the same bodies recur across files: worked
# out once per text (a Script is always ``analyse(text)``)
@lru_cache(maxsize=1024)
def _rewritten_paths(text: str, cwd: str) -> tuple[str, ...]:
    script = analyse(text)
    knowledge = _knowledge()
    table, written, cleans = knowledge["layer_rewriters"], knowledge["written_by"], knowledge["cleans"]
    found: list[str] = []
    for cmd in script.commands:
        words = table.get(cmd.name)
        if words is None:
            continue
        verbs = [w.value for w in cmd.words if w.value in words or w.value.split("=", 1)[0] in words]
        if words and not verbs:
            continue
        if cmd.name in written:  # a package manager: a cache/clean verb empties its caches, remove/purge its installs
            found += cleans.get(cmd.name, []) if set(verbs) & _CACHE_VERBS else written[cmd.name]
            continue
        parsed = parse_options(cmd.words, cmd.name)
        operands = [w for w in parsed.operands if w.static and w.value]
        if cmd.name in ("chown", "chmod", "chgrp") and not parsed.has("--reference"):
            operands = operands[1:]  # the owner or the mode comes first
        if cmd.name == "mv" and not parsed.has("-t", "--target-directory"):
            operands = operands[:-1]  # the destination receives files, the sources are what move away
        paths = [_absolute(w.value, cwd) for w in operands]
        if cmd.name in ("chown", "chmod", "chgrp") and not parsed.has("-R", "--recursive"):
            # rewrites the entry itself, not what lies below it; a directory entry weighs nothing
            paths = [p + _EXACT for p in paths if p != cwd and not p.endswith("/")]
        found += paths
    return tuple(found)


_CACHE_VERBS = frozenset({"cache", "clean", "autoclean", "dist-clean", "cc", "prune", "store"})


def written_paths(script: Script, cwd: str = "/") -> list[str]:
    """Paths the script may write: every operand it names (made absolute from ``cwd``), and where its
    package managers write."""
    return list(_written_paths(script.text, cwd))


@lru_cache(maxsize=1024)
def _written_paths(text: str, cwd: str) -> tuple[str, ...]:
    script = analyse(text)
    written = _knowledge()["written_by"]
    found: list[str] = []
    for cmd in script.commands:
        parsed = parse_options(cmd.words, cmd.name)
        values = [w.value for w in parsed.operands if w.static] + [v for vs in parsed.options.values() for v in vs]
        found += [_absolute(v, cwd) for v in values if v and "://" not in v and "$" not in v]
        found += [cwd if d == "." else d for d in written.get(cmd.name, [])]
    removed = [r for r in _rewritten_paths(text, cwd) if not r.endswith(_EXACT)]
    return tuple(p for p in found if not paths_overlap([p], removed) or not _is_cache(p))  # what it cleaned itself is gone


def _is_cache(path: str) -> bool:
    cleans = _knowledge()["cleans"]
    return any(path == c or path.startswith(c.rstrip("/") + "/") for dirs in cleans.values() for c in dirs)


_EXACT = "\0"  # marks a rewritten path whose children are untouched


def _absolute(path: str, cwd: str) -> str:
    if path.startswith(("/", "~", "$")):
        return path
    return posixpath.normpath(posixpath.join(cwd, path))


def paths_overlap(written: list[str], rewritten: list[str]) -> bool:
    """Does a rewritten path (or glob) equal, contain or lie inside a written one?"""
    for target in rewritten:
        if target.endswith(_EXACT):
            if target[: -len(_EXACT)].rstrip("/") in {p.rstrip("/") for p in written}:
                return True
            continue
        pattern = target.rstrip("/") or "/"
        if pattern in ("/", "/*"):
            continue
        for path in written:
            path = path.rstrip("/") or "/"
            if path == "/":
                continue
            if path == pattern or path.startswith(pattern + "/") or pattern.startswith(path + "/"):
                return True
            if any(ch in pattern for ch in "*?[") and (
                fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, pattern + "/*")
            ):
                return True
    return False
