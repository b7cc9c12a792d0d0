"""Time dslim on pathological but legal Dockerfiles and print a small table.

Not a test: timings depend on the machine. Targets (issue 8): a 100,000-line Dockerfile under 10 s through
the whole pipeline; shell pathologies (10,000 `&&` in one RUN, deep nesting) stay roughly linear, i.e.
doubling the size at most ~2.5x the time (the `scaling` column compares each case with its half-size twin).

    python bench/bench_large.py            # all cases
    python bench/bench_large.py --quick    # smaller sizes (a smoke run, ~1/4 of the sizes)
    python bench/bench_large.py --cli      # also time the `dslim rewrite` command end to end on the big file
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dockerslim_rewrite.model import parse
from dockerslim_rewrite.pipeline import rewrite
from dockerslim_rewrite.transform import Options

BLOCK = """\
# service {i}
FROM debian:bookworm AS s{i}
ARG VERSION_{i}=1.{i}
ENV APP_HOME=/opt/app{i} \\
    PATH=/opt/app{i}/bin:$PATH
WORKDIR /opt/app{i}
RUN apt-get update
RUN apt-get install -y curl ca-certificates \\
    && curl -fsSL https://example.invalid/app{i}.tgz -o /tmp/app.tgz \\
    && tar -xzf /tmp/app.tgz -C /opt/app{i} \\
    && rm /tmp/app.tgz
RUN cd /opt/app{i} && export MODE=prod && ./configure
COPY --chown=app:app config/{i}.yml /etc/app/
COPY --from=s0 /opt/app0/bin/tool /usr/local/bin/tool{i}
RUN if [ -f /etc/app/{i}.yml ]; then echo configured; fi
RUN <<EOF
set -e
echo heredoc body {i}
EOF
HEALTHCHECK --interval=30s CMD curl -f http://localhost:{i}/ || exit 1
EXPOSE {port}
USER app
CMD ["/opt/app{i}/bin/server", "--port", "{port}"]

"""


def big_file(lines: int) -> bytes:
    """A realistic many-stage file of about ``lines`` lines (23 lines per block, ~17 instructions)."""
    parts, count, i = [], 0, 0
    while count < lines:
        block = BLOCK.format(i=i, port=8000 + i % 1000)
        parts.append(block)
        count += block.count("\n")
        i += 1
    return "".join(parts).encode()


def and_chain(n: int) -> bytes:
    body = " \\\n    && ".join(f"echo step{k}" for k in range(n))
    return f"FROM debian:bookworm\nRUN apt-get update\nRUN {body}\n".encode()


def and_chain_one_line(n: int) -> bytes:
    body = " && ".join(f"echo s{k}" for k in range(n))
    return f"FROM debian:bookworm\nRUN {body}\n".encode()


def nested(kind: str, depth: int) -> bytes:
    body = {
        "subshell": "( " * depth + "echo x" + " )" * depth,
        "if": "if true; then " * depth + "echo x" + "; fi" * depth,
        "cmdsub": "echo " + "$(echo " * depth + "x" + ")" * depth,
    }[kind]
    return f"FROM debian:bookworm\nRUN apt-get update\nRUN {body}\n".encode()


def many_runs(n: int) -> bytes:
    """n consecutive RUNs: one merge-runs chain of n bodies."""
    return ("FROM debian:bookworm\n" + "".join(f"RUN echo {k}\n" for k in range(n))).encode()


def many_stages(n: int) -> bytes:
    """n stages, each built FROM the previous one and copying from the first (stage-graph walks)."""
    out = ["FROM debian:bookworm AS st0\nRUN echo 0\n"]
    for k in range(1, n):
        out.append(f"FROM st{k - 1} AS st{k}\nCOPY --from=st0 /x /x{k}\nRUN echo {k}\n")
    return "".join(out).encode()


CASES = [
    # name, builder, full size, target seconds (None: only the scaling matters)
    ("100k-line file", big_file, 100_000, 10.0),
    ("&& chain, multi-line", and_chain, 10_000, None),
    ("&& chain, one line", and_chain_one_line, 10_000, None),
    ("nested ( )", lambda n: nested("subshell", n), 2_000, None),
    ("nested if", lambda n: nested("if", n), 2_000, None),
    ("nested $( )", lambda n: nested("cmdsub", n), 2_000, None),
    ("consecutive RUNs", many_runs, 20_000, None),
    ("chained stages", many_stages, 2_000, None),
]


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def run_case(name: str, build, size: int, target: float | None) -> dict:
    data = build(size)
    parse_s, doc = timed(lambda: parse(data))
    pipe_s, result = timed(lambda: rewrite(data, Options(unsafe_fixes=True)))
    half_s, _ = timed(lambda: rewrite(build(size // 2), Options(unsafe_fixes=True)))
    # below ~1 s the ratio is mostly noise (imports, caches, other processes): only judge the slow cases
    scaling = pipe_s / half_s if pipe_s >= 1.0 and half_s > 0 else float("nan")
    ok = (target is None or pipe_s < target) and (scaling != scaling or scaling < 2.5) and not result.errors
    return {
        "case": name,
        "size": size,
        "lines": data.count(b"\n"),
        "instr": len(doc.instructions),
        "parse_s": parse_s,
        "pipeline_s": pipe_s,
        "scaling": scaling,
        "target": f"< {target:.0f} s" if target else "linear",
        "status": "ok" if ok else ("ERRORS" if result.errors else "SLOW"),
        "errors": result.errors,
    }


def cli_time(data: bytes) -> float:
    dslim = shutil.which("dslim") or str(Path(sys.executable).with_name("dslim"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Dockerfile"
        path.write_bytes(data)
        start = time.perf_counter()
        subprocess.run([dslim, "rewrite", "--quiet", str(path)], capture_output=True, check=False)
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="quarter sizes, for a smoke run")
    parser.add_argument("--cli", action="store_true", help="also time `dslim rewrite` on the 100k-line file")
    parser.add_argument("-k", default="", help="only cases whose name contains this text")
    args = parser.parse_args()
    rows = []
    header = f"{'case':24} {'size':>7} {'lines':>7} {'instr':>6} {'parse s':>8} {'pipeline s':>10} {'x2 size':>7}  {'target':>7}  status"
    print(f"dslim bench on {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}")
    print(header)
    print("-" * len(header))
    for name, build, size, target in CASES:
        if args.k and args.k not in name:
            continue
        size = size // 4 if args.quick else size
        row = run_case(name, build, size, None if args.quick else target)
        rows.append(row)
        scaling = "-" if row["scaling"] != row["scaling"] else f"{row['scaling']:.2f}x"
        print(
            f"{row['case']:24} {row['size']:>7} {row['lines']:>7} {row['instr']:>6} {row['parse_s']:>8.2f} "
            f"{row['pipeline_s']:>10.2f} {scaling:>7}  {row['target']:>7}  {row['status']}",
            flush=True,
        )
        for error in row["errors"]:
            print(f"    transform error: {error}")
    if args.cli:
        print(f"dslim rewrite (CLI, whole process) on the 100k-line file: {cli_time(big_file(100_000)):.2f} s")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
