"""Python: a pip install that needs a compiler; the builder installs into a venv, shipped on slim.

The venv is made by `python -I -m venv` (isolated: a project's types.py or enum.py in the WORKDIR
does not shadow the standard library). When the builder tag names Python 3.11+, it has no pip of its
own and sees the image's own site-packages (`--without-pip --system-site-packages`), and the
builder's pip commands run as `python -P -m pip` (-P keeps the WORKDIR off sys.path, as the `pip`
script does): the image's pip then installs into the venv, the runtime copy holds only what the app
installed, and the app finds the runtime image's pip, setuptools and wheel as the original found the
base image's. Otherwise (version unknown or older, pip at run time, a started script that cannot be
read, `pip uninstall` of the image's own pip/setuptools/wheel) the venv keeps its own pip and the pip
commands are left as written. A pip that would install outside the venv (sudo, a login SHELL, a
USER other than root, PIP_USER/PIP_TARGET/PIP_PREFIX/PIP_ROOT/PIP_CONFIG_FILE, a pip configuration
file put into the image) stops the split.
The folders, wheels and requirement files a non-editable `pip install` consumes are build inputs:
`Build.consumed` tells the runtime stage not to copy them (unless the app reads them at run time).
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re

from ..catalog import find_variant
from ..pybuild import python_module
from ..shell import Command, written_paths
from . import ecosystem
from .facts import (
    Build,
    Hit,
    RunStep,
    StageFacts,
    Unsure,
    abspath,
    command_env,
    cwd_for,
    is_under,
    runtime_libs,
    runtimes,
    started_scripts,
)


def pip_argv(cmd: Command) -> list[str] | None:
    """The words after `pip` of a pip command (`pip ...`, `pip3 ...`, `python [-P] -m pip ...`), else None."""
    if cmd.name in ("pip", "pip3"):
        return cmd.argv
    if cmd.name in ("python", "python3"):
        module = python_module(cmd.argv)
        if module is not None and module[0] == "pip":
            return cmd.argv[module[1] :]
    return None


def pip_installs(facts: StageFacts) -> list[Hit]:
    return [(c, r) for c, r in facts.commands() if (pip_argv(c) or [])[:1] == ["install"]]


def _pip_args(cmd: Command) -> list[str]:
    return (pip_argv(cmd) or [])[1:]


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
    _check_pip_installs_into_venv(facts, pip_commands, data, snapshot)
    blocker = _lean_venv_blocker(facts, pip_commands, data, snapshot)
    flags = " ".join(data["lean_venv_flags"]) + " " if blocker is None else ""
    build.edits.append((ins.start, ins.start, f"RUN {data['venv_command']} {flags}{venv}{nl}{env_line}{nl}"))
    build.notes.append("pip installs into a virtualenv at " + venv)
    if blocker is None:
        for cmd, step in pip_commands:
            if cmd.name in ("pip", "pip3"):
                assert cmd.name_word is not None
                start, end = step.ins.doc_offset(cmd.name_word.start), step.ins.doc_offset(cmd.name_word.end)
                build.edits.append((start, end, data["lean_pip"]))
                build.notes.append(f"pip runs as `{data['lean_pip']}`: the virtualenv has no pip of its own")
        same = (
            " (the builder's own image)"
            if runtime_image == facts.ref.text
            else f", assumed to be the same versions as the builder image's ({runtime_image} pulled at the same time as {facts.ref.text})"
        )
        build.assumptions.append(
            f"the virtualenv has no pip, setuptools or wheel of its own: the app sees the runtime image's{same}, "
            "and a bare `pip` at run time is the image's"
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
        if started and pip_argv(cmd) is not None:
            out.append((cmd, step))
    return out


def python_version(tag: str | None) -> tuple[int, int] | None:
    """(major, minor) of the Python an official python image tag names (3.11-bookworm -> (3, 11));
    None for tags without one (latest, 3, bookworm)."""
    m = re.match(runtimes()["python"]["version_re"], tag or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def _check_pip_installs_into_venv(facts: StageFacts, pip_commands: list[Hit], data: dict, snapshot) -> None:
    """Unsure when a pip command of the builder would not install into the virtualenv: it runs under
    `sudo` (secure_path: the image's pip), a login SHELL (/etc/profile resets PATH), a USER other
    than root (the virtualenv belongs to root: pip falls back to ~/.local), or with pip settings that
    send its files elsewhere (PIP_USER/PIP_TARGET/PIP_PREFIX/PIP_ROOT/PIP_CONFIG_FILE from ENV, ARG,
    the command line or an `export`; a pip configuration file the build puts into the image).
    ENV, ARG, USER and SHELL come from the model's state walk (``Document.state_at``)."""
    doc = facts.stage.from_instruction.doc
    homes = {"/root"}
    for cmd, step in pip_commands:
        where = f"line {step.ins.line}"
        for word in cmd.prefix_words:
            name = posixpath.basename(word.value)
            if name in ("sudo", "doas"):
                raise Unsure(
                    f"`{word.value} {cmd.name}` ({where}): sudo's secure_path runs the image's pip, outside the virtualenv"
                )
            if word.value.startswith("PATH="):
                raise Unsure(f"`{word.value} {cmd.name}` ({where}) runs pip with another PATH")
            if word.value in ("-i", "--ignore-environment", "-u", "--unset") or word.value.startswith("--unset="):
                raise Unsure(f"`env {word.value} {cmd.name}` ({where}) runs pip with another environment")
        state = doc.state_at(step.ins)
        if not state.user_is_root:
            raise Unsure(
                f"pip runs as USER {state.user} ({where}): the virtualenv belongs to root, pip would install into "
                "~/.local, which the runtime stage does not copy"
            )
        if _login_shell(state.shell):
            raise Unsure(
                f"SHELL {json.dumps(list(state.shell))} is a login shell: /etc/profile resets PATH, so `pip` is not the virtualenv's"
            )
        variables = {**state.variables, **command_env(cmd, step)}
        unknown = set(state.unknown)
        assert step.script is not None
        for other in step.script.commands:  # `export PIP_USER=1 && pip install ...` in the same RUN
            if other.start >= cmd.start:
                break
            if other.name in ("export", ""):
                for w in [*other.prefix_words, *other.words]:
                    key, _, value = w.value.partition("=")
                    variables[key] = value
                    if not w.static:
                        unknown.add(key)
        for key in data["pip_location_env"]:
            if key not in variables:
                continue
            off = data["pip_location_env_off"].get(key, [])
            if key in unknown or variables[key].strip().lower() not in off:
                raise Unsure(
                    f"{key} is set for pip ({where}): it installs outside the virtualenv (like --user/--target/--prefix) "
                    "or reads a configuration file that may"
                )
        homes.add(variables.get("HOME") or "/root")
        for xdg in ("XDG_CONFIG_HOME", "XDG_CONFIG_DIRS"):
            if xdg in variables or xdg in unknown:
                raise Unsure(f"{xdg} is set for pip ({where}): where pip reads its configuration is not followed")
    final = doc.final_state(facts.stage.index)
    if _login_shell(final.shell):
        raise Unsure(f"SHELL {json.dumps(list(final.shell))} is a login shell: /etc/profile resets PATH past the virtualenv")
    configs = [c.format(home=h) for c in data["pip_config_files"] for h in sorted(homes)]
    configs = list(dict.fromkeys(configs + [posixpath.join(data["venv"], "pip.conf")]))
    found = _pip_config_put(facts, configs, data, snapshot)
    if found is not None:
        raise Unsure(f"{found}: pip settings (user, target, prefix, root) there would send its installs outside the virtualenv")


def _login_shell(shell: tuple[str, ...]) -> bool:
    """Does a SHELL start a login shell (`bash -l -c`, `-lc`, `--login`)?"""
    return any(a == "--login" or a.startswith("-") and not a.startswith("--") and "l" in a[1:] for a in shell[1:])


def _pip_config_put(facts: StageFacts, configs: list[str], data: dict, snapshot) -> str | None:
    """What puts a pip configuration file into the image: a COPY/ADD (of the file, or of a folder whose
    build-context source holds it), a RUN that writes it, or `pip config set|edit` of a key that moves
    installs. None when nothing does."""
    for step in facts.copies:
        for src, placed in step.placed():
            for conf in configs:
                if placed == conf or fnmatch.fnmatchcase(conf, placed):
                    return f"{step.ins.keyword} at line {step.ins.line} puts {conf} into the image"
                if not is_under(conf, placed) or placed == conf:
                    continue
                if step.from_stage is not None or snapshot is None:
                    return f"{step.ins.keyword} at line {step.ins.line} may put {conf} into the image"
                entry = snapshot.entry(src.strip("/") or ".") if src.strip("./") else None
                if entry is not None and not entry.is_dir:
                    # a file copied to an existing folder lands inside it (`COPY pip.conf /etc`)
                    if posixpath.join(placed, posixpath.basename(src)) == conf:
                        return f"{step.ins.keyword} at line {step.ins.line} puts {conf} into the image"
                    continue
                base = posixpath.normpath(src.strip("/")) if src.strip("./") else ""
                rel = posixpath.normpath(posixpath.join(base, posixpath.relpath(conf, placed)))
                if snapshot.exists(rel):
                    return f"{step.ins.keyword} at line {step.ins.line} puts {conf} into the image"
    folders = {posixpath.dirname(c) for c in configs if posixpath.basename(posixpath.dirname(c)) in ("pip", ".pip")}
    keys = set(data["pip_config_keys"])
    for run in facts.runs:
        if run.script is None:
            continue
        # the script's text: the shell module keeps redirection targets (`> /etc/pip.conf`) out of the words
        if "pip.conf" in run.script.text:
            return f"RUN at line {run.ins.line} writes a pip.conf"
        written = written_paths(run.script, run.workdir)
        hit = next((p for p in written if p in configs or p in folders), None)
        if hit is not None:
            return f"RUN at line {run.ins.line} writes {hit}"
        for cmd in run.script.commands:
            argv = pip_argv(cmd) or []
            if argv[:1] != ["config"]:
                continue
            verb = next((a for a in argv[1:] if not a.startswith("-")), "")
            key = next((a for a in argv[argv.index(verb) + 1 :] if not a.startswith("-")), "") if verb else ""
            if verb == "edit" or verb == "set" and key.rsplit(".", 1)[-1] in keys:
                return f"`pip config {verb}{' ' + key if key else ''}` at line {run.ins.line} writes a pip configuration file"
    return None


def _lean_venv_blocker(facts: StageFacts, pip_commands: list[Hit], data: dict, snapshot) -> str | None:
    """Why the virtualenv must keep a pip of its own (None: it can do without).

    The builder's pip runs as `python -P -m pip`: -P (Python 3.11+) keeps the WORKDIR off sys.path,
    so the builder image's Python version must be known from its tag and recent enough. Without a pip
    of its own, `pip` on PATH is the image's: a start command, HEALTHCHECK or started script that runs
    `pip` would see the image's packages instead of the virtualenv's; a started script that cannot be
    read may run it.
    """
    version = python_version(facts.ref.tag)
    least = tuple(data["lean_min_version"])
    need = f"`{data['lean_pip']}`, which keeps the WORKDIR off sys.path, needs Python {'.'.join(map(str, least))}+"
    if version is None:
        return f"the Python version of {facts.ref.text} is not known from its tag ({need})"
    if version < least:
        return f"{facts.ref.text} has Python {version[0]}.{version[1]} ({need})"
    for cmd, step in pip_commands:
        if cmd.name_word is None or not cmd.name_word.static:
            return "a pip command with a variable name"
        argv = pip_argv(cmd) or []
        if argv[:1] == ["uninstall"] and set(argv) & set(data["image_packages"]):
            # the original image loses them; a venv that sees the image's site-packages would not
            return f"`pip uninstall` at line {step.ins.line} removes the image's own {', '.join(sorted(set(argv) & set(data['image_packages'])))}"
    run_time = [facts.entrypoint, facts.cmd, facts.healthcheck]
    for ins in run_time:
        if ins is None:
            continue
        words = ins.json_args if ins.json_args is not None else ins.words()
        # every token, also inside `sh -c "..."` strings: a bare pip there is the one on PATH
        if any(_PIP_WORD.match(posixpath.basename(t)) for w in words for t in re.split(r"[\s;&|()`]+", w)):
            return f"{ins.keyword} runs pip"
    for script in started_scripts(facts, snapshot):
        if script.text is None:
            return f"{script.path} (started by {script.who}) cannot be read from the build context: it may run pip"
        if any(_PIP_WORD.match(posixpath.basename(t)) for t in re.split(r"[\s;&|()`'\"]+", script.text)):
            return f"{script.path} (started by {script.who}) runs pip"
    return None
