"""# docs-exclude: dpkg never writes documentation, man pages, info pages or translations

## What it does
In a shipping Debian/Ubuntu stage that installs packages with apt (`apt-get`/`apt`/`aptitude`
install, upgrade, build-dep, or `dpkg -i`), writes a dpkg configuration file before the first
install, as the official slim images do, so that dpkg never unpacks `/usr/share/doc` (copyright
files kept: `path-include=/usr/share/doc/*/copyright`), `/usr/share/man`, `/usr/share/info` and the
message catalogs `/usr/share/locale/*/LC_MESSAGES/*.mo`. The command goes in front of the first
install RUN's body, in the RUN's own continuation style, so no layer is added; every later install of
the stage and of the stages built FROM it reads the same file. The lines are data in
`data/docs_exclude.toml`.

## Why it saves bytes
Packages carry their documentation, man pages, info manuals and translations: a few hundred kB for
`curl` or `jq`, tens of MB for a desktop or toolchain install. Nothing in a container reads them.
A later `rm -rf /usr/share/doc` saves nothing (the install layer keeps the files); dpkg's
`path-exclude` keeps them out of the install layer itself.

## Example
```dockerfile
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
```

becomes

```dockerfile
FROM debian:bookworm
RUN printf '%s\\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' 'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*/LC_MESSAGES/*.mo' > /etc/dpkg/dpkg.cfg.d/dslim-nodoc \\
    && apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
```

The config is removed again at the end of the stage's last installing RUN (`rm -f`, with `sudo` when
the install ran through it), so an image built on this one (a published base, a `--target`) installs
its own packages as before.

## When it is not applied
The report says why. Stages that do not ship; development containers (a `devcontainer.json` in the
build context, a `mcr.microsoft.com/devcontainers/` base: a person works there and reads man pages);
a base that already carries such a config (a tag with `slim`, `ubuntu` or an Ubuntu release name, as
`nvidia/cuda:*-ubuntu22.04`; `ubuntu`, and the official images built on them such as `php`,
`nginx`, `postgres`, `eclipse-temurin`: `[configured_bases]`); a stage built FROM one that already
gets it; a Dockerfile that already writes a dpkg config (`path-exclude`, `dpkg.cfg.d`); a Dockerfile
that wants documentation: `man-db`, `man-pages`, `manpages`, `info`, `texinfo`, `doc-base` installed,
a reinstall (`apt-get install --reinstall`, `reinstall`), `unminimize`, a `tsflags` edit, `man`/`info`
run, or any instruction naming `/usr/share/doc`, `/usr/share/man`, `/usr/share/info` or
`/usr/share/licenses` (pkg-cache's `wants_docs` words and packages are read from
`data/pkg_managers.toml`, so both transforms agree). The translation line alone is left out when the
stage or a stage built on it sets `LANG`/`LANGUAGE`/`LC_*` to a locale other than C/POSIX, installs
`locales`/`locales-all`, or runs `locale-gen`/`localedef`/`update-locale`. Never edited: an install RUN
in exec form, a heredoc, a body the shell parser cannot parse, a non-POSIX `SHELL`, a RUN under a
non-root `USER`, Windows files (backtick escape), and `# dslim: ignore` pragmas.

## Limits
The base image is not inspected: an image built from an unknown base that already excludes docs gets
a second, identical config (harmless). Files dpkg already unpacked (the base image's own docs) stay.
yum/dnf stages are left to pkg-cache, which adds `--nodocs` to dnf/microdnf installs. Packages
installed by scripts the Dockerfile runs (`RUN ./install.sh`) before the first visible install keep
their docs.

## Fix safety
`review`. Assumption printed with the change: nothing in the image reads man pages, info pages,
`/usr/share/doc` (beyond copyright files) or the dropped message catalogs.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from functools import cache

from .. import postconditions
from ..catalog import find_variant
from ..datafiles import data_toml
from ..model import Document, Instruction, Stage, continuation_of
from ..shell import Command, Script, analyse, parse_options
from ..transform import Change, Context, Result, Skip, transform
from .slim_base import base_image_reason

ID = "docs-exclude"
ASSUMPTION = (
    "nothing in the image reads man pages, info pages, /usr/share/doc (beyond copyright files){locale}: "
    "dpkg no longer writes them for the packages installed from here on"
)
_ENV_WORD_RE = re.compile(r"^([A-Z_]+)=(.*)$")


@cache
def _kb() -> dict:
    return data_toml("docs_exclude.toml")


@cache
def _pkg_cache_wants_docs() -> dict:
    """pkg-cache's list of what shows a Dockerfile wants documentation (data/pkg_managers.toml)."""
    for spec in data_toml("pkg_managers.toml").values():
        if not isinstance(spec, dict):
            continue
        for flag in spec.get("flags", []):
            if isinstance(flag, dict) and flag.get("wants_docs"):
                return flag["wants_docs"]
    return {}


