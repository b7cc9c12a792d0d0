"""What one build stage does, gathered once, and the helpers every ecosystem's planner shares.

`gather()` walks the stage (``Document.walk``) and records what a runtime stage needs to know: the
WORKDIR and the statically known ENV/ARG values at every step, what was copied where, which packages
and users the RUNs created. A value that is not static stops the split (`Unsure`) instead of a guess.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import shlex
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cache

from ..datafiles import data_toml
from ..imageref import ImageRef, parse_image_ref
from ..model import Document, Instruction, Stage, State, expand_static, unquote
from ..shell import Command, Script, analyse, parse_options

PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
USER_COMMANDS = frozenset({"useradd", "groupadd", "adduser", "addgroup", "usermod"})
SETUP_COMMANDS = frozenset({"mkdir", "chown", "chmod", "ln", "touch"})


def is_dev_package(name: str) -> bool:
    """Headers/linker package (libpq-dev, libmariadb-dev-compat): build time only."""
    return re.search(r"-dev(?:-|$)", name) is not None


class Unsure(Exception):
    """The analysis cannot be sure; the message is the one-line Skip reason."""


@cache
def runtimes() -> dict:
    return data_toml("runtimes.toml")


@cache
def runtime_libs() -> dict:
    return data_toml("runtime_libs.toml")


@cache
def runtime_bases() -> dict:
    return data_toml("runtime_bases.toml")


def image_packages(image: str, codename: str | None) -> frozenset[str]:
    """Debian packages a runtime image already has (data/runtime_bases.toml); empty when unknown."""
    from .. import aptdata

    for entry in runtime_bases()["images"]:
        pattern = entry["match"].replace("{codename}", codename or "\0")
        if not fnmatch.fnmatchcase(image, pattern):
            continue
        have = set(entry.get("packages", []))
        if entry.get("apt_base"):
            if not codename:
                return frozenset()
            base = aptdata.base_packages(codename) if hasattr(aptdata, "base_packages") else _apt_base(codename)
            if base is None:
                return frozenset()
            have |= base
        return frozenset(have)
    return frozenset()


@cache
def _apt_base(codename: str) -> frozenset[str] | None:
    """The release's base set (Priority required and their Depends) from data/apt (aptdata)."""
    from .. import aptdata

    graph = aptdata._graph(codename)
    if graph is None:
        return None
    return frozenset(graph.names[i] for i in graph.base)


def copyable_libs(packages: list[str], image: str, codename: str | None) -> list[str] | None:
    """Shared-library files (soname globs under the builder's lib folder) that give ``image`` the
    runtime ``packages``; None when one of them (or one of their Depends) cannot be copied.
    """
    data = runtime_bases()["copy_libs"]
    if codename not in data["releases"]:
        return None
    table = data.get(codename, {})
    have = image_packages(image, codename)
    files: list[str] = []
    todo = [p.split("=", 1)[0] for p in packages]
    seen: set[str] = set()
    while todo:
        pkg = todo.pop(0)
        if pkg in seen or pkg in have:
            continue
        seen.add(pkg)
        entry = table.get(pkg)
        if entry is None:
            return None
        files += [posixpath.join(data["lib_glob"], f) for f in entry["files"]]
        todo += entry.get("depends", [])
    return files


def expand(text: str, env: Mapping[str, str]) -> str | None:
    """Dockerfile variable substitution with static values; None when a variable is unknown."""
    return expand_static(text, env)


def abspath(path: str, cwd: str) -> str:
    return posixpath.normpath(posixpath.join(cwd, path)) if path else cwd


def is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass
class RunStep:
    ins: Instruction
    script: Script | None
    workdir: str
    user: str | None
    env: dict[str, str]

    def __init__(  # written out to be compiled: see setup.py
        self,
        ins: Instruction,
        script: Script | None,
        workdir: str,
        user: str | None,
        env: dict[str, str],
    ) -> None:
        self.ins = ins
        self.script = script
        self.workdir = workdir
        self.user = user
        self.env = env


