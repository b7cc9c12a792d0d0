"""Facts about one build stage and the build step of each ecosystem (used by the multi-stage transform).

`gather()` folds over a stage's instructions once and records what a runtime stage needs to know:
the WORKDIR/USER/ENV in force at every step, what was copied where, which packages and users the
RUNs created. The `plan_<ecosystem>()` functions then look for that ecosystem's build command and
say where its output lands, or return a one-line reason why they cannot be sure. Nothing here
guesses: an output path that cannot be derived from the Dockerfile and the build context stops
the split.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
from dataclasses import dataclass, field
from functools import cache

from .datafiles import data_toml, loads_toml, TOMLDecodeError
from .imageref import ImageRef, parse_image_ref
from .model import Instruction, Stage, split_words, unquote
from .shell import Command, Script

__all__ = ["StageFacts", "Build", "gather", "runtimes", "runtime_libs", "PLANNERS", "detect", "expand", "assignments", "is_dev_package", "Unsure"]

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


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+]([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand(text: str, env: dict[str, str]) -> str | None:
    """Dockerfile variable substitution with static values; None when a variable is unknown."""
    failed = False

    def sub(m: re.Match) -> str:
        nonlocal failed
        name = m.group(1) or m.group(3)
        if name in env:
            return env[name]
        if m.group(2) is not None and "${" + name + ":-" in m.group(0):
            return m.group(2)
        failed = True
        return ""

    out = _VAR.sub(sub, text)
    return None if failed else out


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


@dataclass
class CopyStep:
    ins: Instruction
    sources: list[str]
    dest: str  # absolute
    dest_is_dir: bool
    from_stage: str | None
    workdir: str

    def placed(self) -> list[tuple[str, str]]:
        """(source as written, absolute path in the image) for each source."""
        out = []
        for src in self.sources:
            s = src.rstrip("/") or src
            if self.dest_is_dir and s not in (".", "./", "") and not _is_dir_source(src):
                out.append((src, posixpath.join(self.dest, posixpath.basename(s))))
            else:
                out.append((src, self.dest))
        return out


def _is_dir_source(src: str) -> bool:
    return src.endswith("/") or src in (".", "./")


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
        if ep is not None and ep.json_args is None:
            return _shell_words(ep), False
        if ep is not None:
            tail = (cmd.json_args or []) if cmd is not None and cmd.json_args is not None else []
            if cmd is not None and cmd.json_args is None:
                return ep.json_args + _shell_words(cmd), False
            return list(ep.json_args) + list(tail), True
        if cmd is None:
            return [], True
        if cmd.json_args is not None:
            return list(cmd.json_args), True
        return _shell_words(cmd), False

    def image_has(self, path: str) -> bool:
        """Was `path` put into the image by a COPY/ADD of this stage (itself, a glob, or a copied folder)?"""
        for c in self.copies:
            for src, placed in c.placed():
                if placed == path or fnmatch.fnmatchcase(path, placed):
                    return True
                if is_under(path, placed) and (_is_dir_source(src) or c.from_stage is not None or not posixpath.splitext(src)[1]):
                    return True
        return False

    def context_path(self, image_path: str, ctx_snapshot, marker: str | None = None) -> str | None:
        """Where an image path came from in the build context (via `COPY <dir> <dest>`), if known."""
        best = None
        for c in self.copies:
            if c.from_stage is not None or len(c.sources) != 1:
                continue
            src = c.sources[0]
            if not _is_dir_source(src) and not (ctx_snapshot and _ctx_is_dir(ctx_snapshot, src)):
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


def _shell_words(ins: Instruction) -> list[str]:
    return [unquote(w) for w, _, _ in split_words(ins.args)]


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


# --------------------------------------------------------------------------- gathering


def assignments(ins: Instruction, env: dict[str, str]) -> dict[str, str | None]:
    """KEY=VALUE pairs of an ENV/ARG/LABEL-style instruction (value None when not static)."""
    out: dict[str, str | None] = {}
    words = [w for w, _, _ in split_words(ins.args, ins.doc.escape)]
    if ins.keyword == "ENV" and words and "=" not in words[0]:
        key = words[0]
        value_text = ins.args[len(words[0]):].strip()
        out[key] = expand(unquote(value_text, ins.doc.escape), env)  # legacy `ENV KEY value`
        return out
    for w in words:
        if "=" in w:
            key, raw = w.split("=", 1)
            out[key] = expand(unquote(raw, ins.doc.escape), {**env, **{k: v for k, v in out.items() if v is not None}})
        else:
            out[w] = env.get(w)
    return out


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
    if any(c in tag for c in UBUNTU_CODENAMES) or (ref.name in UBUNTU_BASED and "alpine" not in tag and not any(
            c in tag for c in runtimes()["debian"]["codenames"])):
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


def gather(doc, stage: Stage) -> StageFacts:
    """Fold over the stage; raises Unsure when a value the runtime stage needs is not static."""
    global_args: dict[str, str | None] = {}
    for ins in doc.instructions:
        if ins.stage == -1 and ins.keyword == "ARG":
            for k, v in assignments(ins, {k: v for k, v in global_args.items() if v is not None}).items():
                global_args[k] = v
    base_text = stage.base
    resolved = expand(base_text, {k: v for k, v in global_args.items() if v is not None})
    if resolved is None:
        raise Unsure(f"base image {base_text} uses an ARG without a default")
    ref = parse_image_ref(resolved)
    family, codename = image_family(ref)
    facts = StageFacts(stage, ref, family, codename, global_args)
    facts.workdir = runtimes()["default_workdir"].get(ref.name, "/")
    env: dict[str, str] = {}
    for ins in stage.instructions[1:]:
        kw = ins.keyword
        if kw in ("ENV", "ARG"):
            for k, v in assignments(ins, env).items():
                if kw == "ARG" and v is None and k in global_args and global_args[k] is not None:
                    v = global_args[k]
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = v
            facts.carried.append(ins)
        elif kw == "WORKDIR":
            value = expand(unquote(ins.args, doc.escape), env)
            if value is None:
                raise Unsure(f"WORKDIR {ins.args} uses a variable without a static value")
            facts.workdir = abspath(value, facts.workdir)
            facts.workdir_set = True
        elif kw == "USER":
            facts.user = ins.args.strip()
            facts.carried.append(ins)
        elif kw in ("COPY", "ADD"):
            facts.steps.append(_copy_step(ins, env, facts.workdir))
        elif kw == "RUN":
            script = ins.script()
            if ins.json_args is not None or script is None or not script.ok or ins.heredocs:
                script = None
            step = RunStep(ins, script, facts.workdir, facts.user, dict(env))
            facts.steps.append(step)
            if script is not None:
                _note_run(facts, step)
        elif kw == "ENTRYPOINT":
            facts.entrypoint = ins
            facts.cmd = None  # an ENTRYPOINT resets an inherited CMD
            facts.carried.append(ins)
        elif kw == "CMD":
            facts.cmd = ins
            facts.carried.append(ins)
        elif kw == "HEALTHCHECK":
            facts.healthcheck = ins
            facts.carried.append(ins)
        elif kw in ("LABEL", "EXPOSE", "VOLUME", "STOPSIGNAL", "SHELL", "ONBUILD", "MAINTAINER"):
            facts.carried.append(ins)
    facts.env = env
    return facts


def _copy_step(ins: Instruction, env: dict[str, str], workdir: str) -> CopyStep:
    if ins.heredocs:
        raise Unsure(f"{ins.keyword} with a heredoc")
    if ins.json_args is not None:
        words = list(ins.json_args)
    else:
        words = [unquote(w, ins.doc.escape) for w, _, _ in split_words(ins.args, ins.doc.escape)]
    if len(words) < 2:
        raise Unsure(f"{ins.keyword} without a destination")
    values = [expand(w, env) for w in words]
    if any(v is None for v in values):
        raise Unsure(f"{ins.keyword} at line {ins.line} uses a variable without a static value")
    *sources, dest = values  # type: ignore[misc]
    dest_is_dir = dest.endswith("/") or len(sources) > 1 or any(ch in "".join(sources) for ch in "*?[")
    return CopyStep(ins, sources, abspath(dest, workdir), dest_is_dir, ins.flag("from"), workdir)


def _static_word(value, env: dict[str, str], what: str):
    """A word with its variables expanded from static ENV/ARG values; Unsure when one is unknown."""
    if value is None or "$" not in value and "`" not in value:
        return value
    out = expand(value, env) if "`" not in value and "$(" not in value else None
    if out is None:
        raise Unsure(f"{what} uses a variable without a static value")
    return out


def _static_argv(cmd: Command) -> list[str] | None:
    return None if any(not w.static for w in cmd.words) else cmd.argv


def _note_run(facts: StageFacts, step: RunStep) -> None:
    assert step.script is not None
    for cmd in step.script.commands:
        name = cmd.name
        argv = cmd.argv
        if name in ("apt-get", "apt", "aptitude") and "install" in argv:
            facts.apt_packages += [a for a in argv[argv.index("install") + 1:] if not a.startswith("-")]
        elif name == "apk" and "add" in argv:
            facts.apk_packages += [a for a in argv[argv.index("add") + 1:] if not a.startswith("-")]
        elif name in USER_COMMANDS:
            facts.user_commands.append(step.script.text[cmd.start:cmd.end])
            _note_user(facts, cmd)
        elif name in SETUP_COMMANDS:
            facts.setup.append((cmd, step))


def _note_user(facts: StageFacts, cmd: Command) -> None:
    """Record the user or group a useradd/adduser/groupadd/addgroup creates (with a numeric id when given)."""
    argv = cmd.argv
    uid = gid = None
    positional: list[str] = []
    value_opts = {"-u", "--uid", "-g", "--gid", "-G", "--groups", "-d", "--home", "--home-dir", "-s", "--shell",
                  "-c", "--comment", "--gecos", "-h", "-k", "-K", "-e", "-f", "-p", "--ingroup", "-b", "--base-dir"}
    i = 0
    while i < len(argv):
        a = argv[i]
        # a short-option cluster such as -ms takes a value when its last letter does (-s /bin/bash)
        key = a if a.startswith("--") or len(a) <= 2 else "-" + a[-1]
        if a.startswith("-") and key in value_opts and "=" not in a and i + 1 < len(argv):
            if key in ("-u", "--uid"):
                uid = argv[i + 1]
            if key in ("-g", "--gid") and cmd.name in ("groupadd", "addgroup"):
                gid = argv[i + 1]
            i += 2
            continue
        if a.startswith("--uid="):
            uid = a.split("=", 1)[1]
        elif not a.startswith("-"):
            positional.append(a)
        i += 1
    if not positional or cmd.name == "usermod":
        return
    if cmd.name in ("groupadd", "addgroup"):
        if cmd.name == "addgroup" and len(positional) == 2:  # busybox/debian: addgroup USER GROUP
            return
        facts.created_groups[positional[0]] = gid if gid and gid.isdigit() else None
        return
    if cmd.name == "adduser" and len(positional) == 2:  # debian: adduser USER GROUP
        return
    facts.created_users[positional[0]] = uid if uid and uid.isdigit() else None
    if cmd.name == "adduser" and "--group" in argv:  # debian: a group of the same name
        facts.created_groups.setdefault(positional[0], None)


# --------------------------------------------------------------------------- detection


def go_builds(facts: StageFacts) -> list[tuple[Command, RunStep]]:
    return [(c, r) for c, r in facts.commands() if c.name == "go" and c.argv[:1] in (["build"], ["install"])]


def cargo_builds(facts: StageFacts) -> list[tuple[Command, RunStep]]:
    return [(c, r) for c, r in facts.commands() if c.name == "cargo" and c.argv[:1] in (["build"], ["install"])]


def java_builds(facts: StageFacts) -> list[tuple[Command, RunStep]]:
    data = runtimes()["java"]
    out = []
    for c, r in facts.commands():
        if c.name in ("mvn", "mvnw") and any(a.split(":")[-1] in data["maven_goals"] for a in c.argv if not a.startswith("-")):
            out.append((c, r))
        elif c.name in ("gradle", "gradlew") and any(a.lstrip(":") in data["gradle_tasks"] for a in c.argv):
            out.append((c, r))
    return out


def node_builds(facts: StageFacts) -> list[tuple[Command, RunStep]]:
    out = []
    for c, r in facts.commands():
        argv = c.argv
        if c.name in ("npm", "pnpm", "yarn") and argv[:1] in (["run"], ["run-script"]) and len(argv) > 1 and argv[1].startswith("build"):
            out.append((c, r))
        elif c.name in ("yarn", "pnpm") and argv[:1] and argv[0].startswith("build"):
            out.append((c, r))
    return out


def dotnet_builds(facts: StageFacts) -> list[tuple[Command, RunStep]]:
    return [(c, r) for c, r in facts.commands() if c.name == "dotnet" and c.argv[:1] == ["publish"]]


def c_builds(facts: StageFacts) -> list[tuple[Command, RunStep]]:
    comp = runtimes()["c"]["compilers"]
    return [(c, r) for c, r in facts.commands() if c.name in comp or c.name in ("make", "cmake")]


def python_builds(facts: StageFacts) -> list[tuple[Command, RunStep]]:
    return pip_installs(facts)


DETECTORS = {
    "go": go_builds,
    "rust": cargo_builds,
    "java": java_builds,
    "node": node_builds,
    "dotnet": dotnet_builds,
    "c": c_builds,
    "python": python_builds,
}


def detect(facts: StageFacts) -> dict[str, list[tuple[Command, RunStep]]]:
    found = {}
    for eco, fn in DETECTORS.items():
        hits = fn(facts)
        if hits:
            found[eco] = hits
    # go/cargo/mvn builds may call a C compiler indirectly; `make` alone is C's only when no other
    # ecosystem was found (a Makefile often wraps `go build`).
    if "c" in found and len(found) > 1:
        del found["c"]
    # pip in a stage that also compiles Go/Rust/Java/... is a helper install (e.g. a code generator)
    if "python" in found and len(found) > 1:
        del found["python"]
    return found


# --------------------------------------------------------------------------- helpers


def _cwd_for(cmd: Command, step: RunStep) -> str:
    """The directory a command runs in: WORKDIR, changed by a top-level `cd` before it."""
    cwd = step.workdir
    assert step.script is not None
    for other in step.script.commands:
        if other.start >= cmd.start:
            break
        if other.name in ("cd", "pushd", "popd"):
            args = _static_argv(other)
            if other.depth != 0 or other.in_subshell or args is None or len(args) != 1 or other.name != "cd":
                raise Unsure("a `cd` before the build command changes directory in a way not followed")
            value = expand(args[0], step.env)
            if value is None:
                raise Unsure("a `cd` to a variable path before the build command")
            cwd = abspath(value, cwd)
    return cwd


def _flag_value(argv: list[str], names: tuple[str, ...], value_flags: set[str]) -> tuple[str | None, list[str]]:
    """Find `-o x` / `-o=x` (Go style flags) and return (value, positional args)."""
    value = None
    positional: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("-"):
            bare = a.lstrip("-")
            key, eq, val = bare.partition("=")
            if key in names:
                if eq:
                    value = val
                elif i + 1 < len(argv):
                    value = argv[i + 1]
                    i += 1
            elif not eq and key in value_flags:
                i += 1
            i += 1
            continue
        positional.append(a)
        i += 1
    return value, positional


def follow_copies(facts: StageFacts, after: Instruction, cmd: Command, outputs: list[str]) -> list[str]:
    """Outputs after later `cp`/`mv`/`install` commands in the stage moved or copied them."""
    current = list(outputs)
    started = False
    for c, r in facts.commands():
        if not started:
            started = c is cmd
            continue
        if c.name not in ("cp", "mv", "install"):
            continue
        argv = _static_argv(c)
        if argv is None:
            continue
        opts_with_value = {"-m", "--mode", "-o", "--owner", "-g", "--group", "-t"} if c.name == "install" else set()
        paths: list[str] = []
        i = 0
        while i < len(argv):
            if argv[i] in opts_with_value:
                i += 2
                continue
            if not argv[i].startswith("-"):
                v = expand(argv[i], r.env)
                if v is None:
                    paths = []
                    break
                paths.append(abspath(v, r.workdir))
            i += 1
        if len(paths) < 2:
            continue
        *srcs, dst = paths
        for src in srcs:
            for out in list(current):
                if src == out or fnmatch.fnmatchcase(out, src) or fnmatch.fnmatchcase(src, out):
                    into_dir = argv[-1].endswith("/") or dst in PATH_DIRS or len(srcs) > 1 or "-t" in argv
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


# --------------------------------------------------------------------------- Go


def plan_go(facts: StageFacts, hits, ctx) -> Build:
    data = runtimes()["go"]
    if facts.ref.name not in data["builder_images"]:
        raise Unsure(f"Go build on {facts.ref.name}, not a golang image: toolchain location unknown")
    if len(hits) != 1:
        raise Unsure("several `go build` commands: which binaries the image runs is not certain")
    cmd, step = hits[0]
    argv = cmd.argv
    env = dict(step.env)
    for w in cmd.prefix_words:
        if "=" in w.value and not w.value.startswith("-"):
            k, v = w.value.split("=", 1)
            env[k] = v
    if env.get("GOOS", "linux") != "linux":
        raise Unsure(f"GOOS={env['GOOS']}: not a Linux binary")
    cwd = _cwd_for(cmd, step)
    value_flags = set(data["value_flags"])
    out_flag, pkgs = _flag_value(argv[1:], ("o",), value_flags)
    chdir, _ = _flag_value(argv[1:], ("C",), value_flags)
    out_flag, chdir = (_static_word(v, env, "`go build -o`") for v in (out_flag, chdir))
    pkgs = [_static_word(p, env, "`go build` package") for p in pkgs]
    if chdir:
        cwd = abspath(chdir, cwd)
    snapshot = getattr(ctx, "build_context", None)
    if len(pkgs) > 1 and not all(p.endswith(".go") for p in pkgs):
        raise Unsure("`go build` of several packages: output names are not certain")
    if any("..." in p for p in pkgs):
        raise Unsure("`go build ./...` writes no binary (several packages)")
    made_dirs = {abspath(a, r.workdir) for c, r in facts.setup if c.name == "mkdir" for a in c.argv if not a.startswith("-")}
    if out_flag is not None and not out_flag.endswith("/") and (abspath(out_flag, cwd) in made_dirs or any(
            placed == abspath(out_flag, cwd) and _is_dir_source(src) for c in facts.copies for src, placed in c.placed())):
        out_flag += "/"  # `-o dir` into an existing folder writes dir/<name>
    name = None
    if out_flag is None or out_flag.endswith("/"):
        name = _go_binary_name(facts, pkgs, cwd, snapshot)
    if argv[0] == "install":
        if out_flag is not None:
            raise Unsure("`go install -o` is not followed")
        gobin = env.get("GOBIN") or posixpath.join(env.get("GOPATH", data["gopath"]), "bin")
        outputs = [posixpath.join(gobin, name)]
        path_dirs = [gobin] if gobin == posixpath.join(data["gopath"], "bin") else []
    elif out_flag is None:
        outputs = [posixpath.join(cwd, name)]
    elif out_flag.endswith("/"):
        outputs = [posixpath.join(abspath(out_flag, cwd), name)]
    else:
        outputs = [abspath(out_flag, cwd)]
    outputs = follow_copies(facts, step.ins, cmd, outputs)
    build = Build("go", outputs)
    build.path_dirs = path_dirs if argv[0] == "install" else []
    cgo = env.get("CGO_ENABLED")
    distroless, slim, family = codename_images(facts, "go")
    build.shell_image, build.shell_family = slim, family
    if cgo == "0":
        build.static_image = data["static"].format(distroless=distroless or "debian12")
        if family == "alpine" and slim is None:
            build.shell_image = None
    elif cgo == "1" or cgo is not None:
        build.static_image = data["dynamic"].format(distroless=distroless) if distroless else None
        build.assumptions.append("the cgo binary needs only the C libraries of the builder's Debian release")
    else:
        if family == "alpine":
            raise Unsure("golang alpine image without CGO_ENABLED: whether the binary links musl is not certain")
        reason = _cgo_in_sources(snapshot, facts, cwd)
        if reason is None and family == "debian":
            at = step.ins.doc_offset(cmd.name_word.start)
            build.edits.append((at, at, "CGO_ENABLED=0 "))
            build.static_image = data["static"].format(distroless=distroless or "debian12")
            build.notes.append("CGO_ENABLED=0 added: no cgo in the sources")
            build.assumptions.append("the binary behaves the same without cgo (pure-Go DNS resolver and os/user)")
        else:
            build.static_image = data["dynamic"].format(distroless=distroless) if distroless else None
            build.notes.append(f"cgo kept ({reason})")
            build.assumptions.append("the cgo binary links only glibc/libssl, which the runtime image has")
    build.programs = set()
    return build


def _go_binary_name(facts: StageFacts, pkgs: list[str], cwd: str, snapshot) -> str:
    if pkgs and pkgs[0].endswith(".go"):
        return posixpath.basename(pkgs[0])[:-3]
    pkg = pkgs[0] if pkgs else "."
    if "@" in pkg:
        pkg = pkg.split("@", 1)[0]
    if not pkg.startswith(".") and not pkg.startswith("/"):
        return _last_import_elem(pkg)
    path = abspath(pkg, cwd)
    if path != cwd and not is_under(path, cwd):
        raise Unsure("`go build` of a package outside the working directory")
    # the import path's last element: from go.mod when building the module root, else the folder
    mod_dir_ctx = facts.context_path(cwd, snapshot, "go.mod") if snapshot is not None else None
    if path != cwd:
        return _last_import_elem(posixpath.basename(path))
    if snapshot is None or mod_dir_ctx is None:
        raise Unsure("no `-o` and go.mod is not readable: binary name unknown")
    gomod = snapshot.read_text(posixpath.join(mod_dir_ctx, "go.mod") if mod_dir_ctx else "go.mod")
    if gomod is None:
        if snapshot.exists(posixpath.join(mod_dir_ctx, "go.mod") if mod_dir_ctx else "go.mod"):
            raise Unsure("go.mod not readable: binary name unknown")
        return posixpath.basename(cwd)  # GOPATH mode: the folder name
    m = re.search(r"^\s*module\s+\"?([^\s\"]+)", gomod, re.M)
    if not m:
        raise Unsure("go.mod has no module line")
    return _last_import_elem(m.group(1))


def _last_import_elem(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]):
        return parts[-2]
    return parts[-1]


def _cgo_in_sources(snapshot, facts: StageFacts, cwd: str) -> str | None:
    """None when the build context proves no cgo, else the reason we cannot tell."""
    if snapshot is None:
        return "no build context to check for cgo"
    if snapshot.truncated:
        return "build context listing truncated"
    go_files = [e for e in snapshot.files if e.path.endswith(".go") and not e.is_dir]
    if not go_files:
        return "no Go sources in the build context"
    for e in go_files:
        if snapshot.collapsed_parent(e.path):
            continue
        text = snapshot.read_text(e.path)
        if text is None:
            return f"{e.path} not readable"
        if re.search(r'^\s*import\s+"C"\s*$', text, re.M) or re.search(r'^\s*"C"\s*$', text, re.M):
            return f"{e.path} imports \"C\""
    for e in snapshot.files:
        if e.path.endswith("go.sum") or e.path.endswith("go.mod"):
            text = snapshot.read_text(e.path) or ""
            for mod in runtimes()["go"]["cgo_modules"]:
                if mod in text:
                    return f"dependency {mod} uses cgo"
    return None


# --------------------------------------------------------------------------- Rust


def plan_rust(facts: StageFacts, hits, ctx) -> Build:
    data = runtimes()["rust"]
    if facts.ref.name not in data["builder_images"]:
        raise Unsure(f"cargo build on {facts.ref.name}, not a rust image")
    if len(hits) != 1:
        raise Unsure("several cargo builds")
    cmd, step = hits[0]
    argv = _static_argv(cmd)
    if argv is None:
        raise Unsure("cargo with variable arguments")
    cwd = _cwd_for(cmd, step)
    snapshot = getattr(ctx, "build_context", None)
    opts = _cargo_opts(argv[1:])
    if "manifest-path" in opts or "package" in opts or "p" in opts or "workspace" in opts:
        raise Unsure("cargo --manifest-path/--package/--workspace is not followed")
    target = opts.get("target")
    if argv[0] == "build" and "release" not in opts and opts.get("profile") != "release" and "r" not in opts:
        raise Unsure("`cargo build` without --release: a debug build is not the artifact to ship")
    names = [opts["bin"]] if "bin" in opts else None
    if names is None:
        names = _cargo_bins(facts, cwd, snapshot)
    if argv[0] == "install":
        if "path" not in opts:
            raise Unsure("`cargo install` of a registry crate")
        root = opts.get("root") or step.env.get("CARGO_INSTALL_ROOT") or step.env.get("CARGO_HOME", data["cargo_home"])
        outdir = posixpath.join(abspath(root, cwd), "bin")
        path_dirs = [outdir] if outdir == posixpath.join(data["cargo_home"], "bin") else []
    else:
        if "release" not in opts and opts.get("profile") != "release" and "r" not in opts:
            raise Unsure("`cargo build` without --release: a debug build is not the artifact to ship")
        tdir = opts.get("target-dir") or step.env.get("CARGO_TARGET_DIR") or "target"
        tdir = abspath(tdir, cwd)
        outdir = posixpath.join(tdir, target, "release") if target else posixpath.join(tdir, "release")
    outputs = [posixpath.join(outdir, n) for n in names]
    outputs = follow_copies(facts, step.ins, cmd, outputs)
    build = Build("rust", outputs)
    build.path_dirs = path_dirs if argv[0] == "install" else []
    distroless, slim, family = codename_images(facts, "rust")
    build.shell_image, build.shell_family = slim, family
    if target and target in data["musl_targets"]:
        build.static_image = data["static"].format(distroless=distroless or "debian12")
    elif family == "alpine":
        build.static_image = None
    elif distroless:
        build.static_image = data["dynamic"].format(distroless=distroless)
    build.assumptions.append("the binary links no shared library beyond the runtime image's and those of the builder's -dev packages")
    return build


def _cargo_opts(argv: list[str]) -> dict[str, str]:
    value_opts = {"bin", "target", "target-dir", "manifest-path", "package", "p", "profile", "path", "root", "features", "F", "j", "jobs", "config", "Z", "example", "color", "message-format", "version"}
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("-"):
            key, eq, val = a.lstrip("-").partition("=")
            if key in value_opts and not eq and i + 1 < len(argv):
                val = argv[i + 1]
                i += 1
            out[key] = val
        i += 1
    return out


def _read_manifest(facts: StageFacts, cwd: str, snapshot, name: str, load, unknown: str):
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


def _cargo_bins(facts: StageFacts, cwd: str, snapshot) -> list[str]:
    rel, manifest = _read_manifest(facts, cwd, snapshot, "Cargo.toml", loads_toml, "binary names in Cargo.toml unknown")
    if "workspace" in manifest and "package" not in manifest:
        raise Unsure("cargo workspace: binary names not followed")
    bins = [b.get("name") for b in manifest.get("bin", []) if b.get("name")]
    src_bin = posixpath.join(rel, "src/bin") if rel else "src/bin"
    if any(e.path.startswith(src_bin + "/") for e in snapshot.files):
        raise Unsure("src/bin holds several binaries")
    if not bins:
        pkg = manifest.get("package", {}).get("name")
        if not pkg:
            raise Unsure("Cargo.toml names no package")
        bins = [pkg]
    if len(bins) > 1:
        raise Unsure("Cargo.toml declares several binaries")
    return bins


# --------------------------------------------------------------------------- Java


def plan_java(facts: StageFacts, hits, ctx) -> Build:
    data = runtimes()["java"]
    repo = facts.ref.name
    if repo not in data["builder_images"]:
        raise Unsure(f"Java build on {repo}: JDK version unknown")
    pattern = data["version_re"].get(repo)
    m = re.search(pattern, facts.ref.tag or "") if pattern else None
    if not m:
        raise Unsure(f"JDK major version not readable from {facts.ref.text}")
    major = m.group(1)
    alpine = "alpine" in (facts.ref.tag or "")
    image = (data["runtime_alpine"] if alpine else data["runtime"]).format(major=major)
    ubuntu = [c for c in UBUNTU_CODENAMES if c in (facts.ref.tag or "")]
    if ubuntu and not alpine:
        image += "-" + ubuntu[0]
    words, _ = facts.start_words()
    if "-jar" not in words or words.index("-jar") + 1 >= len(words):
        raise Unsure("the start command does not run `java -jar <file>`: the jar to ship is unknown")
    jar = words[words.index("-jar") + 1]
    if "$" in jar:
        raise Unsure("the jar path in the start command uses a variable")
    jar_abs = abspath(jar, facts.workdir)
    cmd, step = hits[-1]
    cwd = _cwd_for(cmd, step)
    built = [posixpath.join(cwd, "target", "*.jar"), posixpath.join(cwd, "build", "libs", "*.jar")]
    outputs = follow_copies(facts, step.ins, cmd, built)
    if not any(jar_abs == o or fnmatch.fnmatchcase(jar_abs, o) or fnmatch.fnmatchcase(o, jar_abs) for o in outputs):
        raise Unsure(f"the jar {jar} is not a build output the Dockerfile shows (target/ or build/libs/)")
    build = Build("java", [jar_abs])
    build.shell_image, build.shell_family = image, ("alpine" if alpine else "ubuntu")
    build.programs = {"java"}
    return build


# --------------------------------------------------------------------------- .NET


def plan_dotnet(facts: StageFacts, hits, ctx) -> Build:
    data = runtimes()["dotnet"]
    if facts.ref.repository not in data["builder_images"] and not facts.ref.repository.endswith("dotnet/sdk"):
        raise Unsure(f"dotnet publish on {facts.ref.text}, not a dotnet/sdk image")
    if len(hits) != 1:
        raise Unsure("several `dotnet publish` commands")
    cmd, step = hits[0]
    argv = cmd.argv
    cwd = _cwd_for(cmd, step)
    out, _ = _flag_value(argv[1:], ("o", "output"), {"c", "configuration", "r", "runtime", "f", "framework", "p", "v", "verbosity"})
    out = _static_word(out, step.env, "`dotnet publish -o`")
    if out is None:
        raise Unsure("`dotnet publish` without -o: output folder depends on the project")
    if any(a in ("--self-contained", "--sc") or a.startswith("-p:PublishSingleFile") for a in argv):
        raise Unsure("self-contained publish is not handled")
    outdir = abspath(out, cwd)
    tag = facts.ref.tag or "latest"
    snapshot = getattr(ctx, "build_context", None)
    web = True
    if snapshot is not None:
        projs = [e for e in snapshot.files if e.path.endswith((".csproj", ".fsproj", ".vbproj"))]
        texts = [snapshot.read_text(e.path) for e in projs]
        if projs and all(t is not None for t in texts) and not any("Microsoft.NET.Sdk.Web" in t for t in texts if t):
            web = False
    image = (data["runtime_web"] if web else data["runtime_console"]).format(tag=tag)
    prefix = f"{facts.ref.registry_written}/" if facts.ref.registry_written else ""
    if prefix and not image.startswith(prefix):
        image = prefix + image.split("/", 1)[1]
    build = Build("dotnet", [outdir])
    build.shell_image, build.shell_family = image, ("alpine" if "alpine" in tag else "debian")
    build.programs = {"dotnet"}
    major = re.match(r"(\d+)", tag)
    if major and int(major.group(1)) >= 8:
        build.uses_base_users = frozenset({"app"})  # the non-root user of the .NET 8+ images
    build.asset_mode = "none"  # content files (appsettings.json, wwwroot) are part of the publish output
    if web:
        build.assumptions.append("the app runs on the ASP.NET Core runtime image")
    return build


# --------------------------------------------------------------------------- C / C++


def plan_c(facts: StageFacts, hits, ctx) -> Build:
    data = runtimes()["c"]
    compiles = [(c, r) for c, r in hits if c.name in data["compilers"]]
    if any(c.name in ("make", "cmake") for c, _ in hits):
        return plan_c_make(facts, hits, ctx)
    outputs: list[str] = []
    libs: list[str] = []
    for cmd, step in compiles:
        argv = _static_argv(cmd)
        if argv is None:
            raise Unsure(f"{cmd.name} with variable arguments")
        if "-c" in argv:
            continue
        out, _ = _flag_value(argv, ("o",), set())
        if out is None:
            raise Unsure(f"{cmd.name} without -o")
        outputs += follow_copies(facts, step.ins, cmd, [abspath(out, _cwd_for(cmd, step))])
        for a in argv:
            if a.startswith("-l") and len(a) > 2:
                libs.append(a[2:])
            if a == "-static":
                pass
    if not outputs:
        raise Unsure("no compiler command links a binary")
    _, slim, family = codename_images(facts, "c")
    if family != "debian" or slim is None:
        raise Unsure("C build not on a Debian image: runtime libraries unknown")
    if facts.ref.name not in data["builder_images"]:
        raise Unsure(f"C build on {facts.ref.name}: the runtime image for it is unknown")
    build = Build("c", outputs)
    build.shell_image, build.shell_family = slim, family
    link = runtime_libs()["link"]
    for lib in libs:
        pkg = link.get(facts.codename or "", {}).get(lib, link["common"].get(lib))
        if pkg is None:
            raise Unsure(f"no runtime package known for -l{lib}")
        if pkg and pkg not in build.runtime_packages:
            build.runtime_packages.append(pkg)
    build.assumptions.append("the binary links no shared library beyond the runtime image's and those of its -l flags and -dev packages")
    return build


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
            nxt = text[i + 1:i + 2]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt in ("(", "{"):
                close = ")" if nxt == "(" else "}"
                j = text.find(close, i + 2)
                if j < 0:
                    return None
                name = text[i + 2:j]
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


def _make_args(cmd: Command, env: dict[str, str]) -> tuple[str | None, list[str], dict[str, str]]:
    """(-C directory, goals, VAR=value overrides) of a `make` command line."""
    data = runtimes()["c"]
    argv = _static_argv(cmd)
    if argv is None:
        raise Unsure("make with variable arguments")
    chdir = None
    goals: list[str] = []
    overrides: dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        key, eq, val = a.partition("=")
        if a.startswith("-"):
            if re.fullmatch(r"-j\d*|--jobs=\d+|-l[\d.]*", a) and not (a == "-l"):
                i += 1
                continue
            if key in ("--directory",) and eq:
                chdir = val
            elif a.startswith("-C") and len(a) > 2:
                chdir = a[2:]
            elif a in data["make_value_flags"]:
                if a in ("-C", "--directory"):
                    if i + 1 >= len(argv):
                        raise Unsure("make -C without a directory")
                    chdir = argv[i + 1] if chdir is None else posixpath.join(chdir, argv[i + 1])
                    i += 1
                elif i + 1 < len(argv) and re.fullmatch(r"[\d.]+", argv[i + 1]):
                    i += 1
            elif a not in data["make_flags"]:
                raise Unsure(f"make option {a} is not followed")
        elif eq and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key):
            overrides[key] = val
        else:
            goals.append(a)
        i += 1
    return chdir, goals, overrides


def _make_libs(mk: "Makefile", overrides: dict[str, str]) -> list[str]:
    """The -lNAME libraries a Makefile (or its command line) links."""
    texts = [mk.text] + list(overrides.values())
    return [m for t in texts for m in re.findall(r"(?<![\w-])-l([A-Za-z0-9_+.-]+)", t)]


def _install_files(mk: "Makefile", goal: str, cwd: str) -> list[str]:
    """Absolute paths of the files `make <goal>` installs, from its recipe (Unsure when not plain)."""
    from .shell import analyse

    if goal not in mk.rules:
        raise Unsure(f"the Makefile has no `{goal}` rule")
    allowed = set(runtimes()["c"]["install_recipe_commands"])
    files: list[str] = []
    dirs: set[str] = set(PATH_DIRS)
    for line in mk.recipe(goal):
        line = line.strip().lstrip("@-+").strip()
        if not line:
            continue
        text = mk.expand(line, {"@": goal})
        if text is None:
            raise Unsure(f"a `make {goal}` recipe line has no static value (install prefix unknown)")
        script = analyse(text)
        if not script.ok:
            raise Unsure(f"a `make {goal}` recipe line is not a shell command we can read")
        for c in script.commands:
            if c.name not in allowed:
                raise Unsure(f"`make {goal}` runs `{c.name}`: the installed files are not certain")
            argv = _static_argv(c)
            if argv is None:
                raise Unsure(f"`make {goal}` recipe with shell variables")
            if c.name not in ("install", "cp"):
                if c.name == "mkdir":
                    dirs |= {abspath(a, cwd) for a in argv if not a.startswith("-")}
                continue
            if c.name == "cp" and any(a.startswith("-") and ("r" in a.lower() or a == "--recursive") for a in argv):
                raise Unsure(f"`make {goal}` copies folders")
            paths, target_dir, make_dirs = [], None, False
            j = 0
            while j < len(argv):
                a = argv[j]
                if a in ("-m", "--mode", "-o", "--owner", "-g", "--group"):
                    j += 2
                    continue
                if a in ("-t", "--target-directory"):
                    target_dir = argv[j + 1] if j + 1 < len(argv) else None
                    j += 2
                    continue
                if a.startswith("-"):
                    if c.name == "install" and not a.startswith("--") and "d" in a:
                        make_dirs = True
                    j += 1
                    continue
                paths.append(abspath(a, cwd))
                j += 1
            if make_dirs:
                dirs |= set(paths)
                continue
            if target_dir is not None:
                dest, srcs, into = abspath(target_dir, cwd), paths, True
            else:
                if len(paths) < 2:
                    raise Unsure(f"`make {goal}`: {c.name} without a destination")
                *srcs, dest = paths
                into = len(srcs) > 1 or dest in dirs or argv[-1].endswith("/")
            files += [posixpath.join(dest, posixpath.basename(s)) if into else dest for s in srcs]
    if not files:
        raise Unsure(f"`make {goal}` installs no file the Makefile shows")
    return files


def _c_start_programs(facts: StageFacts) -> list[str]:
    """Programs the start command runs; a `sh -c` string is read as a script (shell builtins left out)."""
    from .shell import analyse

    shell_cmds = set(runtimes()["runtime_tools"]["shell_commands"])
    words, exec_form = facts.start_words()
    if not words:
        raise Unsure("no start command")
    if exec_form and posixpath.basename(words[0]) in ("sh", "bash", "dash") and words[1:2] == ["-c"] and len(words) > 2:
        script = analyse(words[2])
    elif exec_form:
        return [words[0]]
    else:
        first = facts.entrypoint if facts.entrypoint is not None else facts.cmd
        script = first.script() if first is not None else None
        if facts.entrypoint is not None and facts.cmd is not None:
            raise Unsure("shell-form ENTRYPOINT with a CMD: the start command is not certain")
    if script is None or not script.ok:
        raise Unsure("the start command's shell string is not analysable")
    progs: list[str] = []
    for c in script.commands:
        if c.name_word is None:
            continue
        if not c.name_word.static:
            raise Unsure("the start command runs a program named by a variable")
        name = c.name_word.value
        if name == "exec" and c.argv:
            name = c.argv[0]
        if name in shell_cmds:
            continue
        progs.append(name)
    if not progs:
        raise Unsure("the start command runs no program of the build")
    return progs


def plan_c_make(facts: StageFacts, hits, ctx) -> Build:
    """`make` / `make install`: the output is the one file the start command runs that make made.

    The Makefile must be readable from the build context: its explicit rules say which files the
    goals build, its install recipe where they land, and its -l flags which libraries they link.
    """
    data = runtimes()["c"]
    if any(c.name == "cmake" for c, _ in hits):
        raise Unsure("cmake build: CMakeLists.txt is not read, the output binary is not certain")
    if any(c.name in data["compilers"] for c, _ in hits):
        raise Unsure("make and direct compiler commands in one stage: which binary ships is not certain")
    if facts.ref.name not in data["make_builder_images"]:
        raise Unsure(f"make build on {facts.ref.name}: the runtime image for it is unknown")
    distroless, slim, family = codename_images(facts, "c")
    if family != "debian" or slim is None:
        raise Unsure("make build not on a Debian image: runtime libraries unknown")
    snapshot = getattr(ctx, "build_context", None)
    progs = _c_start_programs(facts)
    candidates: list[tuple[str, str]] = []  # (absolute path in the builder, how make made it)
    libs: list[str] = []
    for cmd, step in hits:
        chdir, goals, overrides = _make_args(cmd, step.env)
        cwd = _cwd_for(cmd, step)
        if chdir is not None:
            value = expand(chdir, step.env)
            if value is None:
                raise Unsure("make -C with a variable directory")
            cwd = abspath(value, cwd)
        if snapshot is None:
            raise Unsure("make build without a build context: the Makefile (targets, libraries) cannot be read")
        rel = facts.context_path(cwd, snapshot, "Makefile")
        if rel is None:
            raise Unsure(f"make build: where the Makefile in {cwd} comes from is not known")
        for other in data["other_makefile_names"]:
            if snapshot.exists(posixpath.join(rel, other) if rel else other):
                raise Unsure(f"make build: {other} takes precedence over Makefile and is not read")
        text = snapshot.read_text(posixpath.join(rel, "Makefile") if rel else "Makefile")
        if text is None:
            raise Unsure("make build: the Makefile is not readable from the build context")
        prog_env = dict(step.env)
        for w in cmd.prefix_words:
            if "=" in w.value and not w.value.startswith("-"):
                k, v = w.value.split("=", 1)
                prog_env[k] = v
        mk = Makefile(text, overrides, prog_env)
        if mk.default is None:
            raise Unsure("the Makefile has no target")
        goals = goals or [mk.default]
        cleaning = [g for g in goals if g in data["make_clean_goals"]]
        if cleaning:
            raise Unsure(f"`make {cleaning[0]}` removes build outputs: not followed")
        libs += _make_libs(mk, overrides)
        libs += [m for k in ("LDLIBS", "LDFLAGS", "LOADLIBES") for m in re.findall(r"(?<![\w-])-l([A-Za-z0-9_+.-]+)", prog_env.get(k, ""))]
        phony = set(mk.prereqs(".PHONY")) if ".PHONY" in mk.rules else set()
        made: list[str] = []
        for t in sorted(mk.reachable(goals)):
            if t not in mk.rules or t in phony or t.startswith("."):
                continue
            stem = posixpath.splitext(t)[0] == t and any(p in (t + ".o", t + ".c", t + ".cc", t + ".cpp") for p in mk.prereqs(t))
            if not mk.recipe(t) and not stem:
                continue  # no recipe and no built-in link rule: make makes no file of that name
            ctx_rel = posixpath.normpath(posixpath.join(rel, t) if rel else t)
            if not t.startswith("/") and snapshot.exists(ctx_rel):
                continue  # a source file, not something make made
            made.append(abspath(t, cwd))
        for goal in goals:
            if goal in mk.rules and any(c.name in ("install", "cp") for line in mk.recipe(goal) for c in _recipe_commands(line)):
                made += _install_files(mk, goal, cwd)
        for path in follow_copies(facts, step.ins, cmd, made):
            candidates.append((path, f"make in {cwd}"))
    hit = sorted({p for p, _ in candidates if any(_c_resolves(prog, facts.workdir, p) for prog in progs)})
    missing = [prog for prog in progs if not any(_c_resolves(prog, facts.workdir, p) for p, _ in candidates)]
    if missing:
        raise Unsure(f"the start command runs `{missing[0]}`, which is not a file the make build makes")
    if len(hit) != 1:
        raise Unsure("the start command could be several make outputs: " + ", ".join(hit))
    output = hit[0]
    if facts.image_has(output):
        src = facts.context_path(output, snapshot)
        if src is None or snapshot.exists(src) or snapshot.truncated:
            raise Unsure(f"{output} is also put there by COPY/ADD: not certain make made it")
    build = Build("c", [output])
    build.shell_image, build.shell_family = slim, family
    words, exec_form = facts.start_words()
    runs_shell = not exec_form or posixpath.basename(words[0]) in ("sh", "bash", "dash")
    if distroless and not runs_shell:
        build.static_image = data["dynamic"].format(distroless=distroless)
    link = runtime_libs()["link"]
    for lib in libs:
        pkg = link.get(facts.codename or "", {}).get(lib, link["common"].get(lib))
        if pkg is None:
            raise Unsure(f"no runtime package known for -l{lib} (Makefile)")
        if pkg and pkg not in build.runtime_packages:
            build.runtime_packages.append(pkg)
    shown = ", ".join(f"-l{x}" for x in dict.fromkeys(libs)) or "no -l flag"
    build.assumptions.append(
        f"{output} is the only build output the app needs at run time, and it links only the C runtime "
        f"and the libraries of the Makefile ({shown}) and of the -dev packages installed")
    return build


def _recipe_commands(line: str) -> list[Command]:
    from .shell import analyse

    script = analyse(line.strip().lstrip("@-+").strip())
    return script.commands if script.ok else []


def _c_resolves(prog: str, workdir: str, path: str) -> bool:
    if "/" in prog:
        return abspath(prog, workdir) == path
    return posixpath.basename(path) == prog and posixpath.dirname(path) in PATH_DIRS


# --------------------------------------------------------------------------- Node


def plan_node(facts: StageFacts, hits, ctx) -> Build:
    data = runtimes()["node"]
    if facts.ref.name not in data["builder_images"]:
        raise Unsure(f"Node build on {facts.ref.name}, not a node image")
    tag = facts.ref.tag
    if tag is None or "$" in tag:
        raise Unsure("node image without a readable tag: the runtime version would differ")
    if len(hits) != 1:
        raise Unsure("several build scripts")
    cmd, step = hits[0]
    cwd = _cwd_for(cmd, step)
    snapshot = getattr(ctx, "build_context", None)
    rel, pkg = _read_manifest(facts, cwd, snapshot, "package.json", json.loads, "package.json not readable, build output unknown")
    scripts = pkg.get("scripts") or {}
    argv = cmd.argv
    script_name = argv[1] if argv[:1] in (["run"], ["run-script"]) else argv[0]
    outs, extras = _node_outputs(scripts, script_name, snapshot, rel, 0)
    if not outs:
        raise Unsure(f"output folder of the `{script_name}` script not known")
    manager = "npm" if cmd.name == "npm" else cmd.name
    lock = None
    for name, mgr in (("package-lock.json", "npm"), ("npm-shrinkwrap.json", "npm"), ("yarn.lock", "yarn"), ("pnpm-lock.yaml", "pnpm")):
        if snapshot.exists(posixpath.join(rel, name) if rel else name):
            lock = (name, mgr)
            break
    if lock and lock[1] == "pnpm" or manager == "pnpm":
        raise Unsure("pnpm: the runtime image has no pnpm for the production install")
    if lock and lock[1] == "yarn":
        pm = str(pkg.get("packageManager", "yarn@1"))
        if not pm.startswith("yarn@1") or snapshot.exists(posixpath.join(rel, ".yarnrc.yml") if rel else ".yarnrc.yml"):
            raise Unsure("yarn berry: production install command not handled")
        install = "yarn install --production --frozen-lockfile && yarn cache clean"
    elif lock:
        install = "npm ci --omit=dev && npm cache clean --force"
    else:
        install = "npm install --omit=dev && npm cache clean --force"
    major = re.match(r"(\d+)", tag)
    if major and int(major.group(1)) < 16:
        install = install.replace("--omit=dev", "--production")
    for c, r in facts.commands():
        if c.name in ("npm", "yarn", "pnpm") and (any(not w.static for w in c.words) or r.ins.flag("mount") and "secret" in (r.ins.flag("mount") or "")):
            raise Unsure("the dependency install uses variables or secrets (private registry?)")
    if any(p.split("=")[0] in data["native_build_packages"] for p in facts.apt_packages + facts.apk_packages):
        raise Unsure("the builder installs a compiler: native addons would not build in the runtime image")
    # start command
    words, _ = facts.start_words()
    start = _node_start(words, scripts, data)
    root = cwd
    build = Build("node", [posixpath.join(root, o) for o in outs])
    build.extra_paths = [posixpath.join(root, "package.json")]
    if lock:
        build.extra_paths.append(posixpath.join(root, lock[0]))
    for path in build.extra_paths:
        if not facts.image_has(path):
            raise Unsure(f"{path} is not copied into the builder: the production install cannot use it")
    if snapshot.exists(posixpath.join(rel, ".npmrc") if rel else ".npmrc"):
        raise Unsure(".npmrc in the context: the production install may need registry credentials")
    for x in extras:
        if snapshot.exists(posixpath.join(rel, x) if rel else x) and facts.image_has(posixpath.join(root, x)):
            build.outputs.append(posixpath.join(root, x))
    if start is None:
        raise Unsure("the start command is not a known way to run the build output")
    kind, target = start
    if kind == "file":
        path = abspath(target, facts.workdir)
        if not any(is_under(path, o) for o in build.outputs):
            raise Unsure(f"the start command runs {target}, outside the build output: its imports cannot be followed")
    elif kind == "bin":
        dep = data["servers"][target]
        if dep not in (pkg.get("dependencies") or {}):
            raise Unsure(f"`{target}` is not a production dependency")
    build.run_lines = [install]
    from .catalog import find_variant

    if "alpine" in tag or "slim" in tag:
        image = facts.ref.text  # already small: the split still drops dev dependencies and sources
        family = "alpine" if "alpine" in tag else "debian"
    else:
        variant = find_variant(facts.ref)
        if variant is None or variant.assumed_args:
            raise Unsure(f"no slim variant known for {facts.ref.text}")
        image = variant.new_text
        family = "debian"
    build.shell_image, build.shell_family = image, family
    build.programs = {"node", "npm", "npx", "yarn"}
    build.uses_base_users = frozenset({"node"})
    build.asset_mode = "none"
    build.assumptions.append("the app needs only production dependencies and " + ", ".join(
        posixpath.relpath(p, root) for p in build.outputs) + " at run time")
    return build


def _node_outputs(scripts: dict, name: str, snapshot, rel: str, depth: int) -> tuple[list[str], list[str]]:
    from .shell import analyse

    data = runtimes()["node"]
    text = scripts.get(name)
    if not isinstance(text, str) or depth > 3:
        return [], []
    script = analyse(text)
    if not script.ok:
        return [], []
    outs: list[str] = []
    extras: list[str] = []
    for c in script.commands:
        argv = [c.name] + c.argv
        if c.name in ("npx",) and c.argv:
            argv = c.argv
        tool = argv[0]
        if tool in ("npm", "yarn", "pnpm") and len(argv) > 2 and argv[1] in ("run", "run-script"):
            o, e = _node_outputs(scripts, argv[2], snapshot, rel, depth + 1)
            if not o:
                return [], []
            outs += o
            extras += e
            continue
        if tool in ("rimraf", "rm", "cp", "echo", "mkdir", "copyfiles", "cross-env") and tool != "cross-env":
            continue
        if tool not in data["outputs"]:
            return [], []
        if tool in ("vite",) and argv[1:2] != ["build"]:
            return [], []
        flagged = None
        for flag in data["outdir_flags"].get(tool, []):
            v, _ = _flag_value(argv[1:], (flag.lstrip("-"),), set())
            if v:
                flagged = v
        if flagged:
            outs.append(posixpath.normpath(flagged))
        elif tool == "tsc":
            out = _tsconfig_outdir(snapshot, rel)
            if out is None:
                return [], []
            outs.append(out)
        else:
            outs += data["outputs"][tool]
        extras += data["extras"].get(tool, [])
    return outs, extras


def _tsconfig_outdir(snapshot, rel: str) -> str | None:
    text = snapshot.read_text(posixpath.join(rel, "tsconfig.json") if rel else "tsconfig.json")
    if text is None:
        return None
    stripped = re.sub(r"(?m)^\s*//.*$", "", text)
    stripped = re.sub(r",(\s*[}\]])", r"\1", stripped)
    try:
        conf = json.loads(stripped)
    except ValueError:
        return None
    if "extends" in conf:
        return None
    out = (conf.get("compilerOptions") or {}).get("outDir")
    return posixpath.normpath(out) if isinstance(out, str) else None


def _node_start(words: list[str], scripts: dict, data: dict) -> tuple[str, str] | None:
    if not words:
        return None
    if words[0] in ("node", "/usr/local/bin/node"):
        files = [w for w in words[1:] if not w.startswith("-")]
        return ("file", files[0]) if files else None
    if words[0] in ("npm", "yarn") and words[1:2] in (["start"], ["run"]):
        name = "start" if words[1] == "start" else (words[2] if len(words) > 2 else "")
        if name in data["dev_scripts"]:
            raise Unsure(f"the start command runs the `{name}` script (a dev server)")
        text = scripts.get(name)
        if not isinstance(text, str):
            return None
        from .shell import analyse

        script = analyse(text)
        if not script.ok or len(script.commands) != 1:
            return None
        c = script.commands[0]
        return _node_start([c.name] + c.argv, scripts, data)
    if words[0] in data["servers"]:
        if words[0] == "next" and words[1:2] != ["start"]:
            raise Unsure("`next` without `start` at run time (a dev server)")
        return ("bin", words[0])
    return None


# --------------------------------------------------------------------------- Python


def pip_installs(facts: StageFacts) -> list[tuple[Command, RunStep]]:
    out = []
    for c, r in facts.commands():
        argv = c.argv
        if c.name in ("pip", "pip3") and argv[:1] == ["install"]:
            out.append((c, r))
        elif c.name in ("python", "python3") and argv[:3] == ["-m", "pip", "install"]:
            out.append((c, r))
    return out


def _pip_args(cmd: Command) -> list[str]:
    argv = cmd.argv
    return argv[3:] if cmd.name in ("python", "python3") else argv[1:]


def plan_python(facts: StageFacts, hits, ctx) -> Build:
    """pip installs that need a compiler: install into a venv in the builder, ship the venv on slim."""
    from . import pybuild
    from .catalog import find_variant

    data = runtimes()["python"]
    if facts.ref.name not in data["builder_images"]:
        raise Unsure(f"pip install on {facts.ref.name}, not a python image")
    if facts.family != "debian" or not facts.codename:
        raise Unsure("python image not Debian based: runtime libraries unknown")
    snapshot = getattr(ctx, "build_context", None)
    tag = facts.ref.tag or ""
    slim_builder = "slim" in tag
    apt = [p.split("=", 1)[0] for p in facts.apt_packages]
    build_only = set(runtime_libs()["build_only"]["apt"])
    installs_compiler = any(p in build_only for p in apt)
    needs = pybuild.BuildNeeds()
    for cmd, step in hits:
        if cmd.name_word is not None and "/" in cmd.name_word.value:
            raise Unsure("pip called by absolute path: it would bypass the virtualenv")
        argv = _pip_args(cmd)
        if any(not w.static for w in cmd.words):
            raise Unsure("pip install with variable arguments")
        if any(a.split("=", 1)[0] in ("--user", "--target", "-t", "--prefix", "--root", "--system", "--break-system-packages") for a in argv):
            raise Unsure("pip install --user/--target/--prefix: files outside the virtualenv")
        cwd = _cwd_for(cmd, step)
        for spec in pybuild.specs_from_argv(argv):
            if snapshot is None:
                if spec.startswith(("-r ", "-e ")) or spec.startswith((".", "/")):
                    needs.unknown.append(spec)
                else:
                    needs.merge(pybuild.analyse_requirement_lines([spec]))
                continue
            if spec.startswith(("-r ", "-e ")) or spec in (".", "./") or spec.startswith(("./", "/")):
                value = spec[3:] if spec.startswith(("-r ", "-e ")) else spec
                path = abspath(value, cwd)
                rel = facts.context_path(posixpath.dirname(path) if spec.startswith("-r ") else path, snapshot,
                                         posixpath.basename(path) if spec.startswith("-r ") else None)
                if rel is None:
                    needs.unknown.append(value)
                    continue
                if spec.startswith("-r "):
                    needs.merge(pybuild.analyse_requirements(snapshot.read_text, posixpath.join(rel, posixpath.basename(path)) if rel else posixpath.basename(path)))
                else:
                    needs.merge(pybuild.analyse_project(snapshot.read_text, rel or "."))
            else:
                needs.merge(pybuild.analyse_requirement_lines([spec]))
    if needs.git:
        raise Unsure("requirements from VCS checkouts: git is needed at install time only, not split")
    if not needs.needs_compiler and not installs_compiler:
        if not needs.certain:
            raise Unsure("cannot tell whether pip needs a compiler (" + ", ".join(needs.unknown[:2]) + " not readable)")
        raise Unsure("pip needs no compiler here: a slim base (slim-base) is enough, no split")
    if not needs.certain:
        raise Unsure("requirements not fully readable (" + ", ".join(needs.unknown[:2]) + "): runtime libraries unknown")
    if slim_builder:
        runtime_image = facts.ref.text
    else:
        variant = find_variant(facts.ref)
        if variant is None or variant.assumed_args:
            raise Unsure(f"no slim variant known for {facts.ref.text}")
        runtime_image = variant.new_text
    venv = data["venv"]
    first_step = hits[0][1]
    build = Build("python", [venv])
    build.shell_image, build.shell_family = runtime_image, "debian"
    build.asset_mode = "all"
    # headers the full image provides silently (psycopg2 -> libpq-dev): their runtime libraries are needed
    libs = runtime_libs()["apt"]
    for header in needs.headers:
        if header in apt:
            continue
        runtime = libs.get(facts.codename, {}).get(header) or libs["common"].get(header)
        if runtime is None:
            raise Unsure(f"no runtime library package known for {header}")
        if runtime not in build.runtime_packages:
            build.runtime_packages.append(runtime)
    ins = first_step.ins
    env_line = f'ENV VIRTUAL_ENV={venv} PATH="{venv}/bin:$PATH"'
    nl = ins.doc.newline
    build.edits.append((ins.start, ins.start, f"RUN python -m venv {venv}{nl}{env_line}{nl}"))
    build.header_lines = [env_line]
    build.programs = {"python", "python3", "pip", "pip3"} | set(needs.requirements)
    build.assumptions.append("the packages pip installed need only the runtime libraries installed in the runtime stage")
    build.notes.append("pip installs into a virtualenv at " + venv)
    return build


PLANNERS = {
    "go": plan_go,
    "rust": plan_rust,
    "java": plan_java,
    "node": plan_node,
    "dotnet": plan_dotnet,
    "c": plan_c,
    "python": plan_python,
}