def _wants() -> tuple[list[str], set[str], set[str]]:
    """(words, packages, verbs) that show the Dockerfile wants documentation."""
    shared, own = _pkg_cache_wants_docs(), _kb()["wants_docs"]
    words = list(shared.get("words", [])) + list(own.get("words", []))
    packages = set(shared.get("packages", [])) | set(own.get("packages", []))
    verbs = set(shared.get("verbs", []))
    return words, packages, verbs


@transform(ID)
def docs_exclude(doc: Document, ctx: Context) -> Iterator[Result]:
    shipping = ctx.shipping_stages(doc)
    configured: set[int] = set()  # stages that get (or already have) the config
    written = _configured_at(doc)
    for stage in doc.stages:
        install = _first_install(stage)
        if install is None:
            continue
        ins = install[0]
        if any(index in configured for index in doc.lineage(stage.index)[1:]) or _has_ours(doc, stage):
            configured.add(stage.index)
            continue  # a stage built FROM one that gets the config inherits it; a second run finds its own file
        if stage.index not in shipping:
            yield Skip(ins.line, f"stage '{stage.label}' does not reach an image: documentation there costs nothing")
            continue
        if written is not None:
            yield Skip(written[0], f"line {written[0]} already configures dpkg ({written[1]}): documentation left as it chose")
            return
        dev = _dev_container(doc, stage, ctx)
        if dev is not None:
            yield Skip(stage.from_instruction.line, f"development container ({dev}): documentation is wanted there")
            configured.add(stage.index)
            continue
        reason = _base_configured(doc, stage, ctx)
        if reason is not None:
            yield Skip(stage.from_instruction.line, reason)
            configured.add(stage.index)
            continue
        wanted = _wants_docs(doc, stage)
        if wanted is not None:
            yield Skip(ins.line, f"dpkg path-exclude not added: the Dockerfile wants documentation ({wanted})")
            continue
        refusal = _cannot_edit(doc, ins, install[1])
        if refusal is not None:
            yield Skip(ins.line, f"dpkg path-exclude not added to the install at line {ins.line}: {refusal}")
            continue
        removal = _removal(doc, stage)
        if isinstance(removal, str):
            yield Skip(ins.line, f"dpkg path-exclude not added: {removal}")
            continue
        locale = _locale_in_use(doc, stage)
        configured.add(stage.index)
        yield _change(doc, ins, locale)
        yield removal


# --------------------------------------------------------------------------- finding the install


def _install_verb(cmd: Command) -> str | None:
    """The verb (or dpkg option) that makes dpkg unpack packages, else None."""
    verbs = _kb()["installs"].get(cmd.name)
    if not verbs:
        return None
    if cmd.name == "dpkg":
        return next((w.value for w in cmd.words if w.value in verbs), None)
    operands = parse_options(cmd.words, cmd.name).operands
    return operands[0].value if operands and operands[0].value in verbs else None