@dataclass
class CopyStep:
    ins: Instruction
    sources: list[str]
    dest: str  # absolute
    dest_is_dir: bool
    from_stage: str | None
    workdir: str

    def __init__(  # written out to be compiled: see setup.py
        self,
        ins: Instruction,
        sources: list[str],
        dest: str,
        dest_is_dir: bool,
        from_stage: str | None,
        workdir: str,
    ) -> None:
        self.ins = ins
        self.sources = sources
        self.dest = dest
        self.dest_is_dir = dest_is_dir
        self.from_stage = from_stage
        self.workdir = workdir

    def placed(self) -> list[tuple[str, str]]:
        """(source as written, absolute path in the image) for each source."""
        out = []
        for src in self.sources:
            s = src.rstrip("/") or src
            if self.dest_is_dir and s not in (".", "./", "") and not is_dir_source(src):
                out.append((src, posixpath.join(self.dest, posixpath.basename(s))))
            else:
                out.append((src, self.dest))
        return out


def is_dir_source(src: str) -> bool:
    return src.endswith("/") or src in (".", "./")


@dataclass(frozen=True)
class StartedScript:
    """A file the image starts as a program (ENTRYPOINT, CMD, HEALTHCHECK, or a script one of them runs)
    that a COPY/ADD put into the image."""

    path: str  # absolute path in the image
    who: str  # what starts it: "CMD", "ENTRYPOINT", "HEALTHCHECK" or the path of the script that runs it
    text: str | None  # its text from the build context; None when it cannot be read from there

    @property
    def mentioned(self) -> list[str]:
        """Every absolute path its text names (see `mentioned_paths`)."""
        return mentioned_paths(self.text or "")


@dataclass
class StageFacts:
    stage: Stage
    ref: ImageRef
    family: str | None  # "debian", "alpine" or None (unknown)
    codename: str | None  # bookworm, bullseye ... for debian
    global_args: dict[str, str | None]
    steps: list[RunStep | CopyStep] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    workdir_set: bool = False
    user: str | None = None
    carried: list[Instruction] = field(default_factory=list)
    entrypoint: Instruction | None = None
    cmd: Instruction | None = None
    healthcheck: Instruction | None = None
    apt_packages: list[str] = field(default_factory=list)
    apk_packages: list[str] = field(default_factory=list)
    user_commands: list[str] = field(default_factory=list)
    created_users: dict[str, str | None] = field(default_factory=dict)
    created_groups: dict[str, str | None] = field(default_factory=dict)
    setup: list[tuple[Command, RunStep]] = field(default_factory=list)
    #: started_scripts() answers, per build-context snapshot (the planner and the runtime stage both ask)
    started_memo: dict[int, list[StartedScript]] = field(default_factory=dict, repr=False, compare=False)

    def __init__(  # written out to be compiled: see setup.py
        self,
        stage: Stage,
        ref: ImageRef,
        family: str | None,
        codename: str | None,
        global_args: dict[str, str | None],
        steps: list[RunStep | CopyStep] | None = None,
        env: dict[str, str] | None = None,
        workdir: str = "/",
        workdir_set: bool = False,
        user: str | None = None,
        carried: list[Instruction] | None = None,
        entrypoint: Instruction | None = None,
        cmd: Instruction | None = None,
        healthcheck: Instruction | None = None,
        apt_packages: list[str] | None = None,
        apk_packages: list[str] | None = None,
        user_commands: list[str] | None = None,
        created_users: dict[str, str | None] | None = None,
        created_groups: dict[str, str | None] | None = None,
        setup: list[tuple[Command, RunStep]] | None = None,
        started_memo: dict[int, list[StartedScript]] | None = None,
    ) -> None:
        self.stage = stage
        self.ref = ref
        self.family = family
        self.codename = codename
        self.global_args = global_args
        self.steps = [] if steps is None else steps
        self.env = {} if env is None else env
        self.workdir = workdir
        self.workdir_set = workdir_set
        self.user = user
        self.carried = [] if carried is None else carried
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.healthcheck = healthcheck
        self.apt_packages = [] if apt_packages is None else apt_packages
        self.apk_packages = [] if apk_packages is None else apk_packages
        self.user_commands = [] if user_commands is None else user_commands
        self.created_users = {} if created_users is None else created_users
        self.created_groups = {} if created_groups is None else created_groups
        self.setup = [] if setup is None else setup
        self.started_memo = {} if started_memo is None else started_memo

    @property
    def runs(self) -> list[RunStep]:
        return [s for s in self.steps if isinstance(s, RunStep)]

    @property
    def copies(self) -> list[CopyStep]:
        return [s for s in self.steps if isinstance(s, CopyStep)]

    def commands(self) -> list[tuple[Command, RunStep]]:
        return [(c, r) for r in self.runs if r.script for c in r.script.commands]

    def start_words(self) -> tuple[list[str], bool]:
        """The start command's words and whether it is exec form (ENTRYPOINT + CMD as Docker joins them)."""
        ep, cmd = self.entrypoint, self.cmd
        if ep is not None:
            if ep.json_args is None:
                return ep.words(), False
            tail = (cmd.json_args or []) if cmd is not None and cmd.json_args is not None else []
            if cmd is not None and cmd.json_args is None:
                return ep.json_args + cmd.words(), False
            return list(ep.json_args) + list(tail), True
        if cmd is None:
            return [], True
        if cmd.json_args is not None:
            return list(cmd.json_args), True
        return cmd.words(), False

    def image_has(self, path: str) -> bool:
        """Was `path` put into the image by a COPY/ADD of this stage (itself, a glob, or a copied folder)?"""
        for c in self.copies:
            for src, placed in c.placed():
                if placed == path or fnmatch.fnmatchcase(path, placed):
                    return True
                if is_under(path, placed) and (is_dir_source(src) or c.from_stage is not None or not posixpath.splitext(src)[1]):
                    return True
        return False

    def context_path(self, image_path: str, ctx_snapshot, marker: str | None = None) -> str | None:
        """Where an image path came from in the build context (via `COPY <dir> <dest>`), if known."""
        best = None
        for c in self.copies:
            if c.from_stage is not None or len(c.sources) != 1:
                continue
            src = c.sources[0]
            if not is_dir_source(src) and not (ctx_snapshot and _ctx_is_dir(ctx_snapshot, src)):
                continue
            if is_under(image_path, c.dest):
                rel = posixpath.relpath(image_path, c.dest)
                base = posixpath.normpath(src.strip("/")) if src.strip("./") else ""
                best = posixpath.normpath(posixpath.join(base, rel)) if base not in ("", ".") else rel
        if best is None and marker:
            # `COPY package*.json ./`, `COPY Cargo.toml Cargo.lock ./`: the marker file's own source
            target = posixpath.join(image_path, marker)
            for c in self.copies:
                if c.from_stage is not None:
                    continue
                for src, placed in c.placed():
                    if placed == target or fnmatch.fnmatchcase(target, placed):
                        best = posixpath.dirname(posixpath.normpath(src)) or "."
        if best is not None and best.startswith(".."):
            return None
        return None if best is None else ("" if best == "." else best)


