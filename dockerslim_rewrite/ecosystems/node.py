"""Node: `npm|yarn run build` on a node image; the output folder comes from the build script's tools."""

from __future__ import annotations

import json
import posixpath
import re

from ..catalog import find_variant
from ..shell import analyse, parse_argv
from . import ecosystem
from .facts import (
    Build,
    Hit,
    StageFacts,
    Unsure,
    abspath,
    cwd_for,
    is_under,
    read_manifest,
    runtimes,
)


def node_builds(facts: StageFacts) -> list[Hit]:
    out = []
    for c, r in facts.commands():
        argv = c.argv
        if (
            c.name in ("npm", "pnpm", "yarn")
            and argv[:1] in (["run"], ["run-script"])
            and len(argv) > 1
            and argv[1].startswith("build")
            or c.name in ("yarn", "pnpm")
            and argv[:1]
            and argv[0].startswith("build")
        ):
            out.append((c, r))
    return out


@ecosystem("node", order=40, detect=node_builds)
def plan_node(facts: StageFacts, hits: list[Hit], ctx) -> Build:
    data = runtimes()["node"]
    if facts.ref.name not in data["builder_images"]:
        raise Unsure(f"Node build on {facts.ref.name}, not a node image")
    tag = facts.ref.tag
    if tag is None or "$" in tag:
        raise Unsure("node image without a readable tag: the runtime version would differ")
    if len(hits) != 1:
        raise Unsure("several build scripts")
    cmd, step = hits[0]
    cwd = cwd_for(cmd, step)
    snapshot = getattr(ctx, "build_context", None)
    rel, pkg = read_manifest(facts, cwd, snapshot, "package.json", json.loads, "package.json not readable, build output unknown")
    assert snapshot is not None  # read_manifest raises Unsure without a build context
    scripts = pkg.get("scripts") or {}
    argv = cmd.argv
    script_name = argv[1] if argv[:1] in (["run"], ["run-script"]) else argv[0]
    outs, extras = _node_outputs(scripts, script_name, snapshot, rel, 0)
    inferred = None
    if not outs:
        inferred = _output_from_start(facts, scripts, script_name, snapshot, rel, cwd, hits[0][1].ins.line)
        if inferred is None:
            raise Unsure(f"output folder of the `{script_name}` script not known")
        outs = [inferred[0]]
    manager = "npm" if cmd.name == "npm" else cmd.name
    lock = None
    for name, mgr in (
        ("package-lock.json", "npm"),
        ("npm-shrinkwrap.json", "npm"),
        ("yarn.lock", "yarn"),
        ("pnpm-lock.yaml", "pnpm"),
    ):
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
        if c.name in ("npm", "yarn", "pnpm") and (
            any(not w.static for w in c.words) or r.ins.flag("mount") and "secret" in (r.ins.flag("mount") or "")
        ):
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
    build.extra_paths += _local_packages(pkg, root, rel, snapshot)
    if inferred is not None:
        build.notes.append(f"output folder {outs[0]}/ inferred from the start command ({inferred[1]})")
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
    build.assumptions.append(
        "the app needs only production dependencies and "
        + ", ".join(posixpath.relpath(p, root) for p in build.outputs)
        + " at run time"
    )
    return build


def _node_outputs(scripts: dict, name: str, snapshot, rel: str, depth: int) -> tuple[list[str], list[str]]:
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
        outdir_flags = data["outdir_flags"].get(tool, [])
        parsed = parse_argv(argv[1:], tool, value_options=outdir_flags, single_dash_long=True)
        for flag in outdir_flags:
            v = parsed.value(flag)
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


def _script_texts(scripts: dict, name: str, depth: int = 0) -> list[str]:
    """The text of a package.json script and of the scripts it runs with `npm|yarn run`."""
    text = scripts.get(name)
    if not isinstance(text, str) or depth > 3:
        return []
    out = [text]
    script = analyse(text)
    for c in script.commands if script.ok else []:
        argv = [c.name] + c.argv
        if argv[0] in ("npm", "yarn", "pnpm") and len(argv) > 2 and argv[1] in ("run", "run-script"):
            out += _script_texts(scripts, argv[2], depth + 1)
    return out


def _output_from_start(
    facts: StageFacts, scripts: dict, script_name: str, snapshot, rel: str, root: str, build_line: int
) -> tuple[str, str] | None:
    """(output folder relative to the package root, evidence) from what the start command runs.

    `node dist/index.js` names `dist/`; it counts as the build's output only when the build says
    so (a build script or tsconfig outDir naming it) or when the folder is nowhere in the build
    context and no COPY/ADD puts it into the image (so a RUN made it).
    """
    words, _ = facts.start_words()
    start = _node_start(words, scripts, runtimes()["node"])
    if start is None or start[0] != "file":
        return None
    path = abspath(start[1], facts.workdir)
    if not is_under(path, root) or path == root:
        return None
    parts = posixpath.relpath(path, root).split("/")
    if len(parts) < 2 or parts[0] in ("", ".", "..") or parts[0].startswith(".") or parts[0] == "node_modules":
        return None
    top = parts[0]
    folder = posixpath.join(root, top)
    for step in facts.copies:  # anything copied into the folder: not (only) the build's
        after = step.ins.line > build_line  # a copy over the build's folder after the build
        for _src, placed in step.placed():
            if is_under(placed, folder) or ((after or step.from_stage is not None) and is_under(folder, placed)):
                return None
    word = re.compile(r"(?<![\w.-])(?:\./)?" + re.escape(top) + r"(?![\w.-])")
    if any(word.search(t) for t in _script_texts(scripts, script_name)):
        return top, f"the `{script_name}` script names {top}"
    if _tsconfig_outdir(snapshot, rel) == top:
        return top, f"tsconfig.json outDir is {top}"
    ctx_path = posixpath.join(rel, top) if rel else top
    if not snapshot.truncated and snapshot.entry(ctx_path) is None and snapshot.collapsed_parent(ctx_path) is None:
        return top, f"{top}/ is not in the build context: the build made it"
    return None


def _local_packages(pkg: dict, root: str, rel: str, snapshot) -> list[str]:
    """Folders of `file:`/`link:` dependencies: the production install in the runtime stage needs them."""
    out: list[str] = []
    for section in ("dependencies", "devDependencies", "optionalDependencies"):
        for name, spec in (pkg.get(section) or {}).items():
            if not isinstance(spec, str):
                raise Unsure(f"dependency {name} has no version string")
            if spec.startswith(("workspace:", "portal:", "git", "github:")) or "://" in spec:
                raise Unsure(f"dependency {name} ({spec}) is not installable from the registry in the runtime stage")
            if not spec.startswith(("file:", "link:")):
                continue
            target = posixpath.normpath(posixpath.join(root, spec.split(":", 1)[1]))
            ctx = posixpath.normpath(posixpath.join(rel, spec.split(":", 1)[1]))
            if not is_under(target, root) or target == root or ctx.startswith(".."):
                raise Unsure(f"local dependency {name} ({spec}) lies outside the package folder")
            if snapshot.entry(ctx) is None or posixpath.splitext(target)[1] in (".tgz", ".tar", ".gz"):
                raise Unsure(f"local dependency {name} ({spec}) is not a folder of the build context")
            if target not in out:
                out.append(target)
    return out
