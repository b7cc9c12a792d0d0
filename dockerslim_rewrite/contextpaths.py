"""Which build-context file an image path came from, and its text: the one mapping every transform uses.

A stage's COPY/ADD instructions (and a RUN's ``--mount=type=bind``) put build-context files at image
paths. `ContextPaths` is fed the instructions in order (`on_instruction`) and answers, for a path in
the image, the build-context path it was copied from (`to_context`) and its preloaded text
(`reader`, from the `Snapshot`; None when the path was not copied from the context, the copy used a
variable, or the snapshot holds no text for it). slim-base reads the manifests a RUN installs from
with it, multi-stage the scripts the image starts (`ecosystems.facts.started_scripts`).
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable, Iterable, Sequence

from .buildcontext import Snapshot
from .model import Instruction

__all__ = ["ContextPaths", "context_paths"]


class ContextPaths:
    """Map container paths to build-context paths through the stage chain's COPY/--mount=bind."""

    def __init__(self, snapshot: Snapshot | None):
        self.snapshot = snapshot
        self.workdir = "/"
        self.copies: list[tuple[str, str, bool]] = []  # (context src, container dest, dest is dir)

    def on_instruction(self, ins: Instruction) -> None:
        state = ins.doc.state_at(ins)
        self.workdir = (
            state.after(ins, ins.doc.global_args, ins.doc.global_unknown).workdir if ins.keyword == "WORKDIR" else state.workdir
        )
        if ins.keyword in ("COPY", "ADD") and not ins.flag("from"):
            words = ins.words()
            if len(words) < 2 or ins.heredocs:
                return
            dest = words[-1]
            is_dir = dest.endswith("/") or dest == "." or len(words) > 2
            dest = posixpath.normpath(posixpath.join(self.workdir, dest))
            for src in words[:-1]:
                self.copies.append((posixpath.normpath(src.lstrip("/")) if src not in ("/",) else ".", dest, is_dir))

    def bind_mounts(self, ins: Instruction) -> list[tuple[str, str, bool]]:
        out = []
        for value in ins.flag_values("mount"):
            fields = dict(part.split("=", 1) for part in value.split(",") if "=" in part)
            if fields.get("type") == "bind" and "from" not in fields:
                target = fields.get("target") or fields.get("dst") or fields.get("destination")
                if target:
                    src = fields.get("source") or fields.get("src") or "."
                    out.append((posixpath.normpath(src), posixpath.normpath(posixpath.join(self.workdir, target)), False))
        return out

    def to_context(self, container_path: str, extra: Sequence[tuple[str, str, bool]] = ()) -> str | None:
        path = posixpath.normpath(posixpath.join(self.workdir, container_path))
        for src, dest, is_dir in reversed(list(self.copies) + list(extra)):
            if src in (".", "") or (self.snapshot is not None and self._is_dir(src)):
                if path == dest or path.startswith(dest.rstrip("/") + "/"):
                    rel = posixpath.relpath(path, dest)
                    return posixpath.normpath(posixpath.join(src, rel))
            elif is_dir and any(ch in src for ch in "*?["):
                if posixpath.dirname(path) == dest and fnmatch.fnmatchcase(posixpath.basename(path), posixpath.basename(src)):
                    return posixpath.join(posixpath.dirname(src), posixpath.basename(path))
            elif is_dir and path == posixpath.join(dest, posixpath.basename(src)) or not is_dir and path == dest:
                return src
        return None

    def _is_dir(self, src: str) -> bool:
        entry = self.snapshot.entry(src) if self.snapshot is not None else None
        return bool(entry and entry.is_dir)

    def reader(self, extra: Sequence[tuple[str, str, bool]] = ()) -> Callable[[str], str | None]:
        def read(container_path: str) -> str | None:
            rel = self.to_context(container_path, extra)
            if rel is None or self.snapshot is None:
                return None
            return self.snapshot.read_text(rel)

        return read


def context_paths(snapshot: Snapshot | None, instructions: Iterable[Instruction]) -> ContextPaths:
    """A `ContextPaths` fed every instruction of ``instructions`` (one stage, in order)."""
    paths = ContextPaths(snapshot)
    for ins in instructions:
        if ins.keyword in ("WORKDIR", "COPY", "ADD"):
            paths.on_instruction(ins)
    return paths