def _ctx_is_dir(snapshot, rel: str) -> bool:
    e = snapshot.entry(rel)
    return bool(e and e.is_dir)


Hit = tuple[Command, RunStep]  # a build command and the RUN it is in


@dataclass
class Build:
    ecosystem: str
    outputs: list[str]  # absolute builder paths the runtime receives (files, dirs, or a glob)
    static_image: str | None = None  # distroless image usable when nothing needs a shell
    shell_image: str | None = None  # image with a shell and a package manager
    shell_family: str | None = None  # "debian" or "alpine": package manager of shell_image
    extra_paths: list[str] = field(default_factory=list)  # builder paths copied before the outputs
    run_lines: list[str] = field(default_factory=list)  # ecosystem RUNs of the runtime (npm ci)
    edits: list[tuple[int, int, str]] = field(default_factory=list)  # offsets in doc.text
    assumptions: list[str] = field(default_factory=list)
    programs: set[str] = field(default_factory=set)  # commands the runtime image provides
    runtime_packages: list[str] = field(default_factory=list)
    asset_mode: str = "compiled"  # "compiled": copy run-time files only; "none": outputs only
    uses_base_users: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)
    header_lines: list[str] = field(default_factory=list)  # ENV lines the runtime stage starts with
    path_dirs: list[str] = field(default_factory=list)  # builder PATH dirs (beyond the default) outputs may sit in
    #: the dynamic static_image (distroless cc) may receive the runtime packages' shared libraries
    #: copied from the builder (data/runtime_bases.toml [copy_libs]) instead of an apt-get install
    copy_libs: bool = False
    #: whether a debian-slim runtime needs the CA bundle; None: the ecosystem's default (shell_packages)
    ca_bundle: bool | None = None
    ca_note: str = ""  # why (assumption printed when a debian-slim runtime is chosen)
    #: builder paths the build step reads and is done with (a non-editable `pip install DIR`'s DIR, a
    #: requirements file, a wheel): copied paths inside them are left out of the runtime stage unless
    #: something at run time names them (start command, HEALTHCHECK, ENV, VOLUME, WORKDIR, script folder)
    consumed: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- gathering