def _commands(ins: Instruction) -> list[Command]:
    """The commands a RUN/CMD/ENTRYPOINT/HEALTHCHECK runs, as far as the shell parser sees them."""
    if ins.json_args is not None:
        return []
    if ins.keyword == "RUN":
        script = ins.script()
        if script is not None:
            return script.commands
        texts = [h.body for h in ins.heredocs]
    elif ins.keyword in ("CMD", "ENTRYPOINT", "HEALTHCHECK"):
        texts = [ins.args]
    else:
        return []
    found: list[Command] = []
    for text in texts:
        found += analyse(text).commands
    return found


def _heredoc_commands(ins: Instruction) -> list[Command]:
    found: list[Command] = []
    for heredoc in ins.heredocs:
        found += analyse(heredoc.body).commands
    return found


def _first_install(stage: Stage) -> tuple[Instruction, Command | None] | None:
    """The stage's first RUN that installs Debian packages, with the install command (None: exec form)."""
    for ins in stage.instructions:
        if ins.keyword != "RUN":
            continue
        if ins.json_args is not None:
            argv = ins.json_args
            name = argv[0].rsplit("/", 1)[-1] if argv else ""
            if name in _kb()["installs"] and any(a in _kb()["installs"][name] for a in argv[1:3]):
                return ins, None
            continue
        for cmd in _commands(ins) + _heredoc_commands(ins):
            if _install_verb(cmd) is not None:
                return ins, cmd
    return None


# --------------------------------------------------------------------------- reasons not to


def _words_of(ins: Instruction) -> list[str]:
    words = ins.words() if ins.keyword != "FROM" else []
    for heredoc in ins.heredocs:
        words += heredoc.body.split()
    return words


def _configured_at(doc: Document) -> tuple[int, str] | None:
    """(line, word) of an instruction that already writes or edits a dpkg config."""
    markers = _kb()["wants_docs"]["configured_words"]
    for ins in doc.instructions:
        words = _words_of(ins)
        if _kb()["config_file"] in words:
            continue  # the file this transform writes
        for word in words:
            hit = next((m for m in markers if m in word), None)
            if hit is not None:
                return ins.line, hit
    return None


def _has_ours(doc: Document, stage: Stage) -> bool:
    """Does the stage (or one it is built FROM) already write this transform's config file?"""
    path = _kb()["config_file"]
    return any(path in _words_of(ins) for index in doc.lineage(stage.index) for ins in doc.stages[index].instructions)


def _dev_container(doc: Document, stage: Stage, ctx: Context) -> str | None:
    spec = _kb()["dev_containers"]
    snapshot = ctx.build_context
    if snapshot is not None:
        found = next((name for name in spec["context_files"] if snapshot.exists(name)), None)
        if found is not None:
            return f"{found} in the build context"
    base = doc.root_base(stage.index).lower()
    return next((f"base {base}" for prefix in spec["base_prefixes"] if base.startswith(prefix)), None)


def _base_configured(doc: Document, stage: Stage, ctx: Context) -> str | None:
    """Why the stage's base image already excludes documentation, else None."""
    text = doc.root_base(stage.index)
    ref = doc.root_image(stage.index, ctx.options.image_aliases)
    if ref is None:
        return None
    known = _kb()["configured_bases"]
    tag = (ref.tag or "").lower()
    word = next((w for w in known["tag_words"] if w in tag and "$" not in tag), None)
    if word is not None:
        return f"base image {text} already excludes documentation (a '{word}' tag carries a dpkg path-exclude config)"
    key = ref.repository if ref.registry in (None, "docker.io") else f"{ref.registry}/{ref.repository}"
    if not ref.name_has_args and key in known["repositories"]:
        return f"base image {text} already excludes documentation ({key} is built on a slim or minimized image)"
    if ref.has_args or find_variant(ref, "slim") is None:
        # only a full official image with a slim variant is known to keep its docs; other bases are often
        # built on debian-slim or ubuntu (already minimized), and the edit would only add noise
        return f"base image {text} is not known to keep documentation (only full official images with a slim variant are)"
    reason = base_image_reason(doc, ctx.shipping_stages(doc))
    if reason is not None:
        # the dpkg config would stay in the published image and silently change every child's installs
        return f"the file builds a base image for others: {reason}"
    return None


