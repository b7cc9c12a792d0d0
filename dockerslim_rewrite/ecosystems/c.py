"""C/C++: `gcc -o` or `make [install]` on a gcc/debian image; the Makefile says what make builds."""

from __future__ import annotations

import posixpath
import re

from ..shell import Command, Script, analyse, parse_argv, parse_options
from . import ecosystem
from .facts import (
    Build,
    Hit,
    RunStep,
    StageFacts,
    Unsure,
    abspath,
    codename_images,
    command_env,
    cwd_for,
    expand,
    follow_copies,
    is_dev_package,
    link_packages,
    resolves,
    runtime_bases,
    runtime_libs,
    runtimes,
    static_argv,
)
from .makefile import Makefile, install_files, recipe_commands

_LIB_FLAG = re.compile(r"(?<![\w-])-l([A-Za-z0-9_+.-]+)")
_MAKE_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def c_builds(facts: StageFacts) -> list[Hit]:
    comp = runtimes()["c"]["compilers"]
    return [(c, r) for c, r in facts.commands() if c.name in comp or c.name in ("make", "cmake")]


@ecosystem("c", order=60, detect=c_builds, fallback=True)
def plan_c(facts: StageFacts, hits: list[Hit], ctx) -> Build:
    data = runtimes()["c"]
    if any(c.name in ("make", "cmake") for c, _ in hits):
        return plan_c_make(facts, hits, ctx)
    outputs: list[str] = []
    libs: list[str] = []
    command_lines: list[str] = []
    for cmd, step in hits:
        argv = static_argv(cmd)
        if argv is None:
            raise Unsure(f"{cmd.name} with variable arguments")
        if "-c" in argv:
            continue
        out = parse_argv(argv, "gcc").value("-o")  # gcc's -static, -fPIC are whole options (single_dash_long)
        if out is None:
            raise Unsure(f"{cmd.name} without -o")
        outputs += follow_copies(facts, cmd, [abspath(out, cwd_for(cmd, step))])
        libs += [a[2:] for a in argv if a.startswith("-l") and len(a) > 2]
        command_lines.append(" ".join(argv))
    if not outputs:
        raise Unsure("no compiler command links a binary")
    distroless, slim, family = codename_images(facts, "c")
    if family != "debian" or slim is None:
        raise Unsure("C build not on a Debian image: runtime libraries unknown")
    if facts.ref.name not in data["builder_images"]:
        raise Unsure(f"C build on {facts.ref.name}: the runtime image for it is unknown")
    build = Build("c", outputs)
    build.shell_image, build.shell_family = slim, family
    _dynamic_runtime(facts, build, distroless)
    link_packages(build, libs, facts.codename)
    _decide_ca_bundle(facts, build, libs, command_lines, getattr(ctx, "build_context", None))
    build.assumptions.append(
        "the binary links no shared library beyond the runtime image's and those of its -l flags and -dev packages"
    )
    return build


def _dynamic_runtime(facts: StageFacts, build: Build, distroless: str | None) -> None:
    """distroless cc (glibc, libgcc, libstdc++) for an exec-form start command that needs no shell;
    the shared libraries of the -l flags and -dev packages are then copied from the builder."""
    words, exec_form = facts.start_words()
    runs_shell = not exec_form or not words or posixpath.basename(words[0]) in ("sh", "bash", "dash")
    if distroless and not runs_shell:
        build.static_image = runtimes()["c"]["dynamic"].format(distroless=distroless)
        build.copy_libs = True