def _debian_codename(tag: str | None) -> str | None:
    data = runtimes()["debian"]
    if tag is None:
        return data["default_codename"]
    for name in data["codenames"]:
        if name in tag:
            return name
    if "alpine" in tag or "ubuntu" in tag or "jammy" in tag or "focal" in tag or "noble" in tag:
        return None
    if "windowsservercore" in tag or "nanoserver" in tag:
        return None
    return data["default_codename"]


UBUNTU_CODENAMES = ("jammy", "focal", "noble", "bionic")
#: repositories whose default (codename-less) tags are Ubuntu based
UBUNTU_BASED = frozenset({"eclipse-temurin", "maven", "gradle", "ubuntu"})


def image_family(ref: ImageRef) -> tuple[str | None, str | None]:
    tag = ref.tag or ""
    if any(c in tag for c in UBUNTU_CODENAMES) or (
        ref.name in UBUNTU_BASED and "alpine" not in tag and not any(c in tag for c in runtimes()["debian"]["codenames"])
    ):
        return "ubuntu", None
    if "alpine" in tag or ref.name == "alpine":
        return "alpine", None
    if ref.name in ("debian",):
        code = _debian_codename(tag)
        if tag and tag.split("-")[0].isdigit():
            code = {"12": "bookworm", "11": "bullseye", "13": "trixie"}.get(tag.split("-")[0].split(".")[0])
        return ("debian", code) if code else (None, None)
    code = _debian_codename(ref.tag)
    return ("debian", code) if code else (None, None)


def gather(doc: Document, stage: Stage) -> StageFacts:
    """Walk the stage once; raises Unsure when a value the runtime stage needs is not static.

    ``Document.walk`` gives each instruction with its State; the static ENV/ARG values are kept
    beside it because State expands an unknown ``$VAR`` to "" where the split must stop instead.
    """
    global_args = _global_args(doc)
    ref = _base_ref(stage, global_args)
    family, codename = image_family(ref)
    facts = StageFacts(stage, ref, family, codename, global_args)
    facts.workdir = runtimes()["default_workdir"].get(ref.name, "/")
    for ins, state in doc.walk(stage.index):
        step = _STEPS.get(ins.keyword)
        if step is not None:
            step(facts, ins, state)
    return facts


def _global_args(doc: Document) -> dict[str, str | None]:
    """ARGs before the first FROM, None for those without a static value."""
    return {k: None if k in doc.global_unknown else v for k, v in doc.global_args.items()}


def _base_ref(stage: Stage, global_args: dict[str, str | None]) -> ImageRef:
    resolved = expand(stage.base, {k: v for k, v in global_args.items() if v is not None})
    if resolved is None:
        raise Unsure(f"base image {stage.base} uses an ARG without a default")
    return parse_image_ref(resolved)


def _on_assignment(facts: StageFacts, ins: Instruction, state: State) -> None:
    after = state.after(ins, ins.doc.global_args, ins.doc.global_unknown)
    facts.env = {k: v for k, v in after.variables.items() if k not in after.unknown}
    facts.carried.append(ins)


def _on_workdir(facts: StageFacts, ins: Instruction, state: State) -> None:
    value = expand(unquote(ins.args, state.escape), facts.env)
    if value is None:
        raise Unsure(f"WORKDIR {ins.args} uses a variable without a static value")
    facts.workdir = abspath(value, facts.workdir)
    facts.workdir_set = True


def _on_user(facts: StageFacts, ins: Instruction, state: State) -> None:
    facts.user = ins.args.strip()  # as written: the runtime stage repeats it and refuses variables
    facts.carried.append(ins)


