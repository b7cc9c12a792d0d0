"""Python: a pip install that needs a compiler; the builder installs into a venv, shipped on slim."""

from __future__ import annotations

import posixpath

from ..catalog import find_variant
from ..shell import Command
from . import ecosystem
from .facts import (
    Build,
    Hit,
    StageFacts,
    Unsure,
    abspath,
    cwd_for,
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
    build.edits.append((ins.start, ins.start, f"RUN python -m venv {venv}{nl}{env_line}{nl}"))
    build.header_lines = [env_line]
    build.programs = {"python", "python3", "pip", "pip3"} | set(needs.requirements)
    build.assumptions.append("the packages pip installed need only the runtime libraries installed in the runtime stage")
    build.notes.append("pip installs into a virtualenv at " + venv)
    return build
