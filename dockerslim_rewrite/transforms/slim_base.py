"""# slim-base: swap a full base image for its slim variant of the same version

## What it does

For the stages that end up in the final image, replaces a full official base image with its
smaller variant of the **same version and distro release**: `python:3.12` -> `python:3.12-slim`,
`node:20-bookworm` -> `node:20-bookworm-slim`, `eclipse-temurin:21-jdk` -> `eclipse-temurin:21-jre`,
`buildpack-deps:bookworm` -> `debian:bookworm-slim`, `debian:bookworm` -> `debian:bookworm-slim`.
The user's spelling is kept (`docker.io/library/...`, private mirrors declared in
`[tool.dslim] image-aliases`, `python:${PYTHON_VERSION}` -> `python:${PYTHON_VERSION}-slim`).
`FROM ${BASE_IMAGE}` changes the global `ARG BASE_IMAGE=...` default instead. Families, tag
grammar and sizes live in `data/images.toml`.

## Why it saves bytes

The full language images carry a whole build toolchain (gcc, make, -dev headers, git, curl,
ImageMagick...): `python:3.12` is about 1 GB, `python:3.12-slim` about 130 MB.

## Example

```dockerfile
FROM python:3.12                    FROM python:3.12-slim
COPY requirements.txt .       ->    COPY requirements.txt .
RUN pip install -r requirements.txt RUN pip install -r requirements.txt
```

## When it is not applied

Every case below is reported (a skip with its reason). First, two checks on the file itself:
- **ONBUILD**: any `ONBUILD` trigger in the stage or the stages built FROM it. The image is a base
  for other images; its triggers (`ONBUILD RUN bundle install`) run in every child build, which
  needs the full image's compilers and -dev headers: left alone.
- **base images**: no stage of the file declares CMD or ENTRYPOINT, and the stages that reach the
  final image copy no application files in (only shell scripts, files into /usr/local/bin or /etc,
  downloads, or tools `COPY --from=<image>`). Such a file builds a toolbox (buildpack-deps-like, a
  CI image): what the full base has installed is its whole offer, so it is left alone. An image
  that copies an app in but has no CMD still runs the base's CMD (python3, node, irb): it is an
  app image and is analysed as usual.

Then a needs analysis looks at every RUN, CMD, ENTRYPOINT and HEALTHCHECK of the stage and of the
stages built FROM it (`FROM base AS runtime`):
- a full-image-only tool used to **build** (gcc, make, git, `pip install` of a package that builds
  from source, `bundle install`, `cpanm`, `cargo build`, npm native addons) and not installed by
  the stage itself: left alone, reported as a case for `multi-stage`; a stage that installs its own
  compiler must also install the -dev headers its packages build against (`pg` gem: libpq-dev);
- **JDK -> JRE**: the JRE has neither the JDK tools (javac, jar, jlink, jpackage, ...) nor
  include/jni.h. A stage that runs a JDK tool or builds native code (configure, make, cmake, gcc,
  `-I$JAVA_HOME/include`, ...; data/images.toml `[jdk_native_build]`) keeps the JDK: build in a JDK
  stage and copy the result into a JRE stage (`multi-stage`);
- a tool needed at **run time** (e.g. `HEALTHCHECK CMD curl ...`): swapped, and exactly that tool is
  installed on the slim image (`review`); compilers needed at run time: left alone;
- **app dependencies that need a system library at run time**: the manifests the Dockerfile installs
  from the build context (package.json; requirements files, pyproject.toml, setup.py/cfg, Pipfile;
  Gemfile.lock or Gemfile) are checked against data/runtime_needs.toml (e.g. `@prisma/client` ->
  openssl, `psycopg` 3 -> libpq5, `mini_magick` -> imagemagick). The image is swapped and exactly
  those Debian packages are installed (`review`), unless the stage already installs them (or their
  -dev package). When the package name depends on the Debian release and the tag names a release
  the table lacks (or names none and the names differ), it is left alone;
- inputs it cannot see (a requirements file not in the build context, a RUN it cannot parse);
- digest-pinned bases (`@sha256:`): a slim digest must be chosen by the user;
- build-tool images in the final image (maven, gradle, dotnet/sdk) and images without a slim
  variant (golang): reported for `multi-stage`; unknown images: untouched.

## Limits

Scripts run by the image (entrypoint.sh, Makefiles) are not read: a tool they call is invisible.
Stages that do not reach the final image are never changed (their size does not ship).
Manifests are read only where the Dockerfile installs from them (npm/pip/bundle commands); a
node_modules or vendor folder copied in ready-made is not checked. Versions are not compared
(pycurl wheels bundle libcurl only since 7.45.3), and requirement extras are not seen
(`psycopg[binary]` in a requirements file still gets libpq5, which is harmless). The JRE rule
is coarse: any native build in the stage keeps the JDK, JNI or not.

## Fix safety

`review`: the assumptions are stated, e.g. "all requirements install from wheels". Minimal RHEL-like
variants (microdnf) are `unsafe`. With `--unsafe-fixes`, stages that use no apt/dpkg/bash-only
tooling move to the alpine variant instead (`unsafe`: musl libc, apk). The version never changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..catalog import Family, distro_release, family_of, find_variant, load_catalog, saving_mb, size_mb, tool_group_of
from ..contextpaths import ContextPaths
from ..datafiles import data_toml
from ..imageref import ImageRef, find_vars, parse_image_ref
from ..model import Document, Instruction, Stage, split_words, unquote
from ..pybuild import BuildNeeds, analyse_pipfile, analyse_project, analyse_requirement_lines, python_module, specs_from_argv
from ..shell import Command, analyse, parse_options, positional_args
from ..transform import Change, Context, Safety, Skip, transform

ID = "slim-base"

_SCRIPT_SUFFIXES = (".sh", ".bash")
# destinations that hold tools and configuration, not an application (see _copies_app_files)
_TOOL_DIRS = (
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/bin",
    "/sbin",
    "/etc",
    "/usr/local/etc",
    "/docker-entrypoint.d",
    "/usr/local/share/ca-certificates",
)

_INSTALL_VERBS = {
    "apt-get": ("install",),
    "apt": ("install",),
    "aptitude": ("install",),
    "apk": ("add",),
    "dnf": ("install",),
    "yum": ("install",),
    "microdnf": ("install",),
}


# --------------------------------------------------------------------------- small predicates


def _installed_packages(cmd: Command) -> list[str]:
    """Package names installed by an apt-get/apk/dnf command (versions and arch suffixes dropped)."""
    verbs = _INSTALL_VERBS.get(cmd.name)
    args = positional_args(cmd)
    if not verbs or not args or args[0] not in verbs:
        return []
    out = []
    for word in args[1:]:
        name = word.split("=", 1)[0].split(":", 1)[0]
        if name and "$" not in name:
            out.append(name)
    return out


def _is_pip_install(cmd: Command) -> list[str] | None:
    """The argv after `install` for pip / python -m pip / uv pip; None when not a pip install."""
    argv = cmd.argv
    name = cmd.name
    if name.startswith("pip") and (name[3:] == "" or name[3:].replace(".", "").isdigit()):
        rest = argv
    elif name.startswith("python") and (module := python_module(argv)) is not None and module[0] == "pip":
        rest = argv[module[1] :]
    elif name == "uv" and argv[:1] == ["pip"]:
        rest = argv[1:]
    else:
        return None
    if not rest or rest[0] != "install":
        return None
    return rest[1:]


def _runtime_table(ecosystem: str) -> dict:
    """data/runtime_needs.toml [npm] / [pypi] / [gems]: dependency -> what it needs from the full image."""
    return data_toml("runtime_needs.toml").get(ecosystem, {})


def _jdk_native_build() -> dict:
    """data/images.toml [jdk_native_build]: commands and words that mean "builds against the JDK"."""
    return data_toml("images.toml").get("jdk_native_build", {})


def _dev_provides(release: str | None) -> dict[str, str]:
    """-dev package -> the run-time library it depends on (data/runtime_libs.toml), for `release`."""
    apt = data_toml("runtime_libs.toml").get("apt", {})
    out = dict(apt.get("common", {}))
    if release:
        out.update(apt.get(release, {}))
    return out


def _lockfile_gems(text: str) -> dict[str, bool]:
    """Gemfile.lock specs: gem name -> True when a precompiled linux (glibc) platform gem is locked."""
    gems: dict[str, bool] = {}
    in_specs = False
    for line in text.splitlines():
        if not line.startswith(" "):
            in_specs = False
            continue
        if line.strip() == "specs:":
            in_specs = True
            continue
        if not in_specs or not line.startswith("    ") or line.startswith("     "):
            continue
        name, _, version = line.strip().partition(" ")
        version = version.strip("()")
        precompiled = "-" in version and "linux" in version and "musl" not in version
        gems[name] = gems.get(name, False) or precompiled
    return gems


def _gemfile_gems(text: str) -> dict[str, bool]:
    """`gem "name"` lines of a Gemfile (no lockfile: whether a platform gem is picked is unknown)."""
    return {m.group(1): False for m in re.finditer(r"""^\s*gem\s*\(?\s*["']([A-Za-z0-9_.-]+)["']""", text, re.MULTILINE)}


def _copies_app_files(doc: Document, ins: Instruction) -> bool:
    """Does a COPY/ADD bring an application in (rather than a script, config, or a tool from an image)?

    - heredoc bodies, ADD of a URL, `COPY --from=<image>` (a tool binary): no;
    - `COPY --from=<stage of this file>`: yes (a built artifact);
    - from the build context: yes unless every source is a shell script or the destination is a
      tool/config directory (/usr/local/bin, /etc, ...).
    """
    if ins.heredocs:
        return False
    words = ins.words()
    if len(words) < 2:
        return False
    src_stage = ins.flag("from")
    if src_stage is not None:
        return any(st.name == src_stage or str(st.index) == src_stage for st in doc.stages)
    dest = words[-1]
    if dest.startswith("/") and any(dest == d or dest.startswith(d + "/") for d in _TOOL_DIRS):
        return False
    for src in words[:-1]:
        if ins.keyword == "ADD" and src.startswith(("http://", "https://", "git@")):
            continue
        if src.endswith(_SCRIPT_SUFFIXES):
            continue
        return True
    return False


def base_image_reason(doc: Document, reaching: frozenset[int]) -> str | None:
    """Why the file looks like it builds a BASE image (for other images), or None.

    The rule: no stage of the file declares CMD or ENTRYPOINT, and the stages that reach the final
    image copy no application files in (only scripts, config, or tools from other images). Such an
    image's whole value is what it has installed (buildpack-deps-like toolchains, CI images): the
    full base IS its contract, and users run their own commands in it or build FROM it.
    """
    if any(ins.keyword in ("CMD", "ENTRYPOINT") for ins in doc.instructions):
        return None
    for index in sorted(reaching):
        for ins in doc.stages[index].instructions:
            if ins.keyword in ("COPY", "ADD") and _copies_app_files(doc, ins):
                return None
    return (
        "the file builds a base image (no CMD or ENTRYPOINT in any stage and no application files copied in):"
        " what the full base has installed is what the image offers to the commands run in it and to the images"
        " built FROM it"
    )


def _published_variant_reason(ctx: Context) -> str | None:
    """A folder that holds this Dockerfile and a slim one beside it publishes both variants on purpose."""
    snapshot = ctx.build_context
    name = ctx.dockerfile_name.rsplit("/", 1)[-1]
    if snapshot is None or "slim" in name.lower():
        return None
    folder = ctx.dockerfile_name.rsplit("/", 1)[0] + "/" if "/" in ctx.dockerfile_name else ""
    for other in snapshot.dockerfiles():
        if other.startswith(folder) and "/" not in other[len(folder) :] and "slim" in other[len(folder) :].lower():
            return f"{other} beside it is the slim variant: this file publishes the full one on purpose"
    return None


def _unknown_java_app_reason(doc: Document, stages: list[Stage], reaching: frozenset[int]) -> str | None:
    """JDK -> JRE only when the image starts `java` itself: a start script or a downloaded application
    may call JDK tools (jar, jcmd, javac) or load jdk.* modules the JRE leaves out."""
    for stage in stages:
        if stage.index not in reaching:
            continue
        entrypoints = [i for i in stage.instructions if i.keyword == "ENTRYPOINT"]
        start = entrypoints or [i for i in stage.instructions if i.keyword == "CMD"]
        argv = start[-1].words() if start else []
        if not start or not argv or argv[0].rsplit("/", 1)[-1] != "java" or not start[-1].is_exec_form:
            shown = " ".join(argv[:3]) if argv else "none in this file"
            return (
                f"the image does not start `java` itself (start command: {shown}): what it runs may use JDK tools"
                " (jar, jcmd, javac) or jdk.* modules the JRE lacks"
            )
    return None


def _onbuild_reason(stages: list[Stage]) -> str | None:
    """Why an ONBUILD trigger in these stages keeps the full base, or None."""
    triggers = [ins for stage in stages for ins in stage.instructions if ins.keyword == "ONBUILD"]
    if not triggers:
        return None
    # name a trigger that runs something (ONBUILD RUN) when there is one: that is what needs the toolchain
    ins = min(triggers, key=lambda t: (not t.args.lstrip().upper().startswith("RUN"), t.start))
    body = " ".join(ins.args.split())
    if len(body) > 60:
        body = body[:57] + "..."
    return (
        f"line {ins.line}: `ONBUILD {body}` runs in the build of every image made FROM this one; the image"
        " is a base for others, and what their builds need from the full image (compilers, -dev"
        " headers, git) is part of its contract"
    )


@dataclass
class _Need:
    group: str  # tool group name, or "python"/"node"/"ruby"/... for ecosystem builds
    when: str  # "build" or "run"
    line: int
    why: str
    packages: tuple[str, ...] = ()  # explicit Debian packages (run-time libraries), else the group's install


@dataclass
class _Findings:
    needs: list[_Need] = field(default_factory=list)
    unknown: list[tuple[int, str]] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    not_alpine: list[str] = field(default_factory=list)
    blocked: list[tuple[int, str]] = field(default_factory=list)  # reasons the variant cannot work at all
    pip: bool = False

    def assume(self, text: str) -> None:
        if text not in self.assumptions:
            self.assumptions.append(text)


# --------------------------------------------------------------------------- needs analysis


class _Analyser:
    def __init__(self, doc: Document, ctx: Context, family: Family, release: str | None = None):
        self.doc, self.ctx, self.family = doc, ctx, family
        self.release = release  # Debian release the tag names (None: the image's default)
        self.dev_libs = _dev_provides(release)
        self.cat = load_catalog()
        self.full_only = set(family.full_only)
        self.not_alpine = set(self.cat.meta["not_alpine_commands"])
        self.out = _Findings()

    def run(self, stages: list[Stage], reaching: frozenset[int]) -> _Findings:
        allowed = {s.index for s in stages}
        # state (packages installed, paths copied) at the end of each analysed stage: a child starts
        # from its parent's, so a chain of stages is walked once, not once per stage
        after: dict[int, tuple[list[tuple[tuple[int, int], str]], str, list[tuple[str, str, bool]]]] = {}
        for stage in sorted(stages, key=lambda s: s.index):
            installed: list[tuple[tuple[int, int], str]] = []
            paths = ContextPaths(self.ctx.build_context)
            if stage.parent in allowed and stage.parent in after:
                parent_installed, paths.workdir, parent_copies = after[stage.parent]
                installed, paths.copies = list(parent_installed), list(parent_copies)
            else:
                for st in self._chain(stage, allowed)[:-1]:  # ancestors outside this analysis order
                    for ins in st.instructions:
                        self._instruction(ins, installed, paths, run_time=False, own=False)
            for ins in stage.instructions:
                self._instruction(ins, installed, paths, run_time=stage.index in reaching, own=True)
            after[stage.index] = (installed, paths.workdir, paths.copies)
        return self.out

    def _chain(self, stage: Stage, allowed: set[int]) -> list[Stage]:
        chain = [stage]
        while chain[0].parent is not None and chain[0].parent in allowed:
            chain.insert(0, self.doc.stages[chain[0].parent])
        return chain

    def _instruction(self, ins: Instruction, installed, paths: ContextPaths, run_time: bool, own: bool) -> None:
        kw = ins.keyword
        if kw == "SHELL" and ins.json_args:
            shell = ins.json_args[0].rsplit("/", 1)[-1]
            if shell != "sh":
                self.out.not_alpine.append(f"SHELL {shell}")
        if kw in ("WORKDIR", "COPY", "ADD"):
            paths.on_instruction(ins)
            return
        if kw == "RUN":
            # an ancestor's RUNs are analysed with the ancestor itself; here only its installs count
            for cmd, start in self._commands(ins, ins.json_args, quiet=not own):
                if own:
                    self._use(cmd, ins, (ins.start, start), installed, "build", paths)
                for pkg in _installed_packages(cmd):
                    installed.append(((ins.start, start), pkg))
        elif kw in ("CMD", "ENTRYPOINT", "HEALTHCHECK") and run_time:
            argv = ins.json_args
            if kw == "HEALTHCHECK":
                body = ins.args.strip()
                if body.upper().startswith("NONE"):
                    return
                if body.upper().startswith("CMD"):
                    body = body[3:].strip()
                argv = None
                if body.startswith("["):
                    try:
                        argv = json.loads(body)
                    except ValueError:
                        argv = None
                cmds = self._commands(ins, argv, body if argv is None else None)
            else:
                cmds = self._commands(ins, argv)
            for cmd, start in cmds:
                self._use(cmd, ins, (ins.end, start), installed, "run", paths)

    def _commands(self, ins: Instruction, argv: list[str] | None, shell_body: str | None = None, quiet: bool = False):
        """(Command, offset) pairs of an instruction body: shell form via tree-sitter, exec form from argv."""
        if quiet:
            script = ins.script() if argv is None else None
            return [(c, c.start) for c in script.commands if c.name] if script is not None and script.ok else []
        if argv is not None:
            if not argv:
                return []
            name = argv[0].rsplit("/", 1)[-1]
            if name in ("sh", "bash", "dash", "ash") and len(argv) >= 3 and argv[1] in ("-c", "-ec", "-ex", "-xc"):
                script = analyse(argv[2])
                if name != "sh":
                    self.out.not_alpine.append(name)
                return self._script_cmds(ins, script)
            fake = analyse(" ".join(_shell_quote(a) for a in argv))
            return self._script_cmds(ins, fake)
        if shell_body is not None:
            return self._script_cmds(ins, analyse(shell_body) if ins.shell_form_posix else None)
        script = ins.script()
        if ins.heredocs:
            self.out.unknown.append((ins.line, "RUN with a heredoc body is not analysed"))
            return []
        return self._script_cmds(ins, script)

    def _script_cmds(self, ins: Instruction, script):
        if script is None or not script.ok:
            self.out.unknown.append((ins.line, f"{ins.keyword} at line {ins.line} could not be parsed as a POSIX shell script"))
            return []
        return [(c, c.start) for c in script.commands if c.name]

    def _provided(self, packages, installed, pos) -> bool:
        return any(p < pos and name in packages for p, name in installed)

    def _lib_provided(self, package: str, installed, pos) -> bool:
        """A run-time library installed by the stage itself, or pulled in by a -dev package it installs."""
        return any(p < pos and (name == package or self.dev_libs.get(name) == package) for p, name in installed)

    def _run_packages(self, entry: dict) -> tuple[str, ...] | None:
        """The entry's run-time Debian packages on this release; None when the name is not known for it."""
        run = entry.get("run", [])
        if isinstance(run, list):
            return tuple(run)
        if self.release is not None:
            return tuple(run[self.release]) if self.release in run else None
        names = {tuple(v) for v in run.values()}
        return names.pop() if len(names) == 1 else None

    def _table_needs(self, ecosystem: str, names, ins, pos, installed, label: str) -> None:
        """Run-time libraries of app dependencies (data/runtime_needs.toml) the slim image lacks."""
        table = _runtime_table(ecosystem)
        for name in names:
            entry = table.get(name)
            if entry is None or not entry.get("run"):
                continue
            if any(other in names for other in entry.get("unless", ())):
                continue
            packages = self._run_packages(entry)
            if packages is None:
                where = f"Debian {self.release}" if self.release else "the image's Debian release (the tag names none)"
                why = (
                    f"{label} {name}: {entry.get('why', 'needs a system library')}, and the run-time package name"
                    f" on {where} is not in data/runtime_needs.toml"
                )
                self.out.blocked.append((ins.line, why))
                continue
            missing = tuple(p for p in packages if not self._lib_provided(p, installed, pos))
            if missing:
                self.out.needs.append(
                    _Need(f"{ecosystem}-runtime", "run", ins.line, f"{label} {name} ({entry.get('why', '')})", missing)
                )

    def _jdk_build(self, cmd: Command, ins: Instruction) -> None:
        """JDK -> JRE: native builds in the stage may compile JNI code against the JDK's include/."""
        data = _jdk_native_build()
        marker = next((m for w in cmd.argv for m in data.get("markers", ()) if m in w), None)
        if cmd.name in data.get("commands", ()) or marker:
            what = f"`{cmd.name}` builds native code" + (f" against the JDK (`{marker}`)" if marker else "")
            self.out.needs.append(_Need("jdk-native", "build", ins.line, what))

    def _use(self, cmd: Command, ins: Instruction, pos, installed, when: str, paths: ContextPaths) -> None:
        name = cmd.name
        if name in self.not_alpine:
            self.out.not_alpine.append(name)
        if name in self.family.not_with_commands:
            self.out.blocked.append((ins.line, f"the stage runs `{name}`, and the {self.family.variant} image has microdnf only"))
        group = tool_group_of(name)
        if group is not None and group.name in self.full_only and not self._provided(set(group.packages), installed, pos):
            self.out.needs.append(_Need(group.name, when, ins.line, f"`{name}` ({group.name})"))
        elif self.family.variant == "jre":
            self._jdk_build(cmd, ins)
        self._ecosystem(cmd, ins, pos, installed, paths)  # at build or at run time: both need the toolchain

    def _compiler_installed(self, installed, pos) -> bool:
        tools = self.cat.tools
        return (
            self._provided(set(tools["compiler"].packages), installed, pos)
            and self._provided(set(tools["make"].packages), installed, pos)
            or self._provided({"build-essential"}, installed, pos)
        )

    def _build_need(self, ecosystem: str, ins: Instruction, why: str, installed, pos, headers=()) -> None:
        if "compiler" not in self.full_only:
            return
        if self._compiler_installed(installed, pos) and all(self._provided({h}, installed, pos) for h in headers):
            self.out.assume(f"the compilers and headers the stage installs are enough for its {ecosystem} builds")
            return
        self.out.needs.append(_Need(ecosystem, "build", ins.line, why))

    def _ecosystem(self, cmd: Command, ins: Instruction, pos, installed, paths: ContextPaths) -> None:
        eco = self.family.ecosystem
        argv = cmd.argv
        pip_args = _is_pip_install(cmd)
        if pip_args is not None or (cmd.name in ("python", "python3") and argv[:1] == ["setup.py"]):
            self._python(cmd, ins, pos, installed, paths, pip_args)
        elif cmd.name in ("poetry", "pdm") and argv[:1] == ["install"] or cmd.name == "uv" and argv[:1] == ["sync"]:
            self._python_project(ins, pos, installed, paths, "pyproject.toml")
        elif cmd.name == "pipenv" and argv[:1] in (["install"], ["sync"]):
            self._python_project(ins, pos, installed, paths, "Pipfile")
        elif eco == "node" and cmd.name in ("npm", "yarn", "pnpm"):
            self._node(cmd, ins, pos, installed, paths)
        elif eco == "ruby" and (
            cmd.name in ("bundle", "bundler") and argv[:1] in ([], ["install"]) or cmd.name == "gem" and argv[:1] == ["install"]
        ):
            gems = positional_args(cmd)[1:] if cmd.name == "gem" else []
            if cmd.name == "gem" and gems and all(g.split(":")[0] in self.cat.ruby_pure for g in gems):
                return
            self._ruby(cmd, ins, pos, installed, paths, [g.split(":")[0] for g in gems])
        elif eco == "perl" and cmd.name in ("cpanm", "cpan", "carton"):
            self._build_need("perl", ins, f"`{cmd.name}` builds XS modules (gcc, make are not in the slim image)", installed, pos)
        elif (
            eco == "rust"
            and cmd.name == "cargo"
            and argv[:1]
            and argv[0] in ("build", "install", "run", "test", "check", "clippy", "bench", "doc")
        ):
            self.out.needs.append(
                _Need(
                    "rust",
                    "build",
                    ins.line,
                    f"`cargo {argv[0]}` builds in the final image (crates may need pkg-config and -dev headers)",
                )
            )
        elif eco == "go" and cmd.name == "go" and argv[:1] and argv[0] in ("build", "install", "test", "generate", "run"):
            self.out.needs.append(_Need("go", "build", ins.line, f"`go {argv[0]}` builds in the final image"))

    def _ruby(self, cmd, ins, pos, installed, paths, gem_args: list[str]) -> None:
        """`bundle install` / `gem install`: native extensions need gcc, make and the gems' -dev headers."""
        if gem_args:
            gems = {g: False for g in gem_args}
        else:
            read = paths.reader(paths.bind_mounts(ins))
            lock = read("Gemfile.lock")
            gemfile = read("Gemfile") if lock is None else None
            gems = _lockfile_gems(lock) if lock is not None else _gemfile_gems(gemfile) if gemfile is not None else {}
        table = _runtime_table("gems")
        headers: list[str] = []
        details: list[str] = []
        for name, precompiled in gems.items():
            entry = table.get(name)
            if entry is None or entry.get("build") != "source" or precompiled:
                continue
            new = [h for h in entry.get("headers", ()) if h not in headers]
            headers += new
            details.append(f"{name} needs {' '.join(entry.get('headers', ())) or 'a C compiler'}")
        why = f"`{cmd.name} install` compiles native gem extensions (gcc, make and headers are not in the slim image)"
        if details:
            why += f"; {', '.join(details)}"
        self._build_need("ruby", ins, why, installed, pos, headers)
        self._table_needs("gems", list(gems), ins, pos, installed, "gem")

    def _python(self, cmd, ins, pos, installed, paths, pip_args) -> None:
        self.out.pip = True
        if pip_args is None:  # python setup.py ...
            specs = ["."]
        else:
            specs = specs_from_argv(pip_args)
            if any(w in ("--help", "-h") for w in pip_args):
                return
        if not specs:
            return
        extra = paths.bind_mounts(ins)
        needs = analyse_requirement_lines(specs, f"line {ins.line}", paths.reader(extra), paths.workdir)
        self._python_needs(needs, ins, pos, installed)

    def _python_project(self, ins, pos, installed, paths, filename) -> None:
        self.out.pip = True
        extra = paths.bind_mounts(ins)
        read = paths.reader(extra)
        if filename == "Pipfile":
            text = read("Pipfile")
            needs = analyse_pipfile(text) if text is not None else BuildNeeds(unknown=["Pipfile"])
        else:
            needs = analyse_project(read, paths.workdir)
        self._python_needs(needs, ins, pos, installed)

    def _python_needs(self, needs: BuildNeeds, ins, pos, installed) -> None:
        for item in needs.unknown:
            self.out.unknown.append(
                (ins.line, f"cannot read {item} from the build context: whether the Python install builds from source is unknown")
            )
        if needs.git and "git" in self.full_only and not self._provided(set(self.cat.tools["git"].packages), installed, pos):
            self.out.needs.append(_Need("git", "build", ins.line, "; ".join(needs.git)))
        if needs.compiler:
            self._build_need("python", ins, "; ".join(needs.compiler), installed, pos, needs.headers)
        missing = tuple(p for p in needs.runtime if not self._lib_provided(p, installed, pos))
        if missing:
            self.out.needs.append(_Need("python-runtime", "run", ins.line, "; ".join(needs.runtime_why), missing))
        self._table_needs("pypi", needs.requirements, ins, pos, installed, "requirement")
        self.out.assume("all Python requirements install from wheels (no source builds)")

    def _node(self, cmd, ins, pos, installed, paths) -> None:
        argv = cmd.argv
        sub = argv[0] if argv else ("install" if cmd.name == "yarn" else "")
        if sub not in ("install", "i", "ci", "add", "rebuild") and not (cmd.name == "yarn" and not argv):
            return
        natives = set(self.cat.native_addons.get("node", ()))
        parsed = parse_options(cmd.words, cmd.name)
        operands = [w.value for w in parsed.operands][1:]
        names = [a.split("@")[0] if not a.startswith("@") else "@" + a[1:].split("@")[0] for a in operands]
        found = [n for n in names if n in natives]
        extra = paths.bind_mounts(ins)
        text = paths.reader(extra)("package.json")
        global_only = bool(names) and parsed.has("-g", "--global")  # `npm i -g pnpm` reads no package.json
        if text is None and not global_only:
            self.out.unknown.append(
                (ins.line, "cannot read package.json from the build context: whether npm builds native addons is unknown")
            )
            return
        if text is not None:
            try:
                pkg = json.loads(text)
            except ValueError:
                self.out.unknown.append((ins.line, "package.json is not valid JSON"))
                return
            deps = {}
            for key in ("dependencies", "devDependencies", "optionalDependencies"):
                if isinstance(pkg.get(key), dict):
                    deps.update(pkg[key])
            found += [n for n in deps if n in natives and n not in found]
            scripts = pkg.get("scripts") if isinstance(pkg.get("scripts"), dict) else {}
            if pkg.get("gypfile") or any("node-gyp" in str(scripts.get(k, "")) for k in ("preinstall", "install", "postinstall")):
                found.append("node-gyp (package.json)")
        else:
            deps = {}
        table = _runtime_table("npm")
        all_names = list(dict.fromkeys(names + list(deps)))
        found += [n for n in all_names if table.get(n, {}).get("build") == "source" and n not in found]
        headers: list[str] = []
        for n in found:
            headers += [h for h in table.get(n, {}).get("headers", ()) if h not in headers]
        if found:
            self._build_need(
                "node",
                ins,
                f"npm dependencies {', '.join(found)} build native addons (node-gyp needs python3, make, g++)",
                installed,
                pos,
                headers,
            )
        self._table_needs("npm", all_names, ins, pos, installed, "npm dependency")
        self.out.assume("no npm dependency compiles a native addon (node-gyp needs python3, make and g++, absent from slim)")


def _shell_quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


# --------------------------------------------------------------------------- edits


def _word_span(ins: Instruction, index: int) -> tuple[str, int, int] | None:
    words = split_words(ins.args, ins.doc.escape)
    if len(words) <= index:
        return None
    text, s, e = words[index]
    return text, ins.doc_offset(s), ins.doc_offset(e - 1) + 1


@dataclass
class _Target:
    """What one edit changes: a FROM image word or a global ARG default, and the stages it affects."""

    ref: ImageRef
    start: int
    end: int
    quote: str
    line: int
    stages: list[Stage]
    via_arg: str | None = None

    def __init__(  # written out to be compiled: see setup.py
        self,
        ref: ImageRef,
        start: int,
        end: int,
        quote: str,
        line: int,
        stages: list[Stage],
        via_arg: str | None = None,
    ) -> None:
        self.ref = ref
        self.start = start
        self.end = end
        self.quote = quote
        self.line = line
        self.stages = stages
        self.via_arg = via_arg


def _global_args(doc: Document) -> dict[str, tuple[Instruction, str, str | None]]:
    """Global ARG name -> (instruction, word text, default or None). The last declaration wins."""
    out: dict[str, tuple[Instruction, str, str | None]] = {}
    for ins in doc.instructions:
        if ins.stage != -1 or ins.keyword != "ARG":
            continue
        for word, _, _ in split_words(ins.args, doc.escape):
            name, eq, value = word.partition("=")
            out[name] = (ins, word, unquote(value, doc.escape) if eq else None)
    return out


def _arg_value_span(ins: Instruction, name: str) -> tuple[int, int, str] | None:
    for word, s, e in split_words(ins.args, ins.doc.escape):
        if word.startswith(name + "="):
            vs = s + len(name) + 1
            value = word[len(name) + 1 :]
            quote = value[0] if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) >= 2 else ""
            if quote:
                vs, ve = vs + 1, e - 1
            else:
                ve = e
            if any(ch in value for ch in ("\\", "`")) or (not quote and any(q in value for q in "'\"")):
                return None
            return ins.doc_offset(vs), ins.doc_offset(ve - 1) + 1, quote
    return None


def _targets(doc: Document, ctx: Context, skips: list[Skip]) -> list[_Target]:
    reaching = ctx.shipping_stages(doc)
    args = _global_args(doc)
    aliases = ctx.options.image_aliases or None
    by_arg: dict[str, list[Stage]] = {}
    targets = []
    for stage in doc.stages:
        if stage.parent is not None or stage.index not in reaching:
            continue
        ins = stage.from_instruction
        span = _word_span(ins, 0)
        if span is None or span[0] != stage.base:
            continue  # quoted or escaped image word: not edited
        try:
            ref = parse_image_ref(stage.base)
        except ValueError:
            continue
        if ref.is_whole_arg:
            name = find_vars(stage.base)[0][2]
            by_arg.setdefault(name, [])
            continue
        try:
            ref = parse_image_ref(stage.base, aliases)
        except ValueError:
            continue
        targets.append(_Target(ref, span[1], span[2], "", ins.line, [stage]))
    for name in by_arg:
        if name not in args or args[name][2] is None:
            continue
        arg_ins, _, default = args[name]
        users = [s for s in doc.stages if any(n == name for _, _, n in find_vars(s.base))]
        if any(not parse_image_ref(s.base).is_whole_arg for s in users):
            skips.append(Skip(arg_ins.line, f"ARG {name} is used in more than one way by FROM lines; its default is left alone"))
            continue
        value_span = _arg_value_span(arg_ins, name)
        if value_span is None or not default:
            continue
        try:
            ref = parse_image_ref(default, aliases)
        except ValueError:
            continue
        targets.append(_Target(ref, value_span[0], value_span[1], value_span[2], arg_ins.line, users, via_arg=name))
    return targets


def _describe_sizes(family: Family, variant: str) -> str:
    saved = saving_mb(family, variant)
    if saved is None or saved <= 0:
        return ""
    meta = load_catalog().meta
    return (
        f" (about {size_mb(family, 'full')} MB -> {size_mb(family, variant)} MB, ~{saved} MB less;"
        f" sizes approximate, {meta['sizes_taken']})"
    )


@transform(ID)
def slim_base(doc: Document, ctx: Context) -> Iterator[Change | Skip]:
    skips: list[Skip] = []
    targets = _targets(doc, ctx, skips)
    yield from skips
    args = _global_args(doc)
    reaching = ctx.shipping_stages(doc)
    for target in targets:
        yield from _one(doc, ctx, target, args, reaching)


def _one(doc: Document, ctx: Context, target: _Target, args, reaching) -> Iterator[Change | Skip]:
    ref = target.ref
    family = family_of(ref)
    if family is None:
        return
    shown = ref.text
    arg_values = {name: args[name][2] if name in args else None for _, _, name in find_vars(ref.text)}
    if ref.digest is not None:
        undigested = parse_image_ref(ref.text.split("@", 1)[0], ctx.options.image_aliases or None)
        v = find_variant(undigested, "slim", arg_values)
        if v is not None:
            yield Skip(
                target.line,
                f"{shown} is pinned by digest: a smaller variant exists ({v.new_text}) but its digest"
                " must be chosen by you; the pinned base is left unchanged",
            )
        return
    if family.build_only:
        yield Skip(target.line, f"{shown}: {family.note}")
        return
    tag = ref.effective_tag
    small = family.is_small(tag) and not find_vars(tag)
    want_alpine = ctx.options.unsafe_fixes and bool(family.alpine_rules)
    variant = None if small else find_variant(ref, "slim", arg_values)
    alpine = find_variant(ref, "alpine", arg_values) if want_alpine else None
    if variant is None and alpine is None:
        if not small and family.note:
            yield Skip(target.line, f"{shown}: {family.note}")
        elif not small and family.rules and find_vars(tag):
            values = ", ".join(f"{k}={v}" if v is not None else k for k, v in arg_values.items())
            yield Skip(
                target.line,
                f"{shown}: the tag comes from ARG ({values}) in a form the slim suffix cannot be"
                " added to without changing the ARG; left alone",
            )
        elif not small and family.rules:
            yield Skip(target.line, f"{shown}: tag {tag!r} is not in the image catalog's tag grammar; left alone")
        return

    all_stages = [doc.stages[i] for i in sorted({d for s in target.stages for d in doc.descendants(s.index)})]
    reasons = (
        _onbuild_reason(all_stages),
        base_image_reason(doc, reaching),
        _published_variant_reason(ctx),
        _unknown_java_app_reason(doc, all_stages, reaching) if variant is not None and variant.kind == "jre" else None,
    )
    for reason in reasons:
        if reason:
            yield Skip(target.line, f"{shown} not swapped: {reason}")
            return
    findings = _Analyser(doc, ctx, family, distro_release(ref)).run(all_stages, reaching)
    for line, why in findings.unknown[:1] + findings.blocked[:1]:
        yield Skip(line, f"{shown} not swapped: {why}")
    if findings.unknown or findings.blocked:
        return
    build = [n for n in findings.needs if n.when == "build"]
    run = [n for n in findings.needs if n.when == "run"]
    tools = load_catalog().tools

    # alpine (unsafe, --unsafe-fixes only): nothing full-only needed, nothing Debian/glibc-specific used
    if (
        alpine is not None
        and not build
        and not run
        and not findings.not_alpine
        and family.pm in ("apt", "apk")
        and not findings.pip
    ):
        yield _swap(
            target,
            alpine,
            "unsafe",
            family,
            f"{shown} -> {alpine.new_text}: alpine variant of the same version{_describe_sizes(family, 'alpine')}",
            "the software runs on musl libc and needs no Debian package (apt) or bash",
        )
        return
    if variant is None:
        return
    if build:
        why = "; ".join(dict.fromkeys(f"line {n.line}: {n.why}" for n in build))
        if any(n.group == "jdk-native" for n in build):
            why += f"; native (JNI) builds compile against the JDK's include/jni.h, which the {variant.kind} image does not have"
        yield Skip(
            target.line,
            f"{shown} not swapped: the build needs what only the full image has ({why});"
            " build in a full-image stage and copy the result into a slim stage (multi-stage)",
        )
        return
    installs: list[str] = []
    for need in run:
        group = tools.get(need.group)
        if need.packages and family.pm == "apt":
            installs.extend(p for p in need.packages if p not in installs)
            continue
        if group is None or group.build_only or not group.install or family.pm != "apt":
            yield Skip(
                need.line,
                f"{shown} not swapped: the final image needs {need.why} at run time, which the {variant.kind} image lacks",
            )
            return
        for pkg in group.install:
            if pkg not in installs:
                installs.append(pkg)
    assumptions = list(findings.assumptions)
    if family.assumption:
        assumptions.insert(0, family.assumption)
    lacking = [tools[g].commands[0] for g in family.full_only]
    if lacking:
        more = ", ..." if len(lacking) > 6 else ""
        assumptions.insert(
            0,
            f"nothing run from the image (scripts included) needs tools or shared libraries only {shown} has"
            f" ({', '.join(lacking[:6])}{more})",
        )
    for name in variant.assumed_args:
        assumptions.append(f"ARG {name} holds a plain version, so the slim tag exists")
    safety = family.safety
    desc = f"{shown} -> {variant.new_text}: {variant.kind} variant of the same version{_describe_sizes(family, variant.kind)}"
    if target.via_arg:
        desc += f" (default of ARG {target.via_arg})"
    if installs or family.swap_installs:
        pkgs = list(family.swap_installs) + [p for p in installs if p not in family.swap_installs]
        desc += f"; installs {' '.join(pkgs)} on it" + (
            " (needed at run time: " + ", ".join(n.why for n in run) + ")" if run else ""
        )
    yield _swap(target, variant, safety, family, desc, "; ".join(assumptions) or "the slim image has what the stage uses")
    if installs or family.swap_installs:
        pkgs = list(family.swap_installs) + [p for p in installs if p not in family.swap_installs]
        run_line = load_catalog().meta["apt_install"].format(packages=" ".join(pkgs))
        for stage in target.stages:
            if stage.index not in reaching:
                continue
            at = stage.from_instruction.end
            ends_line = doc.text[stage.from_instruction.start : at].endswith("\n")
            text = run_line + doc.newline if ends_line else doc.newline + run_line
            yield Change(
                at,
                at,
                text,
                safety,
                f"install {' '.join(pkgs)} on {variant.new_text}: the full image had it",
                assumption="these packages are all the final image needed from the full image",
            )


def _swap(target: _Target, variant, safety: Safety, family: Family, explanation: str, assumption: str) -> Change:
    return Change(
        target.start, target.end, variant.new_text, safety, explanation, assumption=assumption if safety != "safe" else None
    )
