"""Java: mvn/gradle on a JDK image; the start command's `java -jar` names the jar to ship."""

from __future__ import annotations

import fnmatch
import posixpath
import re

from . import ecosystem
from .facts import (
    UBUNTU_CODENAMES,
    Build,
    Hit,
    StageFacts,
    Unsure,
    abspath,
    cwd_for,
    follow_copies,
    runtimes,
)


def java_builds(facts: StageFacts) -> list[Hit]:
    data = runtimes()["java"]
    out = []
    for c, r in facts.commands():
        if (
            c.name in ("mvn", "mvnw")
            and any(a.split(":")[-1] in data["maven_goals"] for a in c.argv if not a.startswith("-"))
            or c.name in ("gradle", "gradlew")
            and any(a.lstrip(":") in data["gradle_tasks"] for a in c.argv)
        ):
            out.append((c, r))
    return out


@ecosystem("java", order=30, detect=java_builds)
def plan_java(facts: StageFacts, hits: list[Hit], ctx) -> Build:
    data = runtimes()["java"]
    repo = facts.ref.name
    if repo not in data["builder_images"]:
        raise Unsure(f"Java build on {repo}: JDK version unknown")
    pattern = data["version_re"].get(repo)
    m = re.search(pattern, facts.ref.tag or "") if pattern else None
    if not m:
        raise Unsure(f"JDK major version not readable from {facts.ref.text}")
    major = m.group(1)
    alpine = "alpine" in (facts.ref.tag or "")
    image = (data["runtime_alpine"] if alpine else data["runtime"]).format(major=major)
    ubuntu = [c for c in UBUNTU_CODENAMES if c in (facts.ref.tag or "")]
    if ubuntu and not alpine:
        image += "-" + ubuntu[0]
    words, _ = facts.start_words()
    if "-jar" not in words or words.index("-jar") + 1 >= len(words):
        raise Unsure("the start command does not run `java -jar <file>`: the jar to ship is unknown")
    jar = words[words.index("-jar") + 1]
    if "$" in jar:
        raise Unsure("the jar path in the start command uses a variable")
    jar_abs = abspath(jar, facts.workdir)
    cmd, step = hits[-1]
    cwd = cwd_for(cmd, step)
    built = [posixpath.join(cwd, "target", "*.jar"), posixpath.join(cwd, "build", "libs", "*.jar")]
    outputs = follow_copies(facts, cmd, built)
    if not any(jar_abs == o or fnmatch.fnmatchcase(jar_abs, o) or fnmatch.fnmatchcase(o, jar_abs) for o in outputs):
        raise Unsure(f"the jar {jar} is not a build output the Dockerfile shows (target/ or build/libs/)")
    build = Build("java", [jar_abs])
    build.shell_image, build.shell_family = image, ("alpine" if alpine else "ubuntu")
    build.programs = {"java"}
    return build
