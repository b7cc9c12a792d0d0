"""Run the transforms in order over one Dockerfile and collect what they changed and why.

Each transform sees a freshly parsed Document (the previous transform's output), so offsets are
always current. The transforms run in rounds until a round changes nothing, so that the result is a
fixed point: running dslim on its own output changes nothing. A transform whose edits do not re-parse, overlap, or that raises, is a bug: its
edits for this file are dropped and reported, and the file never gets broken output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import postconditions, shell
from .advisories import Advisory, advise
from .datafiles import data_toml
from .model import CollectorPaused, Comment, Document, Instruction, ParseError, parse
from .transform import SAFETY_LEVELS, Change, Context, FileChange, Options, Skip
from .transforms import all_transforms

if TYPE_CHECKING:  # pragma: no cover
    from .buildcontext import Snapshot

MAX_ROUNDS = 6  # a later transform can enable an earlier one (slim-base adds a RUN pkg-cache then tidies)
_HADOLINT_RE = re.compile(r"^hadolint\s+ignore\s*=\s*([\w,\s]+)$")


def _hadolint_transforms(rules: str) -> set[str]:
    """The transforms whose fix a `# hadolint ignore=...` list turns off (data/pragmas.toml)."""
    table = data_toml("pragmas.toml")["hadolint"]
    return {t for rule in rules.replace(" ", "").split(",") for t in table.get(rule.upper(), [])}


_PRAGMA_RE = re.compile(r"^dslim:\s*(ignore|off)(?:\s*=\s*([\w,\s-]+))?\s*$")


@dataclass
class RewriteResult:
    original: bytes
    output: bytes
    changes: list[Change] = field(default_factory=list)  # applied
    withheld: list[Change] = field(default_factory=list)  # not applied because of their safety class
    file_changes: list[FileChange] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # transform bugs, reported and contained
    advisories: list[Advisory] = field(default_factory=list)  # savings dslim cannot make itself; never edits

    @property
    def changed(self) -> bool:
        return self.output != self.original or any(fc.new != fc.old for fc in self.file_changes)

    @property
    def transforms_applied(self) -> list[str]:
        seen: list[str] = []
        for transform_id in [c.transform for c in self.changes] + [f.transform for f in self.file_changes]:
            if transform_id not in seen:
                seen.append(transform_id)
        return seen


def selected_transforms(options: Options):
    return [t for t in all_transforms() if (options.select is None or t.id in options.select) and t.id not in options.ignore]


def rewrite(
    data: bytes,
    options: Options | None = None,
    build_context: Snapshot | None = None,
    dockerfile_name: str = "Dockerfile",
) -> RewriteResult:
    """Rewrite one Dockerfile's bytes. Raises ParseError when the input itself cannot be processed."""
    parsed: list[Document] = []
    try:
        with CollectorPaused():
            result, original, final = _rewrite(data, options or Options(), build_context, dockerfile_name, parsed)
            _add_advisories(result, options or Options(), build_context, original, final)
            return result
    finally:
        shell.forget_analyses()  # the next file shares none of these bodies worth keeping
        for doc in parsed:  # nothing outside this call reads them: freed now, not by the cyclic collector
            doc.release()


