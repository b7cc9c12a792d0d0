"""End-to-end: `dslim verify` on every case under tests/e2e/cases with a real Docker engine.

Each case is a small real app (Dockerfile + files + case.toml). For each one, the original and
the rewritten Dockerfile are built, measured and run; the test asserts the verdict is `ok`, the
smoke commands behaved as the case expects in the original, and the size went down by at least
the case's `min_reduction` percent. A case opts into transforms as a user would: `select` (a list
of transform ids: `dslim verify --select`) and `unsafe_fixes = true` (`--unsafe-fixes`, for the
`unsafe` transforms such as strip-binaries). Results go to bench/e2e-results.json (scripts/e2e_table.py
turns them into the README table).

No engine: skipped with the reason, unless DSLIM_E2E=require (CI), which makes it a failure.
Start the lab engine with `bash tests/e2e/lab.sh` and eval its last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomllib

from dockerslim_rewrite.engine import Engine, EngineUnavailable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CASES = sorted(p for p in (HERE / "cases").iterdir() if (p / "case.toml").exists())
RESULTS = Path(os.environ.get("DSLIM_E2E_RESULTS", REPO / "bench" / "e2e-results.json"))
RUN_TIMEOUT = 60


@pytest.fixture(scope="module")
def engine() -> Engine:
    try:
        return Engine.detect()
    except EngineUnavailable as exc:
        if os.environ.get("DSLIM_E2E") == "require":
            pytest.fail(f"DSLIM_E2E=require but {exc}")
        pytest.skip(f"end-to-end tests need a Docker engine: {exc} (DSLIM_E2E=require turns this skip into a failure)")


def load_case(path: Path) -> dict:
    case = tomllib.loads((path / "case.toml").read_text())
    assert isinstance(case.get("smoke"), list) and case["smoke"], f"{path.name}: case.toml needs smoke commands"
    assert isinstance(case.get("min_reduction"), (int, float)), f"{path.name}: case.toml needs min_reduction"
    select = case.get("select", [])
    assert isinstance(select, list) and all(isinstance(t, str) for t in select), f"{path.name}: select is a list of ids"
    assert isinstance(case.get("unsafe_fixes", False), bool), f"{path.name}: unsafe_fixes is true or false"
    return case


def verify_options(case: dict) -> list[str]:
    """The `dslim verify` flags a case opts into (case.toml `select`, `unsafe_fixes`)."""
    flags = ["--select", ",".join(case["select"])] if case.get("select") else []
    return flags + (["--unsafe-fixes"] if case.get("unsafe_fixes") else [])


def record(name: str, case: dict, report: dict | None, seconds: float, error: str = "") -> None:
    """Merge this case's result into the results file (one entry per case)."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    cases = data.setdefault("cases", {})
    entry = {
        "description": case.get("description", ""),
        "min_reduction": case.get("min_reduction"),
        "seconds": round(seconds, 1),
        "error": error,
        "options": verify_options(case),
    }
    if report is not None:
        entry.update(
            {
                "verdict": report.get("verdict"),
                "reason": report.get("reason"),
                "size_before": report.get("size_before"),
                "size_after": report.get("size_after"),
                "reduction_percent": report.get("reduction_percent"),
                "transforms": report.get("rewrite", {}).get("transforms", []),
                "layers_before": (report.get("images", {}).get("before") or {}).get("layers"),
                "layers_after": (report.get("images", {}).get("after") or {}).get("layers"),
            }
        )
    cases[name] = entry
    data["engine"] = (report or {}).get("engine", data.get("engine", ""))
    data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(RESULTS)


def run_dslim_verify(case_dir: Path, smoke: list[str], options: list[str] | None = None) -> tuple[int, dict | None, str]:
    cmd = [
        sys.executable,
        "-m",
        "dockerslim_rewrite",
        "verify",
        str(case_dir / "Dockerfile"),
        "--context",
        str(case_dir),
        "--format",
        "json",
        "--timeout",
        str(RUN_TIMEOUT),
        *(options or []),
    ]
    for s in smoke:
        cmd += ["--smoke", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=1500)
    try:
        report = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        report = None
    return proc.returncode, report, proc.stderr


