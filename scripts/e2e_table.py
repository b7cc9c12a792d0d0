#!/usr/bin/env python3
"""Print the end-to-end results as the markdown table the README publishes.

The numbers come from real builds: tests/e2e/test_e2e.py writes bench/e2e-results.json while it
runs `dslim verify` on every case. `--run` runs those tests first (needs an engine: see
tests/e2e/lab.sh); `--readme README.md` replaces the table between the
`<!-- e2e-table:start -->` and `<!-- e2e-table:end -->` markers instead of printing it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "bench" / "e2e-results.json"
START, END = "<!-- e2e-table:start -->", "<!-- e2e-table:end -->"


def mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:,.1f}"


def table(results: dict) -> str:
    rows = ["| case | before MB | after MB | reduction | verdict | transforms applied |", "|---|---:|---:|---:|---|---|"]
    for name, c in sorted(results.get("cases", {}).items()):
        red = c.get("reduction_percent")
        verdict = c.get("verdict") or ("error" if c.get("error") else "-")
        applied = ", ".join(c.get("transforms") or []) or "-"
        if c.get("options"):  # the case opted into transforms (case.toml select / unsafe_fixes)
            applied += f" (`{' '.join(c['options'])}`)"
        rows.append(
            f"| {name} | {mb(c.get('size_before'))} | {mb(c.get('size_after'))} | "
            f"{'-' if red is None else f'{red:.1f} %'} | {verdict} | {applied} |"
        )
    cases = list(results.get("cases", {}).values())
    before = sum(c.get("size_before") or 0 for c in cases)
    after = sum(c.get("size_after") or 0 for c in cases)
    if before:
        ok = sum(1 for c in cases if c.get("verdict") == "ok")
        rows.append(
            f"| **all {len(cases)} cases** | {mb(before)} | {mb(after)} | {100 * (before - after) / before:.1f} % "
            f"| {ok}/{len(cases)} ok | |"
        )
    engine = re.sub(r" via [^,]+", "", results.get("engine") or "unknown engine")
    rows.append("")
    rows.append(
        f"_Measured {results.get('updated', '?')} with {engine} on the lab's stand-in base images "
        f"(built from Debian packages by `tests/e2e/lab.sh`, so absolute sizes differ from Docker Hub's); "
        f"sizes are the bytes stored in the image layers, uncompressed. Produced by `scripts/e2e_table.py`._"
    )
    return "\n".join(rows) + "\n"


def replace_block(text: str, block: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"the README has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    ap.add_argument("--run", action="store_true", help="run tests/e2e first (fresh results file)")
    ap.add_argument("--readme", type=Path, help="update the table between the markers in this file")
    args = ap.parse_args(argv)
    if args.run:
        if args.results.exists():
            args.results.unlink()
        env = dict(os.environ, DSLIM_E2E="require", DSLIM_E2E_RESULTS=str(args.results))
        rc = subprocess.run([sys.executable, "-m", "pytest", "-q", str(REPO / "tests" / "e2e")], cwd=REPO, env=env).returncode
        if rc not in (0, 1):
            return rc
    if not args.results.exists():
        print(f"no results at {args.results}: run with --run (needs an engine, see tests/e2e/lab.sh)", file=sys.stderr)
        return 2
    block = table(json.loads(args.results.read_text()))
    if args.readme:
        args.readme.write_text(replace_block(args.readme.read_text(), block))
        print(f"updated the e2e table in {args.readme}", file=sys.stderr)
    else:
        sys.stdout.write(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
