"""Go: `go build` / `go install` on a golang image; the binary name comes from -o, the package or go.mod."""

from __future__ import annotations

import posixpath
import re

from ..shell import Command, parse_argv
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
    follow_copies,
    is_dir_source,
    is_under,
    runtimes,
    static_word,
)


def go_builds(facts: StageFacts) -> list[Hit]:
    return [(c, r) for c, r in facts.commands() if c.name == "go" and c.argv[:1] in (["build"], ["install"])]


@ecosystem("go", order=10, detect=go_builds)
def plan_go(facts: StageFacts, hits: list[Hit], ctx) -> Build:
    data = runtimes()["go"]
    if facts.ref.name not in data["builder_images"]:
        raise Unsure(f"Go build on {facts.ref.name}, not a golang image: toolchain location unknown")
    if len(hits) != 1:
        raise Unsure("several `go build` commands: which binaries the image runs is not certain")
    cmd, step = hits[0]
    env = command_env(cmd, step)
    if env.get("GOOS", "linux") != "linux":
        raise Unsure(f"GOOS={env['GOOS']}: not a Linux binary")
    snapshot = getattr(ctx, "build_context", None)
    outputs, path_dirs = _go_outputs(facts, cmd, step, env, snapshot)
    build = Build("go", follow_copies(facts, cmd, outputs))
    build.path_dirs = path_dirs
    _choose_go_images(build, facts, cmd, step, env, snapshot)
    return build


def _go_outputs(facts: StageFacts, cmd: Command, step: RunStep, env: dict[str, str], snapshot) -> tuple[list[str], list[str]]:
    """Where `go build -o` / `go install` writes the binary, and the PATH folder `go install` uses."""
    data = runtimes()["go"]
    argv = cmd.argv
    cwd = cwd_for(cmd, step)
    parsed = parse_argv(argv[1:], "go")
    out_flag, chdir, pkgs = parsed.value("-o"), parsed.value("-C"), [w.value for w in parsed.operands]
    out_flag, chdir = (static_word(v, env, "`go build -o`") for v in (out_flag, chdir))
    pkgs = [static_word(p, env, "`go build` package") for p in pkgs]
    if chdir:
        cwd = abspath(chdir, cwd)
    if len(pkgs) > 1 and not all(p.endswith(".go") for p in pkgs):
        raise Unsure("`go build` of several packages: output names are not certain")
    if any("..." in p for p in pkgs):
        raise Unsure("`go build ./...` writes no binary (several packages)")
    made_dirs = {abspath(a, r.workdir) for c, r in facts.setup if c.name == "mkdir" for a in c.argv if not a.startswith("-")}
    if (
        out_flag is not None
        and not out_flag.endswith("/")
        and (
            abspath(out_flag, cwd) in made_dirs
            or any(placed == abspath(out_flag, cwd) and is_dir_source(src) for c in facts.copies for src, placed in c.placed())
        )
    ):
        out_flag += "/"  # `-o dir` into an existing folder writes dir/<name>
    name = ""
    if out_flag is None or out_flag.endswith("/"):
        name = _go_binary_name(facts, pkgs, cwd, snapshot)
    if argv[0] == "install":
        if out_flag is not None:
            raise Unsure("`go install -o` is not followed")
        gobin = env.get("GOBIN") or posixpath.join(env.get("GOPATH", data["gopath"]), "bin")
        return [posixpath.join(gobin, name)], ([gobin] if gobin == posixpath.join(data["gopath"], "bin") else [])
    if out_flag is None:
        return [posixpath.join(cwd, name)], []
    if out_flag.endswith("/"):
        return [posixpath.join(abspath(out_flag, cwd), name)], []
    return [abspath(out_flag, cwd)], []


def _choose_go_images(build: Build, facts: StageFacts, cmd: Command, step: RunStep, env: dict[str, str], snapshot) -> None:
    """Static distroless when the binary has no cgo (CGO_ENABLED=0 added when the sources prove it), else base."""
    data = runtimes()["go"]
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
        reason = _cgo_in_sources(snapshot)
        if reason is None and family == "debian":
            assert cmd.name_word is not None
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
    m = re.search(r"^\s*module\s+\"?([^\s\"]+)", gomod, re.MULTILINE)
    if not m:
        raise Unsure("go.mod has no module line")
    return _last_import_elem(m.group(1))


def _last_import_elem(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]):
        return parts[-2]
    return parts[-1]


def _cgo_in_sources(snapshot) -> str | None:
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
        if re.search(r'^\s*import\s+"C"\s*$', text, re.MULTILINE) or re.search(r'^\s*"C"\s*$', text, re.MULTILINE):
            return f'{e.path} imports "C"'
    for e in snapshot.files:
        if e.path.endswith("go.sum") or e.path.endswith("go.mod"):
            text = snapshot.read_text(e.path) or ""
            for mod in runtimes()["go"]["cgo_modules"]:
                if mod in text:
                    return f"dependency {mod} uses cgo"
    return None
