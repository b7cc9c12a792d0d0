"""Python: a pip install that needs a compiler; the builder installs into a venv, shipped on slim.

The venv is made without a pip of its own and sees the image's own site-packages
(`--without-pip --system-site-packages`), and the builder's pip commands run as `python -m pip`:
the image's pip then installs into the venv, the runtime copy holds only what the app installed, and
the app finds the runtime image's pip, setuptools and wheel as the original found the base image's.
The folders, wheels and requirement files a non-editable `pip install` consumes are build inputs:
`Build.consumed` tells the runtime stage not to copy them (unless the app reads them at run time).
"""

from __future__ import annotations

import posixpath
import re

from ..catalog import find_variant
from ..shell import Command
from . import ecosystem
from .facts import (
    Build,
    Hit,
    RunStep,
    StageFacts,
    Unsure,
    abspath,
    cwd_for,
    is_under,
    runtime_libs,
    runtimes,
)


def pip_installs(facts: StageFacts) -> list[Hit]:
    out = []
    for c, r in facts.commands():
        argv = c.argv
        if (
            c.name in ("pip", "pip3")
            and argv[:1] == ["install"]
            or c.name in ("python", "python3")
            and argv[:3] == ["-m", "pip", "install"]
        ):
            out.append((c, r))
    return out


def _pip_args(cmd: Command) -> list[str]:
    argv = cmd.argv
    return argv[3:] if cmd.name in ("python", "python3") else argv[1:]


@ecosystem("python", order=70, detect=pip_installs, fallback=True)
def plan_python(facts: StageFacts, hits: list[Hit], ctx) -> Build:
    """pip installs that need a compiler: install into a venv in the builder, ship the venv on slim."""
    from .. import pybuild  # libcst: imported only when a pip install is planned

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
    consumed: list[str] = []
    editable: list[str] = []
    edits_in_files = False  # a requirements file installs something editable (or cannot be read)
    for cmd, step in hits:
        if cmd.name_word is not None and "/" in cmd.name_word.value:
            raise Unsure("pip called by absolute path: it would bypass the virtualenv")
        argv = _pip_args(cmd)
        if any(not w.static for w in cmd.words):
            raise Unsure("pip install with variable arguments")
        if any(
            a.split("=", 1)[0] in ("--user", "--target", "-t", "--prefix", "--root", "--system", "--break-system-packages")
            for a in argv
        ):
            raise Unsure("pip install --user/--target/--prefix: files outside the virtualenv")
        cwd = cwd_for(cmd, step)
        inputs = pybuild.pip_local_inputs(argv)
        consumed += [abspath(v, cwd) for v in inputs.consumed]
        editable += [abspath(v, cwd) for v in inputs.editable]
        for req in inputs.requirement_files:
            path = abspath(req, cwd)
            rel = facts.context_path(posixpath.dirname(path), snapshot, posixpath.basename(path)) if snapshot else None
            found = (
                None
                if rel is None or snapshot is None
                else pybuild.requirements_edit_in_place(snapshot.read_text, posixpath.join(rel, posixpath.basename(path)))
            )
            edits_in_files = edits_in_files or found is not False
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
                rel = facts.context_path(
                    posixpath.dirname(path) if spec.startswith("-r ") else path,
                    snapshot,
                    posixpath.basename(path) if spec.startswith("-r ") else None,
                )
                if rel is None:
                    needs.unknown.append(value)
                    continue
                if spec.startswith("-r "):
                    needs.merge(
                        pybuild.analyse_requirements(
                            snapshot.read_text, posixpath.join(rel, posixpath.basename(path)) if rel else posixpath.basename(path)
                        )
                    )
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
    pip_commands = _pip_commands_from(facts, first_step)
    blocker = _lean_venv_blocker(facts, pip_commands)
    flags = " ".join(data["lean_venv_flags"]) + " " if blocker is None else ""
    build.edits.append((ins.start, ins.start, f"RUN python -m venv {flags}{venv}{nl}{env_line}{nl}"))
    build.notes.append("pip installs into a virtualenv at " + venv)
    if blocker is None:
        for cmd, step in pip_commands:
            if cmd.name in ("pip", "pip3"):
                assert cmd.name_word is not None
                start, end = step.ins.doc_offset(cmd.name_word.start), step.ins.doc_offset(cmd.name_word.end)
                build.edits.append((start, end, "python -m pip"))
                build.notes.append("pip runs as `python -m pip`: the virtualenv has no pip of its own")
        build.assumptions.append(
            "the virtualenv has no pip, setuptools or wheel of its own: the app sees the runtime image's "
            "(the slim variant has the same ones as the builder image), and a bare `pip` at run time is the image's"
        )
    else:
        build.notes.append(f"the virtualenv keeps its own pip: {blocker}")
    build.header_lines = [env_line]
    build.programs = {"python", "python3", "pip", "pip3"} | set(needs.requirements)
    build.assumptions.append("the packages pip installed need only the runtime libraries installed in the runtime stage")
    if not edits_in_files:
        build.consumed = [p for p in dict.fromkeys(consumed) if not any(is_under(p, e) or is_under(e, p) for e in editable)]
    return build


_PIP_WORD = re.compile(r"^pip[0-9.]*$")


def _pip_commands_from(facts: StageFacts, first: RunStep) -> list[Hit]:
    """pip commands (any subcommand) in the RUNs from ``first`` on: they run with the virtualenv on PATH."""
    started = False
    out = []
    for cmd, step in facts.commands():
        started = started or step is first
        if started and (cmd.name in ("pip", "pip3") or cmd.name in ("python", "python3") and cmd.argv[:2] == ["-m", "pip"]):
            out.append((cmd, step))
    return out


def _lean_venv_blocker(facts: StageFacts, pip_commands: list[Hit]) -> str | None:
    """Why the virtualenv must keep a pip of its own (None: it can do without).

    Without one, `pip` on PATH is the image's: a start command or HEALTHCHECK that runs `pip` would
    see the image's packages instead of the virtualenv's; `sudo` resets PATH, so `sudo python -m pip`
    would not be the virtualenv's python.
    """
    for cmd, _ in pip_commands:
        if any(not ("=" in w.value and not w.value.startswith("-")) for w in cmd.prefix_words):
            return f"`{cmd.prefix_words[0].value} {cmd.name}` runs pip with another PATH"
        if cmd.name_word is None or not cmd.name_word.static:
            return "a pip command with a variable name"
    run_time = [facts.entrypoint, facts.cmd, facts.healthcheck]
    for ins in run_time:
        if ins is None:
            continue
        words = ins.json_args if ins.json_args is not None else ins.words()
        # every token, also inside `sh -c "..."` strings: a bare pip there is the one on PATH
        if any(_PIP_WORD.match(posixpath.basename(t)) for w in words for t in re.split(r"[\s;&|()`]+", w)):
            return f"{ins.keyword} runs pip"
    return None
