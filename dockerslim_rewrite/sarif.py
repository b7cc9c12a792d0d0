"""``dslim rewrite --format sarif``: the rewrite report as a SARIF 2.1.0 log (a dict; no I/O).

One run; its tool's rules are the transforms (id, summary, the documentation ``dslim rule ID`` prints).
Each applied change is one result: ruleId is the transform id, the level comes from its fix-safety
class (``safe`` → ``note``; ``review`` and ``unsafe`` → ``warning``: both rest on something a
reviewer must check), the message is the explanation plus the assumption, the location is the
changed instruction(s) of the Dockerfile *as read* (path relative to the current folder), and a
``fixes`` entry carries the replacement.

Changes are made in sequence (each transform sees the previous one's output), so their offsets refer
to intermediate texts. Here they are replayed onto the original text to learn which original bytes
each change replaced; the edits are then widened to whole lines, and edits that touch the same lines
are merged into one replacement. Every replacement belongs to exactly one result's fix (the first
change that made it); a later change whose edit was merged into an earlier one's points to it with
the property ``dslim.fixedWith`` and carries no fix of its own. So applying every fix of a run to the
files as read gives exactly the rewritten files, and no replacement is applied twice.

Regions are whole lines (start column 1), so they do not depend on how a consumer counts columns.
Files dslim writes beside the Dockerfile (``.dockerignore``) are results too, located at that file.
Skips, changes withheld by their safety class, per-file errors and transform bugs are not results:
they are ``toolExecutionNotifications`` of the run's invocation (``note`` for skips and withheld
changes, ``error`` for errors).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from . import __version__
from .model import decode, parse
from .report import FileReport
from .transform import Change, FileChange
from .transforms import all_transforms

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"safe": "note", "review": "warning", "unsafe": "warning"}
SRCROOT = "%SRCROOT%"


def sarif_log(reports: Sequence[FileReport], cwd: Path | None = None) -> dict:
    """The SARIF log of one ``dslim rewrite`` run over ``reports`` (paths relative to ``cwd``)."""
    cwd = (cwd or Path.cwd()).resolve()
    transforms = all_transforms()
    rule_index = {t.id: k for k, t in enumerate(transforms)}
    results: list[dict] = []
    notes: list[dict] = []
    for report in reports:
        uri = _uri(Path(report.path), cwd)
        if report.error:
            notes.append(_notification("error", report.error, uri))
            continue
        result = report.result
        if result is None:
            continue
        results += _change_results(result.original, result.output, result.changes, uri, rule_index)
        for fc in result.file_changes:
            if fc.new != fc.old:
                target = (report.context_root or Path(report.path).parent) / fc.path
                results.append(_file_change_result(fc, _uri(target, cwd), rule_index))
        for change in result.withheld:
            flag = "--unsafe-fixes" if change.safety == "unsafe" else "without --safe-only"
            text = f"{change.transform} [{change.safety}, not applied: needs {flag}]: {_message(change)}"
            notes.append(_notification("note", text, uri, change.transform, rule_index))
        for skip in result.skips:
            notes.append(_notification("note", f"{skip.transform} skipped: {skip.reason}", uri, skip.transform, rule_index))
        for error in result.errors:
            notes.append(_notification("error", f"BUG in {error}", uri))
    run = {
        "tool": {
            "driver": {
                "name": "dslim",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [_rule(t) for t in transforms],
            }
        },
        "invocations": [
            {
                "executionSuccessful": not any(n["level"] == "error" for n in notes),
                "toolExecutionNotifications": notes,
            }
        ],
        "originalUriBaseIds": {SRCROOT: {"uri": cwd.as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _rule(t) -> dict:
    return {
        "id": t.id,
        "name": "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", t.id)),
        "shortDescription": {"text": t.summary},
        "fullDescription": {"text": t.doc},
        "help": {"text": t.doc},
    }


def _uri(path: Path, cwd: Path) -> dict:
    """An artifactLocation: relative to the current folder where possible, else an absolute file URI."""
    absolute = Path(os.path.abspath(path))
    try:
        rel = os.path.relpath(absolute, cwd)
    except ValueError:  # another drive (Windows)
        return {"uri": absolute.as_uri()}
    return {"uri": quote(rel.replace(os.sep, "/")), "uriBaseId": SRCROOT}


def _message(change: Change | FileChange) -> str:
    text = change.explanation
    if change.assumption:
        text += f" (assumes: {change.assumption})"
    return text


def _notification(level: str, text: str, uri: dict, rule: str | None = None, rule_index: dict | None = None) -> dict:
    note: dict = {"level": level, "message": {"text": text}, "locations": [{"physicalLocation": {"artifactLocation": uri}}]}
    if rule is not None and rule_index is not None and rule in rule_index:
        note["associatedRule"] = {"id": rule, "index": rule_index[rule]}
    return note


def _result(change: Change | FileChange, uri: dict, region: dict | None, rule_index: dict) -> dict:
    location: dict = {"physicalLocation": {"artifactLocation": uri}}
    if region is not None:
        location["physicalLocation"]["region"] = region
    out: dict = {
        "ruleId": change.transform,
        "level": LEVELS[change.safety],
        "message": {"text": _message(change)},
        "locations": [location],
        "properties": {"dslim.safety": change.safety},
    }
    if change.transform in rule_index:
        out["ruleIndex"] = rule_index[change.transform]
    if change.assumption:
        out["properties"]["dslim.assumption"] = change.assumption
    return out


def _fix(description: str, uri: dict, replacements: list[dict]) -> dict:
    return {
        "description": {"text": description},
        "artifactChanges": [{"artifactLocation": uri, "replacements": replacements}],
    }


# --------------------------------------------------------------------------- replaying the changes


@dataclass
class _Hunk:
    """Original text [start, end) became final text [fstart, fend); made by the changes in ``owners``."""

    start: int
    end: int
    fstart: int
    fend: int
    owners: set[int] = field(default_factory=set)


@dataclass
class _Replay:
    hunks: list[_Hunk]
    anchors: list[int]  # per change: an original offset where it acted (its location when it owns no hunk)
    links: list[tuple[int, int]]  # (later, earlier): the later change edited text the earlier one inserted


def _batches(changes: Sequence[Change]) -> list[list[int]]:
    """Indexes of the changes one transform applied together (one pass over one text)."""
    batches: list[list[int]] = []
    for k, change in enumerate(changes):
        if batches:
            prev = changes[batches[-1][-1]]
            if (
                prev.transform == change.transform
                and (prev.start, prev.end) <= (change.start, change.end)
                and prev.end <= change.start
            ):
                batches[-1].append(k)
                continue
        batches.append([k])
    return batches


def _replay(original: str, final: str, changes: Sequence[Change]) -> _Replay | None:
    """Replay the changes in their batches; if one transform's batches of two rounds were taken for one
    (they cannot be told apart by the offsets alone), try each way of splitting one batch in two."""
    batches = _batches(changes)
    found = _replay_batches(original, final, changes, batches)
    for b, batch in enumerate(batches):
        for cut in range(1, len(batch)):
            if found is not None:
                return found
            found = _replay_batches(original, final, changes, [*batches[:b], batch[:cut], batch[cut:], *batches[b + 1 :]])
    return found


def _replay_batches(original: str, final: str, changes: Sequence[Change], batches: list[list[int]]) -> _Replay | None:
    """Apply the changes to the original text, tracking where every character came from.

    None when the replay does not reproduce the final text (the batches were guessed wrong).
    """
    chars = list(original)
    origin = list(range(len(original)))  # per current character: its original offset, or -1 when inserted
    owner = [-1] * len(original)  # per current character: the change that inserted it
    deleted_by: dict[int, int] = {}
    anchors = [0] * len(changes)
    links: list[tuple[int, int]] = []
    for batch in batches:
        for k in reversed(batch):  # back to front: the offsets of the batch's earlier edits stay valid
            change = changes[k]
            start, end = change.start, change.end
            if not 0 <= start <= end <= len(chars):
                return None
            anchors[k] = next((o for o in origin[start:] if o >= 0), len(original))
            for pos in range(start, end):
                if origin[pos] >= 0:
                    deleted_by[origin[pos]] = k
                else:
                    links.append((k, owner[pos]))
            new = list(change.replacement)
            chars[start:end] = new
            origin[start:end] = [-1] * len(new)
            owner[start:end] = [k] * len(new)
    if "".join(chars) != final:
        return None
    hunks: list[_Hunk] = []
    prev_o, prev_x = -1, -1
    for x, o in [*((x, o) for x, o in enumerate(origin) if o >= 0), (len(origin), len(original))]:
        if o != prev_o + 1 or x != prev_x + 1:
            hunk = _Hunk(prev_o + 1, o, prev_x + 1, x)
            hunk.owners = {owner[p] for p in range(hunk.fstart, hunk.fend)} | {
                deleted_by[p] for p in range(hunk.start, hunk.end) if p in deleted_by
            }
            _trim(hunk, original, final)
            if hunk.start < hunk.end or hunk.fstart < hunk.fend:
                hunks.append(hunk)
        prev_o, prev_x = o, x
    return _Replay(hunks, anchors, links)


def _trim(hunk: _Hunk, original: str, final: str) -> None:
    """Drop the text a change rewrote to itself from both ends of a hunk."""
    while hunk.start < hunk.end and hunk.fstart < hunk.fend and original[hunk.start] == final[hunk.fstart]:
        hunk.start, hunk.fstart = hunk.start + 1, hunk.fstart + 1
    while hunk.start < hunk.end and hunk.fstart < hunk.fend and original[hunk.end - 1] == final[hunk.fend - 1]:
        hunk.end, hunk.fend = hunk.end - 1, hunk.fend - 1


def _whole_file(original: str, final: str, owner: int) -> list[_Hunk]:
    hunk = _Hunk(0, len(original), 0, len(final), {owner})
    _trim(hunk, original, final)
    return [hunk] if hunk.start < hunk.end or hunk.fstart < hunk.fend else []


class _Lines:
    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        if self.starts[-1] == len(text) and len(self.starts) > 1:
            self.starts.pop()  # a final line break opens no line

    def index(self, offset: int) -> int:
        """0-based line holding ``offset``."""
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def end_of(self, line: int) -> int:
        return self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)


@dataclass
class _Group:
    """Whole original lines [first, last] (0-based) replaced by final text; made by ``owners``."""

    start: int
    end: int
    first: int
    last: int
    delta: int = 0  # final length minus original length of its hunks
    owners: set[int] = field(default_factory=set)


def _line_groups(hunks: list[_Hunk], original: str) -> list[_Group]:
    """Widen the hunks to whole lines and merge those that share a line."""
    lines = _Lines(original)
    groups: list[_Group] = []
    for hunk in hunks:
        if hunk.start < hunk.end:
            first, last = lines.index(hunk.start), lines.index(hunk.end - 1)
        elif hunk.start == 0 or not original:
            first = last = 0
        elif original[hunk.start - 1] == "\n":  # an insertion between lines: take the line above
            first = last = lines.index(hunk.start - 1)
        else:
            first = last = lines.index(hunk.start)
        if groups and first <= groups[-1].last:
            group = groups[-1]
            group.last = max(group.last, last)
            group.end = lines.end_of(group.last)
        else:
            group = _Group(lines.starts[first] if original else 0, lines.end_of(last), first, last)
            groups.append(group)
        group.delta += (hunk.fend - hunk.fstart) - (hunk.end - hunk.start)
        group.owners |= hunk.owners
    return groups


def _replacements(groups: list[_Group], original: str, final: str) -> dict[int, dict]:
    """Per group (by index): a SARIF replacement of its original lines by the final text."""
    out = {}
    shift = 0
    for k, group in enumerate(groups):
        fstart = group.start + shift
        fend = group.end + shift + group.delta
        shift += group.delta
        region: dict = {"startLine": group.first + 1, "startColumn": 1}
        if group.end < len(original) or not original:
            # through the last line's line break: the start of the next line
            region.update({"endLine": group.last + 2, "endColumn": 1} if original else {"endLine": 1, "endColumn": 1})
        elif original.endswith("\n"):
            # the file's last line: everything but its final line break, which stays
            region["endLine"] = group.last + 1
            if not final[fstart:fend].endswith("\n"):
                region.update({"endLine": group.last + 2, "endColumn": 1})
            else:
                fend -= 1
        else:
            region["endLine"] = group.last + 1  # no endColumn: to the end of the line
        out[k] = {"deletedRegion": region, "insertedContent": {"text": final[fstart:fend]}}
    return out


def _region(doc, start: int, end: int) -> dict:
    """startLine/endLine of the original instructions over [start, end), else of the lines themselves."""
    found = doc.instructions_in(start, end)
    if found:
        return {"startLine": found[0].line, "endLine": max(i.end_line for i in found)}
    first = doc.line_of(start)
    return {"startLine": first, "endLine": max(first, doc.line_of(max(start, end - 1)))}


def _change_results(
    original_bytes: bytes, output_bytes: bytes, changes: Sequence[Change], uri: dict, rule_index: dict
) -> list[dict]:
    if not changes:
        return []
    original, _ = decode(original_bytes)
    final, _ = decode(output_bytes)
    doc = parse(original_bytes)
    replay = _replay(original, final, changes)
    if replay is None:  # cannot happen for the pipeline's own results; stay correct if it does
        replay = _Replay(_whole_file(original, final, 0), [0] * len(changes), [])
    # changes whose edits were merged into one replacement form one cluster: union-find
    parent = list(range(len(changes)))

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    groups = _line_groups(replay.hunks, original)
    for group in groups:
        members = sorted(group.owners)
        for other in members[1:]:
            union(members[0], other)
    for later, earlier in replay.links:
        union(later, earlier)
    replacements = _replacements(groups, original, final)
    fix_of: dict[int, list[dict]] = {}
    for k, group in enumerate(groups):
        owners = group.owners or {0}
        fix_of.setdefault(find(min(owners)), []).append(replacements[k])
    results: list[dict] = []
    for k, change in enumerate(changes):
        spans = [(h.start, h.end) for h in replay.hunks if k in h.owners]
        if spans:
            region = _region(doc, min(s for s, _ in spans), max(e for _, e in spans))
        else:
            region = _region(doc, replay.anchors[k], replay.anchors[k])
        result = _result(change, uri, region, rule_index)
        root = find(k)
        if root == k and k in fix_of:
            result["fixes"] = [_fix(change.explanation, uri, fix_of[k])]
        elif root != k:
            result["properties"]["dslim.fixedWith"] = (
                f"{changes[root].transform} (line {results[root]['locations'][0]['physicalLocation']['region']['startLine']})"
            )
        results.append(result)
    return results


def _file_change_result(fc: FileChange, uri: dict, rule_index: dict) -> dict:
    new, _ = decode(fc.new)
    if fc.old is None:
        result = _result(fc, uri, None, rule_index)
        empty = {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1}
        result["fixes"] = [
            _fix(f"create {fc.path}: {fc.explanation}", uri, [{"deletedRegion": empty, "insertedContent": {"text": new}}])
        ]
        return result
    old, _ = decode(fc.old)
    groups = _line_groups(_whole_file(old, new, 0), old)
    region = {"startLine": groups[0].first + 1, "endLine": groups[-1].last + 1} if groups else None
    result = _result(fc, uri, region, rule_index)
    result["fixes"] = [_fix(fc.explanation, uri, list(_replacements(groups, old, new).values()))]
    return result
