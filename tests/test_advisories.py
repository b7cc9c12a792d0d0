"""Advisories: savings dslim reports but never makes (data/advisories.toml), in the text and JSON reports."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from dockerslim_rewrite.advisories import advise, run_advisories
from dockerslim_rewrite.buildcontext import scan_context
from dockerslim_rewrite.cli import app
from dockerslim_rewrite.model import parse
from dockerslim_rewrite.pipeline import rewrite
from dockerslim_rewrite.transform import Options


def _ids(text: str, snapshot=None) -> list[tuple[str, int]]:
    return [(a.id, a.line) for a in advise(parse(text), None, snapshot)]


def _context(tmp_path: Path, files: dict[str, int | str]) -> Path:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else "x" * content)
    return tmp_path


# --------------------------------------------------------------------------- static assets


def test_static_assets_with_source_maps_estimate_the_saving(tmp_path: Path) -> None:
    ctx = _context(tmp_path, {"static/app.js": 100_000, "static/app.js.map": 300_000, "static/site.css": 20_000})
    text = "FROM nginx:1.27\nCOPY static /usr/share/nginx/html\n"
    (advisory,) = advise(parse(text), None, scan_context(ctx))
    assert (advisory.id, advisory.line) == ("static-assets", 2)
    assert "3 static asset file(s)" in advisory.message and "source maps" in advisory.message
    assert advisory.saving_bytes == 300_000 + int(100_000 * 0.35) + int(20_000 * 0.20)
    assert "source maps dropped" in (advisory.estimate or "")


def test_static_assets_respect_dockerignore_minified_names_and_thresholds(tmp_path: Path) -> None:
    ctx = _context(
        tmp_path,
        {"public/app.min.js": 90_000, "public/app.min.js.map": 200_000, ".dockerignore": "**/*.map\n"},
    )
    text = "FROM nginx:1.27\nCOPY public/ /usr/share/nginx/html/\n"
    (advisory,) = advise(parse(text), None, scan_context(ctx))
    assert advisory.saving_bytes is None  # minified already, maps excluded from the context: nothing to estimate
    small = _context(tmp_path / "small", {"public/a.css": 1_000})
    assert _ids(text.replace("public/", "public/"), scan_context(small)) == []


def test_server_side_js_and_builder_stages_are_not_static_assets(tmp_path: Path) -> None:
    ctx = _context(tmp_path, {"src/index.js": 500_000, "web/site.css": 100_000})
    server = 'FROM node:20-slim\nWORKDIR /app\nCOPY src ./src\nCMD ["node", "src/index.js"]\n'
    assert _ids(server, scan_context(ctx)) == []
    builder = "FROM node:20 AS build\nCOPY web /web\nRUN true\n\nFROM nginx:1.27\nCOPY --from=build /web /usr/share/nginx/html\n"
    assert _ids(builder, scan_context(ctx)) == []
    assert _ids(server, None) == []  # no build context: nothing known


# --------------------------------------------------------------------------- ADD of a remote archive


def test_add_remote_archive() -> None:
    text = (
        "FROM debian:bookworm-slim\n"
        "ARG V=1.2\n"
        "ADD https://example.com/tool-${V}.tar.gz /tmp/\n"
        "ADD https://example.com/install.sh /tmp/\n"
        "ADD --checksum=sha256:00 https://example.com/x.zip?raw=1 /opt/\n"
        "ADD local.tar.gz /opt/\n"
    )
    assert _ids(text) == [("add-remote-archive", 3), ("add-remote-archive", 5)]
    builder = "FROM debian AS get\nADD https://example.com/x.tgz /x.tgz\n\nFROM scratch\nCOPY --from=get /etc/os-release /\n"
    assert _ids(builder) == []


# --------------------------------------------------------------------------- package upgrades


def test_package_upgrade() -> None:
    text = (
        "FROM debian:bookworm\n"
        "RUN apt-get update && apt-get -y upgrade && apt-get install -y curl\n"
        "RUN apt-get install -y --only-upgrade openssl\n"
        "RUN apt-get -o Dpkg::Options::=--force-confold dist-upgrade -y\n"
        "RUN echo upgrade\n"
    )
    assert _ids(text) == [("package-upgrade", 2), ("package-upgrade", 4)]
    (advisory,) = advise(parse("FROM alpine:3.20\nRUN apk upgrade --no-cache\n"))
    assert "`apk upgrade`" in advisory.message and "newer base tag" in advisory.message


# --------------------------------------------------------------------------- layer count


def test_too_many_layers_counts_the_final_lineage_only() -> None:
    runs = "".join(f"RUN echo {k} > /f{k}\n" for k in range(49))
    at_limit = f"FROM debian AS base\nCOPY a /a\n{runs}\nFROM base\n"  # 50 layers: fine
    assert _ids(at_limit) == []
    over = at_limit + "ADD b /b\n"
    assert _ids(over) == [("too-many-layers", 53)]  # the final stage's FROM
    builder = f"FROM debian AS build\nCOPY a /a\n{runs}ADD b /b\n\nFROM debian\nCOPY --from=build /a /a\n"
    assert _ids(builder) == []


def test_layer_count_reports_the_rewritten_file_too() -> None:
    runs = "".join(f"RUN touch /f{k}\nRUN rm /f{k}\n" for k in range(30))
    result = rewrite(f"FROM debian:bookworm\n{runs}".encode(), Options(select=frozenset({"merge-runs"})))
    assert result.output != result.original
    layers = [a for a in result.advisories if a.id == "too-many-layers"]
    assert layers == []  # merged below the limit: no advice left


# --------------------------------------------------------------------------- never an edit, once per run


def test_advisories_never_change_the_file_and_respect_dslim_off() -> None:
    text = b"FROM debian:bookworm-slim\nRUN apt-get update && apt-get -y upgrade && rm -rf /var/lib/apt/lists/*\n"
    result = rewrite(text)
    assert result.output == text and not result.changed
    assert [a.id for a in result.advisories] == ["package-upgrade"]
    assert rewrite(b"# dslim: off\n" + text).advisories == []


def test_run_advisories_are_the_export_options() -> None:
    advice = {a.id: a.message for a in run_advisories()}
    assert set(advice) == {"export-zstd", "export-oci-mediatypes", "export-no-squash"}
    assert "compression=zstd" in advice["export-zstd"]
    assert "oci-mediatypes=true" in advice["export-oci-mediatypes"]
    assert "--squash" in advice["export-no-squash"] and "multi-stage" in advice["export-no-squash"]


UPGRADE = "FROM debian:bookworm-slim\nRUN apt-get update && apt-get -y upgrade && rm -rf /var/lib/apt/lists/*\n"


def _invoke(tmp_path: Path, *args: str):
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def _two_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_text(UPGRADE)


def test_json_report_per_file_and_run_advisories(tmp_path: Path) -> None:
    _two_files(tmp_path)
    result = _invoke(tmp_path, "rewrite", "a", "b", "--format", "json", "--check")
    assert result.exit_code == 0  # advisories alone never fail --check
    data = json.loads(result.stdout)
    assert [a["id"] for a in data["advisories"]] == ["export-zstd", "export-oci-mediatypes", "export-no-squash"]
    for entry in data["files"]:
        assert entry["advisories"] == [
            {
                "id": "package-upgrade",
                "message": entry["advisories"][0]["message"],
                "line": 2,
                "saving_bytes": None,
                "estimate": None,
            }
        ]
        assert "export-zstd" not in json.dumps(entry)


def test_text_report_prints_run_advice_once(tmp_path: Path) -> None:
    _two_files(tmp_path)
    result = _invoke(tmp_path, "rewrite", "a", "b")
    assert result.exit_code == 0
    err = result.stderr
    assert err.count("advisory package-upgrade") == 2
    assert "a/Dockerfile:2: advisory package-upgrade: `apt-get upgrade`" in err
    assert err.count("advisories for this run") == 1 and err.count("advisory export-zstd") == 1
    assert err.rstrip().endswith("2 file(s): 0 would change, 0 error(s)")
    quiet = _invoke(tmp_path, "rewrite", "a", "b", "-q")
    assert "advisor" not in quiet.stderr
