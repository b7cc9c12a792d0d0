"""# dockerignore: write or complete `.dockerignore` from the real build context, never excluding what the build needs

## What it does
Looks at the files of the build context (scanned once by the CLI) and at what the Dockerfile uses,
then writes a `.dockerignore` (or appends the missing lines to the existing one under
`# added by dslim`). Candidate lines come from `data/ignore_patterns.toml`: version-control
folders, dependency folders the image installs itself (`node_modules` when a RUN runs
`npm ci`/`yarn`/`pnpm install`, `.venv` for pip/uv/poetry), build output the image rebuilds
(`target/` for cargo/maven), caches (`__pycache__`, `.pytest_cache` ...), logs, editor/OS files,
local env and secret files (`.env`, `*.pem`, `id_rsa*`, `.npmrc` with a token) and Docker's own
files. A line is written only when it excludes something that is in the context today.

## Why it saves bytes
`COPY . .` sends and copies everything: `.git`, a host `node_modules` that overwrites the one the
image just installed, virtualenvs with host paths, caches, logs and `.env` files with secrets. The
build context shrinks (faster builds), the image shrinks, and secrets stay out of image layers.

## Example
```dockerfile
FROM node:20-slim
WORKDIR /app
COPY package*.json ./
RUN npm ci
COPY . .
CMD ["node", "server.js"]
```
With `node_modules/`, `.git/` and `.env` in the context, dslim writes a `.dockerignore` with
`**/.git`, `**/node_modules`, `**/.env` and `**/Dockerfile*` (each under a comment heading), and
the report shows the context size before and after and the largest excluded paths.

## When it is not applied
- No build context was scanned (`dslim rewrite` on text alone).
- A candidate line would exclude a COPY/ADD source (any stage, globs included; `--from` and heredoc
  sources do not count), a path named in RUN/CMD/ENTRYPOINT/HEALTHCHECK/ENV, a file the ecosystem's
  build reads (lockfiles, `tsconfig.json`, `setup.py`, `go.mod`, `.npmrc` when a node install runs),
  a path the user's own `!` exception re-includes, or (secrets, logs, docker files) a file inside a
  folder the Dockerfile copies explicitly: that line is left out and the report says why.
- `.git` stays when a RUN calls git or a build file uses git metadata (setuptools_scm, versioneer ...).
- The user's file already covers a candidate (same line, or everything it matches is already
  excluded): nothing is added. Existing lines are never removed or reordered.
- The existing file holds a pattern Docker rejects: nothing is changed, a Skip says which.
When the Dockerfile copies the whole context (`COPY . .`), the build and the app may read any file
of it (a `//go:embed` key, a dotenv `.env`, test fixtures): only lines that cannot matter are written
then (VCS metadata nothing reads, dependencies and build output the image recreates, caches, logs,
editor and Docker files); secret-looking files stay, and the report warns about each one. `.git` stays
too when a RUN calls git, a build file uses git metadata (setuptools-scm, git describe, ...), or
`go build` runs over the copied tree (it stamps the VCS revision).

## Limits
- Matching follows Docker's semantics (moby/patternmatcher), not gitignore's.
- Paths named in RUN/CMD are found by their spelling (`/app/tests/run.py` keeps `tests/run.py` when
  that file exists in the context); paths built from variables at run time cannot be seen.
- Folders such as `node_modules` and `.git` are measured as a whole, not listed file by file.
- When several Dockerfiles in the same folder (or the context root) share the context and another
  one needs what this one excludes, the lines go to `<Dockerfile>.dockerignore` (read by BuildKit
  only); Dockerfiles elsewhere are assumed to use their own context.

## Fix safety
`safe` when every added line matches only files no build can use (VCS metadata, caches, editor files,
logs, Docker files); `review` when it also excludes dependency/build folders the image recreates, or
env/secret files: the assumption (the image does not read them at run time) is printed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache

import jinja2

from ..advisories import human_size
from ..buildcontext import Entry, Snapshot
from ..datafiles import data_toml
from ..ignorematch import BadPattern, Pattern, PatternMatcher, go_clean, go_match, has_glob, read_patterns
from ..model import Document, Instruction, ParseError, iter_words, parse, unquote
from ..pybuild import python_module
from ..shell import analyse
from ..transform import SAFETY_LEVELS, Context, FileChange, Skip, transform

ID = "dockerignore"
_TOKEN_MARKERS = ("_authtoken", "_auth", "_password")


# -- knowledge ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    pattern: str
    category: str
    when: str
    safety: str
    secret: bool
    rebuilt: str  # condition under which the image recreates what this pattern matches ("" = never)
    inside: bool
    baseline: bool
    keep_names: tuple[str, ...]
    whole_context: bool = False  # may exclude even under `COPY . .` (see ignore_patterns.toml)

    @property
    def compiled(self) -> Pattern:
        return Pattern.compile(self.pattern)  # memoised there


@cache
def knowledge() -> dict:
    data = data_toml("ignore_patterns.toml")
    data["candidates"] = [
        Candidate(
            pattern=p["pattern"],
            category=p["category"],
            when=p.get("when", "always"),
            safety=p.get("safety", "review"),
            secret=p.get("secret", False),
            rebuilt=p.get("rebuilt", ""),
            inside=p.get("inside", False),
            whole_context=p.get("whole_context", p.get("inside", False)),
            baseline=p.get("baseline", False),
            keep_names=tuple(p.get("keep_names", ())),
        )
        for p in data["pattern"]
    ]
    return data


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dockerslim_rewrite", "templates"),
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template("dockerignore.j2")


# -- what the Dockerfile needs -----------------------------------------------------------------------
@dataclass(frozen=True)
class Keep:
    """A context path the build needs; `strict` also protects what is inside it (explicit COPY dir)."""

    path: str
    reason: str
    line: int
    kind: str  # copy | named | build-file | user-exception
    strict: bool = False

    def __init__(
        self, path: str, reason: str, line: int, kind: str, strict: bool = False
    ) -> None:  # written out to be compiled: see setup.py
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "strict", strict)


@dataclass
class Needs:
    keeps: list[Keep] = field(default_factory=list)
    conditions: set[str] = field(default_factory=set)
    first_copy_line: int = 1

    def __init__(  # written out to be compiled: see setup.py
        self,
        keeps: list[Keep] | None = None,
        conditions: set[str] | None = None,
        first_copy_line: int = 1,
    ) -> None:
        self.keeps = [] if keeps is None else keeps
        self.conditions = set() if conditions is None else conditions
        self.first_copy_line = first_copy_line


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _run_commands(ins: Instruction) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(command name, argv) of a RUN/CMD/... body: shell form via tree-sitter, exec form as is."""
    if ins.json_args is not None:
        return ((ins.json_args[0], tuple(ins.json_args[1:])),) if ins.json_args else ()
    return _shell_commands(ins.args, tuple(h.body for h in ins.heredocs), ins.shell_form_posix, ins.doc.escape)


