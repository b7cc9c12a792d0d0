"""Rewrite results as the plain records that summary.json, PR.md and the HTML page are made from.

Records are dicts of JSON types, so a shard's summary.json read back is the same data the run had:
``--merge-reports`` renders the merged summary from exactly what each shard rendered from. No I/O.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from ..report import FileReport
from . import estimate
from .records import SpilledRecords


def file_record(report: FileReport, rel: str, context_rel: str) -> dict:
    """One Dockerfile: ``rel`` is its path in the repository, ``context_rel`` its build context's."""
    verify = f"dslim verify {rel}"
    if context_rel != posixpath.dirname(rel):
        verify += f" --context {context_rel or '.'}"
    if report.error or report.result is None:
        return {"path": rel, "error": report.error or "not processed", "changed": False, "changes": [], "withheld": []}
    result = report.result
    changes: list[dict] = [
        {
            "file": rel,
            "line": c.line,
            "transform": c.transform,
            "safety": c.safety,
            "explanation": c.explanation,
            "assumption": c.assumption,
        }
        for c in result.changes
    ]
    changes += [
        {
            "file": posixpath.join(context_rel, fc.path),
            "line": None,
            "transform": fc.transform,
            "safety": fc.safety,
            "explanation": fc.explanation,
            "assumption": fc.assumption,
            "report": fc.report,
        }
        for fc in result.file_changes
        if fc.new != fc.old
    ]
    withheld = [
        {"file": rel, "line": c.line, "transform": c.transform, "safety": c.safety, "explanation": c.explanation}
        for c in result.withheld
    ]
    return {
        "path": rel,
        "error": None,
        "changed": result.changed,
        "transforms": result.transforms_applied,
        "changes": changes,
        "withheld": withheld,
        "skipped": len(result.skips),
        "verify": verify,
        "saving": estimate.estimate(changes),
    }


def group_assumptions(files: list[dict]) -> list[dict]:
    """Each distinct assumption once, with every change that relies on it (a reviewer checks it once)."""
    groups: dict[str, list[str]] = {}
    for record in files:
        for change in record["changes"]:
            for part in (change.get("assumption") or "").split("; "):
                if part.strip():
                    where = f"{change['file']}" + (f":{change['line']}" if change["line"] else "") + f" ({change['transform']})"
                    places = groups.setdefault(part.strip(), [])
                    if where not in places:
                        places.append(where)
    return [{"text": text, "where": where} for text, where in groups.items()]


def repo_record(name: str, key: str, path: str, files: list[dict], diff: str, errors: list[str] | None = None) -> dict:
    """One repository: its Dockerfiles, grouped assumptions, estimate and the diff of its patch."""
    errors = list(errors or []) + [f["error"] for f in files if f.get("error")]
    changed = [f for f in files if f["changed"]]
    if errors:
        status = "failed"
    elif changed:
        status = "changed"
    else:
        status = "unchanged" if files else "no-dockerfiles"
    return {
        "name": name,
        "key": key,
        "path": path,
        "status": status,
        "dockerfiles": len(files),
        "changed": len(changed),
        "errors": errors,
        "transforms": sorted({t for f in changed for t in f["transforms"]}),
        "files": files,
        "assumptions": group_assumptions(files),
        "saving": estimate.add([f["saving"] for f in changed]),
        "patch": f"{name}/changes.patch" if diff else None,
        "pr": f"{name}/PR.md" if diff else None,
        "diff": diff,
        "commit": None,
    }


def fail(record: dict, reason: str) -> None:
    """Record a repository-level failure (a refused commit, an unwritable output) without stopping the run."""
    record["errors"].append(reason)
    record["status"] = "failed"


def totals(repos: Iterable[dict], root_errors: list[str]) -> dict:
    """Totals in one pass over the records (they may be read back from disk)."""
    by_safety: dict[str, int] = {}
    by_transform: dict[str, int] = {}
    savings = []
    count = {"repos": 0, "repos_changed": 0, "repos_failed": 0, "dockerfiles": 0, "dockerfiles_changed": 0}
    errors = committed = 0
    for repo in repos:
        for f in repo["files"]:
            for c in f["changes"]:
                by_safety[c["safety"]] = by_safety.get(c["safety"], 0) + 1
                by_transform[c["transform"]] = by_transform.get(c["transform"], 0) + 1
        savings.append(repo["saving"])
        count["repos"] += 1
        count["repos_changed"] += 1 if repo["changed"] else 0
        count["repos_failed"] += 1 if repo["status"] == "failed" else 0
        count["dockerfiles"] += repo["dockerfiles"]
        count["dockerfiles_changed"] += repo["changed"]
        errors += len(repo["errors"])
        committed += 1 if (repo["commit"] or {}).get("status") == "committed" else 0
    saving = estimate.add(savings)
    return {
        **count,
        "errors": errors + len(root_errors),
        "committed": committed,
        "image_mb": saving["image_mb"],
        "context_mb": saving["context_mb"],
        "by_safety": dict(sorted(by_safety.items())),
        "by_transform": dict(sorted(by_transform.items())),
    }


def summary(repos: Iterable[dict], root_errors: list[str], version: str, generated_at: str, shard: str | None) -> dict:
    """The whole run (or merged shards) as summary.json, repositories sorted by key.

    ``repos`` may be a ``records.SpilledRecords`` (read back from disk, already in that order): it is
    then kept as it is and read once per pass (totals here, then each summary file).
    """
    ordered = repos if isinstance(repos, SpilledRecords) else sorted(repos, key=lambda r: (r["key"], r["path"]))
    return {
        "tool": "dslim bulk",
        "version": version,
        "generated_at": generated_at,
        "shard": shard,
        "totals": totals(ordered, root_errors),
        "repos": ordered,
        "errors": sorted(root_errors),
        "merged_from": None,
    }


def pr_title(record: dict) -> str:
    saving = record["saving"]["image_mb"]
    est = f" (est. ~{saving:.0f} MB smaller)" if saving >= 1 else ""
    what = ", ".join(record["transforms"])
    return f"Smaller container images: {what} in {record['changed']} Dockerfile(s){est}"