def _rewrite(
    data: bytes, options: Options, build_context: Snapshot | None, dockerfile_name: str, parsed: list[Document]
) -> tuple[RewriteResult, Document, Document]:
    """The rewrite, with the documents as read and as rewritten (the advisories read both); every
    document it parses is added to ``parsed``."""
    doc = original = parse(data)
    parsed.append(doc)
    result = RewriteResult(original=data, output=data)
    marker = None if options.include_generated else generated_marker(doc)
    if marker is None and options.generated_from and not options.include_generated:
        marker = (1, f"template {options.generated_from}")
    if marker is not None:
        line, phrase = marker
        result.skips.append(
            Skip(line, f"generated file ({phrase}): edit its template instead, or pass --include-generated", "pipeline")
        )
        return result, original, original
    pragmas = _Pragmas(doc)
    if pragmas.file_off:
        result.skips.append(Skip(pragmas.file_off, "'# dslim: off' pragma: file skipped", "pipeline"))
        return result, original, original
    transforms = selected_transforms(options)
    seen = {doc.text}
    # transforms are pure: one that already ran on this very text answers the same (the fixed-point
    # round re-runs every transform, but those after the last change in a round saw the final text)
    answers: dict[tuple[str, str], list[Change | Skip | FileChange]] = {}
    for _ in range(MAX_ROUNDS):
        this_round = RewriteResult(original=data, output=data)
        before = doc.text
        ctx_doc, ctx = doc, Context(options, build_context, dockerfile_name, ignored=_Pragmas(doc).ignores)
        for t in transforms:
            if doc is not ctx_doc:  # the last transform edited it: its pragmas are read again
                ctx_doc, ctx = doc, Context(options, build_context, dockerfile_name, ignored=_Pragmas(doc).ignores)
            doc = _run_one(t, doc, ctx, this_round, answers)
            if doc is not parsed[-1]:
                parsed.append(doc)
        # changes add up over rounds; skips, withheld changes and files describe the final text
        result.changes += this_round.changes
        result.errors += [e for e in this_round.errors if e not in result.errors]
        result.skips, result.withheld, result.file_changes = this_round.skips, this_round.withheld, this_round.file_changes
        if doc.text == before:
            break
        if doc.text in seen:
            result.errors.append("transforms undo each other's changes (a cycle): report this as a bug")
            break
        seen.add(doc.text)
    else:
        result.errors.append(f"transforms still changed the file after {MAX_ROUNDS} rounds (not a fixed point)")
    result.output = doc.render()
    return result, original, doc


def _add_advisories(
    result: RewriteResult, options: Options, build_context: Snapshot | None, original: Document, final: Document
) -> None:
    """Advisories for the file as read (layers: as rewritten); none for a file turned off by a pragma."""
    if any(s.transform == "pipeline" and "dslim: off" in s.reason for s in result.skips):
        return
    try:
        output = final if result.output != result.original else None
        result.advisories = advise(original, output, build_context, options.targets)
    except Exception as exc:  # an advisory bug must never take the run down
        result.errors.append(f"advisories: internal error ({type(exc).__name__}: {exc})")


def _run_one(t, doc: Document, ctx: Context, result: RewriteResult, answers: dict | None = None) -> Document:
    key = (t.id, doc.text)
    produced = None if answers is None else answers.get(key)
    if produced is None:
        try:
            produced = list(t.run(doc, ctx))
        except Exception as exc:  # a transform bug must never take the run down
            result.errors.append(f"{t.id}: internal error ({type(exc).__name__}: {exc}); its changes were dropped")
            return doc
        if answers is not None:
            answers[key] = produced
    edits: list[Change] = []
    for item in produced:
        item.transform = t.id
        if isinstance(item, Skip):
            result.skips.append(item)
        elif isinstance(item, FileChange):
            if SAFETY_LEVELS[item.safety] <= ctx.options.max_safety:
                result.file_changes.append(item)
        elif isinstance(item, Change):
            item.line = doc.line_of(item.start)
            if _touches_ignored(doc, item, ctx, t.id):
                result.skips.append(
                    Skip(item.line, "ignore pragma (# dslim: ignore, or # hadolint ignore of the rule this fix answers)", t.id)
                )
            elif SAFETY_LEVELS[item.safety] > ctx.options.max_safety:
                result.withheld.append(item)
            else:
                edits.append(item)
    if not edits:
        return doc
    edits.sort(key=lambda c: (c.start, c.end))
    for before, after in zip(edits, edits[1:]):
        if after.start < before.end:
            result.errors.append(f"{t.id}: overlapping edits at line {after.line}; its changes were dropped")
            return doc
    edits = [e for e in edits if not _edits_unparsed_run(doc, e, t.id, result)]
    while edits:
        try:
            new_doc = parse(_apply(doc, edits))
        except ParseError as exc:
            result.errors.append(f"{t.id}: produced output that does not parse ({exc}); its changes were dropped")
            return doc
        broken = _broken_edits(doc, new_doc, edits)
        if not broken:
            result.changes.extend(edits)
            return new_doc
        new_doc.release()
        for k, rules in broken.items():
            result.errors.append(
                f"{t.id}: change at line {edits[k].line} dropped: it would break the RUN body ({', '.join(rules)}); report this as a bug"
            )
        edits = [e for k, e in enumerate(edits) if k not in broken]
    return doc