def _on_copy(facts: StageFacts, ins: Instruction, state: State) -> None:
    if ins.heredocs:
        raise Unsure(f"{ins.keyword} with a heredoc")
    words = ins.words()
    if len(words) < 2:
        raise Unsure(f"{ins.keyword} without a destination")
    expanded = [expand(w, facts.env) for w in words]
    values = [v for v in expanded if v is not None]
    if len(values) != len(expanded):
        raise Unsure(f"{ins.keyword} at line {ins.line} uses a variable without a static value")
    *sources, dest = values
    dest_is_dir = dest.endswith("/") or len(sources) > 1 or any(ch in "".join(sources) for ch in "*?[")
    facts.steps.append(CopyStep(ins, sources, abspath(dest, facts.workdir), dest_is_dir, ins.flag("from"), facts.workdir))


def _on_run(facts: StageFacts, ins: Instruction, state: State) -> None:
    script = ins.script()
    if ins.json_args is not None or script is None or not script.ok or ins.heredocs:
        script = None
    step = RunStep(ins, script, facts.workdir, facts.user, dict(facts.env))
    facts.steps.append(step)
    if script is not None:
        _note_run(facts, step)


def _on_start(facts: StageFacts, ins: Instruction, state: State) -> None:
    if ins.keyword == "ENTRYPOINT":
        facts.entrypoint = ins
        facts.cmd = None  # an ENTRYPOINT resets an inherited CMD
    elif ins.keyword == "CMD":
        facts.cmd = ins
    else:
        facts.healthcheck = ins
    facts.carried.append(ins)


def _on_carried(facts: StageFacts, ins: Instruction, state: State) -> None:
    facts.carried.append(ins)


_STEPS: dict[str, Callable[[StageFacts, Instruction, State], None]] = {
    "ENV": _on_assignment,
    "ARG": _on_assignment,
    "WORKDIR": _on_workdir,
    "USER": _on_user,
    "COPY": _on_copy,
    "ADD": _on_copy,
    "RUN": _on_run,
    "ENTRYPOINT": _on_start,
    "CMD": _on_start,
    "HEALTHCHECK": _on_start,
    **dict.fromkeys(("LABEL", "EXPOSE", "VOLUME", "STOPSIGNAL", "SHELL", "ONBUILD", "MAINTAINER"), _on_carried),
}


def static_word(value, env: dict[str, str], what: str):
    """A word with its variables expanded from static ENV/ARG values; Unsure when one is unknown."""
    if value is None or "$" not in value and "`" not in value:
        return value
    out = expand(value, env) if "`" not in value and "$(" not in value else None
    if out is None:
        raise Unsure(f"{what} uses a variable without a static value")
    return out


def static_argv(cmd: Command) -> list[str] | None:
    return None if any(not w.static for w in cmd.words) else cmd.argv


def _note_run(facts: StageFacts, step: RunStep) -> None:
    assert step.script is not None
    for cmd in step.script.commands:
        name = cmd.name
        argv = cmd.argv
        if name in ("apt-get", "apt", "aptitude") and "install" in argv:
            facts.apt_packages += [a for a in argv[argv.index("install") + 1 :] if not a.startswith("-")]
        elif name == "apk" and "add" in argv:
            facts.apk_packages += [a for a in argv[argv.index("add") + 1 :] if not a.startswith("-")]
        elif name in USER_COMMANDS:
            facts.user_commands.append(step.script.text[cmd.start : cmd.end])
            _note_user(facts, cmd)
        elif name in SETUP_COMMANDS:
            facts.setup.append((cmd, step))


def _note_user(facts: StageFacts, cmd: Command) -> None:
    """Record the user or group a useradd/adduser/groupadd/addgroup creates (with a numeric id when given)."""
    parsed = parse_options(cmd.words, cmd.name)
    positional = [w.value for w in parsed.operands]
    if not positional or cmd.name == "usermod":
        return
    if cmd.name in ("groupadd", "addgroup"):
        if cmd.name == "addgroup" and len(positional) == 2:  # busybox/debian: addgroup USER GROUP
            return
        gid = parsed.value("-g", "--gid")
        facts.created_groups[positional[0]] = gid if gid and gid.isdigit() else None
        return
    if cmd.name == "adduser" and len(positional) == 2:  # debian: adduser USER GROUP
        return
    uid = parsed.value("-u", "--uid")
    facts.created_users[positional[0]] = uid if uid and uid.isdigit() else None
    if cmd.name == "adduser" and "--group" in cmd.argv:  # debian: a group of the same name
        facts.created_groups.setdefault(positional[0], None)


