"""Rust: `cargo build --release` / `cargo install --path` on a rust image; binary names from Cargo.toml."""

from __future__ import annotations

import posixpath

from ..datafiles import loads_toml
from ..shell import parse_options
from . import ecosystem
from .facts import (
    Build,
    Hit,
    StageFacts,
    Unsure,
    abspath,
    codename_images,
    cwd_for,
    follow_copies,
    read_manifest,
    runtimes,
    static_argv,
)


def cargo_builds(facts: StageFacts) -> list[Hit]:
    return [(c, r) for c, r in facts.commands() if c.name == "cargo" and c.argv[:1] in (["build"], ["install"])]


@ecosystem("rust", order=20, detect=cargo_builds)
def plan_rust(facts: StageFacts, hits: list[Hit], ctx) -> Build:
    data = runtimes()["rust"]
    if facts.ref.name not in data["builder_images"]:
        raise Unsure(f"cargo build on {facts.ref.name}, not a rust image")
    if len(hits) != 1:
        raise Unsure("several cargo builds")
    cmd, step = hits[0]
    if static_argv(cmd) is None:
        raise Unsure("cargo with variable arguments")
    cwd = cwd_for(cmd, step)
    snapshot = getattr(ctx, "build_context", None)
    subcommand, opts = cmd.argv[0], parse_options(cmd.words[1:], "cargo")
    if opts.has("--manifest-path", "--package", "-p", "--workspace"):
        raise Unsure("cargo --manifest-path/--package/--workspace is not followed")
    release = opts.has("--release", "-r") or opts.value("--profile") == "release"
    if subcommand == "build" and not release:
        raise Unsure("`cargo build` without --release: a debug build is not the artifact to ship")
    bin_name = opts.value("--bin")
    names = [bin_name] if bin_name is not None else _cargo_bins(facts, cwd, snapshot)
    target = opts.value("--target")
    path_dirs: list[str] = []
    if subcommand == "install":
        if not opts.has("--path"):
            raise Unsure("`cargo install` of a registry crate")
        root = opts.value("--root") or step.env.get("CARGO_INSTALL_ROOT") or step.env.get("CARGO_HOME", data["cargo_home"])
        outdir = posixpath.join(abspath(root, cwd), "bin")
        path_dirs = [outdir] if outdir == posixpath.join(data["cargo_home"], "bin") else []
    else:
        tdir = abspath(opts.value("--target-dir") or step.env.get("CARGO_TARGET_DIR") or "target", cwd)
        outdir = posixpath.join(tdir, target, "release") if target else posixpath.join(tdir, "release")
    build = Build("rust", follow_copies(facts, cmd, [posixpath.join(outdir, n) for n in names]))
    build.path_dirs = path_dirs
    distroless, slim, family = codename_images(facts, "rust")
    build.shell_image, build.shell_family = slim, family
    if target and target in data["musl_targets"]:
        build.static_image = data["static"].format(distroless=distroless or "debian12")
    elif family == "alpine":
        build.static_image = None
    elif distroless:
        build.static_image = data["dynamic"].format(distroless=distroless)
        build.copy_libs = True  # libssl3 & co. of the -dev packages: copied from the builder
    build.assumptions.append(
        "the binary links no shared library beyond the runtime image's and those of the builder's -dev packages"
    )
    return build


def _cargo_bins(facts: StageFacts, cwd: str, snapshot) -> list[str]:
    rel, manifest = read_manifest(facts, cwd, snapshot, "Cargo.toml", loads_toml, "binary names in Cargo.toml unknown")
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