def _related(doc: Document, stage: Stage) -> list[int]:
    """The stage, the stages it is built FROM and the stages built FROM it: they share the config."""
    return sorted(set(doc.lineage(stage.index)) | set(doc.descendants(stage.index)))


def _operands(cmd: Command) -> set[str]:
    return {re.split(r"[=:/]", w.value, maxsplit=1)[0] for w in parse_options(cmd.words, cmd.name).operands}


def _doc_paths_used(doc: Document) -> str | None:
    """A documentation path any instruction of the file names (a COPY --from may read it): worked out
    once per file, not once per stage."""
    return doc.memo.remember("docs-exclude-paths-used", lambda: _find_doc_paths_used(doc))


def _find_doc_paths_used(doc: Document) -> str | None:
    words = _wants()[0]
    for ins in doc.instructions:
        for word in _words_of(ins):
            hit = next((w for w in words if w in word), None)
            if hit is not None and "nodocs" not in word:
                return f"line {ins.line} uses {hit}"
    return None


def _wants_docs(doc: Document, stage: Stage) -> str | None:
    _, packages, verbs = _wants()
    own = _kb()["wants_docs"]
    found = _doc_paths_used(doc)
    if found is not None:
        return found
    for index in _related(doc, stage):
        for ins in doc.stages[index].instructions:
            for cmd in _commands(ins) + _heredoc_commands(ins):
                if cmd.name in own["commands"]:
                    return f"line {ins.line} runs {cmd.name}"
                if cmd.name not in _kb()["installs"]:
                    continue
                verb = next((v for v in cmd.argv[:2] if v in verbs), None)
                if verb is not None:
                    return f"line {ins.line} runs {cmd.name} {verb}"
                if _install_verb(cmd) is not None:
                    wanted = packages & _operands(cmd)
                    if wanted:
                        return f"line {ins.line} installs {', '.join(sorted(wanted))}"
    return None


def _locale_in_use(doc: Document, stage: Stage) -> str | None:
    """What shows the image runs under a locale other than C (then translations may be read)."""
    spec = _kb()["locale"]
    for index in _related(doc, stage):
        for ins in doc.stages[index].instructions:
            pairs = dict(ins.key_values()) if ins.keyword in ("ENV", "ARG") else {}
            for word in _words_of(ins) if ins.keyword not in ("ENV", "ARG") else []:
                m = _ENV_WORD_RE.match(word)
                if m:
                    pairs[m.group(1)] = m.group(2)
            for key, value in pairs.items():
                if key in spec["variables"] and value.strip("'\"") not in spec["c_values"]:
                    return f"line {ins.line} sets {key}={value}"
            for cmd in _commands(ins) + _heredoc_commands(ins):
                if cmd.name in spec["commands"]:
                    return f"line {ins.line} runs {cmd.name}"
                if cmd.name == "dpkg-reconfigure" and "locales" in cmd.argv:
                    return f"line {ins.line} reconfigures locales"
                if _install_verb(cmd) is not None:
                    wanted = set(spec["packages"]) & _operands(cmd)
                    if wanted:
                        return f"line {ins.line} installs {', '.join(sorted(wanted))}"
    return None


