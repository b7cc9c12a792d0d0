"""Turn rewrite results into diffs, human summaries and the JSON report (strings only, no I/O)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from .advisories import run_advisories
from .pipeline import RewriteResult
from .transform import Change, FileChange

_COLORS = {"+": "\x1b[32m", "-": "\x1b[31m", "@": "\x1b[36m"}
_RESET = "\x1b[0m"


@dataclass
class FileReport:
    path: str
    result: RewriteResult | None = None
    error: str | None = None
    written: list[str] = field(default_factory=list)
    context_root: Path | None = None


def unified_diff(old: bytes | None, new: bytes, path: str, color: bool = False) -> str:
    old_lines = [] if old is None else old.decode("utf-8", "replace").splitlines(keepends=True)
    new_lines = new.decode("utf-8", "replace").splitlines(keepends=True)
    path = path.lstrip("/")
    fromfile = "/dev/null" if old is None else f"a/{path}"
    lines = list(difflib.unified_diff(old_lines, new_lines, fromfile, f"b/{path}"))
    out = []
    for line in lines:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        if color and line[:1] in _COLORS and not line.startswith(("+++", "---")):
            line = f"{_COLORS[line[0]]}{line.rstrip(chr(10))}{_RESET}\n"
        out.append(line)
    return "".join(out)


def file_diff(report: FileReport, context_prefix: str, color: bool = False) -> str:
    result = report.result
    if result is None:
        return ""
    parts = []
    if result.output != result.original:
        parts.append(unified_diff(result.original, result.output, report.path, color))
    for fc in result.file_changes:
        if fc.new != fc.old:
            parts.append(unified_diff(fc.old, fc.new, f"{context_prefix}{fc.path}", color))
    return "".join(parts)


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]}


def printable(text: str) -> str:
    """Escape control characters: names from a hostile repo must not forge report lines or drive the terminal."""
    return text.translate(_CONTROL)


def summary_lines(report: FileReport, verbose: bool = True) -> list[str]:
    """One summary line per file, then one line per change/skip (ruff-style ``path:line: id [class] text``)."""
    return [printable(line) for line in _summary_lines(report, verbose)]


def _summary_lines(report: FileReport, verbose: bool) -> list[str]:
    if report.error:
        return [f"error: {report.error}"]
    result = report.result
    assert result is not None
    if not result.changed:
        head = f"{report.path}: unchanged"
    else:
        counts: dict[str, int] = {}
        applied: list[Change | FileChange] = [*result.changes, *result.file_changes]
        for change in applied:
            counts[change.safety] = counts.get(change.safety, 0) + 1
        detail = ", ".join(f"{n} {cls}" for cls, n in sorted(counts.items()))
        head = f"{report.path}: {', '.join(result.transforms_applied)} ({detail})"
    lines = [head]
    if not verbose:
        return lines
    for change in result.changes:
        lines.append(f"  {report.path}:{change.line}: {change.transform} [{change.safety}] {change.explanation}")
        if change.assumption:
            lines.append(f"      assumes: {change.assumption}")
    for fc in result.file_changes:
        lines.append(f"  {fc.path}: {fc.transform} [{fc.safety}] {fc.explanation}")
    for change in result.withheld:
        flag = "--unsafe-fixes" if change.safety == "unsafe" else "without --safe-only"
        lines.append(
            f"  {report.path}:{change.line}: {change.transform} [{change.safety}, not applied: needs {flag}] {change.explanation}"
        )
    for skip in result.skips:
        lines.append(f"  {report.path}:{skip.line}: {skip.transform} skipped: {skip.reason}")
    for error in result.errors:
        lines.append(f"  {report.path}: BUG in {error}")
    for advisory in result.advisories:
        lines.append(f"  {report.path}:{advisory.line}: {advisory.text()}")
    return lines


def run_advisory_lines(reports: list[FileReport]) -> list[str]:
    """The export-time advice, once per run (text mode), when at least one file was processed."""
    if not any(r.result is not None for r in reports):
        return []
    return ["advisories for this run (not Dockerfile edits):"] + [f"  {a.text()}" for a in run_advisories()]


def json_entry(report: FileReport, diff: str) -> dict:
    if report.error:
        return {"path": report.path, "error": report.error}
    result = report.result
    assert result is not None
    return {
        "path": report.path,
        "changed": result.changed,
        "transforms": result.transforms_applied,
        "changes": [
            {
                "transform": c.transform,
                "line": c.line,
                "safety": c.safety,
                "explanation": c.explanation,
                "assumption": c.assumption,
            }
            for c in result.changes
        ],
        "withheld": [
            {"transform": c.transform, "line": c.line, "safety": c.safety, "explanation": c.explanation} for c in result.withheld
        ],
        "files": [
            {
                "path": fc.path,
                "transform": fc.transform,
                "safety": fc.safety,
                "explanation": fc.explanation,
                "new_file": fc.old is None,
                "report": fc.report,
            }
            for fc in result.file_changes
            if fc.new != fc.old
        ],
        "skipped": [{"transform": s.transform, "line": s.line, "reason": s.reason} for s in result.skips],
        "errors": result.errors,
        "advisories": [a.as_json() for a in result.advisories],
        "written": report.written,
        "diff": diff,
    }