def _apply(doc: Document, edits: list[Change]) -> bytes:
    pieces, cursor = [], 0
    for edit in edits:
        pieces += [doc.text[cursor : edit.start], edit.replacement]
        cursor = edit.end
    pieces.append(doc.text[cursor:])
    return (b"\xef\xbb\xbf" if doc.bom else b"") + "".join(pieces).encode("utf-8")


def _edits_unparsed_run(doc: Document, edit: Change, transform_id: str, result: RewriteResult) -> bool:
    """A RUN body the shell parser cannot parse cleanly is never edited: we cannot know what we would change."""
    for ins in doc.instructions_in(edit.start, edit.end):
        if postconditions.hazards(ins).unparsed:
            result.skips.append(Skip(ins.line, "RUN not edited: the shell parser could not parse its body cleanly", transform_id))
            return True
    return False


def _broken_edits(old: Document, new: Document, edits: list[Change]) -> dict[int, list[str]]:
    """The edits (by index) after which a RUN they touch breaks a rule of ``postconditions`` that it kept before."""
    broken: dict[int, list[str]] = {}
    shift = 0
    for k, edit in enumerate(edits):
        new_start = edit.start + shift
        new_end = new_start + len(edit.replacement)
        shift += len(edit.replacement) - (edit.end - edit.start)
        before = sum((postconditions.hazards(i) for i in old.instructions_in(edit.start, edit.end)), postconditions.Hazards())
        after = sum((postconditions.hazards(i) for i in new.instructions_in(new_start, new_end)), postconditions.Hazards())
        rules = after.added_by(before)
        if rules:
            broken[k] = rules
    return broken


def generated_marker(doc: Document) -> tuple[int, str] | None:
    """(line, phrase) of a comment near the top saying the file is generated, else None."""
    known = data_toml("generated.toml")
    for node in doc.nodes:
        if node.line > known["scan_lines"]:
            break
        if isinstance(node, Comment):
            text = node.text.lower()
            for phrase in known["markers"]:
                if phrase in text:
                    return node.line, phrase
    return None


def _touches_ignored(doc: Document, change: Change, ctx: Context, transform_id: str) -> bool:
    return any(ctx.is_ignored(ins, transform_id) for ins in doc.instructions_in(change.start, change.end))


class _Pragmas:
    """``# dslim: ignore[=ids]`` above an instruction, ``# dslim: off`` before the first instruction."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.file_off = 0
        for node in doc.nodes:
            if isinstance(node, Instruction):
                break
            if isinstance(node, Comment):
                m = _PRAGMA_RE.match(node.text)
                if m and m.group(1) == "off":
                    self.file_off = node.line

    def ignores(self, instruction: Instruction, transform_id: str) -> bool:
        for comment in self.doc.comments_above(instruction):
            hadolint = _HADOLINT_RE.match(comment.text)
            if hadolint and transform_id in _hadolint_transforms(hadolint.group(1)):
                return True
            m = _PRAGMA_RE.match(comment.text)
            if not m or m.group(1) != "ignore":
                continue
            if m.group(2) is None:
                return True
            ids = {part.strip() for part in m.group(2).split(",")}
            if transform_id in ids:
                return True
        return False
