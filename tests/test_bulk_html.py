"""summary.html: one static page (inline CSS and SVG, no script, no external asset), rendered by Chromium."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest
from bulk_helpers import git, make_repo
from test_cli import invoke

from dockerslim_rewrite.bulk.render import chart, diff_lines, render_summary_html

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "python-app"
BAR_BLUE, ADD_GREEN, DEL_RED = (0x09, 0x69, 0xDA), (0xDA, 0xFB, 0xE1), (0xFF, 0xEB, 0xE9)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("html")
    for name in ("shop-api", "billing"):
        repo = root / "repos" / name
        shutil.copytree(EXAMPLE, repo)
        git(repo, "init", "-q")
        git(repo, "add", ".")
        git(repo, "commit", "-qm", "init")
    make_repo(root / "repos" / "tiny")
    # a hostile file name and content must come out as text, never as markup
    (root / "repos" / "tiny" / "svc" / "Dockerfile").write_bytes(
        b'FROM debian:bookworm\nLABEL x="<script>x</script>"\nRUN touch /tmp/one\nRUN rm /tmp/one\n'
    )
    assert invoke("bulk", str(root / "repos"), "--out", str(root / "out"), "-j", "1").exit_code == 0
    return root / "out" / "summary.html"


def test_page_is_self_contained_and_escaped(page: Path) -> None:
    html = page.read_text()
    assert '<svg id="saving-chart"' in html and html.count('<rect class="bar"') == 4  # two repositories, two series
    assert html.count('<pre class="diff">') == 3
    assert '<span class="add">+FROM python:3.11-slim</span>' in html
    assert '<span class="hunk">@@ ' in html and '<span class="del">-FROM python:3.11</span>' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    for external in ("<link", "src=", "url(", "@import", "http://", "https://"):
        assert external not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "Estimates, not measurements" in html


def test_diff_line_classes() -> None:
    diff = "--- a/D\n+++ b/D\n@@ -1 +1 @@\n-old\n+new\n ctx\n\\ No newline at end of file\n"
    assert [c for c, _ in diff_lines(diff)] == ["meta", "meta", "hunk", "del", "add", "ctx", "meta"]


def test_chart_scales_and_limits_rows() -> None:
    repos = [{"key": f"r{n}", "saving": {"image_mb": float(n), "context_mb": 0.0}} for n in range(60)]
    drawn = chart(repos)
    assert len(drawn["bars"]) == 40 and drawn["hidden"] == 19  # r0 saves nothing: not drawn, not counted
    assert drawn["bars"][0]["label"] == "r59" and drawn["bars"][0]["image_w"] == 620.0
    empty = render_summary_html(
        {
            "version": "x",
            "generated_at": "",
            "shard": None,
            "merged_from": None,
            "totals": json.loads(
                '{"repos":0,"repos_changed":0,"repos_failed":0,"dockerfiles":0,"dockerfiles_changed":0,"errors":0,'
                '"committed":0,"image_mb":0,"context_mb":0,"by_safety":{},"by_transform":{}}'
            ),
            "repos": [],
            "errors": [],
        }
    )
    assert "No repository has a size estimate" in empty


def _pixels(png: bytes) -> set[tuple[int, int, int]]:
    """The distinct colours of an 8-bit RGB/RGBA PNG (enough of a decoder to check what Chromium drew)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    channels = 3
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    colours: set[tuple[int, int, int]] = set()
    for row in range(len(raw) // (stride + 1)):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1 : (row + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        colours.update(tuple(line[i : i + 3]) for i in range(0, stride, channels * 4))  # type: ignore[misc]
        prev = line
    return colours


def test_page_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    shot = tmp_path / "summary.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--screenshot={shot}",
                "--window-size=1200,2000",
                page.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert shot.exists(), "chromium wrote no screenshot"
    png = shot.read_bytes()
    assert len(png) > 30_000  # a blank page is a few KB
    colours = _pixels(png)
    assert BAR_BLUE in colours, "the chart's bars are not drawn"
    assert ADD_GREEN in colours and DEL_RED in colours, "the diffs' added and removed lines are not highlighted"
