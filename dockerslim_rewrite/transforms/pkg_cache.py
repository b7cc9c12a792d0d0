"""# pkg-cache

## What it does

Package-manager hygiene in the layer that makes the mess:

- apt-get / apt: `apt-get update` in the same RUN as the install (added before the first install of a
  RUN that has none; a RUN that only runs `apt-get update` is removed), `-y`, `--no-install-recommends`
  (plus the load-bearing recommended packages, e.g. `ca-certificates` next to `curl`), and
  `rm -rf /var/lib/apt/lists/*` appended at the END of the RUN (an `apt-get update` is only added
  where the lists can then be deleted in the same layer). `apt-get clean` is not added: the
  official Debian/Ubuntu images already delete downloaded `.deb` files (docker-clean hook).
- apk: `--no-cache` on `apk add`/`apk upgrade`; a now-useless `apk update` and `rm -rf /var/cache/apk/*`
  are dropped. `--virtual .build-deps ... && apk del .build-deps` is kept as written.
- yum / dnf / microdnf / zypper: `-y`, weak dependencies off and `--nodocs` (dnf, microdnf),
  `--no-recommends` (zypper), and `yum clean all && rm -rf /var/cache/yum` / `dnf clean all` /
  `microdnf clean all` / `zypper clean -a` at the end of the RUN.
- pip / pip3 / `python -m pip`: `--no-cache-dir` (not when `PIP_NO_CACHE_DIR` is set by ENV); uv
  `--no-cache` (not when `UV_NO_CACHE` is set); poetry and pipenv caches removed in the same RUN.
- npm / yarn / pnpm: `npm cache clean --force`, `yarn cache clean`, `pnpm store prune` at the end of the
  RUN. It never sets `NODE_ENV=production` nor `--omit=dev`: a later build step may need dev packages.
- gem `--no-document`; conda/mamba `clean -afy`; composer `clear-cache`.
- An archive downloaded with `curl -o`/`wget -O` and extracted with tar/unzip in the same RUN is
  removed at the end of that RUN.

With `--cache-mounts` (opt-in) apt, pip, uv and npm get BuildKit cache mounts instead
(`RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt,sharing=locked`
with the docker-clean hook removed, `--mount=type=cache,target=/root/.cache/pip`, ...): small image AND
fast rebuilds.

## Why it saves bytes

apt lists, recommended packages, apk/yum/dnf caches, pip and npm caches are
tens to hundreds of MB per image. Deleting them in a later RUN saves nothing: the layer that wrote
them keeps them. So flags go on the install command and cleanups at the end of the same RUN.

## Example

```dockerfile
RUN apt-get update && apt-get install -y curl
RUN pip install flask
```

becomes

```dockerfile
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir flask
```

## When it is not applied

Stages that do not reach the final image (their files only leave through
`COPY --from`); a manager whose cache path is under a `--mount=type=cache`/`tmpfs` of that RUN; RUNs
in exec (JSON) form, under a non-POSIX `SHELL`, or whose shell the parser cannot parse cleanly;
heredocs other than `RUN <<EOF` with a shell script body (a `RUN <<EOF` script gets flags and a
`&& cleanup` on its last line, never an inserted `apt-get update`); cleanups that would end inside a
trailing shell comment or after `exit`/`exec`; an `apt-get update` (or `apk update`) whose lists a
later RUN, or a stage built FROM this one, still reads without its own update and that this transform
cannot fix; `apt-get upgrade`/`dist-upgrade` are left as they are. Flags and cleanups that are already
there are never added twice, nor made pointless by the RUN itself (`pip cache purge`, `uv cache clean`,
`apt-get dist-clean`, `rm -rf /tmp/*` over a downloaded archive, `apk add --no-network`, the official
ruby images' gemrc that already sets `--no-document`); packages are never reordered and pins never
touched. `--nodocs` is not added where the Dockerfile shows it wants documentation (a `tsflags` edit,
a `reinstall`, man-db or man-pages installed).

How a cleanup is appended: after the RUN's last command, never after a trailing `;`; inside a last
`( ... )`/`{ ...; }` group that relies on `set -e` (after it, the group would stand before `&&` and
lose errexit); with `;` after a last loop or `if` under an active `set -e`; from `/` (`cd / && ...`)
when the RUN removed the directory it had `cd`-ed into. The pipeline checks every edited RUN body
again (see the README, "How it works") and drops a change that breaks one of these rules.

## Limits

`--no-install-recommends` is decided from Debian's dependency graph of the base image's release
(`data/apt/<release>.apt`, bookworm and trixie, made by `scripts/gen_apt_recommends.py` from the
archive's Packages indexes; `scripts/check_apt_recommends.py` compares it with apt's own simulation):
the packages the flag would drop are split into inert ones (documentation, translations, shell
completion: `data/apt/classes.toml`) and ones that do work (libraries, drivers, plugins, fonts,
programs), and the fewest of the latter that bring all of them back are named explicitly. When no
inert package is dropped the flag saves nothing and is not added; when more than eight packages would
have to be named, neither (the report says so). The release must be pinned by the tag
(`-bookworm`, `debian:12`): an untagged `python:3.12`, Ubuntu or another distro has no data, and the
flag is `unsafe`. `yarn cache clean` assumes yarn classic or a node_modules linker. `~` paths assume
the build user's home. Bundler caches are not cleaned (their location depends on GEM_HOME/BUNDLE_PATH
set by the base image).

## Fix safety

Cleanups and cache flags are `safe`. `--no-install-recommends` (with the release's data), `--nodocs`
and `yarn cache clean` are `review`, with the assumption stated. Weak dependencies off (dnf/microdnf
`install_weak_deps=0`), zypper `--no-recommends` and `--no-install-recommends` without data are
`unsafe`: nothing says which of those packages do work. Cache mounts are `safe` (opt-in).
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache

from .. import aptdata, postconditions
from ..catalog import distro_release
from ..datafiles import data_toml
from ..memo import Memo
from ..model import Document, Instruction, split_words
from ..pybuild import python_module
from ..shell import Command, Script, Word, analyse, cmd_has_args, parse_options
from ..transform import Change, Context, Result, Skip, transform

ID = "pkg-cache"
_PYTHON_RE = re.compile(r"^python[0-9.]*$")
_VERSIONED_RE = re.compile(r"^([a-z]+)[0-9.]*$")
# more kept packages than this make a diff nobody reviews, for the size of some documentation
_MAX_KEPT_RECOMMENDS = 8
# below this the flag's saving (documentation, translations) is not worth a line in a reviewed diff
_MIN_RECOMMENDS_SAVING_KIB = 1024
_SHELL_SAFE_RE = re.compile(r"^[A-Za-z0-9_./:@%+=,~-]+$")


@cache
def _kb() -> dict:
    return data_toml("pkg_managers.toml")


@dataclass
class _Use:
    """One install-like use of a package manager in a RUN."""

    manager: str
    cmd: Command
    verb_end: int  # script offset just past the (last) verb word; -1 when the verb is implicit
    verb: str

    def __init__(self, manager: str, cmd: Command, verb_end: int, verb: str) -> None:  # written out to be compiled: see setup.py
        self.manager = manager
        self.cmd = cmd
        self.verb_end = verb_end
        self.verb = verb


@dataclass
class _Run:
    ins: Instruction
    script: Script | None
    reason: str = ""  # why the RUN is not processed ("" = processable)
    mounts: list[str] = field(default_factory=list)  # cache/tmpfs mount targets
    uses: list[_Use] = field(default_factory=list)
    heredoc: bool = False  # the script is the body of ``RUN <<EOF`` (edited in place, line by line)

    def __init__(  # written out to be compiled: see setup.py
        self,
        ins: Instruction,
        script: Script | None,
        reason: str = "",
        mounts: list[str] | None = None,
        uses: list[_Use] | None = None,
        heredoc: bool = False,
    ) -> None:
        self.ins = ins
        self.script = script
        self.reason = reason
        self.mounts = [] if mounts is None else mounts
        self.uses = [] if uses is None else uses
        self.heredoc = heredoc

    @property
    def ok(self) -> bool:
        return not self.reason

    @property
    def parsed(self) -> Script:
        """The analysed script of a RUN the planner works on (only asked for RUNs that parsed)."""
        assert self.script is not None, "asked for the script of a RUN that was not analysed"
        return self.script

    def at(self, offset: int) -> int:
        """Document offset of a script offset."""
        if self.heredoc:
            return self.ins.heredocs[0].body_start + offset
        return self.ins.doc_offset(offset)

    def after(self, offset: int) -> int:
        """Document offset just past the script character before ``offset``."""
        return self.at(offset - 1) + 1


@transform(ID)
def pkg_cache(doc: Document, ctx: Context) -> Iterator[Result]:
    reaching = ctx.shipping_stages(doc)
    runs = [_inspect(ins, ctx) for ins in doc.instructions if ins.keyword == "RUN" and ins.stage >= 0]
    first_use: dict[int, _Run] = {}  # per stage outside the final image: its first RUN using a package manager
    for r in runs:
        if r.ins.stage not in reaching and r.ins.stage not in first_use and (r.uses or _mentions_manager(r)):
            first_use[r.ins.stage] = r
    for index, r in sorted(first_use.items()):
        name = doc.stages[index].name or str(index)
        yield Skip(r.ins.line, f"stage '{name}' does not reach the final image: cleanup there only costs build time")
    plan = _Planner(doc, ctx, runs, reaching)
    for run in runs:
        if run.ins.stage not in reaching:
            continue
        if not run.ok:
            if run.uses or _mentions_manager(run):
                yield Skip(run.ins.line, f"RUN not analysed: {run.reason}")
            continue
        yield from plan.changes(run)


# --------------------------------------------------------------------------- inspection


def _inspect(ins: Instruction, ctx: Context) -> _Run:
    run = _Run(ins, None)
    run.mounts = _cache_mount_targets(ins)
    if ctx.is_ignored(ins, ID):
        run.reason = "ignore pragma (# dslim: ignore, or # hadolint ignore of the rule this fix answers)"
    elif ins.is_exec_form:
        run.reason = "exec (JSON) form"
    elif not ins.shell_form_posix:
        run.reason = f"non-POSIX SHELL {ins.stage_shell[0]!r}"
    elif ins.heredocs:
        run.script = _heredoc_script(ins)
        run.heredoc = run.script is not None
        if run.script is None:
            run.reason = "heredoc that is not a plain shell script body (RUN <<EOF)"
    else:
        run.script = ins.script()
        if run.script is None or not run.script.ok:
            run.reason = "the shell parser could not parse the body cleanly"
        elif run.parsed.has_heredoc and not run.heredoc:
            run.reason = "heredoc in the body"
    if run.script is not None and run.script.ok:
        run.uses = list(_uses_in(run.script.text))
    return run


@lru_cache(maxsize=1024)
def _uses_in(script: str) -> tuple[_Use, ...]:
    """The package-manager uses of a shell body: once per body, as every round asks again and the same
    bodies recur across the files of a run."""
    return tuple(use for cmd in analyse(script).commands for use in _uses(cmd))


def _mentions_manager(run: _Run) -> bool:
    """Conservative check for RUNs the shell analysis does not cover (exec form, heredocs, ...)."""
    words = set(re.split(r"[\s\"'\[\],;&|()]+", run.ins.raw))
    names = {name for spec in _kb().values() for name in spec.get("commands", [])}
    return bool(words & names) or bool({w.rsplit("/", 1)[-1] for w in words} & names)


def _manager_of(cmd: Command) -> tuple[str, list[Word]] | None:
    """(manager, words after the command name) for a package-manager command, else None."""
    name = cmd.name
    if _PYTHON_RE.match(name):
        run = python_module(cmd.argv)  # `python -m pip`, `python -P -m pip`, `python -mpip`
        for manager, spec in _kb().items():
            module = spec.get("python_module")
            if module and run is not None and run[0] == module:
                return manager, cmd.words[run[1] :]
        return None
    m = _VERSIONED_RE.match(name)
    for manager, spec in _kb().items():
        commands = spec.get("commands", [])
        if name in commands or (manager == "pip" and m and m.group(1) == "pip"):
            return manager, cmd.words
    return None


def _uses(cmd: Command) -> list[_Use]:
    found = _manager_of(cmd)
    if found is None or cmd.name_word is None or not cmd.name_word.static:
        return []
    manager, words = found
    spec = _kb()[manager]
    positional = parse_options(words, manager if manager != "apt" else cmd.name).operands
    for verb in spec.get("install", []) + spec.get("refresh", []) + spec.get("list_readers", []):
        parts = verb if isinstance(verb, list) else [verb]
        if parts == [""]:
            asks_only = any(w.value in ("--version", "-v", "-V", "--help", "-h") for w in words)
            if not positional and not asks_only:  # `yarn` installs; `yarn --version` does not
                return [_Use(manager, cmd, -1, "")]
            continue
        if len(positional) >= len(parts) and all(w.static and w.value == p for w, p in zip(positional, parts)):
            return [_Use(manager, cmd, positional[len(parts) - 1].end, " ".join(parts))]
    return []


def _mount_fields(value: str) -> dict[str, str]:
    """``type=cache,target=/x,sharing=locked`` as a dict (a bare ``readonly`` maps to "")."""
    fields: dict[str, str] = {}
    for part in value.split(","):
        key, _, val = part.partition("=")
        fields[key] = val
    return fields


def _bind_mount_targets(ins: Instruction) -> list[str]:
    targets = []
    for value in ins.flag_values("mount"):
        fields = _mount_fields(value)
        if fields.get("type", "bind") == "bind":
            target = fields.get("target") or fields.get("dst") or fields.get("destination") or ""
            if target:
                targets.append(posixpath.normpath(target))
    return targets


def _cwd_at(script: Script, offset: int, workdir: str) -> str | None:
    """The directory a command at ``offset`` runs in, from the top-level ``cd``s before it (None: unknown)."""
    cwd: str | None = workdir
    for cmd in script.commands:
        if cmd.start >= offset:
            break
        if cmd.name == "cd" and cmd.depth == 0 and not cmd.in_subshell:
            target = next((w for w in cmd.words if not w.value.startswith("-")), None)
            cwd = posixpath.normpath(posixpath.join(cwd, target.value)) if target is not None and target.static and cwd else None
    return cwd


def _cache_mount_targets(ins: Instruction) -> list[str]:
    targets = []
    for value in ins.flag_values("mount"):
        fields = _mount_fields(value)
        if fields.get("type") in ("cache", "tmpfs"):
            target = fields.get("target") or fields.get("dst") or fields.get("destination") or ""
            targets.append(target.rstrip("/") or "/")
    return targets


def _covered(targets: list[str], cache_dirs: list[str]) -> bool:
    """Is any cache dir of a manager equal to, inside, or above one of the mount targets?"""
    for target in targets:
        if target == "/":
            return bool(cache_dirs)
        t = target
        for d in cache_dirs:
            if d.startswith("~/"):
                parts = d[2:].split("/")
                if any(t.endswith("/" + "/".join(parts[:k])) for k in range(1, len(parts) + 1)):
                    return True
                if f"/{d[2:]}/" in t + "/":
                    return True
            elif t == d or d.startswith(t + "/") or t.startswith(d + "/"):
                return True
    return False


# --------------------------------------------------------------------------- planning


class _Planner:
    """Decides per RUN what to add, with knowledge of the RUNs after it (lists still needed?)."""

    def __init__(self, doc: Document, ctx: Context, runs: list[_Run], reaching: frozenset[int]):
        self.doc = doc
        self.ctx = ctx
        self.runs = runs
        self.reaching = reaching
        self.mount_mode = bool(ctx.options.cache_mounts)
        self._added_recommends: dict[int, set[str]] = {}  # per RUN: packages named or added so far
        self._reader_memo: dict[tuple[int, str], int] = {}
        self._notes: list[Skip] = []  # skips found while planning one RUN's pieces
        self.memo = Memo()

    # ---- queries about the stage graph and the environment

    @property
    def _runs_by_stage(self) -> dict[int, list[_Run]]:
        return self.memo.remember("runs_by_stage", self._find_runs_by_stage)

    def _find_runs_by_stage(self) -> dict[int, list[_Run]]:
        by_stage: dict[int, list[_Run]] = {}
        for r in self.runs:
            by_stage.setdefault(r.ins.stage, []).append(r)
        return by_stage

    def _uncleaned_earlier(self, run: _Run, manager: str) -> int | None:
        """Line of an earlier RUN of this stage (or one it is built FROM) that uses the manager and that
        this transform leaves as it is: its layer keeps the cache whatever this RUN does."""
        for other in (r for stage in self.doc.lineage(run.ins.stage) for r in self._runs_by_stage.get(stage, [])):
            if other.ins.start >= run.ins.start:
                continue
            uses_it = any(u.manager == manager for u in other.uses) or (
                not other.uses and _mentions_named(other, _kb()[manager]["commands"])
            )
            left_alone = not other.ok or (other.script is not None and other.script.has_comment and not other.heredoc)
            if uses_it and left_alone:
                return other.ins.line
        return None

    def _cache_expected_later(self, run: _Run, spec: dict) -> str | None:
        """A later ``rm`` without ``-f`` of the cache (``rm /var/cache/apk/*``) fails once nothing is cached."""
        dirs = [d for d in spec.get("cache_dirs", []) if d.startswith("/")]
        stages = set(self.doc.descendants(run.ins.stage))
        for later, cmd in self._strict_rms:
            if later.ins.start <= run.ins.start or later.ins.stage not in stages:
                continue
            if any(w.value.startswith(d + "/") or w.value == d for w in cmd.words for d in dirs):
                return f"`rm` without -f at line {later.ins.line} expects its cache files to exist"
        return None

    @property
    def _strict_rms(self) -> list[tuple[_Run, Command]]:
        return self.memo.remember("strict_rms", self._find_strict_rms)

    def _find_strict_rms(self) -> list[tuple[_Run, Command]]:
        """Every `rm` without -f of the file, with its RUN (collected once, not once per RUN asked about)."""
        return [
            (later, cmd)
            for later in self.runs
            if later.script is not None and later.script.ok
            for cmd in later.script.commands
            if cmd.name == "rm" and not cmd_has_args(cmd, "-f", "--force")
        ]

    def _cache_is_the_product(self, run: _Run, uses: list[_Use], spec: dict) -> str | None:
        """An install into a bind mount (its project is thrown away) leaves only the cache: warming it is the point."""
        if not spec.get("project_local"):
            return None
        binds = _bind_mount_targets(run.ins)
        if not binds:
            return None
        workdir = self.doc.state_at(run.ins).workdir
        for use in uses:
            cwd = _cwd_at(run.parsed, use.cmd.start, workdir)
            if cwd is not None and any(cwd == b or cwd.startswith(b.rstrip("/") + "/") for b in binds):
                return f"it installs in the bind mount {cwd}: the cache it fills is what the RUN is for"
        return None

    def _base_repository(self, ins: Instruction) -> str:
        """The image name a stage starts from, without registry, namespace or tag ("ruby" for ruby:3.3,
        docker.io/library/ruby, discourse/ruby or mcr.microsoft.com/devcontainers/ruby: images named
        after an official one are built from it), build args resolved; "" when unknown."""
        ref = self.doc.root_image(ins.stage, self.ctx.options.image_aliases)
        return "" if ref is None or ref.has_args else ref.repository.rsplit("/", 1)[-1]

    def _wants_docs(self, ins: Instruction, wants: dict) -> str | None:
        """What in the stage shows it wants documentation (a tsflags edit, man-db, a reinstall), else None."""
        for index in self.doc.lineage(ins.stage):
            for other in self.doc.stages[index].instructions:
                script = other.script() if other.keyword == "RUN" else None
                if script is None or not script.ok:
                    continue
                for cmd in script.commands:
                    values = [w.value for w in cmd.words]
                    matched = next((word for v in values for word in wants.get("words", []) if word in v), None)
                    if matched and not any("nodocs" in v for v in values):
                        return f"line {other.line} uses {matched}"
                    manager = _manager_of(cmd)
                    if manager is None:
                        continue
                    if any(v in wants.get("verbs", []) for v in values[:2]):
                        return f"line {other.line} runs {cmd.name} {values[0]}"
                    wanted = set(wants.get("packages", [])) & {_package_name(v) for v in values}
                    if wanted:
                        return f"line {other.line} installs {', '.join(sorted(wanted))}"
        return None

    def _yarn_berry(self) -> bool:
        """Does the build context show yarn 2+ (Plug'n'Play keeps packages in the cache)?"""
        snapshot = self.ctx.build_context
        if snapshot is None:
            return False
        if snapshot.exists(".yarnrc.yml"):
            return True
        try:
            manifest = json.loads(snapshot.read_text("package.json") or "{}")
        except ValueError:
            return False
        manager = manifest.get("packageManager", "") if isinstance(manifest, dict) else ""
        return isinstance(manager, str) and bool(re.match(r"yarn@([2-9]|\d\d)", manager))

    # ---- index-based managers (apt, apk): who still reads the lists later?

    def _needs_index(self, run: _Run, manager: str) -> bool:
        """Would this RUN, after our fixes, still read package lists left by an earlier RUN?"""
        spec = _kb()[manager]
        if run.script is None or not run.script.ok:
            return _mentions_named(run, spec["commands"])
        uses = [u for u in run.uses if u.manager == manager]
        readers = [u for u in uses if u.verb in spec["list_readers"]]
        if self._refreshes(run, manager):
            return False
        if _indirect_use(run.parsed, spec["commands"]):
            return True
        if not readers:
            return False
        fixable = run.ok and run.ins.stage in self.reaching and not _covered(run.mounts, spec["cache_dirs"])
        if manager == "apk":
            return any(not cmd_has_args(u.cmd, "--no-cache") and not (fixable and u.verb in spec["install"]) for u in readers)
        return not (fixable and self._can_add_update(run, readers))

    def _refreshes(self, run: _Run, manager: str) -> bool:
        return any(u.manager == manager and u.verb in _kb()[manager]["refresh"] for u in run.uses)

    def _can_add_update(self, run: _Run, readers: list[_Use]) -> bool:
        first = readers[0]
        return (
            run.ok
            and not run.parsed.has_comment  # the lists cleanup could not be appended: an update would only add a copy
            and not run.heredoc
            and run.ins.stage in self.reaching
            and not _covered(run.mounts, _kb()["apt"]["cache_dirs"])
            and first.cmd.in_top_and_chain
            and first.verb == "install"
        )

    def _index_blocked(self, run: _Run, manager: str) -> bool:
        """Does a later RUN (this stage, one built FROM it, or an ONBUILD trigger) still read the package lists?"""
        if self._onbuild_uses(manager):
            return True
        return any(self._last_reader(stage, manager) > run.ins.start for stage in self.doc.descendants(run.ins.stage))

    def _onbuild_uses(self, manager: str) -> bool:
        """An ``ONBUILD RUN`` calling the manager runs in child images, which need the lists this image keeps."""
        names = set(_kb()[manager]["commands"])
        return any(script is None or any(c.name in names for c in script.commands) for script in self._onbuild_scripts)

    @property
    def _onbuild_scripts(self) -> list[Script | None]:
        return self.memo.remember("onbuild_scripts", self._find_onbuild_scripts)

    def _find_onbuild_scripts(self) -> list[Script | None]:
        """The analysed bodies of the file's `ONBUILD RUN`s (None: not parseable), found once."""
        found: list[Script | None] = []
        for ins in self.doc.instructions:
            keyword, _, body = ins.args.partition(" ")
            if ins.keyword == "ONBUILD" and keyword.upper() == "RUN":
                script = analyse(body)
                found.append(script if script.ok else None)
        return found

    def _last_reader(self, stage: int, manager: str) -> int:
        """Offset of the last RUN of a stage that needs the lists (-1: none), memoised."""
        key = (stage, manager)
        if key not in self._reader_memo:
            starts = [r.ins.start for r in self._runs_by_stage.get(stage, []) if self._needs_index(r, manager)]
            self._reader_memo[key] = max(starts, default=-1)
        return self._reader_memo[key]

    # ---- the changes of one RUN

    def changes(self, run: _Run) -> Iterator[Result]:
        ins, script = run.ins, run.parsed
        assert script is not None
        kb = _kb()
        at_start: list[Change] = []  # insertions at the body start (mounts, preludes)
        inline: list[Change] = []  # flag insertions and command edits inside the body
        cleanups: list[tuple[str, str, str, str | None]] = []  # (command, explanation, safety, assumption)
        skips: list[Skip] = []
        managers = list(dict.fromkeys(u.manager for u in run.uses))
        env = dict(self.doc.state_at(ins).env)
        mounts_to_add: list[str] = []

        if (
            script.commands
            and all(u.manager == "apt" and u.verb in kb["apt"]["refresh"] for u in run.uses)
            and len(run.uses) == len(script.commands)
            and run.uses
        ):
            if _covered(run.mounts, kb["apt"]["cache_dirs"]):
                yield Skip(ins.line, "apt lists are on a cache mount: RUN left alone")
            elif self._index_blocked(run, "apt"):
                yield Skip(ins.line, "apt-get update alone: a later RUN still reads its lists and cannot be fixed")
            else:
                yield Change(
                    ins.start,
                    ins.end,
                    "",
                    "safe",
                    "removed a RUN that only runs apt-get update: the install RUNs fetch and delete the lists themselves",
                )
            return

        for manager in managers:
            spec = kb[manager]
            uses = [u for u in run.uses if u.manager == manager]
            if _covered(run.mounts, spec.get("cache_dirs", [])):
                skips.append(Skip(ins.line, f"{manager}: its cache is on a cache/tmpfs mount of this RUN, left alone"))
                continue
            blocked = self._cache_expected_later(run, spec) or self._cache_is_the_product(run, uses, spec)
            if blocked:
                skips.append(Skip(ins.line, f"{manager} left alone: {blocked}"))
                continue
            installs = [u for u in uses if u.verb in [_verb_key(v) for v in spec.get("install", [])]]
            mount_mode = self.mount_mode and bool(spec.get("cache_mounts")) and not run.heredoc
            if (
                mount_mode
                and any(m.startswith("/root/") for m in _mount_targets(spec["cache_mounts"]))
                and not self.doc.state_at(ins).user_is_root
            ):
                mount_mode = False
            if manager == "apt":
                self._apt(run, uses, installs, env, mount_mode, at_start, inline, cleanups, skips, mounts_to_add)
                continue
            if manager == "apk":
                self._apk(run, uses, inline, skips)
                continue
            if not installs:
                continue
            for use in installs:
                for flag in spec.get("flags", []):
                    if mount_mode:
                        break
                    wants = flag.get("wants_docs") and self._wants_docs(ins, flag["wants_docs"])
                    if wants:
                        skips.append(Skip(ins.line, f"{flag['add']} not added: the Dockerfile wants documentation ({wants})"))
                        continue
                    change = self._flag(run, use, flag, env)
                    if change is not None:
                        inline.append(change)
            cleanup = spec.get("cleanup")
            if manager == "yarn" and self._yarn_berry():
                skips.append(
                    Skip(ins.line, "yarn 2+ (.yarnrc.yml or packageManager yarn@2+): its cache may hold the installed packages")
                )
                cleanup = None
            if cleanup and not mount_mode:
                made = self._cleanup(run, installs, manager, cleanup, env)
                if made is not None:
                    cleanups.append(made)
            if mount_mode:
                mounts_to_add.extend(spec["cache_mounts"])

        skips.extend(self._notes)
        self._notes = []
        cleanups.extend(self._archives(run))
        if mounts_to_add:
            present = set(run.mounts)
            wanted = [m for m in dict.fromkeys(mounts_to_add) if _mount_targets([m])[0] not in present]
            if wanted:
                at_start.insert(
                    0,
                    Change(
                        ins.body_start,
                        ins.body_start,
                        " ".join(wanted) + " ",
                        "safe",
                        "BuildKit cache mounts keep the package caches out of the image and speed up rebuilds",
                    ),
                )
        yield from skips
        yield from at_start
        yield from sorted(inline, key=lambda c: (c.start, c.end))
        if cleanups:
            yield from self._append(run, cleanups)

    # ---- apt

    def _apt(self, run, uses, installs, env, mount_mode, at_start, inline, cleanups, skips, mounts_to_add):
        ins, script = run.ins, run.parsed
        spec = _kb()["apt"]
        readers = [u for u in uses if u.verb in spec["list_readers"]]
        refreshes = [u for u in uses if u.verb in spec["refresh"]]
        if not readers and not refreshes:
            return
        if readers and not refreshes and _implicit_refresh(script, spec, before=readers[0].cmd.start):
            refreshes = readers[:1]  # e.g. add-apt-repository updated the lists: nothing to add, they can go
        update_added = False
        blocked = self._index_blocked(run, "apt")
        if readers and not refreshes:
            if blocked and not mount_mode:
                skips.append(
                    Skip(
                        ins.line,
                        "apt-get update not added: a later RUN reads the lists, so this layer could not delete them (an update would only store a second copy)",
                    )
                )
            elif self._can_add_update(run, readers):
                first = readers[0].cmd
                prefix = script.text[first.start : first.name_word.start]
                body_pos = run.at(first.start)
                at_start.append(
                    Change(
                        body_pos,
                        body_pos,
                        f"{prefix}{first.name_word.text} update && ",
                        "safe",
                        "apt-get update in the same RUN as the install, so the lists can be deleted in this layer",
                    )
                )
                update_added = True
            else:
                skips.append(Skip(ins.line, "apt install without apt-get update in this RUN, and it cannot be added here"))
        for use in installs:
            for flag in spec["flags"]:
                change = self._flag(run, use, flag, env)
                if change is None:
                    continue
                if flag["add"] == "--no-install-recommends":
                    change = self._with_recommends(run, use, change)
                    if isinstance(change, Skip):
                        skips.append(change)
                        continue
                inline.append(change)
        if not (refreshes or update_added):
            return
        if blocked:
            skips.append(
                Skip(ins.line, "apt lists kept: a later RUN (or a stage built FROM this one) reads them without its own update")
            )
            return
        sudo = _sudo_prefix(readers[0].cmd if readers else refreshes[0].cmd)
        if mount_mode:
            mounts_to_add.extend(spec["cache_mounts"])
            prelude = spec["cache_mount_prelude"]
            if not _has_rm_of(script, prelude.split()[-1]):
                pos = ins.body_start
                at_start.insert(
                    0,
                    Change(
                        pos,
                        pos,
                        f"{sudo}{prelude} && ",
                        "safe",
                        "docker-clean hook removed so the apt cache mount keeps downloaded packages",
                    ),
                )
            return
        if not _runs_any(script, [spec["cleanup"]["present"], *spec["cleanup"].get("present_alt", [])], "apt"):
            cleanups.append((sudo + spec["cleanup"]["command"], "apt lists deleted in the layer that fetched them", "safe", None))

    def _with_recommends(self, run: _Run, use: _Use, flag_change: Change) -> Change | Skip:
        """``--no-install-recommends`` with every dropped package that does work added back explicitly.

        What the flag drops comes from the release's dependency graph (``aptdata``): inert packages
        (documentation, translations, ...) go, the rest are named next to the user's own packages.
        Without data for the base's release, or for a package, the flag is ``unsafe``.
        """
        ins = run.ins
        packages = _package_words(use)
        release = self._release(ins)
        dynamic = [w.text for w in packages if not w.static]
        named = self._added_recommends.setdefault(ins.start, set())
        for other in run.uses:
            if other.manager == "apt":
                named.update(_package_name(w.value) for w in _package_words(other))
        # past this many packages that must stay named, the answer is a Skip whatever the rest are
        limit = _MAX_KEPT_RECOMMENDS + len(named)
        static = [w.value for w in packages if w.static]
        dropped = aptdata.dropped_recommends(release, static, limit) if release else None
        if dropped is None or dropped.unknown or dynamic:
            if dropped is None:
                why = "no Debian package data for this base image's release (untagged, Ubuntu or another distro)"
            else:
                why = f"no package data for {', '.join((dropped.unknown + dynamic)[:4])}"
            return Change(
                flag_change.start,
                flag_change.end,
                flag_change.replacement,
                "unsafe",
                f"{flag_change.explanation} ({why})",
                "none of the packages only recommended by the installed ones is needed at build or run time",
            )
        extra = {name: dropped.keep[name] for name in dropped.explicit if name not in named}
        if len(extra) > _MAX_KEPT_RECOMMENDS or not dropped.explicit_complete:
            return Skip(
                ins.line,
                f"--no-install-recommends not added: {'' if dropped.explicit_complete else 'at least '}{len(extra)}"
                " recommended packages do work and would"
                f" have to be named explicitly ({', '.join(list(extra)[:5])}, ...); the saving is only their documentation",
            )
        if dropped.inert_kib < _MIN_RECOMMENDS_SAVING_KIB:
            saved = f"saves {dropped.inert_kib} KiB ({', '.join(dropped.inert[:4])})" if dropped.inert else "saves nothing"
            return Skip(
                ins.line,
                f"--no-install-recommends not added: it {saved}; the other recommended packages do work"
                + (f" ({', '.join(list(dropped.keep)[:6])})" if dropped.keep else ""),
            )
        inert = ", ".join(dropped.inert[:8]) + (f" and {len(dropped.inert) - 8} more" if len(dropped.inert) > 8 else "")
        explanation = f"{flag_change.explanation} (drops {inert}, {dropped.inert_kib // 1024} MiB: {release} package data)"
        assumption = f"the dropped packages ({inert}) are documentation or data nothing reads"
        if not extra or not packages:
            return Change(flag_change.start, flag_change.end, flag_change.replacement, "review", explanation, assumption)
        named.update(extra)
        last = packages[-1]
        end = run.after(last.end)
        glue = " "
        if len(packages) >= 2:
            prev = packages[-2]
            between = self.doc.text[run.after(prev.end) : run.at(last.start)]
            if "\n" in between:
                line_start = self.doc.text.rfind("\n", 0, run.at(last.start)) + 1
                indent = self.doc.text[line_start : run.at(last.start)]
                if not indent.strip():
                    glue = f" {self.doc.escape}{self.doc.newline}{indent}"
        added = "".join(glue + rec for rec in extra)
        span = self.doc.text[flag_change.start : end]
        kept = "; ".join(f"{name}: {why}" for name, why in extra.items())
        return Change(
            flag_change.start,
            end,
            flag_change.replacement + span + added,
            "review",
            f"{explanation}; kept {', '.join(extra)} explicitly ({kept})",
            assumption,
        )

    def _release(self, ins: Instruction) -> str | None:
        """The Debian release the stage's base image pins (its first ancestor's FROM), or None."""
        ref = self.doc.root_image(ins.stage, self.ctx.options.image_aliases)
        return distro_release(ref) if ref is not None else None

    # ---- apk

    def _apk(self, run: _Run, uses: list[_Use], inline: list[Change], skips: list[Skip]) -> None:
        """``--no-cache`` on ``apk add`` and the now-useless ``apk update``/``rm`` dropped, all or nothing.

        ``--no-cache`` saves nothing where an ``apk update`` that must stay (a heredoc, another
        reader of the index, not in the RUN's && chain) has already stored the index, nor where the
        RUN removes /var/cache/apk itself: such a RUN is left as it is.
        """
        ins, script = run.ins, run.parsed
        spec = _kb()["apk"]
        adds = [u for u in uses if u.verb in spec["install"]]
        flagged = [u for u in adds if not _has_any(u.cmd, spec["flags"][0]["present"])]
        if not flagged:
            return
        useless = spec["flags"][0]["useless_cleanup"]
        if any(
            c.name == "rm" and c.start > adds[-1].cmd.start and _rm_covers(c, useless["prefix"] + "/APKINDEX.tar.gz")
            for c in script.commands
        ):
            return  # the RUN empties the cache itself: nothing to gain
        refreshes = [u for u in uses if u.verb in spec["refresh"] and u.cmd.start < adds[0].cmd.start]
        droppable = [u for u in refreshes if u.cmd.in_top_and_chain and not run.heredoc and _drop_command(script, u.cmd)]
        others = [u for u in uses if u.verb in spec["list_readers"] and u.verb not in spec["install"]]
        if len(droppable) != len(refreshes) or (refreshes and (others or self._index_blocked(run, "apk"))):
            skips.append(
                Skip(ins.line, "apk add --no-cache not added: the apk update before it stays and has stored the index already")
            )
            return
        for use in flagged:
            change = self._flag(run, use, spec["flags"][0], {})
            if change is not None:
                inline.append(change)
        for use in droppable:
            drop = _drop_command(script, use.cmd)
            assert drop is not None  # `droppable` holds only commands _drop_command can drop
            inline.append(
                Change(
                    run.at(drop[0]),
                    run.after(drop[1]),
                    "",
                    "safe",
                    "dropped apk update: apk add --no-cache fetches the index without storing it",
                )
            )

    # ---- generic pieces

    def _flag(self, run: _Run, use: _Use, flag: dict, env: dict[str, str]) -> Change | None:
        if use.verb_end < 0:
            return None
        if "commands" in flag and use.cmd.name not in flag["commands"]:
            return None
        if "verbs" in flag and use.verb not in flag["verbs"]:
            return None
        if any(name in env for name in flag.get("env", [])):
            return None
        if any(w.value.split("=", 1)[0] in flag.get("env", []) for w in use.cmd.prefix_words):
            return None
        if _has_any(use.cmd, flag["present"]):
            return None
        if _runs_any(run.parsed, flag.get("cleaned_by", []), use.manager, after=use.cmd.end):
            return None  # the RUN empties that cache itself before the layer is stored
        if flag.get("configured_by_base") and self._base_repository(run.ins) in flag["configured_by_base"]:
            return None
        pos = run.after(use.verb_end)
        tool = use.manager if _PYTHON_RE.match(use.cmd.name) else use.cmd.name
        explanation = f"{flag['add']} on {tool} {use.verb}".rstrip()
        return Change(pos, pos, " " + flag["add"], flag.get("safety", "safe"), explanation, flag.get("assumption"))

    def _cleanup(self, run: _Run, installs: list[_Use], manager: str, cleanup: dict, env: dict[str, str]):
        """The cleanup to append after the RUN's installs, or None (already done after the last install,
        a cache an earlier layer keeps anyway, a tool the RUN may not have installed)."""
        use, last = installs[0], installs[-1]
        cache_dir = cleanup.get("cache_dir", "")
        if cleanup.get("cache_dir_env") and cleanup["cache_dir_env"] in env:
            cache_dir = env[cleanup["cache_dir_env"]]
            if not _SHELL_SAFE_RE.match(cache_dir) or cache_dir in ("/", "~", ""):
                return None
        cmd_word = use.cmd.name_word.text if use.cmd.name_word else use.cmd.name
        if _runs_any(
            run.parsed, [cleanup["present"], *cleanup.get("present_alt", [])], manager, after=last.cmd.end, cache_dir=cache_dir
        ):
            return None
        earlier = self._uncleaned_earlier(run, manager)
        if earlier is not None:
            self._notes.append(
                Skip(
                    run.ins.line,
                    f"{manager} cache not cleaned: the RUN at line {earlier} filled it and keeps it;"
                    " a cleanup here would only add whiteouts",
                )
            )
            return None
        command = cleanup["command"].replace("{cmd}", cmd_word).replace("{cache_dir}", cache_dir)
        if not _runs_anywhere(command) and (use.cmd.depth > 0 or use.cmd.in_subshell):
            # `if ...; then npm i -g x; fi && npm cache clean` would call npm where the branch did not run
            self._notes.append(
                Skip(
                    run.ins.line,
                    f"{manager} cache not cleaned: the install runs conditionally or in a"
                    f" subshell, and `{command}` would run unconditionally",
                )
            )
            return None
        return (
            _sudo_prefix(use.cmd) + command,
            f"{manager} cache removed in the layer that filled it",
            cleanup.get("safety", "safe"),
            cleanup.get("assumption"),
        )

    def _archives(self, run: _Run) -> list[tuple[str, str, str, str | None]]:
        spec = _kb()["archives"]
        script = run.parsed
        found: list[str] = []
        for cmd in script.commands:
            options = spec["downloaders"].get(cmd.name)
            if not options:
                continue
            path = _download_target(cmd, options, spec)
            if not path or path == "-" or not path.endswith(tuple(spec["suffixes"])):
                continue
            later = [c for c in script.commands if c.start > cmd.end]
            extracted = any(
                c.name in spec["extractors"] and any(w.value in (path, f"--file={path}") for w in c.words) for c in later
            )
            moved = any(c.name in ("mv", "cp", "ln", "install") and any(w.value == path for w in c.words) for c in later)
            removed = any(c.name == "rm" and _rm_covers(c, path) for c in script.commands)
            # a `cd` at any depth (`if ...; then cd x; fi`) may leave a relative path elsewhere
            moves_around = any(c.name in ("cd", "pushd", "popd") for c in script.commands)
            if not extracted or moved or removed or (moves_around and not path.startswith("/")):
                continue
            if path not in found:
                found.append(path)
        return [(f"rm -f {shlex.quote(p)}", f"downloaded archive {p} removed after extraction", "safe", None) for p in found]

    def _append(self, run: _Run, cleanups) -> Iterator[Result]:
        ins, script = run.ins, run.parsed
        if run.heredoc:
            yield from self._append_heredoc(run, cleanups)
            return
        if script.has_comment:
            yield Skip(ins.line, "cleanup not appended: the RUN body contains a shell comment")
            return
        point = postconditions.append_point(script, ins.stage_shell)
        if point is None:
            yield Skip(ins.line, "cleanup not appended: the RUN ends the shell with exit/exec")
            return
        pos = run.after(point.offset)
        for command, explanation, safety, assumption in cleanups:
            if point.from_root and not _runs_anywhere(command):
                command = f"cd / && {command}"
                explanation += " (from /: the RUN removed the directory it had cd-ed into)"
            yield Change(pos, pos, postconditions.appended_text(ins, point, command), safety, explanation, assumption)

    def _append_heredoc(self, run: _Run, cleanups) -> Iterator[Result]:
        """``last-command && cleanup`` on the script's last line keeps the script's exit status."""
        script = run.parsed
        if not script.items or any(c.name in ("exit", "exec") and c.depth == 0 for c in script.commands):
            yield Skip(run.ins.line, "cleanup not appended: empty heredoc script or it ends the shell with exit/exec")
            return
        last = script.items[-1]
        line_end = script.text.find("\n", last.end)
        if script.text[last.end : line_end if line_end >= 0 else len(script.text)].strip():
            yield Skip(run.ins.line, "cleanup not appended: the heredoc's last line goes on after its last command")
            return
        pos = run.at(last.end)
        for command, explanation, safety, assumption in cleanups:
            yield Change(pos, pos, f" && {command}", safety, explanation, assumption)


# --------------------------------------------------------------------------- small helpers


def _download_target(cmd: Command, options: list[str], spec: dict) -> str | None:
    """The file a curl/wget command writes: its -o/-O value, or the URL's last segment (curl -O, plain wget)."""
    parsed = parse_options(cmd.words, cmd.name)
    output = parsed.value(*options)
    if output is not None:
        return output if "$" not in output and "`" not in output else None
    if parsed.has(*spec["directory_options"].get(cmd.name, [])):
        return None
    remote = spec["remote_name"].get(cmd.name)
    if remote is None or (remote and not parsed.has(*remote)):
        return None
    urls = [w for w in parsed.operands if "://" in w.value]
    if len(urls) != 1 or not urls[0].static:
        return None
    url = urls[0].value
    if "?" in url or "#" in url:  # curl and wget keep the query in the saved name
        return None
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return name if "://" not in name and name else None


def _verb_key(verb) -> str:
    return " ".join(verb) if isinstance(verb, list) else verb


def _mount_targets(mounts: list[str]) -> list[str]:
    out = []
    for m in mounts:
        fields = dict(p.split("=", 1) for p in m.removeprefix("--mount=").split(",") if "=" in p)
        out.append(fields.get("target", "").rstrip("/"))
    return out


def _indirect_use(script: Script, names: list[str]) -> bool:
    """Could this script run the manager where the shell analysis does not see it: a local ``*.sh``
    script, or ``xargs apt-get ...`` / ``sh -c "apt-get ..."``?"""
    runners = _kb()["indirect"]["runners"]
    for cmd in script.commands:
        if cmd.name.endswith(".sh") or (cmd.name in (".", "source") and cmd.words):
            return True
        if cmd.name in runners:
            positional = [w.value for w in cmd.words if not w.value.startswith("-")]
            if positional and positional[0].endswith(".sh"):
                return True
            tokens = {t for w in cmd.words for t in re.split(r"[^A-Za-z0-9._-]+", w.value)}
            if tokens & set(names):
                return True
    return False


def _mentions_named(run: _Run, names: list[str]) -> bool:
    if run.script is not None and run.script.ok:
        return any(c.name in names for c in run.parsed.commands)
    words = set(re.split(r"[\s\"'\[\],;&|()]+", run.ins.raw))
    return bool({w.rsplit("/", 1)[-1] for w in words} & set(names))


def _heredoc_script(ins: Instruction) -> Script | None:
    """The shell script of ``RUN <<EOF`` (the heredoc is the whole body), when it is one."""
    if len(ins.heredocs) != 1 or ins.json_args is not None:
        return None
    words = split_words(ins.args, ins.doc.escape)
    if len(words) != 1 or words[0][0].lstrip("<-").strip("'\"") != ins.heredocs[0].name:
        return None
    from ..model import POSIX_SHELLS
    from ..shell import analyse

    body = ins.heredocs[0].body
    if body.startswith("#!"):
        interpreter = body[2:].split("\n", 1)[0].split()
        if interpreter and interpreter[0].endswith("/env") and len(interpreter) > 1:
            interpreter = interpreter[1:]
        if not interpreter or interpreter[0].rsplit("/", 1)[-1] not in POSIX_SHELLS:
            return None
    script = analyse(body)
    return script if script.ok else None


def _has_any(cmd: Command, present: list[str]) -> bool:
    """Is the flag (or an equivalent spelling) already on the command?"""
    dashed = [p for p in present if p.startswith("-")]
    plain = [p for p in present if not p.startswith("-")]
    return bool(dashed and cmd_has_args(cmd, *dashed)) or any(p in w.value for w in cmd.words for p in plain)


def _runs_any(script: Script, checks: list[dict], manager: str, after: int = -1, cache_dir: str = "") -> bool:
    """Does the script (after offset ``after``) run one of ``checks``: {command, prefix of an argument}?
    ``{cmd}`` stands for the manager's own commands."""
    for check in checks:
        names = _kb()[manager]["commands"] if check["command"] == "{cmd}" else [check["command"]]
        prefix = check["prefix"].replace("{cache_dir}", cache_dir)
        for cmd in script.commands:
            if cmd.start > after and cmd.name in names and any(w.value.startswith(prefix) for w in cmd.words):
                return True
    return False


def _rm_covers(cmd: Command, path: str) -> bool:
    """Does this rm already remove ``path`` (the path itself, a glob matching it, or a folder holding it with -r)?"""
    recursive = cmd_has_args(cmd, "-r", "-R", "--recursive")
    for word in cmd.words:
        pattern = word.value if word.static or "*" in word.text else None
        if pattern is None or pattern.startswith("-"):
            continue
        if pattern == path or fnmatch.fnmatchcase(path, pattern):
            return True
        parts = path.split("/")
        ancestors = ["/".join(parts[:k]) for k in range(2, len(parts))]
        if recursive and any(fnmatch.fnmatchcase(folder, pattern.rstrip("/")) for folder in ancestors):
            return True
    return False


def _implicit_refresh(script: Script, spec: dict, before: int) -> bool:
    """Does a command before offset ``before`` refresh the lists by itself (add-apt-repository)?"""
    for rule in spec.get("implicit_refresh", []):
        for cmd in script.commands:
            if cmd.start < before and cmd.name == rule["command"] and not cmd_has_args(cmd, *rule["unless"]):
                return True
    return False


def _runs_anywhere(command: str) -> bool:
    """A cleanup that only removes absolute paths does not care which directory it runs in."""
    words = command.split()
    return bool(words) and words[0] == "rm" and all(w.startswith(("-", "/")) for w in words[1:])


def _has_rm_of(script: Script, prefix: str) -> bool:
    return any(c.name == "rm" and any(w.value.startswith(prefix) for w in c.words) for c in script.commands)


def _sudo_prefix(cmd: Command) -> str:
    return "sudo " if any(w.value == "sudo" for w in cmd.prefix_words) else ""


def _package_words(use: _Use) -> list[Word]:
    """The package arguments of an apt install (operands after the verb)."""
    return [w for w in parse_options(use.cmd.words, use.cmd.name).operands if w.start >= use.verb_end]


def _package_name(value: str) -> str:
    return re.split(r"[=:/]", value, maxsplit=1)[0]


def _drop_command(script: Script, cmd: Command) -> tuple[int, int] | None:
    """Script span to delete so that ``cmd`` leaves its && chain cleanly (with one operator)."""
    items = script.items
    index = next((k for k, it in enumerate(items) if it.start <= cmd.start and cmd.end <= it.end), None)
    if index is None or items[index].start != cmd.start or items[index].end != cmd.end or len(items) < 2:
        return None
    if index + 1 < len(items):
        return items[index].start, items[index + 1].start
    return items[index - 1].end, items[index].end
