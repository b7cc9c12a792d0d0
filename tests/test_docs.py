"""Every transform's documentation (`dslim rule ID`) has the same shape, like ruff's rule pages."""

from __future__ import annotations

import re

import pytest

from dockerslim_rewrite.transforms import all_transforms

SECTIONS = ["What it does", "Why it saves bytes", "Example", "When it is not applied", "Limits", "Fix safety"]


@pytest.mark.parametrize("transform", all_transforms(), ids=lambda t: t.id)
def test_doc_has_the_one_heading_format(transform) -> None:
    lines = transform.doc.splitlines()
    assert re.fullmatch(rf"# {re.escape(transform.id)}(: .+)?", lines[0]), lines[0]
    headings = [line[3:] for line in lines if line.startswith("## ")]
    assert headings == SECTIONS, headings
    assert not [line for line in lines if re.match(r"^(\*\*[A-Z][a-z ]+[.:]|#{3,} )", line)], "another heading style"


@pytest.mark.parametrize("transform", all_transforms(), ids=lambda t: t.id)
def test_fix_safety_section_names_a_class(transform) -> None:
    doc = transform.doc
    section = doc[doc.index("## Fix safety") :]
    assert re.search(r"`?\b(safe|review|unsafe)\b`?", section.lower())