# --------------------------------------------------------------------------- helpers for planners


def cwd_for(cmd: Command, step: RunStep) -> str:
    """The directory a command runs in: WORKDIR, changed by a top-level `cd` before it."""
    cwd = step.workdir
    assert step.script is not None
    for other in step.script.commands:
        if other.start >= cmd.start:
            break
        if other.name in ("cd", "pushd", "popd"):
            args = static_argv(other)
            if other.depth != 0 or other.in_subshell or args is None or len(args) != 1 or other.name != "cd":
                raise Unsure("a `cd` before the build command changes directory in a way not followed")
            value = expand(args[0], step.env)
            if value is None:
                raise Unsure("a `cd` to a variable path before the build command")
            cwd = abspath(value, cwd)
    return cwd


def command_env(cmd: Command, step: RunStep) -> dict[str, str]:
    """The RUN's static environment plus the command's own `VAR=value` prefixes."""
    env = dict(step.env)
    for w in cmd.prefix_words:
        if "=" in w.value and not w.value.startswith("-"):
            k, v = w.value.split("=", 1)
            env[k] = v
    return env


def follow_copies(facts: StageFacts, cmd: Command, outputs: list[str]) -> list[str]:
    """Outputs after later `cp`/`mv`/`install` commands in the stage moved or copied them."""
    current = list(outputs)
    started = False
    for c, r in facts.commands():
        if not started:
            started = c is cmd
            continue
        if c.name not in ("cp", "mv", "install") or static_argv(c) is None:
            continue
        parsed = parse_options(c.words, c.name)
        values = [expand(w.value, r.env) for w in parsed.operands]
        if any(v is None for v in values):
            continue
        paths = [abspath(v, r.workdir) for v in values if v is not None]
        target_dir = parsed.value("-t", "--target-directory")
        if target_dir is not None:  # cp/mv/install -t DIR SRC...
            folder = expand(target_dir, r.env)
            if folder is None:
                continue
            srcs, dst, into_dir = paths, abspath(folder, r.workdir), True
        elif len(paths) < 2:
            continue
        else:
            *srcs, dst = paths
            into_dir = c.argv[-1].endswith("/") or dst in PATH_DIRS or len(srcs) > 1
        for src in srcs:
            for out in list(current):
                if src == out or fnmatch.fnmatchcase(out, src) or fnmatch.fnmatchcase(src, out):
                    target = posixpath.join(dst, posixpath.basename(out)) if into_dir else dst
                    if c.name == "mv":
                        current.remove(out)
                    if target not in current:
                        current.append(target)
    return current


def codename_images(facts: StageFacts, eco: str) -> tuple[str | None, str | None, str | None]:
    """(distroless static-ish image key formatter inputs, slim shell image, shell family) from the builder distro."""
    deb = runtimes()["debian"]
    if facts.family == "debian" and facts.codename:
        return deb["distroless"].get(facts.codename), deb["slim"].format(codename=facts.codename), "debian"
    if facts.family == "alpine":
        m = re.search(r"alpine(3\.\d+)", facts.ref.tag or "")
        return None, (f"alpine:{m.group(1)}" if m else None), "alpine"
    return None, None, None


def read_manifest(facts: StageFacts, cwd: str, snapshot, name: str, load, unknown: str):
    """(folder in the context, parsed manifest) of the build file the build step at ``cwd`` reads."""
    if snapshot is None:
        raise Unsure(f"no build context: {unknown}")
    rel = facts.context_path(cwd, snapshot, name)
    if rel is None:
        raise Unsure(f"{name} location in the build context unknown")
    text = snapshot.read_text(posixpath.join(rel, name) if rel else name)
    if text is None:
        raise Unsure(f"{name} not readable")
    try:
        return rel, load(text)
    except ValueError:  # json.JSONDecodeError and TOMLDecodeError are ValueErrors
        raise Unsure(f"{name} does not parse") from None