@lru_cache(maxsize=1024)
def _shell_commands(args: str, heredocs: tuple[str, ...], posix: bool, escape: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The commands of a shell-form body and its heredocs, worked out once per text: the same RUNs come
    back in every round, in the sibling Dockerfiles of a context and in the conditions and the needs."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for body in (args, *heredocs):
        if not body.strip():
            continue
        script = analyse(body) if posix else None
        if script is not None and script.ok:
            out.extend((cmd.name, tuple(cmd.argv)) for cmd in script.commands)
        else:  # unknown shell or unparsable body: plain words, good enough for must-keep purposes
            words = [unquote(w, escape) for w, _, _ in iter_words(body, escape)]
            if words:
                out.append((words[0], tuple(words[1:])))
    return tuple(out)


def _positional(argv: Sequence[str]) -> list[str]:
    return [a for a in argv if not a.startswith("-")]


def _conditions(doc: Document, snap: Snapshot) -> set[str]:
    """The conditions (data/ignore_patterns.toml ``when``) that hold for this build in this context."""
    conds = {"always"}
    uses_git = False
    whole_context = None
    for ins in doc.instructions:
        if ins.keyword != "RUN":
            continue
        commands = _run_commands(ins)
        if whole_context is None and any(_basename(name) == "go" for name, _ in commands):
            whole_context = _copies_whole_context(doc)
        found, git = _command_conditions(commands, bool(whole_context))
        conds |= found
        uses_git = uses_git or git
    conds |= _context_conditions(snap)
    if "node-install" in conds:
        conds.add("node")
    if "python-install" in conds:
        conds.add("python")
    if not uses_git and not _build_files_call_git(snap):
        conds.add("git-unused")
    if "node-install" not in conds and _npmrc_with_token(snap):
        conds.add("npmrc-token")
    return conds


@lru_cache(maxsize=1024)
def _command_conditions(
    commands: tuple[tuple[str, tuple[str, ...]], ...], copies_whole_context: bool
) -> tuple[frozenset[str], bool]:
    """The conditions a RUN's commands set, and whether they use git metadata; once per RUN text."""
    conds: set[str] = set()
    uses_git = False
    for name, argv in commands:
        cmd = _basename(name)
        pos = _positional(argv)
        first = pos[0] if pos else ""
        if cmd == "git" or (cmd == "go" and first in ("build", "install", "run", "generate") and copies_whole_context):
            uses_git = True  # go build stamps the VCS revision from a copied .git (buildvcs); build scripts call git
        if cmd in ("npm", "pnpm", "bun", "yarn", "cnpm"):
            global_install = "-g" in argv or "--global" in argv or first == "global"
            if not global_install and (first in ("install", "i", "ci", "add") or (cmd == "yarn" and not pos)):
                conds.add("node-install")
            if first == "build" or (first in ("run", "run-script") and len(pos) > 1 and pos[1].startswith("build")):
                conds.add("node-build")
        if cmd in ("next", "nuxt", "nuxi", "vite", "ng", "tsc", "webpack") and (first == "build" or cmd in ("tsc", "webpack")):
            conds.add("node-build")
        if cmd in ("npx",) and len(pos) > 1 and pos[1] == "build":
            conds.add("node-build")
        if cmd.startswith("pip") and "install" in pos:
            conds.add("python-install")
        if cmd.startswith("python") and (python_module(argv) or ("",))[0] == "pip" and "install" in argv:
            conds.add("python-install")
        if cmd in ("uv", "poetry", "pipenv", "pdm") and ({"install", "sync"} & set(pos)):
            conds.add("python-install")
        if cmd == "cargo" and first in ("build", "b", "install", "run", "r"):
            conds.add("cargo-build")
        if cmd in ("mvn", "mvnw") and {"package", "install", "verify", "compile", "deploy"} & set(pos):
            conds.add("maven-build")
        if cmd in ("gradle", "gradlew") and any(
            p in ("build", "assemble", "bootJar", "jar", "installDist", "shadowJar", "distTar") for p in pos
        ):
            conds.add("gradle-build")
        if cmd == "composer" and first in ("install", "update", "require"):
            conds.add("composer-install")
        if cmd in ("bundle", "bundler") and first in ("install", ""):
            conds.add("bundle-install")
        if cmd == "dotnet" and first in ("restore", "build", "publish"):
            conds.add("dotnet-build")
    return frozenset(conds), uses_git


def _context_conditions(snap: Snapshot) -> frozenset[str]:
    """The ecosystems the context's file names show (package.json: node, ...); once per scan."""

    def find() -> frozenset[str]:
        names = snap.basenames()
        conds = set()
        if "package.json" in names:
            conds.add("node")
        if names & {"setup.py", "setup.cfg", "pyproject.toml", "Pipfile", "poetry.lock", "uv.lock"} or any(
            n.startswith("requirements") and n.endswith(".txt") for n in names
        ):
            conds.add("python")
        if "go.mod" in names:
            conds.add("go")
        if "Cargo.toml" in names:
            conds.add("rust")
        if names & {"pom.xml", "build.gradle", "build.gradle.kts"}:
            conds.add("java")
        if "Gemfile" in names:
            conds.add("ruby")
        if "composer.json" in names:
            conds.add("php")
        if any(n.endswith((".csproj", ".fsproj", ".vbproj", ".sln")) for n in names):
            conds.add("dotnet")
        return frozenset(conds)

    return snap.remember(("dockerignore-context-conditions",), find)


def _build_files_call_git(snap: Snapshot) -> bool:
    """Does a build file of the context (Makefile, package.json, ...) run git? Once per scan."""

    def find() -> bool:
        k = knowledge()
        marker_files = set(k["git_marker_files"])
        for e in snap.files:
            if _basename(e.path) in marker_files:
                text = (snap.read_text(e.path) or "").lower()
                if any(m in text for m in k["git_markers"]):
                    return True
        return False

    return snap.remember(("dockerignore-build-files-call-git",), find)


def _npmrc_with_token(snap: Snapshot) -> bool:
    return snap.remember(("dockerignore-npmrc-token",), lambda: any(_npmrc_has_token(snap, e.path) for e in snap.find(".npmrc")))


def _copies_whole_context(doc: Document) -> bool:
    """Does a COPY/ADD send the whole build context (``COPY . .``) into a stage?"""
    return any(
        ins.keyword in ("COPY", "ADD") and ins.flag("from") is None and any(_clean_source(w) == "" for w in ins.words()[:-1])
        for ins in doc.instructions
    )


def _npmrc_has_token(snap: Snapshot, path: str) -> bool:
    text = (snap.read_text(path) or "").lower()
    return any(m in text for m in _TOKEN_MARKERS)


def _expand(snap: Snapshot, pattern: str) -> list[Entry]:
    """Entries a COPY-style glob (Go filepath.Match per segment) can reach, collapsed folders included.

    Once per scan and pattern: the Dockerfiles of a monorepo root copy the same globs.
    """

    def find() -> list[Entry]:
        segs = pattern.split("/")
        out: list[Entry] = []
        for e in snap.files:
            parts = e.path.split("/")
            if len(parts) > len(segs) or (len(parts) < len(segs) and not e.collapsed):
                continue
            try:
                if all(go_match(s, p) for s, p in zip(segs, parts)):
                    out.append(e)
            except BadPattern:
                return []
        return out

    return snap.remember(("dockerignore-expand", pattern), find)


def _clean_source(src: str) -> str | None:
    """A COPY source as a context-relative path ('' for the root), None when outside the context."""
    if "$" in src:
        src = "/".join("*" if "$" in seg else seg for seg in src.split("/"))
    path = go_clean(src).lstrip("/")
    if path in ("", "."):
        return ""
    if path == ".." or path.startswith("../"):
        return None
    return path


def _copy_keeps(ins: Instruction, snap: Snapshot) -> list[Keep]:
    if ins.flag("from") is not None:
        return []
    words = ins.words()
    keeps: list[Keep] = []
    for src in words[:-1]:
        if src.startswith("<<") or "://" in src or src.startswith("git@"):
            continue  # heredoc or remote source: not from the context
        path = _clean_source(src)
        if path is None:
            continue
        reason = f"{ins.keyword} {src} (line {ins.line})"
        if path == "":  # the whole context: the build may read any file of it (go:embed, tests, certificates)
            keeps.append(Keep("", reason, ins.line, "copy", strict=True))
            continue
        if has_glob(path):
            for e in _expand(snap, path):
                keeps.append(Keep(e.path, reason, ins.line, "copy", strict=e.is_dir and not e.collapsed))
        else:
            entry = snap.entry(path)
            keeps.append(Keep(path, reason, ins.line, "copy", strict=bool(entry and entry.is_dir and not entry.collapsed)))
    return keeps


def _path_pieces(word: str) -> Iterator[str]:
    for piece in word.replace("=", " ").replace(":", " ").replace(",", " ").split():
        piece = piece.strip("'\"")
        if not piece or piece.startswith("-") or "$" in piece:
            continue
        yield piece


@lru_cache(maxsize=8192)
def _suffix_paths(word: str) -> tuple[tuple[str, tuple[tuple[str, bool], ...]], ...]:
    """Per path-like piece of a word: its last segment and every path suffix it could name in the
    context, with whether that suffix is a glob. Pure text work, so shared by every scan."""
    out = []
    for piece in _path_pieces(word):
        cleaned = go_clean(piece).lstrip("/")
        if cleaned in ("", ".") or cleaned.startswith(".."):
            continue
        segs = cleaned.split("/")
        suffixes = tuple((suffix, has_glob(suffix)) for suffix in ("/".join(segs[i:]) for i in range(len(segs))))
        out.append((segs[-1], suffixes))
    return tuple(out)


def _named_keeps(ins: Instruction, snap: Snapshot) -> list[Keep]:
    """Context paths a RUN/CMD/ENTRYPOINT/HEALTHCHECK/ENV names, matched by path suffix."""
    words: tuple[str, ...]
    if ins.keyword == "ENV":
        words = tuple(ins.words())
    else:
        # deleting a path does not need it in the context
        words = tuple(
            word
            for name, argv in _run_commands(ins)
            if _basename(name) not in ("rm", "unlink", "rmdir")
            for word in (name, *argv)
        )
    reason = f"named by {ins.keyword} at line {ins.line}"
    return [Keep(path, reason, ins.line, "named") for path in _named_paths(snap, words)]


def _named_paths(snap: Snapshot, words: tuple[str, ...]) -> list[str]:
    """The listed paths that words name, matched by path suffix; once per scan and words (the same
    RUN lines come back in every round and in the sibling Dockerfiles of the context)."""

    def find() -> list[str]:
        found: list[str] = []
        seen: set[str] = set()
        listed_names = snap.basenames()
        for word in words:
            for last, suffixes in _suffix_paths(word):
                if last not in listed_names and not snap.has_collapsed and not suffixes[0][1]:
                    continue  # every path tried below ends in this name: none is listed (most words: commands, flags)
                for cand, is_glob in suffixes:
                    if cand in seen:
                        continue
                    seen.add(cand)
                    if is_glob:
                        found.extend(e.path for e in _expand(snap, cand))
                    elif snap.exists(cand):
                        found.append(cand)
        return found

    return snap.remember(("dockerignore-named", words), find)


def analyse_needs(doc: Document, snap: Snapshot) -> Needs:
    """Everything the build of `doc` needs from the context, and the conditions that enable patterns."""
    needs = Needs(conditions=_conditions(doc, snap))
    copies = [i for i in doc.instructions if i.keyword in ("COPY", "ADD")]
    if copies:
        needs.first_copy_line = copies[0].line
    for ins in doc.instructions:
        if ins.keyword in ("COPY", "ADD"):
            needs.keeps.extend(_copy_keeps(ins, snap))
        elif ins.keyword in ("RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK", "ENV"):
            needs.keeps.extend(_named_keeps(ins, snap))
        if ins.keyword == "RUN":
            for mount in ins.flag_values("mount"):
                opts = {k: v for k, _, v in (kv.partition("=") for kv in mount.split(","))}
                if opts.get("type", "bind") == "bind" and "from" not in opts:
                    src = _clean_source(opts.get("source", opts.get("src", "")))
                    if src:
                        needs.keeps.append(Keep(src, f"RUN --mount source {src} (line {ins.line})", ins.line, "copy"))
    build_files = knowledge()["build_files"]
    globs = tuple(g for cond, names in build_files.items() if cond in needs.conditions for g in names)
    needs.keeps.extend(Keep(path, f"{name} is read by the build", 0, "build-file") for path, name in _build_files(snap, globs))
    return needs


def _build_files(snap: Snapshot, globs: tuple[str, ...]) -> list[tuple[str, str]]:
    """(path, name) of the listed files whose name matches a build-file glob, once per scan."""

    def find() -> list[tuple[str, str]]:
        found = []
        for e in snap.files:
            name = _basename(e.path)
            if _is_build_file(name, globs) and snap.collapsed_parent(e.path) is None:
                found.append((e.path, name))
        return found

    return snap.remember(("dockerignore-build-files", globs), find)


@lru_cache(maxsize=8192)
def _is_build_file(name: str, globs: tuple[str, ...]) -> bool:
    """Does a file name match a build-file glob? The same names come back in every context."""
    return any(go_match(g, name) for g in globs)


# -- planning -------------------------------------------------------------------------------------------
@dataclass
class Plan:
    added: list[Candidate] = field(default_factory=list)
    lines: list[tuple[Candidate, list[str]]] = field(default_factory=list)  # (candidate, lines incl. `!` ones)
    dropped: list[tuple[str, str, int]] = field(default_factory=list)  # (pattern, reason, line)
    kept: list[tuple[str, str, str, int]] = field(default_factory=list)  # (pattern, path re-included, reason, line)
    newly_excluded: list[Entry] = field(default_factory=list)

    def __init__(  # written out to be compiled: see setup.py
        self,
        added: list[Candidate] | None = None,
        lines: list[tuple[Candidate, list[str]]] | None = None,
        dropped: list[tuple[str, str, int]] | None = None,
        kept: list[tuple[str, str, str, int]] | None = None,
        newly_excluded: list[Entry] | None = None,
    ) -> None:
        self.added = [] if added is None else added
        self.lines = [] if lines is None else lines
        self.dropped = [] if dropped is None else dropped
        self.kept = [] if kept is None else kept
        self.newly_excluded = [] if newly_excluded is None else newly_excluded


class _Eval:
    """Matching helpers with memoised parent-folder results for one candidate pattern."""

    def __init__(self, pattern: Pattern):
        self.pattern = pattern
        self.memo: dict[str, bool] = {}
        rest = pattern.cleaned[3:] if pattern.cleaned.startswith("**/") else ""
        # `**/x` with a one-segment x: matches a path or a parent iff some segment matches x
        self.segment = Pattern.compile(rest) if rest and "/" not in rest and "**" not in rest else None

    def hits_no_segment_of(self, segments: frozenset[str]) -> bool:
        """For a `**/x` pattern: True when x matches none of these path segments (so no path built of them)."""
        segment = self.segment
        if segment is None:
            return False
        if segment.kind == "exact":
            return segment.cleaned not in segments
        return not any(segment.match(seg) for seg in segments)

    def hits(self, path: str) -> bool:
        """Does the pattern match `path` or one of its parent folders (Docker's parent rule)?"""
        if self.segment is not None:
            memo, segment = self.memo, self.segment
            for seg in path.split("/"):
                got = memo.get(seg)
                if got is None:
                    got = memo[seg] = segment.match(seg)
                if got:
                    return True
            return False
        got = self.memo.get(path)
        if got is None:
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            got = self.pattern.match(path) or (bool(parent) and self.hits(parent))
            self.memo[path] = got
        return got


def plan(
    snap: Snapshot,
    needs: Needs,
    base: list[str],
    creating: bool,
    max_safety: int,
    virtual: tuple[str, ...] = (),
) -> Plan:
    """Choose the candidate lines to add after `base` (the user's patterns) without breaking `needs`.

    `virtual` names files that will exist once the change is written (the new ignore file itself),
    so that a second run finds them covered. The choice depends on the needed paths, not on the lines
    that name them, so it is made once per scan for a Dockerfile read from disk as a sibling and for
    the same Dockerfile rewritten (``_choose``); only the reasons are its own.
    """
    needed = tuple((k.path, k.kind, k.strict) for k in needs.keeps)
    # keyed by a digest: a monorepo root's hundreds of Dockerfiles each need hundreds of paths
    digest = hashlib.blake2b(repr(needed).encode(), digest_size=16).digest()
    key = ("dockerignore-choice", digest, frozenset(needs.conditions), tuple(base), creating, max_safety, virtual)
    choice = snap.remember(key, lambda: _choose(snap, needed, needs.conditions, base, creating, max_safety, virtual))
    keeps = [*needs.keeps, *choice.user_keeps]
    return Plan(
        added=choice.added,
        lines=choice.lines,
        dropped=[(pattern, keeps[k].reason, keeps[k].line) for pattern, k in choice.dropped],
        kept=[(pattern, path, keeps[k].reason, keeps[k].line) for pattern, path, k in choice.kept],
        newly_excluded=choice.newly_excluded,
    )


@dataclass
class _Choice:
    """A plan with each need it names given as its index in the needs (then the user's `!` lines)."""

    user_keeps: list[Keep] = field(default_factory=list)  # paths the user's `!` lines re-include
    added: list[Candidate] = field(default_factory=list)
    lines: list[tuple[Candidate, list[str]]] = field(default_factory=list)
    dropped: list[tuple[str, int]] = field(default_factory=list)  # (pattern, need)
    kept: list[tuple[str, str, int]] = field(default_factory=list)  # (pattern, path re-included, need)
    newly_excluded: list[Entry] = field(default_factory=list)

    def __init__(  # written out to be compiled: see setup.py
        self,
        user_keeps: list[Keep] | None = None,
        added: list[Candidate] | None = None,
        lines: list[tuple[Candidate, list[str]]] | None = None,
        dropped: list[tuple[str, int]] | None = None,
        kept: list[tuple[str, str, int]] | None = None,
        newly_excluded: list[Entry] | None = None,
    ) -> None:
        self.user_keeps = [] if user_keeps is None else user_keeps
        self.added = [] if added is None else added
        self.lines = [] if lines is None else lines
        self.dropped = [] if dropped is None else dropped
        self.kept = [] if kept is None else kept
        self.newly_excluded = [] if newly_excluded is None else newly_excluded


def _choose(
    snap: Snapshot,
    needed: tuple[tuple[str, str, bool], ...],
    conditions: set[str],
    base: list[str],
    creating: bool,
    max_safety: int,
    virtual: tuple[str, ...],
) -> _Choice:
    """The lines ``plan`` adds, for needs given as (path, kind, strict)."""
    result = _Choice()
    base_m = PatternMatcher(base)
    user_lines = {p for p in base if not p.startswith("!")}
    entries = _listed(snap, virtual)
    if base_m.has_exclusions:  # paths the user deliberately re-included stay included
        excl = [p for p in base_m.patterns if p.exclusion]
        for e in entries:
            if not base_m.excluded(e.path) and any(_Eval(p).hits(e.path) for p in excl):
                result.user_keeps.append(Keep(e.path, "re-included by a `!` line of the existing file", 0, "user-exception"))
        for p in excl:
            if not has_glob(p.cleaned) and "**" not in p.cleaned:
                result.user_keeps.append(Keep(p.cleaned, f"`!{p.cleaned}` in the existing file", 0, "user-exception"))
    # each need's `line` holds its index here: the reasons and lines are the caller's (see plan)
    keeps = [Keep(path, "", k, kind, strict) for k, (path, kind, strict) in enumerate(needed)]
    keeps += [dataclasses.replace(u, line=len(needed) + k) for k, u in enumerate(result.user_keeps)]
    listed_is_file = _listed_is_file(snap)
    current = PatternMatcher(base)
    base_excluded = _excluded_listed(snap, base_m, virtual)
    excluded_now = set(base_excluded)
    useful = False  # did any line exclude something? (baseline lines alone make no file)
    for cand, ev, cleaned in _candidates(snap):
        if cand.when not in conditions or SAFETY_LEVELS[cand.safety] > max_safety:
            continue
        if cleaned in user_lines or any(cand.pattern == c.pattern for c, _ in result.lines):
            continue  # already written, by the user or by an earlier candidate
        hits = [e for e in _hits(snap, ev, entries, virtual) if e.path not in excluded_now]
        exceptions = sorted({f"!**/{_basename(e.path)}" for e in hits if _basename(e.path) in cand.keep_names})
        if exceptions:
            hits = [e for e in hits if _basename(e.path) not in cand.keep_names]
        if not hits and not (creating and cand.baseline):
            continue  # nothing to exclude (or already covered by the user's lines)
        lines_so_far = [ln for _, lns in result.lines for ln in lns]
        trial = PatternMatcher([*base, *lines_so_far, cand.pattern, *exceptions])
        broken = _conflicts(snap, cand, ev, keeps, current, trial, hits, conditions)
        whole_context = next((k for k, _ in broken if k.path == ""), None)
        if whole_context is not None:  # `COPY . .`: the build may read these files, no exception list fixes that
            result.dropped.append((cand.pattern, whole_context.line))
            continue
        if broken:
            # a few needed files: re-include them one by one; a needed folder: leave the line out
            paths = sorted({p for _, p in broken})
            if len(paths) <= _MAX_EXCEPTIONS and all(listed_is_file.get(p, p in virtual) and _literal_ok(p) for p in paths):
                with_exc = PatternMatcher([*base, *lines_so_far, cand.pattern, *exceptions, *(f"!{p}" for p in paths)])
                if not _conflicts(snap, cand, ev, keeps, current, with_exc, hits, conditions):
                    exceptions += [f"!{p}" for p in paths]
                    trial = with_exc
                    hits = [e for e in hits if trial.excluded(e.path)]
                    result.kept.extend((cand.pattern, p, k.line) for k, p in broken)
                    broken = []
            if broken:
                k = broken[0][0]
                result.dropped.append((cand.pattern, k.line))
                continue
        result.lines.append((cand, [cand.pattern, *exceptions]))
        result.added.append(cand)
        # Docker's own files alone do not justify a change: they weigh nothing and BuildKit reads them anyway
        useful = useful or (cand.category != "docker" and any(e.path not in virtual for e in hits))
        current = trial
        if trial.has_exclusions:
            excluded_now.update(e.path for e in hits if trial.excluded(e.path))
        else:  # no `!` line anywhere: what the candidate hits is excluded, no need to ask the matcher
            excluded_now.update(e.path for e in hits)
    if not useful:
        result.lines, result.added = [], []
    result.newly_excluded = [
        e for e in entries if e.path in excluded_now and e.path not in base_excluded and e.path not in virtual
    ]
    return result


_MAX_EXCEPTIONS = 5


# The scan is shared by every Dockerfile of a context (Snapshot.for_dockerfile): what depends only on
# the scan and a pattern is worked out once per context, in the snapshot's memo.
def _listed(snap: Snapshot, virtual: tuple[str, ...]) -> list[Entry]:
    """The entries a pattern can exclude one by one (not inside a collapsed folder), plus `virtual` files."""
    listed = snap.remember(("dockerignore-listed", ()), lambda: [e for e in snap.files if snap.collapsed_parent(e.path) is None])
    return listed + _virtual_entries(snap, virtual) if virtual else listed


def _virtual_entries(snap: Snapshot, virtual: tuple[str, ...]) -> list[Entry]:
    """The `virtual` files the scan does not hold (not kept: each Dockerfile of a monorepo root has its own)."""
    return [Entry(v, 0) for v in virtual if snap.entry(v) is None]


def _listed_is_file(snap: Snapshot) -> dict[str, bool]:
    """Listed path -> is it a file (not a folder); its keys are the listed paths."""
    return snap.remember(("dockerignore-listed-is-file",), lambda: {e.path: not e.is_dir for e in _listed(snap, ())})


def _excluded_listed(snap: Snapshot, matcher: PatternMatcher, virtual: tuple[str, ...]) -> frozenset[str]:
    """The paths of ``_listed(snap, virtual)`` the matcher excludes (the scan's part once per pattern list)."""
    found = _excluded(snap, matcher, "listed")
    extra = [e.path for e in _virtual_entries(snap, virtual) if matcher.excluded(e.path)]
    return found | frozenset(extra) if extra else found


def _shared_eval(snap: Snapshot, pattern: Pattern) -> _Eval:
    return snap.remember(("dockerignore-eval", pattern.cleaned, pattern.exclusion), lambda: _Eval(pattern))


def _hits(snap: Snapshot, ev: _Eval, entries: list[Entry], virtual: tuple[str, ...]) -> list[Entry]:
    """The entries the pattern matches (itself or through a parent folder).

    The scan's own entries are matched once per scan; the `virtual` ones (a file this Dockerfile's
    change would write) are few and matched each time.
    """

    def find() -> list[Entry]:
        if ev.hits_no_segment_of(_segments(snap)):
            return []  # no listed path has a segment it matches (most candidates, in most contexts)
        return [e for e in _listed(snap, ()) if ev.hits(e.path)]

    listed = snap.remember(("dockerignore-hits", ev.pattern.cleaned, ev.pattern.exclusion), find)
    extra = entries[len(_listed(snap, ())) :]  # the virtual entries _listed appended
    return listed + [e for e in extra if ev.hits(e.path)] if extra else listed


def _hit_paths(snap: Snapshot, ev: _Eval) -> frozenset[str]:
    """The listed paths the pattern matches, as a set (see _hits)."""
    key = ("dockerignore-hit-paths", ev.pattern.cleaned, ev.pattern.exclusion)
    return snap.remember(key, lambda: frozenset(e.path for e in _hits(snap, ev, _listed(snap, ()), ())))


def _segments(snap: Snapshot) -> frozenset[str]:
    """Every path segment of the entries a pattern can exclude one by one."""
    return snap.remember(
        ("dockerignore-segments",), lambda: frozenset(seg for e in _listed(snap, ()) for seg in e.path.split("/"))
    )


def _literal_ok(path: str) -> bool:
    """Can `!path` be written so that Docker reads back exactly this path?"""
    return not has_glob(path) and "\\" not in path and path == path.strip() and path[0] not in "#!"


def _candidates(snap: Snapshot) -> list[tuple[Candidate, _Eval, str]]:
    """Every candidate line in order (the known ones, then this context's virtualenvs), with its evaluator
    on this scan and its cleaned pattern; once per scan, as every Dockerfile's plan walks them all."""
    return snap.remember(
        ("dockerignore-candidates",),
        lambda: [
            (c, _shared_eval(snap, c.compiled), go_clean(c.pattern))
            for c in [*knowledge()["candidates"], *_venv_candidates(snap)]
        ],
    )


def _venv_candidates(snap: Snapshot) -> list[Candidate]:
    """Virtualenvs under any name (a folder holding pyvenv.cfg): host paths, useless in an image."""

    def find() -> list[Candidate]:
        out = []
        for e in snap.files:
            if e.path.endswith("/pyvenv.cfg"):
                folder = e.path[: -len("/pyvenv.cfg")]
                name = _basename(folder)
                if name not in (".venv", "venv") and _literal_ok(folder):
                    out.append(Candidate(folder, "deps", "always", "review", False, "python-install", True, False, ()))
        return out

    return snap.remember(("dockerignore-venv-candidates",), find)


def _conflicts(
    snap: Snapshot,
    cand: Candidate,
    ev: _Eval,
    keeps: list[Keep],
    before: PatternMatcher,
    after: PatternMatcher,
    hits: list[Entry],
    conditions: set[str],
) -> list[tuple[Keep, str]]:
    """The needs the candidate would break, each with the path that would go missing."""
    out: list[tuple[Keep, str]] = []
    # most needed paths are listed ones: whether the candidate hits them is a lookup in its per-scan hits
    listed, hit = _listed_is_file(snap), _hit_paths(snap, ev)
    for k in keeps:
        if k.kind == "named" and cand.rebuilt and cand.rebuilt in conditions:
            continue  # the image recreates this folder: the named path is the rebuilt one
        hits_needed = k.path in hit if k.path in listed else ev.hits(k.path)
        if hits_needed and after.excluded(k.path) and not before.excluded(k.path):
            out.append((k, k.path))
        if k.strict and not (cand.whole_context if k.path == "" else cand.inside):
            prefix = k.path + "/" if k.path else ""
            out.extend((k, e.path) for e in hits if e.path.startswith(prefix) and after.excluded(e.path))
    return out


# -- report ------------------------------------------------------------------------------------------------
def _size(e: Entry) -> tuple[int, int]:
    return (e.file_count if e.collapsed else (0 if e.is_dir else 1)), (e.size if (e.collapsed or not e.is_dir) else 0)


def _largest(entries: list[Entry], matcher: PatternMatcher, top_cache: dict[str, str], limit: int = 10) -> list[dict]:
    """Newly excluded entries grouped by their top-most excluded folder, biggest first.

    ``top_cache``: folder -> itself when ``matcher`` excludes it, else "" (filled as it goes; see _top_excluded).
    """
    groups: dict[str, list[int]] = {}
    for e in entries:
        path = key = e.path
        slash = path.find("/")
        while slash != -1:  # each parent folder, outermost first
            anc = path[:slash]
            top = top_cache.get(anc)
            if top is None:
                top = top_cache[anc] = anc if matcher.excluded(anc) else ""
            if top:
                key = anc
                break
            slash = path.find("/", slash + 1)
        files, size = _size(e)
        g = groups.setdefault(key, [0, 0])
        g[0] += files
        g[1] += size
    ranked = sorted(groups.items(), key=lambda kv: (-kv[1][1], kv[0]))[:limit]
    return [{"path": p, "files": f, "bytes": b} for p, (f, b) in ranked]


# -- target file ---------------------------------------------------------------------------------------------
def _other_dockerfiles(snap: Snapshot, own: str) -> list[str]:
    """Dockerfiles likely built with this same context: beside ours, or at the context root."""
    by_folder = snap.remember(("dockerignore-dockerfiles-by-folder",), lambda: _by_folder(snap.dockerfiles()))
    own_dir = posixpath.dirname(own)
    nearby = set(by_folder.get(own_dir, ())) | set(by_folder.get("", ()))
    return [p for p in snap.dockerfiles() if p != own and p in nearby]


def _by_folder(paths: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in paths:
        out.setdefault(posixpath.dirname(p), []).append(p)
    return out


def _compatible(
    cands: list[Candidate], other: str, snap: Snapshot, base: list[str], max_safety: int, virtual: tuple[str, ...]
) -> bool:
    """Would the other Dockerfile have accepted every line we add (same conditions, no broken needs)?"""
    accepted = _accepted(other, snap, tuple(base), max_safety, virtual)
    if accepted is None:
        return False
    user = set(base)
    return all(c.pattern in accepted or c.pattern in user for c in cands)


def _accepted(
    other: str, snap: Snapshot, base: tuple[str, ...], max_safety: int, virtual: tuple[str, ...]
) -> frozenset[str] | None:
    """The lines the other Dockerfile's own plan adds (None: unreadable); memoised on the shared scan."""

    def work_out() -> frozenset[str] | None:
        text = snap.read_text(other)
        if text is None:
            return None
        try:
            other_doc = parse(text)
        except ParseError:
            return None
        try:
            theirs = plan(snap, analyse_needs(other_doc, snap), list(base), not base, max_safety, virtual)
            return frozenset(c.pattern for c in theirs.added)
        finally:
            other_doc.release()  # see Document.release

    return snap.remember(("dockerignore-accepted", other, base, max_safety, virtual), work_out)


def _secret_evals(snap: Snapshot) -> list[tuple[Candidate, _Eval]]:
    """The secret-looking candidates, in order, with their evaluators on this scan."""
    return [(c, ev) for c, ev, _ in _candidates(snap) if c.secret]


def _secret_looking(snap: Snapshot) -> list[tuple[Entry, list[Candidate]]]:
    """Each listed file a secret pattern matches, with those patterns in order; once per scan."""

    def find() -> list[tuple[Entry, list[Candidate]]]:
        cands = _secret_evals(snap)
        found = []
        for e in snap.files:
            if (e.is_dir and not e.collapsed) or snap.collapsed_parent(e.path) is not None:
                continue
            matching = [c for c, ev in cands if ev.hits(e.path)]
            if matching:
                found.append((e, matching))
        return found

    return snap.remember(("dockerignore-secret-looking",), find)


def _secret_warnings(snap: Snapshot, result: Plan, final_m: PatternMatcher, needs: Needs) -> Iterator[Skip]:
    """One Skip per secret-looking file the context still sends, with the reason it stays."""
    dropped = {p: (r, ln) for p, r, ln in result.dropped}
    kept = {path: (r, ln) for _, path, r, ln in result.kept}
    for e, matching in _secret_looking(snap):
        for c in matching:
            if _basename(e.path) in c.keep_names or final_m.excluded(e.path):
                break
            if c.pattern == "**/.npmrc":
                if not _npmrc_has_token(snap, e.path):
                    break
                why, line = "a node install reads it; pass it as a build secret (RUN --mount=type=secret) instead", 0
            elif e.path in kept:
                why, line = kept[e.path]
                why = f"kept because {why}"
            elif c.pattern in dropped:
                why, line = dropped[c.pattern]
                why = f"kept because {why}"
            else:
                why, line = "not excluded: review-class lines are off (--safe-only)", 0
            yield Skip(line or needs.first_copy_line, f"{e.path} looks like a secret and stays in the build context ({why})")
            break


# -- the transform -------------------------------------------------------------------------------------------
@transform(ID)
def dockerignore(doc: Document, ctx: Context) -> Iterator[FileChange | Skip]:
    snap = ctx.build_context
    if not isinstance(snap, Snapshot):
        return
    found = _existing_file(snap)
    if isinstance(found, Skip):
        yield found
        return
    target, old_text = found
    try:
        base = read_patterns(old_text or "")
        base_m = PatternMatcher(base)
    except BadPattern as exc:
        yield Skip(1, f"{target} holds a pattern Docker rejects ({exc}): left alone")
        return
    needs = analyse_needs(doc, snap)
    target, result = _plan_for_target(snap, needs, base, target, old_text is None, ctx.options.max_safety)
    # lines of the user's file that already break the build: say so, change nothing there
    for k in needs.keeps:
        if k.kind == "copy" and base_m.excluded(k.path):
            yield Skip(k.line, f"{target} already excludes {k.path}, which {k.reason} needs")
    final_m = PatternMatcher([*base, *(ln for _, lns in result.lines for ln in lns)])
    yield from _secret_warnings(snap, result, final_m, needs)
    if result.lines:
        yield _file_change(snap, needs, result, target, old_text, base_m, final_m)


def _existing_file(snap: Snapshot) -> tuple[str, str | None] | Skip:
    """The ignore file that counts for this Dockerfile and its text (None: there is none yet).

    BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile: only an option when the scan placed
    the Dockerfile inside the context; otherwise the context root's .dockerignore is the one that counts.
    """
    df = snap.dockerfile or ""
    per_df = f"{df}.dockerignore" if df else None
    if per_df and snap.exists(per_df) and snap.read_text(per_df) is not None:
        return per_df, snap.read_text(per_df)
    if snap.entry(".dockerignore") is not None:
        old_text = snap.read_text(".dockerignore")
        if old_text is None:
            return Skip(1, "the existing .dockerignore could not be read (too big or not text): left alone")
        return ".dockerignore", old_text
    return ".dockerignore", None


def _plan_for_target(
    snap: Snapshot, needs: Needs, base: list[str], target: str, creating: bool, max_safety: int
) -> tuple[str, Plan]:
    """The plan, moved to <Dockerfile>.dockerignore when another Dockerfile sharing the context needs what it excludes."""
    virtual = (target,) if creating else ()
    result = plan(snap, needs, base, creating, max_safety, virtual=virtual)
    df = snap.dockerfile or ""
    if result.lines and target == ".dockerignore" and df:
        others = _other_dockerfiles(snap, df)
        if others and not all(_compatible(result.added, o, snap, base, max_safety, virtual) for o in others):
            target = f"{df}.dockerignore"
            result = plan(snap, needs, base, creating, max_safety, virtual=(target,))
    return target, result


def _new_text(result: Plan, old_text: str | None) -> str:
    """The added lines grouped under category headings, appended to the user's file in its line endings."""
    groups = []
    titles = knowledge()["categories"]
    for cat in titles["order"]:
        pats = [ln for c, lns in result.lines if c.category == cat for ln in lns]
        if pats:
            groups.append({"title": titles[cat], "patterns": pats})
    block = _template().render(new=old_text is None, groups=groups)
    if old_text is None:
        return block
    newline = "\r\n" if "\r\n" in old_text else "\n"
    sep = "" if not old_text or old_text.endswith("\n") else newline
    gap = newline if old_text.strip() else ""
    return old_text + sep + gap + block.replace("\n", newline)


def _context_totals(snap: Snapshot, result: Plan, base_m: PatternMatcher, final_m: PatternMatcher) -> tuple[int, int, int, int]:
    """Files and bytes the context sends before and after the change (the user's own lines already applied)."""
    before_files = before_bytes = after_files = after_bytes = 0
    newly = {e.path for e in result.newly_excluded}
    excluded_before, excluded_after = _excluded(snap, base_m, "counted"), _excluded(snap, final_m, "counted")
    for path, files, size in _counted_sizes(snap):
        if path in excluded_before:
            continue
        before_files += files
        before_bytes += size
        if path not in newly and path not in excluded_after:
            after_files += files
            after_bytes += size
    return before_files, before_bytes, after_files, after_bytes


def _counted_sizes(snap: Snapshot) -> list[tuple[str, int, int]]:
    """(path, files, bytes) of each counted entry, once per scan."""
    return snap.remember(("dockerignore-counted-sizes",), lambda: [(e.path, *_size(e)) for e in snap.counted()])


# Sibling Dockerfiles of one context mostly end with the same lines: these answers depend only on the
# scan and the pattern list, so they are worked out once per scan and list.
def _excluded(snap: Snapshot, matcher: PatternMatcher, which: str) -> frozenset[str]:
    """The paths of the scan's "listed" (``_listed``) or "counted" (``snap.counted()``) entries the matcher excludes."""
    entries = _listed(snap, ()) if which == "listed" else snap.counted()
    key = ("dockerignore-excluded", which, _pattern_key(matcher))
    return snap.remember(key, lambda: frozenset(e.path for e in entries if matcher.excluded(e.path)))


def _top_excluded(snap: Snapshot, matcher: PatternMatcher) -> dict[str, str]:
    """The shared folder -> excluded-or-"" memo that ``_largest`` fills for this pattern list."""
    return snap.remember(("dockerignore-top-excluded", _pattern_key(matcher)), dict)


def _pattern_key(matcher: PatternMatcher) -> tuple[tuple[str, bool], ...]:
    return tuple((p.cleaned, p.exclusion) for p in matcher.patterns)


def _secret_paths(snap: Snapshot) -> frozenset[str]:
    """The listed paths a secret-looking candidate pattern matches (the path itself or a parent folder)."""

    def find() -> frozenset[str]:
        evals = [ev for _, ev in _secret_evals(snap)]
        return frozenset(e.path for e in _listed(snap, ()) if any(ev.hits(e.path) for ev in evals))

    return snap.remember(("dockerignore-secret-paths",), find)


def _assumption(result: Plan, needs: Needs) -> str | None:
    """What a review-class line takes for granted; None when every line is safe."""
    review = [c for c in result.added if c.safety == "review"]
    if not review:
        return None
    rebuilt = [c.pattern for c in review if c.rebuilt and c.rebuilt in needs.conditions]
    unused = [c.pattern for c in review if c.pattern not in rebuilt]
    parts = []
    if rebuilt:
        parts.append("the build installs/rebuilds these itself, so the host copies are not needed: " + ", ".join(rebuilt))
    if unused:
        parts.append("the image does not read these files at run time: " + ", ".join(unused))
    return "; ".join(parts)


def _file_change(
    snap: Snapshot,
    needs: Needs,
    result: Plan,
    target: str,
    old_text: str | None,
    base_m: PatternMatcher,
    final_m: PatternMatcher,
) -> FileChange:
    """The new file with the numbers a reviewer needs: context size before/after, what went, what stayed and why."""
    # a new <Dockerfile>.dockerignore replaces .dockerignore for this Dockerfile: it starts from the user's lines
    creating_file = old_text is None or snap.entry(target) is None
    before_files, before_bytes, after_files, after_bytes = _context_totals(snap, result, base_m, final_m)
    largest = _largest(result.newly_excluded, final_m, _top_excluded(snap, final_m))
    secrets = _secret_paths(snap)  # newly excluded entries are listed ones (never the virtual files)
    secrets_excluded = sorted(e.path for e in result.newly_excluded if e.path in secrets)
    report = {
        "target": target,
        "created": creating_file,
        "added_patterns": [ln for _, lns in result.lines for ln in lns],
        "context_before": {"files": before_files, "bytes": before_bytes},
        "context_after": {"files": after_files, "bytes": after_bytes},
        "largest_excluded": largest,
        "secrets_excluded": secrets_excluded,
        "kept": [{"pattern": p, "reason": r} for p, r, _ in result.dropped]
        + [{"pattern": p, "path": path, "reason": r} for p, path, r, _ in result.kept],
        "truncated_scan": snap.truncated,
    }
    assumption = _assumption(result, needs)
    top = ", ".join(f"{g['path']} ({human_size(g['bytes'])})" for g in largest[:3])
    verb = "write" if creating_file else "append to"
    explanation = (
        f"{verb} {target}: build context {before_files} files / {human_size(before_bytes)} -> "
        f"{after_files} files / {human_size(after_bytes)}"
        + (f"; largest excluded: {top}" if top else "")
        + (f"; secret-looking files kept out: {', '.join(secrets_excluded[:5])}" if secrets_excluded else "")
        + (f"; not excluded because the build needs them: {', '.join(p for p, _, _ in result.dropped)}" if result.dropped else "")
        + (" (context scan was truncated: sizes are lower bounds)" if snap.truncated else "")
    )
    return FileChange(
        path=target,
        new=_new_text(result, old_text).encode("utf-8"),
        old=None if creating_file or old_text is None else old_text.encode("utf-8"),
        safety="safe" if assumption is None else "review",
        explanation=explanation,
        assumption=assumption,
        report=report,
    )
