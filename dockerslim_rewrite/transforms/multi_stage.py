"""# multi-stage

Split a single-stage build into a builder stage and a lean runtime stage.

## What it does
When the final stage builds the app with a toolchain image (`go build`/`go install` on golang, `cargo
build --release`/`cargo install --path` on rust, `mvn`/`gradle` (or their wrappers) on a JDK image,
`npm|yarn run build` on node, `dotnet publish -o` on dotnet/sdk, `gcc -o` on gcc, `make` or `make
install` on gcc/debian/buildpack-deps, `pip install` that needs a compiler on python), that stage is
kept as it is but named (`AS build`) and a new final stage is appended, rendered from the ecosystem's
template under `templates/runtime/`. The new stage receives only the build output at the same absolute
paths, plus the run-time configuration: ENV (build-only variables such as GOFLAGS dropped), the ARGs
those use, WORKDIR, USER (re-created when a RUN created it), LABEL, EXPOSE, VOLUME, HEALTHCHECK,
STOPSIGNAL, SHELL, ENTRYPOINT and CMD, the files the app reads at run time (asset folders, config
files, migrations that were copied in), and the mkdir/chown/chmod/ln/touch steps that shaped them
(`chown -R` becomes `COPY --chown`).

Runtime images (data/runtimes.toml): Go -> `gcr.io/distroless/static-debian12` when static
(CGO_ENABLED=0, added to the build command only when the build context shows no cgo), else
`distroless/base`; Rust -> `distroless/cc`; Go/Rust/C needing a shell or packages ->
`debian:<release>-slim` with ca-certificates; Java -> `eclipse-temurin:<major>-jre`; Node -> the
slim variant of the same tag with a production-only install (`npm ci --omit=dev`); Python -> the
virtualenv (`/opt/venv`, created in the builder) on the slim variant of the same tag; .NET ->
`dotnet/aspnet` (or `dotnet/runtime` for non-web projects) of the same tag; C (`gcc -o`, `make`)
-> `distroless/cc` when the start command is exec form and needs no shell. Shared libraries the
build linked come from the `*-dev` packages and `-l` flags (data/runtime_libs.toml); on
distroless/cc (C, Rust) the ones it lacks are copied from the builder by soname (`COPY
--from=build /usr/lib/*-linux-gnu/libz.so.1 /usr/lib/`) when data/runtime_bases.toml lists the
library and all its Depends, else the runtime is debian-slim with `apt-get install`. A runtime
stage installs only packages its base lacks (data/runtime_bases.toml: debian-slim has the
release's Priority-required set, zlib1g, libstdc++6 ...), and a C program gets the CA bundle only
with evidence of TLS (a TLS library, a non-library package, a TLS word in the compiler line,
Makefile or context file names; kept when the build context is unknown). A Node build script that
is not a known bundler: the output folder is the one the start command runs from (`node
dist/index.js` -> `dist/`) when the build script or tsconfig outDir names it, or when it is not in
the build context and no COPY fills it; `file:` dependencies are copied for the production install.
For `make`, the Makefile (read from the build context) says which files its goals make, where
`make install` puts them (PREFIX/DESTDIR resolved) and which `-l` libraries they link: the output
is the one made file the start command runs (directly, through PATH or in a `sh -c` string).

Python: the virtualenv is made with `python -I -m venv` (isolated: a project's `types.py`,
`enum.py` or `token.py` in the WORKDIR does not shadow the standard library). When the builder tag
names Python 3.11+ (`python:3.11-bookworm`), it is made `--without-pip --system-site-packages` and
the builder's `pip`/`pip3` commands run as `python -P -m pip` (the image's pip, installing into the
virtualenv; -P keeps the WORKDIR off sys.path), so the runtime copy holds only the app's packages
(no second pip, setuptools and their bytecode, ~20 MB on 3.11) and the app sees the runtime image's
pip, setuptools and wheel as the original saw the base image's. The virtualenv keeps a pip of its
own (pip commands unchanged) when the tag names no Python version or one before 3.11, or when
ENTRYPOINT, CMD, HEALTHCHECK or a script they start runs `pip`, a builder `pip uninstall` removes
the image's pip/setuptools/wheel, or a started script cannot be read.
The split is skipped when a pip command would install outside the virtualenv: under `sudo`, a login
SHELL (`bash -l -c`), a USER other than root, with PIP_USER/PIP_TARGET/PIP_PREFIX/PIP_ROOT/
PIP_CONFIG_FILE from ENV, ARG, the command line or an `export` (the model's state walk), or with a
pip configuration file a COPY/ADD or RUN puts into the image (`/etc/pip.conf`,
`/etc/xdg/pip/pip.conf`, `~/.config/pip/pip.conf`, `~/.pip/pip.conf`, `pip config set` of
user/target/prefix/root). What a non-editable `pip install` consumes (the project folder, a wheel
or archive, `-r`/`-c` files, `-f` folders) is not copied into the runtime stage (`Build.consumed`),
unless something at run time may read it: the WORKDIR or the folder of the started script lies
inside or above it, or ENTRYPOINT, CMD, HEALTHCHECK, an ENV value (PYTHONPATH), a VOLUME or a
started script names a path inside or above it. Started scripts (`ecosystems.started_scripts`) are
the files from the build context that ENTRYPOINT/CMD/HEALTHCHECK run (directly or on PATH, through
`sh FILE`, `exec`/`tini`/`gosu`, `sh -c` strings) and the scripts those run; their text comes from
the build context snapshot through the COPY/ADD mapping slim-base uses (`contextpaths`), and every
absolute path it mentions counts. A started script that cannot be read keeps every input. An
editable install (`-e DIR`, also in a requirements file) keeps DIR.

## Why it saves bytes
A golang image is ~800 MB for a ~10 MB binary; a JDK, node dev dependencies, compilers and
headers are never needed to run the app. Typical savings are 60-99 %.

## Example
```dockerfile
FROM golang:1.22
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -o /usr/local/bin/api ./cmd/api
EXPOSE 8080
CMD ["api"]
```
becomes
```dockerfile
FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -o /usr/local/bin/api ./cmd/api
EXPOSE 8080
CMD ["api"]

# runtime stage: only the Go binary and the files it reads at run time
FROM gcr.io/distroless/static-debian12
WORKDIR /src
COPY --from=build /usr/local/bin/api /usr/local/bin/api
EXPOSE 8080
CMD ["api"]
```

## When it is not applied
Each case is reported as a one-line Skip and the file is left alone: already multi-stage files whose
final stage has no build step; unknown or several build systems in one stage; an output that cannot be
located with certainty (no `-o` and no readable go.mod, several binaries, a start command that does not
name the jar, an npm build script whose output folder is unknown and not shown by the start
command, a `file:` dependency outside the package folder, `dotnet publish` without `-o`; a
Makefile not readable from the build context or using include, conditionals, sub-makes, `$(shell)` or
pkg-config; `make install` with a prefix that is not static; a start command that runs a script or any
program other than one make output); images that use the toolchain at run time (`go run`, `mvn`, `cargo
run`, `npm run dev`, `next dev`, `python manage.py runserver`, `flask run`, `make run`, a REPL); a RUN
that calls a command whose files might be needed at run time (`curl -o`, `git`, code generators); a
start command or HEALTHCHECK program the runtime image would not have; variables without static values
in paths; users, `-dev` packages or `-l` libraries with no known runtime counterpart.

## Limits
With `COPY . .` and no build context, source-tree files a compiled app may read at run time cannot
be listed: the assumption says so. Directories created by WORKDIR stay root-owned even when the
builder chowned them. pnpm and yarn berry projects, musl/alpine C builds and cmake builds
(CMakeLists.txt is not read) are not split. Libraries copied into distroless are found by soname
only: one the binary opens with dlopen, or a library's plugins and data files, are not copied (the
table lists only plain libraries). C sources are not read for TLS use. A C++ program built with
the `gcc:<13+>` image's own libstdc++ (/usr/local/lib64) gets Debian's libstdc++ at run time.
Started scripts are read as the build context has them: a later RUN that edits one (`sed -i`) is not
seen, a script it names through a variable or a relative path after `cd` is not followed, and only
shell scripts (`*.sh`, `*.bash`, `entrypoint`, `start`, `run` ...) have their text in the snapshot
(any other started file counts as unreadable). Python files the app runs are not read.

## Fix safety
`review`: the assumption printed with the change is that the final image does not use the
toolchain at run time and needs only the files, libraries and users listed (for Python also: the
slim runtime's pip/setuptools/wheel are the builder image's versions, i.e. both tags were pulled at
the same time; a bare `pip` at run time is the image's; nothing reads the build inputs left out).
Choosing distroless after converting a simple shell-form CMD/ENTRYPOINT to exec form (only with
`--unsafe-fixes`) is `unsafe`: without a shell, a start command behaves differently if it relied on
one.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import jinja2

from .. import ecosystems as eco
from ..ecosystems import Build, StageFacts, Unsure, abspath, is_under, runtimes
from ..ecosystems.facts import resolves
from ..model import Document, Instruction
from ..pybuild import python_module
from ..transform import Change, Context, FileChange, Safety, Skip, transform

ID = "multi-stage"
#: distributions whose useradd/groupadd/adduser and apt-get behave alike
DEB_FAMILIES = ("debian", "ubuntu")


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("dockerslim_rewrite", "templates"),
        autoescape=False,
        keep_trailing_newline=False,
        undefined=jinja2.StrictUndefined,
    )


@transform(ID)
def multi_stage(doc: Document, ctx: Context) -> Iterator[Change | FileChange | Skip]:
    final = doc.stages[-1]
    line = final.from_instruction.line
    if (
        len(doc.stages) > 1
        and any(doc.stage_by_ref(ref) is not None for ref in final.copies_from)
        and not eco.detect(_facts_or_none(doc, final))
    ):
        return  # already a builder + runtime pair (ours included): nothing to do, nothing to report
    try:
        plan = _plan(doc, ctx)
    except Unsure as why:
        yield Skip(line, str(why))
        return
    yield from plan


# --------------------------------------------------------------------------- planning


def _facts_or_none(doc: Document, stage) -> StageFacts:
    try:
        return eco.gather(doc, stage)
    except Unsure:
        return StageFacts(stage, eco.parse_image_ref("scratch"), None, None, {})


def _snapshot(ctx: Context):
    snap = ctx.build_context
    return snap if snap is not None and getattr(snap, "files", None) else None


class _Ctx:
    """What planners may read: the build context (None when absent or empty)."""

    def __init__(self, ctx: Context):
        self.build_context = _snapshot(ctx)
        self.options = ctx.options
        self.dockerfile_name = ctx.dockerfile_name


def _plan(doc: Document, ctx: Context) -> list[Change]:
    final = doc.stages[-1]
    facts_ctx = _Ctx(ctx)
    if any(ctx.is_ignored(ins, ID) for ins in final.instructions):
        raise Unsure(
            "ignore pragma (# dslim: ignore, or # hadolint ignore of the rule this fix answers) in the final stage: not split"
        )
    if final.parent is not None:
        raise Unsure(f"final stage is built FROM stage {doc.stages[final.parent].name or final.parent}: not split")
    facts = eco.gather(doc, final)
    found = eco.detect(facts)
    if not found:
        if len(doc.stages) > 1:
            raise Unsure("already multi-stage and the final stage has no build step")
        raise Unsure("no known build step (go build, cargo build, mvn/gradle, npm run build, dotnet publish, gcc -o)")
    if len(found) > 1:
        raise Unsure("several build systems in one stage (" + ", ".join(sorted(found)) + "): not split")
    ((name, hits),) = found.items()
    if any(h[1].ins.flag("mount") for h in hits) and any("type=cache" in v for h in hits for v in h[1].ins.flag_values("mount")):
        raise Unsure("the build writes into a cache mount: its output may not be in the image")
    data = runtimes()[name]
    _check_no_toolchain_at_run_time(facts, data, name)
    _check_run_steps(facts)
    build = eco.REGISTRY[name].plan(facts, hits, facts_ctx)
    return _compose(doc, ctx, facts, build, data, hits[-1][1].user)


def _check_run_steps(facts: StageFacts) -> None:
    """Every RUN must be analysable and call only commands whose files the split accounts for."""
    known = set(runtimes()["build_side"]["commands"])
    for step in facts.runs:
        if step.script is None:
            raise Unsure(f"RUN at line {step.ins.line} is not a shell script we can analyse")
        for cmd in step.script.commands:
            module = python_module(cmd.argv) if cmd.name in ("python", "python3") else None
            if module is not None and module[0] in ("pip", "venv", "compileall"):
                continue
            if cmd.name and cmd.name not in known:
                raise Unsure(f"RUN at line {step.ins.line} runs `{cmd.name}`, whose files may be needed at run time")


def _words_of_start(facts: StageFacts) -> list[list[str]]:
    """Command lines the container runs: the start command and the HEALTHCHECK."""
    out = []
    words, _ = facts.start_words()
    if words:
        out.append(words)
    for ins in (facts.entrypoint, facts.cmd, facts.healthcheck):
        if ins is None:
            continue
        script = _script_of(ins)
        if script is not None:
            out += [[c.name] + c.argv for c in script.commands if c.name]
    return out


def _script_of(ins: Instruction):
    if ins.keyword == "HEALTHCHECK":
        words, exec_form = eco.healthcheck_words(ins)
        if words is None or exec_form:
            return None
        from ..shell import analyse

        return analyse(words[0])
    if ins.json_args is not None:
        return None
    return ins.script()


def _check_no_toolchain_at_run_time(facts: StageFacts, data: dict, name: str) -> None:
    tools = set(data["run_time_toolchain"])
    lines = _words_of_start(facts)
    if facts.healthcheck is not None:
        hw, exec_form = eco.healthcheck_words(facts.healthcheck)
        if hw and exec_form:
            lines.append(hw)
    for words in lines:
        if not words:
            continue
        prog = posixpath.basename(words[0])
        rest = words[1:]
        if prog in tools:
            raise Unsure(f"the image runs `{' '.join(words[:3])}` at run time: the toolchain is needed")
        if name == "rust" and prog == "cargo":
            raise Unsure("the image runs cargo at run time")
        if name == "dotnet" and prog == "dotnet" and rest[:1] in (["run"], ["watch"], ["build"], ["test"]):
            raise Unsure(f"the image runs `dotnet {rest[0]}` at run time")
        if (
            name == "node"
            and prog in ("npm", "yarn", "pnpm")
            and rest[:1] == ["run"]
            and rest[1:2]
            and rest[1] in runtimes()["node"]["dev_scripts"]
        ):
            raise Unsure(f"the image runs `{prog} run {rest[1]}` (a dev server)")
        if prog in ("python", "python3") and rest[:1] == ["setup.py"]:
            raise Unsure("the image runs `python setup.py` at run time")
        if name == "python":
            if prog.startswith("python") and not [a for a in rest if not a.startswith("-")]:
                raise Unsure("the image starts a Python REPL")
            if "runserver" in rest or (prog == "flask" and rest[:1] == ["run"]) or "--reload" in rest:
                raise Unsure(f"the image runs a development server (`{' '.join(words[:3])}`)")
    if facts.cmd is None and facts.entrypoint is None:
        raise Unsure("no CMD or ENTRYPOINT: the image's start command comes from the toolchain base image")


# --------------------------------------------------------------------------- composition


def _stage_name(doc: Document) -> str:
    """A builder name no stage and no ``--from``/FROM reference (maybe an image) already uses."""
    taken = {s.name for s in doc.stages if s.name}
    taken |= {value.lower() for ins in doc.instructions for value in ins.flag_values("from")}
    taken |= {s.base.lower() for s in doc.stages}
    for cand in ("build", "builder", "build-stage", "dslim-build"):
        if cand not in taken:
            return cand
    k = 0
    while f"dslim-build-{k}" in taken:
        k += 1
    return f"dslim-build-{k}"


def _copy_line(builder: str, src: str, dest: str, chown: str | None, chmod: str | None) -> str:
    """`COPY --from=<builder> src dest`, in JSON form when a path has spaces or quotes."""
    if "$" in src + dest:
        raise Unsure(f"path {src} holds a '$': it would be expanded by COPY")
    flags = f"--from={builder}"
    if chown:
        flags += f" --chown={chown}"
    if chmod:
        flags += f" --chmod={chmod}"
    if re.search(r"[\s\"'\\$]", src + dest):
        return f"COPY {flags} {json.dumps([src, dest])}"
    return f"COPY {flags} {src} {dest}"


def _workdir_word(path: str, escape: str) -> str:
    """WORKDIR's argument: `$` escaped (it would be expanded), double-quoted when it has blanks."""
    if any(ch in path for ch in "\"'`\\"):
        raise Unsure(f"WORKDIR {path} has quotes or escape characters")
    path = path.replace("$", escape + "$")
    return f'"{path}"' if re.search(r"\s", path) else path