def _decide_ca_bundle(facts: StageFacts, build: Build, libs: list[str], texts: list[str], snapshot) -> None:
    """Does a debian-slim runtime need the CA bundle? Only with evidence the program speaks TLS.

    Evidence (data/runtime_bases.toml [tls]): a TLS library among the -l flags or the runtime
    packages, a package installed in the builder that is neither build-only nor a known plain
    library (a tool may fetch over https), or a TLS word in the compiler command lines, the
    Makefile or the build context's file names. C sources are not read: with no build context
    listing, vendored TLS code cannot be ruled out and the bundle is kept.
    """
    tls = runtime_bases()["tls"]
    table = runtime_bases()["copy_libs"].get(facts.codename or "", {})
    plain = {name for name, entry in table.items() if not entry.get("tls")}
    rlibs = runtime_libs()
    build_only = set(rlibs["build_only"]["apt"])
    wanted = list(build.runtime_packages)
    why: str | None = None
    for spec in facts.apt_packages:
        name = spec.split("=", 1)[0]
        if name in build_only:
            continue
        if is_dev_package(name):
            runtime = rlibs["apt"].get(facts.codename or "", {}).get(name) or rlibs["apt"]["common"].get(name)
            if runtime is None:
                return  # the split stops later (unknown -dev package): keep the default
            wanted.append(runtime)
        else:
            why = why or f"the builder installs {name}"
    if any(lib in tls["link"] for lib in libs):
        why = why or "it links a TLS library"
    for pkg in wanted:
        if pkg in tls["packages"] or pkg not in plain:
            why = why or f"it needs {pkg}"
    words = [w.lower() for w in tls["words"]]
    names = [e.path for e in snapshot.files] if snapshot is not None else []
    for text in texts + names:
        low = text.lower()
        hit = next((w for w in words if w in low), None)
        if hit:
            why = why or f"`{hit}` appears in the build ({text[:60]})"
    if why is not None:
        build.ca_bundle, build.ca_note = True, f"CA bundle kept: {why}"
    elif snapshot is None or snapshot.truncated:
        build.ca_bundle = True
        build.ca_note = "CA bundle kept: without the build context listing, TLS code in the sources cannot be ruled out"
    else:
        build.ca_bundle = False
        build.ca_note = "the program makes no TLS connection (no TLS library, tool or word in the build): no CA bundle"


def plan_c_make(facts: StageFacts, hits: list[Hit], ctx) -> Build:
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
    candidates: list[str] = []  # absolute paths in the builder of the files make made
    libs: list[str] = []
    makefiles: list[str] = []
    for cmd, step in hits:
        made, linked, text = _make_outputs(facts, cmd, step, snapshot)
        candidates += made
        libs += linked
        makefiles.append(text)
    output = _started_output(facts, candidates, progs, snapshot)
    build = Build("c", [output])
    build.shell_image, build.shell_family = slim, family
    _dynamic_runtime(facts, build, distroless)
    link_packages(build, libs, facts.codename, " (Makefile)")
    _decide_ca_bundle(facts, build, libs, makefiles, snapshot)
    shown = ", ".join(f"-l{x}" for x in dict.fromkeys(libs)) or "no -l flag"
    build.assumptions.append(
        f"{output} is the only build output the app needs at run time, and it links only the C runtime "
        f"and the libraries of the Makefile ({shown}) and of the -dev packages installed"
    )
    return build


def _make_outputs(facts: StageFacts, cmd: Command, step: RunStep, snapshot) -> tuple[list[str], list[str], str]:
    """(files one `make` command makes or installs, after later copies; the -l libraries it links; the Makefile)."""
    data = runtimes()["c"]
    chdir, goals, overrides = _make_args(cmd)
    cwd = cwd_for(cmd, step)
    if chdir is not None:
        value = expand(chdir, step.env)
        if value is None:
            raise Unsure("make -C with a variable directory")
        cwd = abspath(value, cwd)
    rel, text = _read_makefile(facts, cwd, snapshot)
    prog_env = command_env(cmd, step)
    mk = Makefile(text, overrides, prog_env)
    if mk.default is None:
        raise Unsure("the Makefile has no target")
    goals = goals or [mk.default]
    cleaning = [g for g in goals if g in data["make_clean_goals"]]
    if cleaning:
        raise Unsure(f"`make {cleaning[0]}` removes build outputs: not followed")
    libs = [m for t in [mk.text, *overrides.values()] for m in _LIB_FLAG.findall(t)]
    libs += [m for k in ("LDLIBS", "LDFLAGS", "LOADLIBES") for m in _LIB_FLAG.findall(prog_env.get(k, ""))]
    made = _made_targets(mk, goals, rel, cwd, snapshot)
    for goal in goals:
        if goal in mk.rules and any(c.name in ("install", "cp") for line in mk.recipe(goal) for c in recipe_commands(line)):
            made += install_files(mk, goal, cwd)
    return follow_copies(facts, cmd, made), libs, text + " " + " ".join(f"{k}={v}" for k, v in overrides.items())


