"""Docker's own .dockerignore semantics (moby/patternmatcher + the ignorefile reader), not gitignore's.

Differences from .gitignore that matter when we reason about what a build can see:
- a pattern is anchored at the context root (`foo` does not match `a/foo`; write `**/foo`);
- `*` and `?` never cross `/`; `**` matches any number of segments (zero included);
- leading `/` and `./` are removed and the pattern is path-cleaned (`a/../b` == `b`);
- a pattern that matches a folder excludes everything inside it, and `!pattern` lines re-include,
  the last matching line winning;
- a line is a comment only when `#` is its very first character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "BadPattern",
    "go_clean",
    "read_patterns",
    "Pattern",
    "PatternMatcher",
    "go_match",
    "has_glob",
]

_BOM = "\ufeff"
_ESCAPE = set(".+()|{}$")


class BadPattern(ValueError):
    """A pattern Docker rejects (e.g. an unclosed `[`): the build would fail on it."""


def go_clean(path: str) -> str:
    """Go's path.Clean: collapse `//`, `.` and `..` lexically; "" becomes "."."""
    if path == "":
        return "."
    if "//" not in path and "/." not in path and path[0] != "." and path[-1] != "/":
        return path  # no empty, "." or ".." segment: already clean (most paths)
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def read_patterns(text: str) -> list[str]:
    """The pattern list Docker derives from a .dockerignore file (moby ignorefile.ReadAll)."""
    patterns: list[str] = []
    for i, raw in enumerate(text.splitlines()):
        line = raw.lstrip(_BOM) if i == 0 else raw
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = go_clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
    return patterns


def _class_to_regex(pat: str, i: int) -> tuple[str, int]:
    """Translate a Go character class starting at pat[i] == '['; returns (regex, index after ']')."""
    j = i + 1
    out = "["
    if j < len(pat) and pat[j] == "^":
        out += "^"
        j += 1

    def char(k: int) -> tuple[str, int]:
        if k >= len(pat) or pat[k] in "-]":
            raise BadPattern(pat)
        if pat[k] == "\\":
            k += 1
            if k >= len(pat):
                raise BadPattern(pat)
        return pat[k], k + 1

    items = 0
    while True:
        if j < len(pat) and pat[j] == "]" and items:
            return out + "]", j + 1
        lo, j = char(j)
        if j < len(pat) and pat[j] == "-":
            hi, j = char(j + 1)
            if hi < lo:
                raise BadPattern(pat)
            out += re.escape(lo) + "-" + re.escape(hi)
        else:
            out += re.escape(lo)
        items += 1


def go_match(pattern: str, name: str) -> bool:
    """Go filepath.Match: the whole `name` must match; `*`/`?` never cross `/` (used for COPY sources)."""
    return _go_regex(pattern).match(name) is not None


@lru_cache(maxsize=4096)
def _go_regex(pattern: str) -> re.Pattern[str]:
    rx = ["^"]
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            rx.append("[^/]*")
        elif c == "?":
            rx.append("[^/]")
        elif c == "[":
            part, i = _class_to_regex(pattern, i)
            rx.append(part)
            continue
        elif c == "\\":
            i += 1
            if i >= len(pattern):
                raise BadPattern(pattern)
            rx.append(re.escape(pattern[i]))
        else:
            rx.append(re.escape(c))
        i += 1
    rx.append("$")
    return re.compile("".join(rx), re.S)


def has_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


