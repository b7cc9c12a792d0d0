""".NET: `dotnet publish -o` on a dotnet/sdk image; the runtime is aspnet or runtime of the same tag."""

from __future__ import annotations

import re

from ..shell import parse_options
from . import ecosystem
from .facts import (
    Build,
    Hit,
    StageFacts,
    Unsure,
    abspath,
    cwd_for,
    runtimes,
    static_word,
)


def dotnet_builds(facts: StageFacts) -> list[Hit]:
    return [(c, r) for c, r in facts.commands() if c.name == "dotnet" and c.argv[:1] == ["publish"]]


@ecosystem("dotnet", order=50, detect=dotnet_builds)
def plan_dotnet(facts: StageFacts, hits: list[Hit], ctx) -> Build:
    data = runtimes()["dotnet"]
    if facts.ref.repository not in data["builder_images"] and not facts.ref.repository.endswith("dotnet/sdk"):
        raise Unsure(f"dotnet publish on {facts.ref.text}, not a dotnet/sdk image")
    if len(hits) != 1:
        raise Unsure("several `dotnet publish` commands")
    cmd, step = hits[0]
    argv = cmd.argv
    cwd = cwd_for(cmd, step)
    out = parse_options(cmd.words[1:], "dotnet").value("-o", "--output")
    if out is not None and out[:1] in (":", "="):
        out = out[1:]  # `-o:dir`, `-o=dir`: the dotnet CLI's other option-value delimiters
    out = static_word(out, step.env, "`dotnet publish -o`")
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