def link_packages(build: Build, libs: list[str], codename: str | None, where: str = "") -> None:
    """Add the runtime package of each `-lNAME` library to the build (data/runtime_libs.toml)."""
    link = runtime_libs()["link"]
    for lib in libs:
        pkg = link.get(codename or "", {}).get(lib, link["common"].get(lib))
        if pkg is None:
            raise Unsure(f"no runtime package known for -l{lib}{where}")
        if pkg and pkg not in build.runtime_packages:
            build.runtime_packages.append(pkg)


def resolves(prog: str, workdir: str, path: str, extra_path: Collection[str] = ()) -> bool:
    """Does the program word `prog` (a path, or a name looked up in PATH) run the file `path`?"""
    if "/" in prog:
        return abspath(prog, workdir) == path
    folder = posixpath.dirname(path)
    return posixpath.basename(path) == prog and (folder in PATH_DIRS or folder in extra_path)


# --------------------------------------------------------------------------- what the container runs


def healthcheck_words(ins: Instruction) -> tuple[list[str] | None, bool]:
    """(argv, exec_form) of a HEALTHCHECK CMD; None for NONE."""
    args = ins.args.strip()
    if args.upper().startswith("NONE"):
        return None, True
    m = re.search(r"(?i)(?:^|\s)CMD\s+(.*)$", args, re.S)
    if not m:
        return None, True
    body = m.group(1).strip()
    if body.startswith("["):
        try:
            value = json.loads(body)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value, True
        except ValueError:
            pass
    return [body], False


def _argv_script(argv: list[str]) -> Script | None:
    """An exec-form command line as a one-command script (so wrappers such as `env` are seen through)."""
    return analyse(" ".join(shlex.quote(a) for a in argv)) if argv else None


def _commands_of(script: Script | None, shells: frozenset[str], depth: int = 0) -> list[Command]:
    """The commands of a script and of the `sh -c STRING` strings it runs (a few levels deep)."""
    if script is None or not script.ok:
        return []
    out: list[Command] = []
    for cmd in script.commands:
        out.append(cmd)
        string = _shell_string(cmd, shells)
        if string is not None and depth < 3:
            out += _commands_of(analyse(string), shells, depth + 1)
    return out


def _shell_string(cmd: Command, shells: frozenset[str]) -> str | None:
    """STRING of `sh -c STRING` (also `-ec`, `-xc` ...), None for anything else."""
    if cmd.name not in shells:
        return None
    words = cmd.words
    for i, w in enumerate(words):
        if not w.value.startswith("-"):
            return None
        if not w.value.startswith("--") and "c" in w.value[1:]:
            return words[i + 1].value if i + 1 < len(words) and words[i + 1].static else None
    return None


def start_commands(facts: StageFacts) -> list[tuple[Command, str]]:
    """(command, who runs it) for what the container runs: ENTRYPOINT, CMD and HEALTHCHECK (an exec form
    as one command; shell forms and `sh -c` strings split into their commands)."""
    shells = frozenset(runtimes()["runtime_tools"]["script_shells"])
    out: list[tuple[Command, str]] = []
    for ins in (facts.entrypoint, facts.cmd, facts.healthcheck):
        if ins is None:
            continue
        if ins.keyword == "HEALTHCHECK":
            words, exec_form = healthcheck_words(ins)
            if words is None:
                continue
            script = _argv_script(words) if exec_form else analyse(words[0])
        else:
            script = _argv_script(ins.json_args) if ins.json_args is not None else ins.script()
        out += [(c, ins.keyword) for c in _commands_of(script, shells)]
    return out


def _word_value(word, env: Mapping[str, str]) -> str | None:
    """A word's static value, its variables expanded from static ENV values; None when not static."""
    if word.static:
        return word.value
    value = expand(word.value.strip("\"'"), env)
    return None if value is None or "$" in value or "`" in value else value


