"""Parse and re-render container image references (the text after FROM).

Why a dedicated parser: transforms must recognise ``python:3.12`` whatever the
user's spelling (``docker.io/library/python``, ``library/python``, a private
mirror, ``python:${PYTHON_VERSION}``) and must write a changed reference back
in that same spelling, so a reviewer sees only the tag change in the diff.

Grammar: ``[registry/]path[:tag][@digest]``. The first path component is a
registry when it contains ``.`` or ``:`` or is ``localhost``. ARG references
(``$NAME``, ``${NAME}``, ``${NAME:-default}``) may appear anywhere; they are
kept verbatim and flagged with ``has_args`` (a ``:`` inside ``${...}`` is not
a tag separator).

Public API: ``parse_image_ref(text, aliases=None) -> ImageRef`` and
``ImageRef.with_tag(new_tag) -> str``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ImageRef", "parse_image_ref", "find_vars", "DOCKER_HUB"]

DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

_VAR_RE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<mod>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def find_vars(text: str) -> list[tuple[int, int, str]]:
    """Spans ``(start, end, name)`` of every ``$NAME`` / ``${NAME...}`` in ``text``."""
    out = []
    for m in _VAR_RE.finditer(text):
        out.append((m.start(), m.end(), m.group("braced") or m.group("bare")))
    return out


@dataclass(frozen=True)
class ImageRef:
    """One parsed image reference.

    ``registry`` is normalised (``docker.io`` for Docker Hub, written or not;
    None when the registry part is an ARG). ``registry_written`` is the prefix
    as written (None when absent). ``path`` is the repository path as written
    (without registry), ``repository`` the normalised name used for catalog
    lookups (``library/`` dropped on Docker Hub, image aliases applied).
    ``tag`` / ``digest`` are None when absent (no implicit ``latest``).
    """

    text: str
    registry: str | None
    registry_written: str | None
    path: str
    repository: str
    tag: str | None
    digest: str | None
    has_args: bool
    aliased: bool = False

    def __init__(  # written out to be compiled: see setup.py
        self,
        text: str,
        registry: str | None,
        registry_written: str | None,
        path: str,
        repository: str,
        tag: str | None,
        digest: str | None,
        has_args: bool,
        aliased: bool = False,
    ) -> None:
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "registry", registry)
        object.__setattr__(self, "registry_written", registry_written)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "repository", repository)
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "digest", digest)
        object.__setattr__(self, "has_args", has_args)
        object.__setattr__(self, "aliased", aliased)

    @property
    def name(self) -> str:
        """Last component of the repository (``python`` for ``library/python``)."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def is_whole_arg(self) -> bool:
        """True for ``${BASE_IMAGE}`` / ``$BASE``: the whole reference is one ARG."""
        v = find_vars(self.text)
        return len(v) == 1 and v[0][0] == 0 and v[0][1] == len(self.text)

    @property
    def tag_has_args(self) -> bool:
        return self.tag is not None and bool(find_vars(self.tag))

    @property
    def name_has_args(self) -> bool:
        """ARG references in the registry or repository path (not just the tag)."""
        head = (self.registry_written or "") + "/" + self.path
        return bool(find_vars(head))

    @property
    def effective_tag(self) -> str:
        """The tag Docker would pull: ``latest`` when none is written."""
        return self.tag if self.tag is not None else "latest"

    def with_tag(self, new_tag: str) -> str:
        """Render this reference with ``new_tag``, keeping the user's registry
        prefix and path spelling. Refuses digest-pinned references: a digest
        names one exact image and a different tag needs a different digest."""
        if self.digest is not None:
            raise ValueError(f"refusing to re-tag digest-pinned image {self.text!r}")
        prefix = f"{self.registry_written}/" if self.registry_written else ""
        return f"{prefix}{self.path}:{new_tag}"


def _mask_vars(text: str) -> str:
    """Replace each ARG reference by same-length filler so ``:``/``/``/``@``
    inside ``${X:-a/b}`` do not confuse the split; offsets stay valid."""
    chars = list(text)
    for start, end, _ in find_vars(text):
        for i in range(start, end):
            chars[i] = "\x00"
    return "".join(chars)


def _apply_aliases(full: str, aliases: Mapping[str, str]) -> str | None:
    """Map ``registry/path`` through the alias table: an exact key wins, then
    the longest key that is a whole-component prefix (``reg/mirror`` ->
    ``library`` maps ``reg/mirror/python`` to ``library/python``)."""
    norm = {k.strip().rstrip("/"): v.strip().strip("/") for k, v in aliases.items()}
    if full in norm:
        return norm[full]
    best = None
    for key in norm:
        if key and full.startswith(key + "/") and (best is None or len(key) > len(best)):
            best = key
    if best is None:
        return None
    rest = full[len(best) + 1 :]
    return f"{norm[best]}/{rest}" if norm[best] else rest


def parse_image_ref(text: str, aliases: Mapping[str, str] | None = None) -> ImageRef:
    """Parse ``text`` (the FROM image, without flags and ``AS name``).

    ``aliases`` maps a mirror/private path (with its registry, e.g.
    ``registry.example.com/mirror/python``) to the official repository
    (``python``); keys may also be path prefixes (see ``_apply_aliases``).
    Raises ValueError on an empty reference.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty image reference")
    masked = _mask_vars(text)
    has_args = "\x00" in masked

    digest = None
    at = masked.find("@")
    rest_end = len(text)
    if at != -1:
        digest = text[at + 1 :]
        rest_end = at
    slash = masked.rfind("/", 0, rest_end)
    colon = masked.rfind(":", 0, rest_end)
    tag = None
    name_end = rest_end
    if colon > slash:
        tag = text[colon + 1 : rest_end]
        name_end = colon
    name_part = text[:name_end]
    masked_name = masked[:name_end]

    registry_written = None
    path = name_part
    first_slash = masked_name.find("/")
    if first_slash != -1:
        first = masked_name[:first_slash]
        if "." in first or ":" in first or first == "localhost" or "\x00" in first:
            # An ARG as first component is most often a registry (${REGISTRY}/app);
            # treat it as such so the path stays comparable.
            registry_written = name_part[:first_slash]
            path = name_part[first_slash + 1 :]

    if registry_written is None:
        registry = DOCKER_HUB
    elif find_vars(registry_written):
        registry = None
    elif registry_written.lower() in _HUB_ALIASES:
        registry = DOCKER_HUB
    else:
        registry = registry_written.lower()

    repository = path.lower() if not has_args else path
    aliased = False
    if aliases:
        full = f"{registry_written}/{path}" if registry_written else path
        mapped = _apply_aliases(full, aliases)
        if mapped is None and registry == DOCKER_HUB and registry_written:
            mapped = _apply_aliases(path, aliases)
        if mapped is not None:
            repository = mapped.lower()
            registry = DOCKER_HUB
            aliased = True
    if registry == DOCKER_HUB and repository.startswith("library/"):
        repository = repository[len("library/") :]

    return ImageRef(
        text=text,
        registry=registry,
        registry_written=registry_written,
        path=path,
        repository=repository,
        tag=tag if tag != "" else None,
        digest=digest if digest else None,
        has_args=has_args,
        aliased=aliased,
    )
