"""``dslim bulk --merge-reports``: the shards' summary.json files as one summary.

Shards split the repositories without overlap, so merging is a union; the totals are recomputed
from the records, never added up from the shards' totals, so the merged summary is the one an
unsharded run would have written. The per-repository folders (patch, PR.md) are copied along so
the merged summary's links work.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import summarize


class MergeError(Exception):
    pass


def load(folder: Path) -> dict:
    path = folder / "summary.json" if folder.is_dir() else folder
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MergeError(f"{path}: cannot read a dslim bulk summary ({exc})") from None
    if not isinstance(data, dict) or data.get("tool") != "dslim bulk" or not isinstance(data.get("repos"), list):
        raise MergeError(f"{path}: not a dslim bulk summary.json")
    return data


def merge(summaries: list[dict], version: str, generated_at: str) -> dict:
    """One summary from several; a repository reported twice (overlapping shards) is kept once."""
    repos: dict[tuple[str, str], dict] = {}
    errors: list[str] = []
    for data in summaries:
        for record in data["repos"]:
            repos.setdefault((record["key"], record["path"]), record)
        errors += [e for e in data.get("errors", []) if e not in errors]
    merged = summarize.summary(list(repos.values()), errors, version, generated_at, None)
    merged["merged_from"] = [d.get("shard") for d in summaries]
    return merged


def copy_repo_folders(sources: list[Path], out: Path) -> None:
    for source in sources:
        folder = source if source.is_dir() else source.parent
        if folder.resolve() == out.resolve():
            continue
        for record in load(source)["repos"]:
            src = folder / record["name"]
            if record.get("patch") and src.is_dir():
                shutil.copytree(src, out / record["name"], dirs_exist_ok=True)