def _glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _assets(
    doc: Document, ctx: Context, facts: StageFacts, build: Build, eco_name: str
) -> tuple[list[tuple[str, CopyMeta]], list[str]]:
    """Paths copied into the image that the app may read at run time, and the assumptions made.

    Interpreted apps ("all"): everything copied in. Compiled apps: explicit non-source copies
    (config files, asset folders, scripts), files from other stages, and from a copied source
    root (`COPY . .`) the asset folders and config files the build context listing shows.
    """
    data = runtimes()
    inputs = data["build_inputs"].get(eco_name, [])
    asset_dirs = set(data["assets"]["dirs"])
    asset_globs = data["assets"]["file_globs"]
    not_assets = set(data["assets"]["not_assets"])
    snapshot = _snapshot(ctx)
    ignore = _dockerignore(snapshot, ctx.dockerfile_name)
    out: list[tuple[str, CopyMeta]] = []
    assumptions: list[str] = []

    def is_input(base: str) -> bool:
        return any(fnmatch.fnmatchcase(base, g) for g in inputs) or base in not_assets

    for step in facts.copies:
        meta = CopyMeta(step.ins.flag("chown"), step.ins.flag("chmod"))
        for src, placed in step.placed():
            if build.asset_mode == "all" or step.from_stage is not None:
                out.append((placed, meta))
                continue
            if any(is_under(placed, o) for o in build.outputs):
                continue  # inside the build output: shipped with it
            clean = src.rstrip("/")
            base = posixpath.basename(clean)
            is_dir = clean in (".", "") or src.endswith("/") or (snapshot is not None and _is_ctx_dir(snapshot, src))
            if not is_dir or base in asset_dirs:
                if not is_input(base):
                    out.append((placed, meta))
                continue
            if is_input(base):
                continue
            # a source root (often the whole context): pick the run-time files from the listing
            if snapshot is None:
                assumptions.append(f"the app reads no files of the source tree copied to {placed} at run time")
                continue
            rel = "" if clean in (".", "") else posixpath.normpath(clean.lstrip("/"))
            picked = []
            for entry in snapshot.files:
                if posixpath.dirname(entry.path) != rel:
                    continue
                name = posixpath.basename(entry.path)
                if name.startswith(".") or is_input(name):
                    continue
                if entry.is_dir and name not in asset_dirs:
                    continue
                if not entry.is_dir and not any(fnmatch.fnmatchcase(name, g) for g in asset_globs):
                    continue
                if ignore is not None and ignore.excluded(entry.path):
                    continue
                picked.append(name)
                out.append((posixpath.join(placed, name), meta))
            if picked:
                assumptions.append(f"of the source tree copied to {placed} the app reads only {', '.join(picked)} at run time")
            else:
                assumptions.append(f"the app reads no file of the source tree copied to {placed} at run time")
    return out, assumptions