def _cannot_edit(doc: Document, ins: Instruction, cmd: Command | None) -> str | None:
    if doc.escape == "`":
        return "escape directive ` (Windows Dockerfile)"
    if ins.json_args is not None:
        return "exec-form RUN"
    if ins.heredocs:
        return "heredoc RUN"
    script = ins.script()
    if script is None:
        return "non-POSIX SHELL"
    if not script.ok or not script.items:
        return "the shell parser could not parse the body cleanly"
    if cmd is not None and any(w.value in ("sudo", "doas", "su") for w in cmd.prefix_words):
        return (
            f"the install runs through {cmd.prefix_words[0].value}: the RUN itself may not run as root (cannot write /etc/dpkg)"
        )
    state = doc.state_at(ins)
    if not state.user_is_root or "$" in state.user:
        return f"it runs as USER {state.user} (cannot write /etc/dpkg)"
    return None


# --------------------------------------------------------------------------- the edit


def _command_text(with_locale: bool) -> str:
    kb = _kb()
    lines = list(kb["lines"]) + (list(kb["locale_lines"]) if with_locale else [])
    return "printf '%s\\n' " + " ".join(shlex.quote(line) for line in lines) + " > " + kb["config_file"]


def _last_install(stage: Stage) -> Instruction | None:
    """The stage's last RUN that installs Debian packages."""
    last = None
    for ins in stage.instructions:
        if ins.keyword == "RUN" and any(_install_verb(cmd) is not None for cmd in _commands(ins)):
            last = ins
        elif ins.keyword == "RUN" and ins.json_args is not None:
            last = ins if _first_install_in(ins) else last
    return last


def _first_install_in(ins: Instruction) -> bool:
    argv = ins.json_args or []
    name = argv[0].rsplit("/", 1)[-1] if argv else ""
    return name in _kb()["installs"] and any(a in _kb()["installs"][name] for a in argv[1:3])


def _removal(doc: Document, stage: Stage) -> Change | str:
    """The config must not outlive the stage's installs: an image built FROM this one (a published base,
    a --target) would silently install its packages without docs. Removed at the end of the last
    installing RUN, or the reason it cannot be."""
    last = _last_install(stage)
    script = last.script() if last is not None and not last.heredocs and last.json_args is None else None
    if last is None or script is None or not script.ok or script.has_comment:
        return "the stage's last install is not a shell RUN dslim can append to, so the config would stay in the image"
    point = postconditions.append_point(script, last.stage_shell)
    if point is None:
        return f"the RUN at line {last.line} ends the shell (exit/exec): the config could not be removed after it"
    command = f"rm -f {_kb()['config_file']}"
    if not doc.state_at(last).user_is_root:  # the file belongs to root: remove it the way the install ran
        if not any(w.value == "sudo" for cmd in _commands(last) if _install_verb(cmd) for w in cmd.prefix_words):
            return f"the RUN at line {last.line} runs as {doc.state_at(last).user}: the config could not be removed there"
        command = f"sudo {command}"
    text = postconditions.appended_text(last, point, command)
    at = last.doc_offset(point.offset - 1) + 1
    return Change(
        at,
        at,
        text,
        "review",
        f"the dpkg config removed after the stage's last install (line {last.line}): images built on this one install as before",
        ASSUMPTION.format(locale=""),
    )


def _change(doc: Document, ins: Instruction, locale: str | None) -> Change:
    with_locale = locale is None
    script: Script = ins.script()  # type: ignore[assignment]  # checked by _cannot_edit
    at = ins.doc_offset(script.items[0].start)
    style = continuation_of([ins])
    replacement = _command_text(with_locale) + style.join(doc.escape, doc.newline, "")
    what = "documentation, man pages, info pages and translations" if with_locale else "documentation, man pages and info pages"
    kept = "" if with_locale else f"; translations (/usr/share/locale) kept: {locale}"
    return Change(
        at,
        at,
        replacement,
        "review",
        f"dpkg no longer writes {what} of the packages installed from line {ins.line} on (copyright files "
        f"are kept), as the official slim images do: {_kb()['config_file']} is written in the same RUN, no layer added{kept}",
        ASSUMPTION.format(locale=" or the dropped message catalogs (/usr/share/locale)" if with_locale else ""),
    )
