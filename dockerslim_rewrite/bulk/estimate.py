"""What a migration is estimated to save, from the figures the transforms already report.

Only two transforms know a size: slim-base quotes the image catalog ("about 1020 MB -> 130 MB") and
dockerignore scans the build context before and after. Everything else (cache cleanups, merged
layers) depends on what the build downloads, so it is named as not estimated rather than guessed;
``dslim verify`` measures the real figure.
"""

from __future__ import annotations

import re

_CATALOG = re.compile(r"about (\d+(?:\.\d+)?) MB -> (\d+(?:\.\d+)?) MB")
_TAKEN = re.compile(r"sizes approximate, ([^)]*)\)")
_MB = 1024 * 1024
MEASURED = ("slim-base", "dockerignore")


def human(size: float) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def image_saving(change: dict) -> tuple[float, str] | None:
    """(MB, where the figure comes from) for a slim-base change that quotes catalog sizes."""
    if change.get("transform") != "slim-base":
        return None
    match = _CATALOG.search(change.get("explanation") or "")
    if not match:
        return None
    before, after = float(match.group(1)), float(match.group(2))
    swap = (change.get("explanation") or "").split(": ", 1)[0]
    taken = _TAKEN.search(change.get("explanation") or "")
    when = f", sizes taken {taken.group(1)}" if taken else ""
    return before - after, f"{swap}: image catalog sizes {match.group(1)} MB -> {match.group(2)} MB{when}"


def context_saving(change: dict) -> tuple[float, str] | None:
    """(MB, source) for a dockerignore change: the build context it keeps out (not image bytes)."""
    report = change.get("report") or {}
    before, after = report.get("context_before"), report.get("context_after")
    if change.get("transform") != "dockerignore" or not before or not after:
        return None
    saved = max(0, before["bytes"] - after["bytes"]) / _MB
    bound = " (scan truncated: a lower bound)" if report.get("truncated_scan") else ""
    return saved, (
        f"{change.get('file')}: build context scanned at rewrite time, {before['files']} files / {human(before['bytes'])}"
        f" -> {after['files']} files / {human(after['bytes'])}{bound}"
    )


def estimate(changes: list[dict]) -> dict:
    """The estimate for a list of applied changes: image MB, build-context MB, their sources, what is not estimated."""
    image, context, sources = 0.0, 0.0, []
    for change in changes:
        if (found := image_saving(change)) is not None:
            image += found[0]
            sources.append(found[1])
        elif (found := context_saving(change)) is not None:
            context += found[0]
            sources.append(found[1])
    unestimated = sorted({c["transform"] for c in changes if c["transform"] not in MEASURED})
    return {"image_mb": round(image, 1), "context_mb": round(context, 1), "sources": sources, "not_estimated": unestimated}


def add(estimates: list[dict]) -> dict:
    """Several estimates as one (a repository's Dockerfiles, or every repository)."""
    return {
        "image_mb": round(sum(e["image_mb"] for e in estimates), 1),
        "context_mb": round(sum(e["context_mb"] for e in estimates), 1),
        "sources": [s for e in estimates for s in e["sources"]],
        "not_estimated": sorted({t for e in estimates for t in e["not_estimated"]}),
    }
