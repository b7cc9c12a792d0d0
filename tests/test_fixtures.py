"""The one parametrized fixture test: every fixtures/<transform-id>/<case>/ pair.

For each case the pipeline runs restricted to that transform (plus options.json overrides):
the output must equal out.Dockerfile, parse with BuildKit's parser, and be a fixed point.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import case_options, case_snapshot, fixture_cases, oracle_parse
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