def _program_word(cmd: Command, env: Mapping[str, str], tools: dict) -> str | None:
    """The word naming the file a command runs: its name, seen through launchers (`exec`, `tini --`,
    `gosu USER`), a shell's script operand (`sh start.sh`) or `. file`; None when a variable or a
    `sh -c` string (whose commands are listed on their own)."""
    if cmd.name_word is None:
        return None
    words = [cmd.name_word, *cmd.words]
    launchers, shells = tools["launchers"], set(tools["script_shells"])
    i = 0
    while i < len(words):
        value = _word_value(words[i], env)
        if value is None:
            return None
        base = posixpath.basename(value)
        if base in launchers:
            i += 1
            while i < len(words) and words[i].value.startswith("-"):
                i += 1
            i += int(launchers[base])
            continue
        if base in shells or base in (".", "source"):
            i += 1
            while base in shells and i < len(words) and words[i].value.startswith("-"):
                if not words[i].value.startswith("--") and "c" in words[i].value[1:]:
                    return None  # `sh -c STRING`: its commands are listed on their own
                i += 1
            if i >= len(words):
                return None  # an interactive shell: no script
            return _word_value(words[i], env)
        return value
    return None


def _resolve_program(facts: StageFacts, word: str, paths, snapshot) -> str | None:
    """The image path a program word runs when a COPY/ADD put it there (a path, or a name found on
    PATH); None for programs of the base image or the build output.

    On PATH, a folder copied into a PATH folder holds the name only when its build-context source
    has it (without a snapshot, or for a copy from another stage, it may)."""
    if "/" in word:
        path = abspath(word, facts.workdir)
        return path if facts.image_has(path) else None
    path_env = facts.env.get("PATH")
    dirs = [d for d in path_env.split(":") if d.startswith("/")] if path_env else list(PATH_DIRS)
    for folder in dirs:
        candidate = posixpath.join(folder, word)
        if not facts.image_has(candidate):
            continue
        rel = paths.to_context(candidate) if snapshot is not None else None
        if rel is None or snapshot.exists(rel):
            return candidate
    return None


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~$}/\]])/[\w.@+/-]*")


def mentioned_paths(text: str) -> list[str]:
    """Every absolute path a script's text names (`cd /src`, `"${APP:-/srv/app}"`, a comment too):
    normalised, without repeats, a bare `/` included (then everything counts as named)."""
    out = [posixpath.normpath(m.group(0)) if m.group(0) != "/" else "/" for m in _ABSOLUTE_PATH.finditer(text)]
    return list(dict.fromkeys(out))


def started_scripts(facts: StageFacts, snapshot) -> list[StartedScript]:
    """The files a COPY/ADD put into the image that ENTRYPOINT, CMD or HEALTHCHECK start (directly,
    through `sh FILE`, launchers such as `exec`/`tini`/`gosu`, or `sh -c` strings), and the ones
    those scripts start in turn, with their text from the build context (`contextpaths`).

    A script whose text is not in the build context snapshot (copied from another stage, created or
    named through a variable, not a preloaded text file such as `*.sh`) or does not parse as a shell
    script has ``text=None``: callers must then assume it may read or run anything.
    """
    key = id(snapshot)
    if key in facts.started_memo:
        return facts.started_memo[key]
    from ..contextpaths import context_paths

    tools = runtimes()["runtime_tools"]
    shells = frozenset(tools["script_shells"])
    paths = context_paths(snapshot, facts.stage.instructions)
    read = paths.reader()
    found: dict[str, StartedScript] = {}
    todo: list[tuple[Command, str, int]] = [(c, who, 0) for c, who in start_commands(facts)]
    while todo:
        cmd, who, depth = todo.pop(0)
        word = _program_word(cmd, facts.env, tools)
        path = _resolve_program(facts, word, paths, snapshot) if word else None
        if path is None or path in found:
            continue
        text = read(path) if snapshot is not None else None
        script = analyse(text) if text is not None else None
        if script is None or not script.ok:
            text = None
        found[path] = StartedScript(path, who, text)
        if script is not None and text is not None and depth < 4:
            todo += [(c, path, depth + 1) for c in _commands_of(script, shells)]
            # a script it names by absolute path (`exec /app/run.sh`, `. /etc/app/env.sh`) runs too
            todo += [
                (c, path, depth + 1)
                for p in mentioned_paths(text)
                if p.endswith((".sh", ".bash")) and p not in found and facts.image_has(p)
                for c in _commands_of(_argv_script(["sh", p]), shells)
            ]
    facts.started_memo[key] = list(found.values())
    return facts.started_memo[key]
