"""A reader of plain Makefiles: variables, explicit rules and recipes, so the C planner knows what make builds."""

from __future__ import annotations

import posixpath
import re

from ..shell import Command, analyse, parse_options
from .facts import PATH_DIRS, Unsure, abspath, runtimes, static_argv


class Makefile:
    """The parts of a Makefile the split needs: variables, explicit rules and their recipes.

    Only plain Makefiles are read: includes, conditionals, `define`, sub-makes and `$(shell)`
    stop the analysis (the caller turns that into a Skip), so what is read is what make runs.
    """

    def __init__(self, text: str, overrides: dict[str, str], env: dict[str, str]):
        unfollowed = runtimes()["c"]["make_unfollowed"]
        self.vars: dict[str, str] = {}
        self.rules: dict[str, tuple[list[str], list[list[str]]]] = {}  # target -> (prereq texts, recipes)
        self.default: str | None = None
        self.text = text
        self._overrides = overrides
        self._env = env
        for token in unfollowed:
            if token.startswith(("$", "pkg")) and token in text:
                raise Unsure(f"the Makefile uses `{token}`: not followed")
        lines = re.sub(r"\\\n[ \t]*", " ", text.replace("\r\n", "\n")).split("\n")
        current: list[str] | None = None
        for raw in lines:
            if raw.startswith("\t"):
                if current is None:
                    if raw.strip():
                        raise Unsure("Makefile: a recipe line outside a rule")
                    continue
                current.append(raw[1:])
                continue
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            first = line.split()[0]
            if first in unfollowed:
                raise Unsure(f"the Makefile uses `{first}`: not followed")
            current = None
            if first in ("export", "unexport") and "=" not in line:
                continue
            m = re.match(r"^\s*(?:export\s+|override\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(\?=|:::=|::=|:=|\+=|!=|=)\s*(.*)$", line)
            if m:
                name, op, value = m.groups()
                if op == "!=":
                    raise Unsure("the Makefile runs a shell command in a variable (`!=`): not followed")
                if name in overrides:
                    continue
                if op == "?=":
                    if name not in self.vars and name not in env:
                        self.vars[name] = value
                elif op == "+=":
                    self.vars[name] = (self.vars.get(name, env.get(name, "")) + " " + value).strip()
                elif op in (":=", "::=", ":::="):
                    expanded = self.expand(value)
                    if expanded is None:
                        raise Unsure(f"Makefile variable {name} has no static value")
                    self.vars[name] = expanded.replace("$", "$$")
                else:
                    self.vars[name] = value
                continue
            m = re.match(r"^([^:=]+?)\s*::?(?!=)\s*(.*)$", line)
            if not m:
                raise Unsure(f"Makefile line not understood: {line.strip()[:40]}")
            targets_text, rest = m.groups()
            rest, _, inline = rest.partition(";")
            if "=" in rest:
                continue  # a target-specific variable: it changes flags, not which files are made
            targets = (self.expand(targets_text) or "").split()
            if not targets:
                raise Unsure("Makefile rule with a target that has no static name")
            current = [inline.strip()] if inline.strip() else []
            for t in targets:
                if "%" in t:
                    continue  # pattern rule: builds intermediate files only
                texts, recipes = self.rules.setdefault(t, ([], []))
                texts.append(rest.split("|", 1)[0])
                recipes.append(current)
                if self.default is None and not t.startswith("."):
                    self.default = t

    def recipe(self, target: str) -> list[str]:
        return [line for part in self.rules[target][1] for line in part if line.strip()]

    def value(self, name: str) -> str | None:
        if name in self._overrides:
            return self._overrides[name]
        if name in self.vars:
            return self.expand(self.vars[name])
        if name in self._env:
            return self._env[name]
        return None

    def expand(self, text: str, auto: dict[str, str] | None = None, depth: int = 0) -> str | None:
        """Make's variable expansion with static values; None for functions or unknown variables."""
        if depth > 20:
            return None
        out: list[str] = []
        i = 0
        while i < len(text):
            ch = text[i]
            if ch != "$":
                out.append(ch)
                i += 1
                continue
            nxt = text[i + 1 : i + 2]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt in ("(", "{"):
                close = ")" if nxt == "(" else "}"
                j = text.find(close, i + 2)
                if j < 0:
                    return None
                name = text[i + 2 : j]
                i = j + 1
            else:
                name = nxt
                i += 2
            if auto is not None and name in auto:
                out.append(auto[name])
                continue
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
                return None  # a function call or a substitution reference
            if name in self._overrides:
                out.append(self._overrides[name])
                continue
            if name in self.vars:
                v = self.expand(self.vars[name], auto, depth + 1)
                if v is None:
                    return None
                out.append(v)
                continue
            if name in self._env:
                out.append(self._env[name])
                continue
            if name == "DESTDIR":
                continue  # the staging-root convention: empty unless given
            return None
        return "".join(out)

    def prereqs(self, target: str) -> list[str]:
        """The prerequisites that expand statically (`$(SRCS:.c=.o)`, `$(wildcard ...)` are left out:
        what they name is never taken for a build output, so leaving them out only loses candidates)."""
        out: list[str] = []
        for text in self.rules.get(target, ([], []))[0]:
            value = self.expand(text, {"@": target})
            if value is not None:
                out += value.split()
        return out

    def reachable(self, goals: list[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(goals)
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            if t in self.rules:
                todo += self.prereqs(t)
        return seen


def install_files(mk: Makefile, goal: str, cwd: str) -> list[str]:
    """Absolute paths of the files `make <goal>` installs, from its recipe (Unsure when not plain)."""
    if goal not in mk.rules:
        raise Unsure(f"the Makefile has no `{goal}` rule")
    files: list[str] = []
    dirs: set[str] = set(PATH_DIRS)
    for line in mk.recipe(goal):
        for c in _install_recipe_commands(mk, goal, line):
            files += _installed_by(c, goal, cwd, dirs)
    if not files:
        raise Unsure(f"`make {goal}` installs no file the Makefile shows")
    return files


def _install_recipe_commands(mk: Makefile, goal: str, line: str) -> list[Command]:
    """The commands of one recipe line of an install goal, all of them commands whose effect is known."""
    line = line.strip().lstrip("@-+").strip()
    if not line:
        return []
    text = mk.expand(line, {"@": goal})
    if text is None:
        raise Unsure(f"a `make {goal}` recipe line has no static value (install prefix unknown)")
    script = analyse(text)
    if not script.ok:
        raise Unsure(f"a `make {goal}` recipe line is not a shell command we can read")
    allowed = set(runtimes()["c"]["install_recipe_commands"])
    for c in script.commands:
        if c.name not in allowed:
            raise Unsure(f"`make {goal}` runs `{c.name}`: the installed files are not certain")
        if static_argv(c) is None:
            raise Unsure(f"`make {goal}` recipe with shell variables")
    return script.commands


def _installed_by(c: Command, goal: str, cwd: str, dirs: set[str]) -> list[str]:
    """Files an `install`/`cp` command writes; `mkdir` and `install -d` add to the known folders."""
    parsed = parse_options(c.words, c.name)
    paths = [abspath(w.value, cwd) for w in parsed.operands]
    if c.name == "mkdir" or (c.name == "install" and parsed.has("-d")):
        dirs |= set(paths)
        return []
    if c.name not in ("install", "cp"):
        return []
    if c.name == "cp" and any(a.startswith("-") and ("r" in a.lower() or a == "--recursive") for a in c.argv):
        raise Unsure(f"`make {goal}` copies folders")
    target_dir = parsed.value("-t", "--target-directory")
    if target_dir is not None:
        dest, srcs, into = abspath(target_dir, cwd), paths, True
    else:
        if len(paths) < 2:
            raise Unsure(f"`make {goal}`: {c.name} without a destination")
        *srcs, dest = paths
        into = len(srcs) > 1 or dest in dirs or c.argv[-1].endswith("/")
    return [posixpath.join(dest, posixpath.basename(s)) if into else dest for s in srcs]


def recipe_commands(line: str) -> list[Command]:
    script = analyse(line.strip().lstrip("@-+").strip())
    return script.commands if script.ok else []