def test_every_case_is_complete():
    """Runs without an engine: the cases themselves are well-formed."""
    assert len(CASES) >= 12
    for path in CASES:
        load_case(path)
        assert (path / "Dockerfile").exists(), path.name


@pytest.mark.parametrize("case_dir", CASES, ids=[p.name for p in CASES])
def test_case(engine: Engine, case_dir: Path) -> None:
    case = load_case(case_dir)
    started = time.monotonic()
    rc, report, stderr = run_dslim_verify(case_dir, case["smoke"], verify_options(case))
    seconds = time.monotonic() - started
    if report is None:
        record(case_dir.name, case, None, seconds, error=(stderr.strip().splitlines() or [""])[-1])
        pytest.fail(f"dslim verify exited {rc} without a JSON report:\n{stderr[-3000:]}")
    record(case_dir.name, case, report, seconds)
    runs = report.get("runs", [])
    detail = json.dumps(
        {
            "reason": report.get("reason"),
            "runs": [r for r in runs if not r["same"]],
            "config": report.get("config_differences"),
            "builds": report.get("builds"),
            "rewrite_errors": report.get("rewrite", {}).get("errors"),
        },
        indent=1,
    )[:6000]
    assert report["verdict"] == "ok", f"{case_dir.name}: verdict {report['verdict']}\n{detail}"
    assert rc == 0
    # the smoke commands must really work in the original (else the case proves nothing)
    expect_exit = case.get("expect_exit", {})
    smoke_runs = [r for r in runs if r["command"].startswith("smoke ")]
    assert len(smoke_runs) == len(case["smoke"])
    for given, run in zip(case["smoke"], smoke_runs):
        assert run["before"]["exit_code"] == expect_exit.get(given, 0), f"{case_dir.name}: smoke {given!r}: {run}"
    if case.get("select"):  # the opted-in transforms made the rewrite (a case that proves nothing fails)
        applied = set(report.get("rewrite", {}).get("transforms", []))
        assert applied and applied <= set(case["select"]), f"{case_dir.name}: applied {sorted(applied)}"
    reduction = report["reduction_percent"] or 0.0
    assert reduction >= case["min_reduction"], (
        f"{case_dir.name}: {reduction:.1f} % smaller, case expects at least {case['min_reduction']} %"
    )


def test_table_script_renders_results(tmp_path):
    """scripts/e2e_table.py turns a results file into the README table (no engine needed)."""
    results = {
        "engine": "docker engine 26.1.5 via unix:///x.sock, buildx",
        "updated": "2026-01-01T00:00:00Z",
        "cases": {
            "b-case": {
                "size_before": 200_000_000,
                "size_after": 50_000_000,
                "reduction_percent": 75.0,
                "verdict": "ok",
                "transforms": ["slim-base"],
            },
            "a-case": {"error": "no report", "size_before": None},
            "c-case": {
                "size_before": 100_000_000,
                "size_after": 90_000_000,
                "reduction_percent": 10.0,
                "verdict": "ok",
                "transforms": ["strip-binaries"],
                "options": ["--select", "strip-binaries", "--unsafe-fixes"],
            },
        },
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(results))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- e2e-table:start -->\nold\n<!-- e2e-table:end -->\nrest\n")
    script = REPO / "scripts" / "e2e_table.py"
    out = subprocess.run([sys.executable, str(script), "--results", str(path)], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[2] == "| a-case | - | - | - | error | - |"
    assert lines[3] == "| b-case | 200.0 | 50.0 | 75.0 % | ok | slim-base |"
    assert lines[4] == "| c-case | 100.0 | 90.0 | 10.0 % | ok | strip-binaries (`--select strip-binaries --unsafe-fixes`) |"
    assert "| **all 3 cases** | 300.0 | 140.0 | 53.3 % | 2/3 ok | |" in lines
    assert "docker engine 26.1.5, buildx" in out and "x.sock" not in out
    subprocess.run(
        [sys.executable, str(script), "--results", str(path), "--readme", str(readme)], check=True, capture_output=True
    )
    text = readme.read_text()
    assert text.startswith("intro\n<!-- e2e-table:start -->\n| case |") and text.endswith("<!-- e2e-table:end -->\nrest\n")
    assert "old" not in text
