"""The image catalog (data/images.toml): which official images have a smaller variant and what it lacks.

Why data and not code: image families, tag grammars and sizes change with every Debian and language
release; updating the catalog must not mean touching transform logic.

Small public API (used by slim-base and multi-stage):

- ``load_catalog() -> Catalog`` (loaded once, cached).
- ``family_of(ref) -> Family | None``: the family of a parsed ``ImageRef`` (aliases already applied).
- ``slim_variant(ref) -> (new_tag, family) | None``: the slim tag of the SAME version/distro release.
- ``find_variant(ref, kind="slim"|"alpine", arg_values=None) -> Variant | None``: the same with the
  rendered reference, the target repository name, and the ARGs whose values were assumed.
- ``full_only_tools(family) -> dict[group, ToolGroup]``: what the full image has that the target lacks.
- ``tool_group_of(command) -> ToolGroup | None`` and ``size_mb(family, variant)`` / ``saving_mb(...)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from .datafiles import data_toml
from .imageref import DOCKER_HUB, ImageRef, find_vars
from .transform import Safety

__all__ = [
    "Catalog",
    "Family",
    "ToolGroup",
    "Variant",
    "load_catalog",
    "family_of",
    "slim_variant",
    "find_variant",
    "full_only_tools",
    "tool_group_of",
    "size_mb",
    "saving_mb",
]

_TOKEN_RE = re.compile("\x01(\\d+)\x01")
_TOKEN_ALT = "\x01\\d+\x01"


@dataclass(frozen=True)
class ToolGroup:
    name: str
    commands: tuple[str, ...]
    packages: tuple[str, ...]  # Debian packages that provide the commands when the stage installs them
    install: tuple[str, ...]  # what to install on the slim image when needed at run time (empty: none)
    build_only: bool  # a tool nobody should need at run time (compilers): defer to multi-stage


@dataclass(frozen=True)
class Rule:
    match: str
    to: str
    name: str | None
    regex: re.Pattern
    parts: Mapping[str, re.Pattern]  # placeholder -> its own regex, to check known ARG values


@dataclass(frozen=True)
class Family:
    id: str
    repositories: tuple[str, ...]
    pm: str  # package manager of the full image: apt / apk / dnf
    ecosystem: str
    full_only: tuple[str, ...]  # tool group names, "@group" expanded
    rules: tuple[Rule, ...]
    alpine_rules: tuple[Rule, ...]
    small: tuple[re.Pattern, ...]
    sizes: Mapping[str, int]
    variant: str = "slim"
    safety: Safety = "review"
    build_only: bool = False
    note: str = ""
    assumption: str = ""
    swap_installs: tuple[str, ...] = ()
    not_with_commands: tuple[str, ...] = ()

    def is_small(self, tag: str) -> bool:
        """Is this tag already a small variant (slim/alpine/jre/minimal...)?"""
        return any(p.fullmatch(tag) for p in self.small)


@dataclass(frozen=True)
class Variant:
    family: Family
    kind: str  # "slim" (or the family's variant name, e.g. "jre") or "alpine"
    new_tag: str
    new_name: str | None  # new last path component (buildpack-deps -> debian), None when unchanged
    new_text: str  # the whole new reference, in the user's spelling
    assumed_args: tuple[str, ...] = ()  # ARGs without a known value that the tag rewrite relies on


@dataclass
class Catalog:
    meta: dict
    tools: dict[str, ToolGroup]
    families: dict[str, Family]
    build_commands: dict[str, tuple[str, ...]]
    native_addons: dict[str, tuple[str, ...]] = field(default_factory=dict)  # ecosystem -> packages
    ruby_pure: tuple[str, ...] = ()
    by_repository: dict[str, Family] = field(default_factory=dict)
    by_command: dict[str, ToolGroup] = field(default_factory=dict)


def _compile(template: str, placeholders: Mapping[str, str]) -> re.Pattern:
    out, pos = [], 0
    for m in re.finditer(r"\{([A-Z0-9]+)\}", template):
        out.append(re.escape(template[pos : m.start()]))
        key = m.group(1)
        if key not in placeholders:
            raise ValueError(f"catalog: unknown placeholder {{{key}}} in {template!r}")
        out.append(f"(?P<{key}>{placeholders[key]}|{_TOKEN_ALT})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))


def _build(raw: dict) -> Catalog:
    meta = raw["meta"]
    tools = {
        name: ToolGroup(
            name,
            tuple(t.get("commands", [])),
            tuple(t.get("packages", [])),
            tuple(t.get("install", [])),
            bool(t.get("build_only", False)),
        )
        for name, t in raw["tools"].items()
    }
    groups = raw.get("groups", {})
    base_ph = {
        "D": "|".join(meta["debian_distros"]),
        "U": "|".join(meta["ubuntu_distros"]),
        **raw.get("placeholders", {}),
    }
    families: dict[str, Family] = {}
    for fid, f in raw["families"].items():
        ph = dict(base_ph)
        if "version" in f:
            ph["V"] = f["version"]
        full_only: list[str] = []
        for g in f.get("full_only", []):
            for name in groups[g[1:]] if g.startswith("@") else [g]:
                if name not in tools:
                    raise ValueError(f"catalog: family {fid} names unknown tool group {name!r}")
                if name not in full_only:
                    full_only.append(name)

        def rules(key: str, f: dict = f, ph: dict = ph) -> tuple[Rule, ...]:
            return tuple(
                Rule(
                    r["match"],
                    r["to"],
                    r.get("name"),
                    _compile(r["match"], ph),
                    {k: re.compile(f"(?:{ph[k]})") for k in re.findall(r"\{([A-Z0-9]+)\}", r["match"])},
                )
                for r in f.get(key, [])
            )

        families[fid] = Family(
            id=fid,
            repositories=tuple(f["repositories"]),
            pm=f.get("pm", "apt"),
            ecosystem=f.get("ecosystem", ""),
            full_only=tuple(full_only),
            rules=rules("rules"),
            alpine_rules=rules("alpine_rules"),
            small=tuple(re.compile(p) for p in f.get("small", [])),
            sizes=dict(f.get("sizes", {})),
            variant=f.get("variant", "slim"),
            safety=f.get("safety", "review"),
            build_only=bool(f.get("build_only", False)),
            note=f.get("note", ""),
            assumption=f.get("assumption", ""),
            swap_installs=tuple(f.get("swap_installs", [])),
            not_with_commands=tuple(f.get("not_with_commands", [])),
        )
    natives = raw.get("native_addons", {})
    cat = Catalog(
        meta,
        tools,
        families,
        {k: tuple(v) for k, v in raw.get("build_commands", {}).items()},
        native_addons={k: tuple(v) for k, v in natives.items() if isinstance(v, list) and k != "ruby_pure"},
        ruby_pure=tuple(natives.get("ruby_pure", [])),
    )
    for fam in families.values():
        for repo in fam.repositories:
            cat.by_repository[repo] = fam
    for group in tools.values():
        for cmd in group.commands:
            cat.by_command.setdefault(cmd, group)
    return cat


@cache
def load_catalog() -> Catalog:
    """Parse data/images.toml once."""
    return _build(data_toml("images.toml"))


def family_of(ref: ImageRef) -> Family | None:
    """The catalog family of a reference, or None (unknown image, or registry given by an ARG)."""
    if ref.registry is None or ref.name_has_args:
        return None
    key = ref.repository if ref.registry == DOCKER_HUB else f"{ref.registry}/{ref.repository}"
    return load_catalog().by_repository.get(key)


def _rewrite_tag(rules: tuple[Rule, ...], tag: str, arg_values: Mapping[str, str | None]):
    """Apply the first rule that matches ``tag`` (ARG references allowed as whole placeholders).

    Returns (rule, new_tag, assumed_args) or None. An ARG must fill one whole placeholder ({V} or
    {D}); when its value is known it must match that placeholder's regex, otherwise it is assumed.
    """
    spans = find_vars(tag)
    pieces, pos, texts = [], 0, []
    for i, (s, e, _name) in enumerate(spans):
        pieces.append(tag[pos:s])
        pieces.append(f"\x01{i}\x01")
        texts.append(tag[s:e])
        pos = e
    pieces.append(tag[pos:])
    masked_tag = "".join(pieces)
    for rule in rules:
        m = rule.regex.fullmatch(masked_tag)
        if not m:
            continue
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        token_groups = {k: int(t.group(1)) for k, v in groups.items() if (t := _TOKEN_RE.fullmatch(v))}
        if len(token_groups) != len(spans):
            continue  # an ARG inside literal text or sharing a placeholder with other text
        assumed: list[str] = []
        ok = True
        for key, index in token_groups.items():
            name = spans[index][2]
            value = arg_values.get(name)
            if value is None:
                assumed.append(name)
            elif not rule.parts[key].fullmatch(value):
                ok = False
        if not ok:
            continue
        new_tag = rule.to
        for key, value in groups.items():
            new_tag = new_tag.replace("{" + key + "}", value)
        for i, text in enumerate(texts):
            new_tag = new_tag.replace(f"\x01{i}\x01", text)
        return rule, new_tag, tuple(assumed)
    return None


def find_variant(ref: ImageRef, kind: str = "slim", arg_values: Mapping[str, str | None] | None = None) -> Variant | None:
    """The smaller variant of ``ref`` keeping version and distro release, or None.

    ``kind`` is "slim" (the family's main rules: slim, jre, minimal...) or "alpine". ``arg_values``
    maps ARG names used in the tag to their default value (None when the ARG has no default).
    Digest-pinned references never get a variant: the caller must report them.
    """
    fam = family_of(ref)
    if fam is None or ref.digest is not None:
        return None
    rules = fam.alpine_rules if kind == "alpine" else fam.rules
    found = _rewrite_tag(rules, ref.effective_tag, arg_values or {})
    if found is None:
        return None
    rule, new_tag, assumed = found
    new_name = None
    if rule.name:
        last = ref.path.rsplit("/", 1)[-1]
        new_name = rule.name.replace("{NAME}", last)
        if last.lower() != ref.name:
            return None  # an exact alias hides the real name: cannot rename safely
        head = ref.path.rsplit("/", 1)[0] + "/" if "/" in ref.path else ""
        prefix = f"{ref.registry_written}/" if ref.registry_written else ""
        new_text = f"{prefix}{head}{new_name}:{new_tag}"
    else:
        new_text = ref.with_tag(new_tag)
    return Variant(fam, "alpine" if kind == "alpine" else fam.variant, new_tag, new_name, new_text, assumed)


def slim_variant(ref: ImageRef) -> tuple[str, Family] | None:
    """``(new_tag, family)`` for the slim variant of the same version, or None (see find_variant)."""
    v = find_variant(ref)
    if v is None or v.assumed_args:
        return None
    return v.new_tag, v.family


def full_only_tools(family: Family | str) -> dict[str, ToolGroup]:
    """Tool groups the full image provides and the family's small variant lacks, by group name."""
    cat = load_catalog()
    fam = cat.families[family] if isinstance(family, str) else family
    return {name: cat.tools[name] for name in fam.full_only}


def tool_group_of(command: str) -> ToolGroup | None:
    """The tool group a command name belongs to (``gcc`` -> compiler), if any."""
    return load_catalog().by_command.get(command.rsplit("/", 1)[-1])


def size_mb(family: Family | str, variant: str) -> int | None:
    """Approximate size in MB of a family's variant ("full", "slim", "alpine", "jre", ...)."""
    fam = load_catalog().families[family] if isinstance(family, str) else family
    return fam.sizes.get(variant)


def saving_mb(family: Family | str, variant: str) -> int | None:
    """Approximate MB saved by moving from the full image to ``variant`` (None when unknown)."""
    full, small = size_mb(family, "full"), size_mb(family, variant)
    if full is None or small is None:
        return None
    return full - small


def distro_release(ref) -> str | None:
    """The Debian/Ubuntu release an image reference pins (``3.12-slim-bookworm``, ``debian:12``), or None.

    An untagged or version-only tag (``python:3.12``) follows whatever release the image's maintainers
    move it to: no release is pinned, so None.
    """
    meta = load_catalog().meta
    known = set(meta["debian_distros"]) | set(meta["ubuntu_distros"])
    tag = ref.effective_tag or ""
    for part in tag.split("-"):
        if part in known:
            return part
    if ref.repository in ("debian", "library/debian"):
        return meta.get("debian_versions", {}).get(tag.split("-")[0].split(".")[0])
    return None