class CopyMeta:
    def __init__(self, chown: str | None, chmod: str | None):
        self.chown = chown
        self.chmod = chmod


def _is_ctx_dir(snapshot, src: str) -> bool:
    e = snapshot.entry(src.strip("/")) if src.strip("/") not in ("", ".") else None
    return bool(e and e.is_dir)


def _dockerignore(snapshot, dockerfile_name: str):
    if snapshot is None:
        return None
    from ..ignorematch import BadPattern, PatternMatcher

    for name in (f"{dockerfile_name}.dockerignore", ".dockerignore"):
        text = snapshot.read_text(name)
        if text is not None:
            try:
                return PatternMatcher.from_dockerignore(text)
            except BadPattern:
                raise Unsure(".dockerignore has a pattern Docker rejects") from None
    return None


def _runtime_packages(facts: StageFacts, build: Build, family: str | None) -> tuple[list[str], bool]:
    """Packages the runtime stage installs, and whether any of them is more than what distroless has."""
    libs = eco.runtime_libs()
    tools = runtimes()["runtime_tools"]
    out: list[str] = list(build.runtime_packages)
    if facts.apt_packages:
        build_only = set(libs["build_only"]["apt"])
        for spec in facts.apt_packages:
            name = spec.split("=", 1)[0]
            if name in build_only or "$" in name:
                if "$" in name:
                    raise Unsure(f"package list uses a variable ({spec})")
                continue
            if eco.is_dev_package(name):
                if facts.family != "debian" or not facts.codename or family != "debian":
                    raise Unsure(f"{name}: runtime library package unknown outside Debian")
                runtime = libs["apt"].get(facts.codename, {}).get(name) or libs["apt"]["common"].get(name)
                if runtime is None:
                    raise Unsure(f"no runtime library package known for {name}")
                spec = runtime
            if spec not in out:
                out.append(spec)
        if family not in DEB_FAMILIES or facts.family not in DEB_FAMILIES:
            raise Unsure("the builder installs Debian packages but the runtime image is not Debian/Ubuntu")
    if facts.apk_packages:
        build_only = set(tools["apk_build_only"])
        for spec in facts.apk_packages:
            name = spec.split("=", 1)[0]
            if name in build_only:
                continue
            if eco.is_dev_package(name):
                raise Unsure(f"no runtime package known for apk {name}")
            if spec not in out:
                out.append(spec)
        if family != "alpine":
            raise Unsure("the builder installs apk packages but the runtime image is not Alpine")
    beyond = any(p.split("=", 1)[0] not in tools["distroless_provides"] for p in out)
    return out, beyond


