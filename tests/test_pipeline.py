"""Pipeline guarantees: broken transforms are contained, safety classes filter, pragmas apply."""

from __future__ import annotations

from dockerslim_rewrite.model import parse
from dockerslim_rewrite.pipeline import RewriteResult, _run_one, rewrite
from dockerslim_rewrite.transform import Change, Context, Options, Skip, Transform

DATA = b"FROM debian:bookworm\nRUN echo one\nRUN echo two\n"


def _fake(func) -> Transform:
    return Transform("fake", "a test transform", 99, func, __name__)


def _run(func, options: Options | None = None, data: bytes = DATA):
    doc = parse(data)
    result = RewriteResult(original=data, output=data)
    new_doc = _run_one(_fake(func), doc, Context(options or Options()), result)
    return new_doc.render(), result


def test_a_transform_that_raises_is_contained() -> None:
    def boom(doc, ctx):
        raise RuntimeError("bug")

    out, result = _run(boom)
    assert out == DATA and "internal error" in result.errors[0]


def test_output_that_does_not_parse_is_dropped() -> None:
    def breaks(doc, ctx):
        yield Change(0, 4, "FRMO", "safe", "typo")

    out, result = _run(breaks)
    assert out == DATA and "does not parse" in result.errors[0] and not result.changes


def test_overlapping_edits_are_dropped() -> None:
    def overlaps(doc, ctx):
        yield Change(0, 10, "FROM x", "safe", "a")
        yield Change(5, 12, "y", "safe", "b")

    out, result = _run(overlaps)
    assert out == DATA and "overlapping" in result.errors[0]


def test_safety_classes_filter_changes() -> None:
    def classes(doc, ctx):
        run1, run2 = doc.instructions[1], doc.instructions[2]
        yield Change(run1.body_start, run1.body_end, "echo safe", "safe", "s")
        yield Change(run2.body_start, run2.body_end, "echo unsafe", "unsafe", "u")
        yield Skip(1, "nothing to see")

    out, result = _run(classes)
    assert out == b"FROM debian:bookworm\nRUN echo safe\nRUN echo two\n"
    assert [c.explanation for c in result.withheld] == ["u"] and result.skips[0].reason == "nothing to see"
    out, _ = _run(classes, Options(unsafe_fixes=True))
    assert out.endswith(b"RUN echo unsafe\n")
    out, result = _run(classes, Options(safe_only=True))
    assert out.endswith(b"RUN echo two\n") and len(result.withheld) == 1


def test_changes_report_lines_and_ids() -> None:
    result = rewrite(DATA, Options(select=frozenset({"merge-runs"}), settings={"merge-runs": {"only-when-smaller": False}}))
    assert [(c.transform, c.line, c.safety) for c in result.changes] == [("merge-runs", 2, "safe")]
    assert result.transforms_applied == ["merge-runs"]


def test_file_off_pragma_skips_everything() -> None:
    data = b"# dslim: off\n" + DATA
    result = rewrite(data)
    assert result.output == data and not result.changed and "off" in result.skips[0].reason


def test_unchanged_file_is_byte_identical_through_all_transforms() -> None:
    data = b'\xef\xbb\xbf# syntax=docker/dockerfile:1\r\nFROM scratch\r\nCOPY --chmod=755 app /app\r\nENTRYPOINT ["/app"]'
    result = rewrite(data)
    assert result.output == data and not result.changes