@dataclass(frozen=True)
class Pattern:
    """One cleaned pattern, compiled the way moby's Pattern.compile does (exact/prefix/suffix/regexp).

    Frozen: compiled patterns are shared (``compile`` is memoised; a run writes the same few hundred
    candidate and user lines for every Dockerfile).
    """

    cleaned: str
    exclusion: bool = False
    dirs: tuple[str, ...] = ()
    kind: str = "exact"
    regex: re.Pattern[str] | None = None

    @classmethod
    def compile(cls, text: str) -> Pattern:
        return _compile_pattern(text)

    def match(self, path: str) -> bool:
        """Does this pattern match exactly `path` (no parent folders considered)?"""
        if self.kind == "exact":
            return path == self.cleaned
        if self.kind == "prefix":
            return path.startswith(self.cleaned[:-2])
        if self.kind == "suffix":
            suffix = self.cleaned[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regex is not None
        return self.regex.match(path) is not None

    def could_match_inside(self, folder: str) -> bool:
        """Could this pattern match some path strictly inside `folder`? (conservative: may say True)."""
        if self.cleaned.startswith("**") or self.kind == "suffix":
            return True
        parts = folder.split("/")
        for k, seg in enumerate(self.dirs):
            if seg == "**" or "**" in seg:
                return True
            if k >= len(parts):
                return True  # the pattern goes deeper than `folder`
            try:
                if not go_match(seg, parts[k]):
                    return False
            except BadPattern:
                return True
        return False  # the pattern names `folder` itself or an ancestor: nothing deeper


@lru_cache(maxsize=4096)
def _compile_pattern(text: str) -> Pattern:
    p = go_clean(text.strip())
    exclusion = p.startswith("!")
    if exclusion:
        if len(p) == 1:
            raise BadPattern('illegal exclusion pattern: "!"')
        p = p[1:]
    kind, regex = _translate(p)
    return Pattern(cleaned=p, exclusion=exclusion, dirs=tuple(p.split("/")), kind=kind, regex=regex)


def _translate(p: str) -> tuple[str, re.Pattern[str] | None]:
    """moby's Pattern.compile: the kind of match and, for "regexp", the regular expression."""
    rx = "^"
    kind = "exact"
    i = 0
    n = 0  # index of the token, as the Go scanner loop counts them
    while i < len(p):
        ch = p[i]
        i += 1
        if ch == "*":
            if i < len(p) and p[i] == "*":
                i += 1
                if i < len(p) and p[i] == "/":
                    i += 1
                if i >= len(p):
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        rx += ".*"
                        kind = "regexp"
                else:
                    rx += "(.*/)?"
                    kind = "regexp"
                if n == 0:
                    kind = "suffix"
            else:
                rx += "[^/]*"
                kind = "regexp"
        elif ch == "?":
            rx += "[^/]"
            kind = "regexp"
        elif ch in _ESCAPE:
            rx += "\\" + ch
        elif ch == "\\":
            if i < len(p):
                rx += "\\" + p[i]
                i += 1
                kind = "regexp"
            else:
                rx += "\\\\"
        elif ch in "[]":
            rx += ch
            kind = "regexp"
        else:
            rx += ch
        n += 1
    # Docker checks the syntax with filepath.Match(p, "."); an unclosed class is the usual culprit.
    try:
        go_match(p, ".")
    except BadPattern:
        raise BadPattern(f"bad pattern: {p!r}") from None
    if kind != "regexp":
        return kind, None
    try:
        return kind, re.compile(rx + "$", re.S)
    except re.error as exc:
        raise BadPattern(f"bad pattern: {p!r}: {exc}") from None


class PatternMatcher:
    """An ordered pattern list; `excluded(path)` tells whether Docker leaves `path` out of the context."""

    def __init__(self, patterns: Iterable[str]):
        self.patterns: list[Pattern] = []
        for text in patterns:
            if not text.strip():
                continue
            self.patterns.append(Pattern.compile(text))

    @classmethod
    def from_dockerignore(cls, text: str) -> PatternMatcher:
        return cls(read_patterns(text))

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """moby MatchesOrParentMatches: the path or one of its parent folders matches, last line wins."""
        if not self.patterns:
            return False
        path = go_clean(path)
        if path == ".":
            return False  # Docker never lets a pattern exclude the context root itself
        parents = path.split("/")[:-1]
        matched = False
        for pat in self.patterns:
            if pat.exclusion != matched:
                continue
            hit = pat.match(path)
            if not hit:
                for i in range(len(parents)):
                    if pat.match("/".join(parents[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pat.exclusion
        return matched

    def excludes_whole_dir(self, folder: str) -> bool:
        """True when `folder` is excluded and no `!` line could bring back anything inside it
        (Docker then skips the folder without walking it)."""
        if not self.excluded(folder):
            return False
        folder = go_clean(folder)
        return not any(p.exclusion and p.could_match_inside(folder) for p in self.patterns)