def _user_parts(user: str) -> tuple[str, str | None]:
    name, _, group = user.partition(":")
    return name, (group or None)


def _compose(doc: Document, ctx: Context, facts: StageFacts, build: Build, data: dict, build_user: str | None) -> list[Change]:
    """Render the runtime stage and the edits of the builder; Unsure when something does not fit."""
    builder = facts.stage.name or _stage_name(doc)
    assumptions = [f"the final image does not use the {build.ecosystem} toolchain at run time"] + build.assumptions
    _prefer_referenced(facts, build)
    assets = _payload_assets(doc, ctx, facts, build, assumptions)
    payload_paths = build.outputs + build.extra_paths + [p for p, _ in assets]
    needs_shell, packages_for_shell, health_pkgs, lib_files = _shell_needs(facts, build, payload_paths)
    final_user = facts.user
    if final_user and "$" in final_user:
        raise Unsure("USER uses a variable")
    setup_texts, setup_chowns = _setup(facts, payload_paths, build.outputs)
    if setup_texts:
        needs_shell.append("mkdir/chown/chmod/ln/touch replayed")
    use_static, convert = _use_static(ctx, facts, build, needs_shell, health_pkgs)
    if not use_static and build.shell_image is None:
        raise Unsure("no runtime image with a shell is known for " + facts.ref.text)
    image = build.static_image if use_static else build.shell_image
    family = None if use_static else build.shell_family
    user_map, user_run = _users(facts, build, use_static, family, assumptions)
    out_owner = build_user if build_user and _user_parts(build_user)[0] not in ("root", "0") else None
    owner_of = _owner_mapper(user_map, use_static)
    dep_copies, copies = _copy_lines(
        builder, build, assets, lambda path, owner: owner_of(setup_chowns.get(path) or owner), out_owner
    )
    n_copies = len(copies)
    if use_static and lib_files:
        lib_dest = eco.runtime_bases()["copy_libs"]["lib_dest"]
        # one layer for all of them (data paths: no blanks, quotes or variables)
        copies.insert(0, f"COPY --from={builder} {' '.join(dict.fromkeys(lib_files))} {lib_dest}")
        names = ", ".join(posixpath.basename(f) for f in lib_files)
        build.notes.append(f"shared libraries {names} copied from the builder")
        assumptions.append(
            f"the binary loads no shared library beyond {image}'s C/C++ runtime and {names} (copied from "
            f"the {builder} stage, same Debian release), and those libraries need no plugins or data files"
        )
    _check_programs(facts, build, payload_paths, use_static, assumptions)
    header, tail = _carried_lines(doc, facts, data, user_map, convert)
    extra_text = " ".join(tail + [user_run or ""] + setup_texts + copies)
    header_lines = build.header_lines + _needed_args(doc, facts, header, extra_text)
    via_path = _path_dirs_used(facts, build)
    if via_path:
        header_lines.insert(0, "ENV PATH=" + ":".join(dict.fromkeys(via_path + list(eco.PATH_DIRS))))
    packages: list[str] = []
    if not use_static and build.ca_note:
        (assumptions if build.ca_bundle is False else build.notes).append(build.ca_note)
    if not use_static:
        shell_packages = data.get("shell_packages", []) if family == "debian" else []
        if build.ca_bundle is False:
            shell_packages = [p for p in shell_packages if p != "ca-certificates"]
        elif build.ca_bundle and family == "debian" and "ca-certificates" not in shell_packages:
            shell_packages = [*shell_packages, "ca-certificates"]
        have = eco.image_packages(image or "", facts.codename)
        for p in packages_for_shell + health_pkgs + shell_packages:
            if "=" not in p and p in have:
                continue  # the runtime base already has it (data/runtime_bases.toml)
            if p.split("=", 1)[0] not in {q.split("=", 1)[0] for q in packages}:
                packages.append(p)
    text = (
        _env()
        .get_template(f"runtime/{build.ecosystem}.Dockerfile.j2")
        .render(
            comment="runtime stage",
            image=image,
            header=header_lines,
            family=family,
            packages=[shlex.quote(p) for p in packages],
            user_run=user_run,
            escape=doc.escape,
            workdir=_workdir_word(facts.workdir, doc.escape) if facts.workdir != "/" else None,
            dep_copies=dep_copies,
            ecosystem_runs=build.run_lines,
            copies=copies,
            setup_run=(" && ".join(setup_texts) if setup_texts and not use_static else None),
            tail=tail,
        )
    )
    return _changes(doc, facts, build, builder, image, text, n_copies, convert, assumptions)


