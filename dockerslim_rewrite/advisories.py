"""Advisories: what saves bytes but cannot be a safe Dockerfile rewrite, reported next to the changes.

An advisory never changes the file and never changes the exit code. What is advised, the message
templates and the detection parameters are data (``data/advisories.toml``); this module holds one
check per ``detect`` name. Per-file advisories are found by ``advise``; the export-time options that
are not Dockerfile edits are ``run_advisories``, reported once per run. No I/O: the build context
comes as a Snapshot.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from .datafiles import data_toml
from .model import Document, Instruction, State

if TYPE_CHECKING:  # pragma: no cover
    from .buildcontext import Entry, Snapshot


@dataclass
class Advisory:
    id: str
    message: str
    line: int = 0  # 0: the file (or the run) as a whole
    saving_bytes: int | None = None  # estimated; None when not known
    estimate: str | None = None  # how the saving was estimated

    def as_json(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        saving = ""
        if self.saving_bytes is not None:
            saving = f" [saves ~{human_size(self.saving_bytes)}" + (f": {self.estimate}" if self.estimate else "") + "]"
        return f"advisory {self.id}: {self.message}{saving}"


def _config() -> dict:
    return data_toml("advisories.toml")


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def run_advisories() -> list[Advisory]:
    """The advice that holds for every build, not one Dockerfile: reported once per run."""
    return [Advisory(item["id"], item["message"]) for item in _config().get("run", [])]


def advise(
    doc: Document, output: Document | None = None, snapshot: Snapshot | None = None, targets: Iterable[str] = ()
) -> list[Advisory]:
    """Per-file advisories for ``doc`` (the file as read; ``output``: as rewritten, for the layer count)."""
    found: list[Advisory] = []
    if not doc.stages:
        return found
    shipping = doc.shipping_stages(tuple(targets))
    for advisory_id, spec in _config().get("file", {}).items():
        check = _CHECKS[spec["detect"]]
        found += check(advisory_id, spec, doc, output or doc, snapshot, shipping)
    found.sort(key=lambda a: (a.line, a.id))
    return found


def _shipping_instructions(doc: Document, shipping: frozenset[int]) -> Iterable[tuple[Instruction, State]]:
    for stage in doc.stages:
        if stage.index in shipping:
            yield from doc.walk(stage.index)


# --------------------------------------------------------------------------- static assets


def _static_assets(
    advisory_id: str, spec: dict, doc: Document, output: Document, snap: Snapshot | None, shipping: frozenset[int]
) -> list[Advisory]:
    if snap is None or not snap.files:
        return []
    ignored = _dockerignore(snap)
    result = []
    for ins, state in _shipping_instructions(doc, shipping):
        if ins.keyword not in ("COPY", "ADD") or ins.flag("from") is not None or ins.heredocs:
            continue
        served_base = _served_base(doc, ins.stage, spec)
        files: dict[str, Entry] = {}
        for source in ins.words()[:-1]:
            value = state.expand(source)
            if value is None or "://" in value or value.startswith("git@"):
                continue
            for entry in _context_files(snap, value):
                if not (ignored and ignored(entry.path)):
                    files[entry.path] = entry
        assets = [e for e in files.values() if _is_asset(e.path, spec, served_base)]
        total = sum(e.size for e in assets)
        if not assets or total < spec["min_bytes"]:
            continue
        maps = [e for e in assets if e.path.endswith(".map")]
        map_size = sum(e.size for e in maps)
        saving = map_size
        for e in assets:
            ext = posixpath.splitext(e.path)[1]
            factor = spec["minify_saving"].get(ext)
            if factor and not any(fnmatch.fnmatchcase(e.path.rsplit("/", 1)[-1], p) for p in spec["already_minified"]):
                saving += int(e.size * factor)
        kinds: dict[str, int] = {}
        for e in assets:
            ext = posixpath.splitext(e.path)[1]
            kinds[ext] = kinds.get(ext, 0) + e.size
        largest = max(assets, key=lambda e: e.size)
        message = spec["message"].format(
            count=len(assets),
            size=human_size(total),
            kinds=", ".join(f"{ext} {human_size(n)}" for ext, n in sorted(kinds.items(), key=lambda kv: -kv[1])),
            largest=f"{largest.path} {human_size(largest.size)}",
            maps=spec["maps_message"].format(map_size=human_size(map_size)) if maps else "",
        )
        estimate = "source maps dropped" if maps else ""
        if saving > map_size:
            estimate += (" + " if estimate else "") + "typical minifier savings on files not named *.min.*"
        result.append(Advisory(advisory_id, message, ins.line, saving or None, estimate or None))
    return result


def _dockerignore(snap: Snapshot) -> Callable[[str], bool] | None:
    from .ignorematch import BadPattern, PatternMatcher

    names = [f"{snap.dockerfile}.dockerignore"] if snap.dockerfile else []
    for name in [*names, ".dockerignore"]:
        text = snap.read_text(name)
        if text is not None:
            try:
                return PatternMatcher.from_dockerignore(text).excluded
            except BadPattern:
                return None
    return None


def _context_files(snap: Snapshot, source: str) -> list[Entry]:
    """The files of the context a COPY source names (a file, a folder's files, or a glob)."""
    path = posixpath.normpath("/" + source.lstrip("/")).lstrip("/")
    if any(ch in path for ch in "*?["):
        matched = [e for e in snap.files if fnmatch.fnmatchcase(e.path, path)]
        folders = [e.path + "/" for e in matched if e.is_dir]
        return [e for e in snap.files if not e.is_dir and (e in matched or e.path.startswith(tuple(folders)))]
    if path in ("", "."):
        return [e for e in snap.counted() if not e.is_dir]
    entry = snap.entry(path)
    if entry is None:
        return []
    if not entry.is_dir:
        return [entry]
    prefix = path + "/"
    return [e for e in snap.files if not e.is_dir and not e.collapsed and e.path.startswith(prefix)]


def _served_base(doc: Document, stage: int, spec: dict) -> bool:
    """Is the stage (or one it is built FROM) a web server image, so every JS file is served?"""
    for index in doc.lineage(stage):
        name = doc.stages[index].resolved_base.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
        if name in spec["served_image_bases"]:
            return True
    return False


def _is_asset(path: str, spec: dict, served_base: bool) -> bool:
    ext = posixpath.splitext(path)[1].lower()
    if ext not in spec["extensions"]:
        return False
    parts = path.split("/")
    if "node_modules" in parts:
        return False
    if ext in (".js", ".mjs"):
        return served_base or any(part in spec["served_js_dirs"] for part in parts[:-1])
    return True


# --------------------------------------------------------------------------- ADD of a remote archive


def _add_remote_archive(
    advisory_id: str, spec: dict, doc: Document, output: Document, snap: Snapshot | None, shipping: frozenset[int]
) -> list[Advisory]:
    result = []
    for ins, state in _shipping_instructions(doc, shipping):
        if ins.keyword != "ADD" or ins.heredocs:
            continue
        for source in ins.words()[:-1]:
            url = state.expand(source) or source
            if not url.lower().startswith(("http://", "https://")):
                continue
            name = url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
            if any(name.endswith(suffix) for suffix in spec["archive_suffixes"]):
                result.append(Advisory(advisory_id, spec["message"].format(url=source), ins.line))
    return result


# --------------------------------------------------------------------------- package upgrades


def _package_upgrade(
    advisory_id: str, spec: dict, doc: Document, output: Document, snap: Snapshot | None, shipping: frozenset[int]
) -> list[Advisory]:
    from .shell import parse_options

    upgrades: dict[str, list[str]] = spec["upgrades"]
    result = []
    for ins, _ in _shipping_instructions(doc, shipping):
        if ins.keyword != "RUN":
            continue
        script = ins.script()
        if script is None:
            continue
        for cmd in script.commands:
            if cmd.name not in upgrades:
                continue
            operands = parse_options(cmd.words, cmd.name).operands
            if operands and operands[0].value in upgrades[cmd.name]:
                command = f"{cmd.name} {operands[0].value}"
                result.append(Advisory(advisory_id, spec["message"].format(command=command), ins.line))
                break
    return result


# --------------------------------------------------------------------------- layer count


def _layer_count(
    advisory_id: str, spec: dict, doc: Document, output: Document, snap: Snapshot | None, shipping: frozenset[int]
) -> list[Advisory]:
    after = _layers(output)
    before = _layers(doc)
    limit = int(spec["limit"])
    if after <= limit:
        return []
    note = f" ({before} before dslim's changes)" if before != after else ""
    line = doc.stages[-1].from_instruction.line
    return [Advisory(advisory_id, spec["message"].format(layers=after, before=note, limit=limit), line)]


def _layers(doc: Document) -> int:
    if not doc.stages:
        return 0
    lineage = doc.lineage(len(doc.stages) - 1)
    return sum(1 for index in lineage for ins in doc.stages[index].instructions if ins.keyword in ("RUN", "COPY", "ADD"))


_CHECKS: dict[str, Callable[..., list[Advisory]]] = {
    "copied-static-assets": _static_assets,
    "add-remote-archive": _add_remote_archive,
    "package-upgrade": _package_upgrade,
    "layer-count": _layer_count,
}