def _make_args(cmd: Command) -> tuple[str | None, list[str], dict[str, str]]:
    """(-C directory, goals, VAR=value overrides) of a `make` command line."""
    data = runtimes()["c"]
    if static_argv(cmd) is None:
        raise Unsure("make with variable arguments")
    parsed = parse_options(cmd.words, "make")
    allowed = set(data["make_flags"]) | set(data["make_value_flags"])
    chdir = None
    operands = [w.value for w in parsed.operands]
    for name, values in parsed.options.items():
        if name not in allowed:
            raise Unsure(f"make option {name} is not followed")
        if name in ("-C", "--directory"):
            for value in values:
                if not value:
                    raise Unsure("make -C without a directory")
                chdir = value if chdir is None else posixpath.join(chdir, value)
        else:  # -j and -l take an optional number: a word that is not one is a goal
            operands += [v for v in values if v and not re.fullmatch(r"[\d.]+", v)]
    goals: list[str] = []
    overrides: dict[str, str] = {}
    for word in operands:
        key, eq, value = word.partition("=")
        if eq and _MAKE_VARIABLE.fullmatch(key):
            overrides[key] = value
        else:
            goals.append(word)
    return chdir, goals, overrides


def _read_makefile(facts: StageFacts, cwd: str, snapshot) -> tuple[str, str]:
    """(folder in the build context, text) of the Makefile `make` reads in ``cwd``."""
    if snapshot is None:
        raise Unsure("make build without a build context: the Makefile (targets, libraries) cannot be read")
    rel = facts.context_path(cwd, snapshot, "Makefile")
    if rel is None:
        raise Unsure(f"make build: where the Makefile in {cwd} comes from is not known")
    for other in runtimes()["c"]["other_makefile_names"]:
        if snapshot.exists(posixpath.join(rel, other) if rel else other):
            raise Unsure(f"make build: {other} takes precedence over Makefile and is not read")
    text = snapshot.read_text(posixpath.join(rel, "Makefile") if rel else "Makefile")
    if text is None:
        raise Unsure("make build: the Makefile is not readable from the build context")
    return rel, text


def _made_targets(mk: Makefile, goals: list[str], rel: str, cwd: str, snapshot) -> list[str]:
    """Absolute paths of the files the goals' rules make (not phony, not sources in the context)."""
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
    return made


def _started_output(facts: StageFacts, candidates: list[str], progs: list[str], snapshot) -> str:
    """The one made file the start command runs."""
    hit = sorted({p for p in candidates if any(resolves(prog, facts.workdir, p) for prog in progs)})
    missing = [prog for prog in progs if not any(resolves(prog, facts.workdir, p) for p in candidates)]
    if missing:
        raise Unsure(f"the start command runs `{missing[0]}`, which is not a file the make build makes")
    if len(hit) != 1:
        raise Unsure("the start command could be several make outputs: " + ", ".join(hit))
    output = hit[0]
    if facts.image_has(output):
        src = facts.context_path(output, snapshot)
        if src is None or snapshot.exists(src) or snapshot.truncated:
            raise Unsure(f"{output} is also put there by COPY/ADD: not certain make made it")
    return output


def _c_start_programs(facts: StageFacts) -> list[str]:
    """Programs the start command runs; a `sh -c` string is read as a script (shell builtins left out)."""
    shell_cmds = set(runtimes()["runtime_tools"]["shell_commands"])
    words, exec_form = facts.start_words()
    if not words:
        raise Unsure("no start command")
    script: Script | None
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