def _payload_assets(
    doc: Document, ctx: Context, facts: StageFacts, build: Build, assumptions: list[str]
) -> list[tuple[str, CopyMeta]]:
    """The run-time files copied beside the outputs (none inside another, none a RUN removes)."""
    assets: list[tuple[str, CopyMeta]] = []
    if build.asset_mode != "none":
        assets, more = _assets(doc, ctx, facts, build, build.ecosystem)
        assumptions += more
        assets = [(p, m) for p, m in assets if not any(q != p and is_under(p, q) for q, _ in assets)]
    removed = _removed_paths(facts)
    if any(is_under(o, r) for o in build.outputs + build.extra_paths for r in removed):
        raise Unsure("a RUN removes the build output it would copy")
    assets = [(p, m) for p, m in assets if not any(is_under(p, r) for r in removed)]
    return _without_consumed(facts, build, assets, assumptions, _snapshot(ctx))


def _without_consumed(
    facts: StageFacts, build: Build, assets: list[tuple[str, CopyMeta]], assumptions: list[str], snapshot
) -> list[tuple[str, CopyMeta]]:
    """The assets minus those inside a build input the build step consumed (a non-editable `pip
    install DIR`), unless something at run time names the input or runs inside it.

    A started script (`eco.started_scripts`) that cannot be read from the build context may read
    anything: every input is kept then."""
    if not build.consumed:
        return assets
    started = eco.started_scripts(facts, snapshot)
    unread = next((s for s in started if s.text is None), None)
    if unread is not None:
        build.notes.append(f"build inputs kept: {unread.path} (started by {unread.who}) cannot be read from the build context")
        return assets
    run_time = _run_time_paths(facts, started)
    kept: list[tuple[str, CopyMeta]] = []
    left_out: list[str] = []
    for path, meta in assets:
        root = next((c for c in build.consumed if is_under(path, c)), None)
        if root is None or any(is_under(root, r) or is_under(r, root) for r, _ in run_time):
            kept.append((path, meta))
        else:
            left_out.append(path)
    if left_out:
        names = ", ".join(left_out)
        build.notes.append(f"{names} not copied: the build consumed {'it' if len(left_out) == 1 else 'them'}")
        assumptions.append(
            f"nothing reads {names} at run time (a build input the build step is done with; no start command, "
            "HEALTHCHECK, started script, ENV, VOLUME or WORKDIR names it)"
        )
    return kept


def _run_time_paths(facts: StageFacts, started: list[eco.StartedScript]) -> list[tuple[str, str]]:
    """(absolute path, who names it) for every path the running container may read by name: the
    WORKDIR, the folder of a script the start command runs (Python puts it on sys.path), each path
    word of ENTRYPOINT, CMD, HEALTHCHECK, ENV values (PYTHONPATH ...) and VOLUME, and the folder of
    each started script (but /) and every absolute path its text mentions."""
    out: list[tuple[str, str]] = []
    if facts.workdir != "/":
        out.append((facts.workdir, "WORKDIR"))
    for script in started:
        if posixpath.dirname(script.path) != "/":  # like WORKDIR /: the root folder names nothing in particular
            out.append((posixpath.dirname(script.path), script.path))
        out += [(p, script.path) for p in script.mentioned]
    named: list[tuple[str, str]] = []
    for ins in (facts.entrypoint, facts.cmd, facts.healthcheck):
        if ins is not None:
            named += [(w, ins.keyword) for w in (ins.json_args if ins.json_args is not None else ins.words())]
    for ins in facts.carried:
        if ins.keyword == "ENV":
            named += [(v, "ENV") for v in ins.key_values().values()]
        elif ins.keyword == "VOLUME":
            named += [(w, "VOLUME") for w in (ins.json_args if ins.json_args is not None else ins.words())]
    for word, who in named:
        for piece in re.split(r"[\s=:,;]+", word):
            piece = piece.strip("'\"")
            if not piece or piece.startswith("-") or "$" in piece:
                continue
            path = abspath(piece, facts.workdir)
            out.append((path, who))
            if piece.endswith(".py") and posixpath.dirname(path) != "/":
                out.append((posixpath.dirname(path), who))
    return out


