"""The one parametrized fixture test: every fixtures/<transform-id>/<case>/ pair.

For each case the pipeline runs restricted to that transform (plus options.json overrides):
the output must equal out.Dockerfile, parse with BuildKit's parser, and be a fixed point.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import case_options, case_snapshot, fixture_cases, oracle_parse, shell_syntax_errors

from dockerslim_rewrite.model import parse
from dockerslim_rewrite.pipeline import rewrite

CASES = fixture_cases()


def _id(case: Path) -> str:
    return f"{case.parent.name}/{case.name}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_fixture(case: Path) -> None:
    source = (case / "in.Dockerfile").read_bytes()
    expected = (case / "out.Dockerfile").read_bytes()
    options = case_options(case)
    snapshot = case_snapshot(case)
    result = rewrite(source, options, snapshot)
    assert not result.errors, result.errors
    assert result.output.decode() == expected.decode()
    assert parse(source).render() == source, "round trip of the input"
    oracle_parse(expected.decode("utf-8-sig"))
    again = rewrite(result.output, options, snapshot)
    assert again.output == result.output, "not idempotent"
    assert not again.changes
    if result.output != source:
        assert shell_syntax_errors(result.output) == shell_syntax_errors(source), "a RUN body no longer parses"
    if (case / "skip.txt").exists():  # "nothing to do": the file is already as the transform would make it
        expected_reason = (case / "skip.txt").read_text().strip()
        reasons = [s.reason for s in result.skips] + [f"withheld: {c.explanation}" for c in result.withheld]
        if expected_reason == "nothing to do":
            assert not result.changes and not result.withheld, "skip.txt says nothing to do"
        else:
            assert any(expected_reason in r for r in reasons), f"no skip says {expected_reason!r}: {reasons}"


def test_must_not_change_fixtures_say_why() -> None:
    """A fixture whose output equals its input records the reason (skip.txt), so it cannot pass by accident."""
    silent = [
        f"{c.parent.name}/{c.name}"
        for c in CASES
        if (c / "in.Dockerfile").read_bytes() == (c / "out.Dockerfile").read_bytes() and not (c / "skip.txt").exists()
    ]
    assert silent == [], f"must-not-change fixtures without skip.txt: {silent}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_fixture_output_is_fixed_point_of_whole_pipeline(case: Path) -> None:
    """Every out.Dockerfile, run through all the transforms, stays a parseable fixed point."""
    out = (case / "out.Dockerfile").read_bytes()
    options = case_options(case)
    options.select = None
    snapshot = case_snapshot(case)
    first = rewrite(out, options, snapshot)
    assert not first.errors, first.errors
    oracle_parse(first.output.decode("utf-8-sig"))
    second = rewrite(first.output, options, snapshot)
    assert second.output == first.output, "whole pipeline not idempotent"