def _shell_needs(facts: StageFacts, build: Build, payload_paths: list[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """(why the runtime needs a shell, the packages it installs, the packages of the HEALTHCHECK's tools,
    the shared-library files a distroless runtime copies from the builder instead of the packages)."""
    _, exec_form = facts.start_words()
    hc_words, hc_exec = eco.healthcheck_words(facts.healthcheck) if facts.healthcheck is not None else (None, True)
    reasons: list[str] = []
    if not exec_form:
        reasons.append("shell-form start command")
    if hc_words is not None and not hc_exec:
        reasons.append("shell-form HEALTHCHECK")
    if any(i.keyword == "SHELL" for i in facts.carried):
        reasons.append("SHELL instruction")
    if any(i.keyword == "ONBUILD" for i in facts.carried):
        raise Unsure("ONBUILD triggers in the final stage are not carried over")
    if _check_programs(facts, build, payload_paths, False, []):
        reasons.append("the start command runs a script")
    packages, beyond = _runtime_packages(facts, build, build.shell_family)
    lib_files: list[str] = []
    if beyond and build.copy_libs and build.static_image is not None:
        copied = eco.copyable_libs(packages, build.static_image, facts.codename)
        if copied is not None:
            beyond, lib_files = False, copied
    if beyond:
        reasons.append("run-time packages")
    health_tools = runtimes()["runtime_tools"]["health_packages"]
    health_script = _script_of(facts.healthcheck) if facts.healthcheck and not hc_exec else None
    lines = ([hc_words] if hc_words and hc_exec else []) + [
        [c.name] + c.argv for c in (health_script.commands if health_script else [])
    ]
    health_pkgs = [health_tools[prog] for words in lines if (prog := posixpath.basename(words[0])) in health_tools]
    return reasons, packages, health_pkgs, lib_files


def _use_static(
    ctx: Context, facts: StageFacts, build: Build, needs_shell: list[str], health_pkgs: list[str]
) -> tuple[bool, bool]:
    """(distroless runtime?, convert a simple shell-form start command to exec form for it?)."""
    use_static = build.static_image is not None and not health_pkgs
    if use_static and needs_shell:
        if needs_shell == ["shell-form start command"] and ctx.options.unsafe_fixes and _simple_shell_start(facts):
            return True, True
        return False, False
    return use_static, False


def _users(
    facts: StageFacts, build: Build, use_static: bool, family: str | None, assumptions: list[str]
) -> tuple[dict[str, str], str | None]:
    """How the builder's users are spelled in the runtime image, and the RUN that re-creates them (or None)."""
    deb = runtimes()["debian"]
    final_user = facts.user
    user_name, user_group = _user_parts(final_user) if final_user else (None, None)
    created = facts.created_users
    base_users = set(build.uses_base_users)
    if use_static:
        base_users |= set(deb["distroless_users"])
    else:
        base_users |= set(deb["debian_users"]) | {"root"}
    user_map: dict[str, str] = {}
    user_run = None
    if user_name and not user_name.isdigit() and user_name not in base_users:
        assert final_user is not None
        if user_name not in created:
            raise Unsure(f"USER {user_name} is not created in this stage and not known in the runtime image")
        if use_static:
            uid = created[user_name]
            gid = facts.created_groups.get(user_group) if user_group else None
            mapped = uid if uid else "nonroot"
            if user_group:
                mapped += ":" + (gid if gid else (uid if uid else "nonroot"))
            if not uid:
                assumptions.append(f"the app does not depend on the uid of user {user_name} (distroless `nonroot` is used)")
            user_map[final_user] = mapped
            user_map[user_name] = mapped.split(":")[0]
            for g, gid2 in facts.created_groups.items():
                user_map.setdefault(g, gid2 or "nonroot")
        else:
            if not (facts.family in DEB_FAMILIES and family in DEB_FAMILIES) and not (facts.family == family == "alpine"):
                raise Unsure(f"user {user_name} was created with another distribution's tools")
            user_run = " && ".join(facts.user_commands)
    elif facts.user_commands and not use_static and (facts.family == family or {facts.family, family} <= set(DEB_FAMILIES)):
        user_run = " && ".join(facts.user_commands)
    if user_run and use_static:
        user_run = None
    return user_map, user_run


def _owner_mapper(user_map: dict[str, str], use_static: bool):
    """`--chown` owners as the runtime image spells them (distroless knows only numeric ids and its users)."""
    distroless_users = runtimes()["debian"]["distroless_users"]

    def map_owner(owner: str | None) -> str | None:
        if owner is None:
            return None
        if owner in user_map:
            return user_map[owner]
        name, group = _user_parts(owner)
        if use_static and not name.isdigit():
            mapped = user_map.get(name)
            if mapped is None:
                if name in distroless_users:
                    return owner
                raise Unsure(f"--chown={owner} cannot be expressed in a distroless image")
            if group:
                mapped += ":" + user_map.get(group, mapped)
            return mapped
        return owner

    return map_owner


def _copy_lines(
    builder: str, build: Build, assets: list[tuple[str, CopyMeta]], owner_of, out_owner: str | None
) -> tuple[list[str], list[str]]:
    """(COPY --from lines of the dependency files, of the outputs and run-time files)."""
    dep_copies: list[str] = []
    copies: list[str] = []
    seen: set[str] = set()
    for path in build.extra_paths:
        dep_copies.append(_copy_line(builder, path, path, None, None))
        seen.add(path)
    for path in build.outputs:
        if path in seen:
            continue
        seen.add(path)
        dest = (posixpath.dirname(path).rstrip("/") + "/") if _glob(path) else path
        copies.append(_copy_line(builder, path, dest, owner_of(path, out_owner), None))
    for path, meta in assets:
        if path in seen or any(is_under(path, s) for s in seen):
            continue
        seen.add(path)
        dest = (posixpath.dirname(path).rstrip("/") + "/") if _glob(path) else path
        copies.append(_copy_line(builder, path, dest, owner_of(path, meta.chown), meta.chmod))
    if not build.outputs:
        raise Unsure("no build output located")
    return dep_copies, copies


def _path_dirs_used(facts: StageFacts, build: Build) -> list[str]:
    """Builder PATH folders (GOBIN, CARGO_HOME/bin) through which the start command finds an output."""
    progs = _start_programs(facts)
    return [
        d
        for d in build.path_dirs
        if any(
            "/" not in p and any(resolves(p, facts.workdir, o, [d]) and posixpath.dirname(o) == d for o in build.outputs)
            for p in progs
        )
    ]


def _changes(
    doc: Document,
    facts: StageFacts,
    build: Build,
    builder: str,
    image: str | None,
    text: str,
    n_copies: int,
    convert: bool,
    assumptions: list[str],
) -> list[Change]:
    """The builder's `AS` name and edits, and the runtime stage appended at the end of the file."""
    nl = doc.newline
    block = text.strip("\n").replace("\r\n", "\n").replace("\n", nl) + nl
    end = len(doc.text)
    lead = "" if doc.text.endswith("\n") else nl
    safety: Safety = "unsafe" if convert else "review"
    where = ", ".join(build.outputs)
    if n_copies > len(build.outputs):
        where += f" and {n_copies - len(build.outputs)} run-time file(s)"
    explanation = (
        f"split into a `{builder}` stage ({facts.ref.text}) and a runtime stage on {image} that receives only "
        f"{where}" + (f" ({'; '.join(dict.fromkeys(build.notes))})" if build.notes else "")
    )
    if convert:
        explanation += "; shell-form start command converted to exec form for a shell-less image"
    assumption = "; ".join(dict.fromkeys(assumptions))
    changes: list[Change] = []
    if facts.stage.name is None:
        fi = facts.stage.from_instruction
        changes.append(
            Change(
                fi.body_end,
                fi.body_end,
                f" AS {builder}",
                safety,
                f"name the toolchain stage `{builder}`: the new runtime stage copies from it",
                assumption,
            )
        )
    for (start, stop, repl), note in zip(build.edits, build.notes + [""] * len(build.edits)):
        changes.append(Change(start, stop, repl, safety, f"builder edit for the split: {note or repl.strip()}", assumption))
    changes.append(Change(end, end, lead + nl + block, safety, explanation, assumption))
    return changes


def _removed_paths(facts: StageFacts) -> list[str]:
    """Absolute paths a RUN deletes with `rm` (files the final image does not have)."""
    out = []
    for cmd, step in facts.commands():
        if cmd.name != "rm":
            continue
        if any(not w.static for w in cmd.words):
            raise Unsure("`rm` with variable arguments: what the image keeps is not certain")
        out += [abspath(a, step.workdir) for a in cmd.argv if not a.startswith("-") and not _glob(a)]
    return out


def _start_programs(facts: StageFacts) -> list[str]:
    """Program words the container starts (exec form words, or the commands of a shell form)."""
    progs: list[str] = []
    ep, cmd = facts.entrypoint, facts.cmd
    first = ep if ep is not None else cmd
    if first is None:
        return progs
    if first.json_args is not None:
        if first.json_args:
            progs.append(first.json_args[0])
    else:
        script = first.script()
        if script is None or not script.ok:
            raise Unsure(f"{first.keyword} shell form not analysable")
        progs += [c.name_word.value for c in script.commands if c.name_word is not None and c.name_word.static]
    if (
        ep is not None
        and ep.json_args is not None
        and ep.json_args[:1]
        and posixpath.basename(ep.json_args[0]) in ("sh", "bash")
        and "-c" in ep.json_args
    ):
        raise Unsure("ENTRYPOINT runs a shell with a command string")
    return progs


def _prefer_referenced(facts: StageFacts, build: Build) -> None:
    """Of several copies of one artifact (build output + `cp` to a bin dir), keep the one the start command runs."""
    if len(build.outputs) < 2 or build.ecosystem not in ("go", "rust", "c"):
        return
    progs = _start_programs(facts)
    hit = [o for o in build.outputs if any(resolves(p, facts.workdir, o, build.path_dirs) for p in progs)]
    if len(hit) == 1:
        build.outputs = hit


def _simple_shell_start(facts: StageFacts) -> bool:
    for ins in (facts.entrypoint, facts.cmd):
        if ins is None or ins.json_args is not None:
            continue
        if _exec_form_of(ins) is None:
            return False
    return True


def _exec_form_of(ins: Instruction) -> list[str] | None:
    """Exec form of a shell-form CMD/ENTRYPOINT that is one simple command with static words."""
    script = ins.script()
    if script is None or not script.ok or len(script.commands) != 1 or len(script.items) != 1:
        return None
    cmd = script.commands[0]
    if cmd.prefix_words or cmd.name_word is None or not cmd.name_word.static or any(not w.static for w in cmd.words):
        return None
    if script.items[0].node_type != "command":
        return None
    name = cmd.name_word.value
    if name in ("exec",):
        if not cmd.words:
            return None
        return cmd.argv
    return [name] + cmd.argv


@dataclass
class CarriedLine:
    """A line the runtime stage's header repeats; an ARG is kept only when something uses it."""

    text: str
    arg: Instruction | None = None  # the ARG instruction the line declares


def _carried_lines(
    doc: Document, facts: StageFacts, data: dict, user_map: dict, convert: bool
) -> tuple[list[CarriedLine], list[str]]:
    """(header lines: ENV, ARG, LABEL; tail lines: USER, EXPOSE, CMD ...) carried into the runtime stage."""
    from ..imageref import find_vars

    build_env = set(data.get("build_env", []))
    header: list[CarriedLine] = []
    tail: list[str] = []
    for ins in facts.carried:
        raw = ins.raw.replace("\r\n", "\n").rstrip("\n")
        if ins.keyword == "ENV":
            keys = list(ins.key_values())
            # kept when another carried line uses it (ENV PATH=$GOPATH/bin:$PATH)
            used = {n for o in facts.carried if o is not ins and o.keyword != "ARG" for _, _, n in find_vars(o.args)}
            if keys and all(k in build_env and k not in used for k in keys):
                continue
            header.append(CarriedLine(raw))
        elif ins.keyword == "ARG":
            header.append(CarriedLine(raw, ins))
        elif ins.keyword in ("LABEL", "MAINTAINER"):
            header.append(CarriedLine(raw))
        elif ins.keyword == "USER":
            value = ins.args.strip()
            tail.append(f"USER {user_map[value]}" if value in user_map else raw)
        elif ins.keyword in ("CMD", "ENTRYPOINT") and convert and ins.json_args is None:
            argv = _exec_form_of(ins)
            assert argv is not None
            tail.append(f"{ins.keyword} {json.dumps(argv)}")
        else:
            tail.append(raw)
    return header, tail


def _needed_args(doc: Document, facts: StageFacts, header: list[CarriedLine], extra: str) -> list[str]:
    """Keep only ARGs referenced by carried lines; re-declare global ARGs they use."""
    from ..imageref import find_vars

    needed = {name for t in [h.text for h in header if h.arg is None] + [extra] for _, _, name in find_vars(t)}
    args = [h for h in header if h.arg is not None]
    keep: set[int] = set()
    changed = True
    while changed:
        changed = False
        for i, h in enumerate(args):
            assert h.arg is not None
            if i not in keep and set(h.arg.key_values()) & needed:
                keep.add(i)
                needed |= {n for _, _, n in find_vars(h.text)}
                changed = True
    stage_declared = {name for i in keep if (arg := args[i].arg) is not None for name in arg.key_values()}
    env_declared = {name for ins in facts.carried if ins.keyword == "ENV" for name in ins.key_values()}
    out = [
        f"ARG {name}"
        for name in sorted(needed)
        if name in facts.global_args and name not in stage_declared and name not in env_declared
    ]
    kept = {id(args[i]) for i in keep}
    return out + [h.text for h in header if h.arg is None or id(h) in kept]


def _setup(facts: StageFacts, payload: list[str], outputs: list[str]) -> tuple[list[str], dict[str, str]]:
    """mkdir/chown/chmod/ln/touch commands the runtime stage must replay, and owners COPY --chown absorbs.

    A command touching only build-side paths is dropped; `chown -R` of copied paths becomes
    `COPY --chown` (no duplicated layer); `chmod` of copied paths travels with the file mode.
    """
    texts: list[str] = []
    chowns: dict[str, str] = {}
    made: list[str] = []
    for cmd, step in facts.setup:
        if any(not w.static for w in cmd.words):
            raise Unsure(f"`{cmd.name}` with variable arguments")
        argv = cmd.argv
        positional = [a for a in argv if not a.startswith("-")]
        if cmd.name in ("chown", "chmod"):
            spec, paths = (positional[0], positional[1:]) if positional else ("", [])
        else:
            spec, paths = "", positional
        paths_abs = [abspath(p, step.workdir) for p in paths]
        if cmd.name == "mkdir":
            made += paths_abs
        related = [p for p in paths_abs if p in made or any(is_under(x, p) or is_under(p, x) for x in payload)]
        if not related:
            continue
        if len(related) != len(paths_abs):
            raise Unsure(f"`{cmd.name}` touches both run-time and build-only paths")
        copied = all(p in payload for p in paths_abs)
        recursive = any(a in ("-R", "--recursive") or (a.startswith("-") and not a.startswith("--") and "R" in a) for a in argv)
        if cmd.name == "chown" and copied and (recursive or all(p in outputs for p in paths_abs)):
            for p in paths_abs:
                chowns[p] = spec
            continue
        if cmd.name == "chmod" and copied:
            continue  # the mode travels with COPY --from
        # replayed in the runtime stage's WORKDIR: spell every path absolute
        words, k = [cmd.name], 0
        for a in argv:
            if a.startswith("-") or (cmd.name in ("chown", "chmod") and a == spec and k == 0):
                if not a.startswith("-"):
                    k += 1
                words.append(a)
            else:
                words.append(abspath(a, step.workdir))
        texts.append(" ".join(shlex.quote(w) for w in words))
    return texts, chowns


def _check_programs(facts: StageFacts, build: Build, payload: list[str], static: bool, assumptions: list[str]) -> bool:
    """Every program the start command runs must exist in the runtime stage.

    Returns True when it starts a copied script (not a build output): a script needs a shell and
    whatever it calls, so the runtime keeps a shell and the assumption says so.
    """
    tools = runtimes()["runtime_tools"]
    shell_cmds = set(tools["shell_commands"]) | ({"bash"} if build.shell_family != "alpine" else set())
    runs_script = False
    for prog in _start_programs(facts):
        if prog in build.programs:
            continue
        if any(
            resolves(prog, facts.workdir, o, build.path_dirs) or ("/" in prog and is_under(abspath(prog, facts.workdir), o))
            for o in build.outputs
        ):
            continue
        if "/" in prog:
            path = abspath(prog, facts.workdir)
            found = any(is_under(path, p) or (_glob(p) and fnmatch.fnmatchcase(path, p)) for p in payload)
        else:
            found = any(resolves(prog, facts.workdir, p, []) for p in payload)
        if found:
            runs_script = True
            note = f"{prog} needs only what the runtime image has"
            if note not in assumptions:
                assumptions.append(note)
            continue
        if not static and prog in shell_cmds:
            continue
        if "/" in prog:
            raise Unsure(f"the start command runs {prog}, which the runtime stage would not have")
        raise Unsure(f"the start command runs `{prog}`, not known to exist in the runtime image")
    return runs_script
