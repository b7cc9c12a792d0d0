"""`dslim verify`: build the original and the rewritten Dockerfile, compare sizes and behaviour.

Why: a rewrite is only trusted when it shows its work. The rewrite goes into a temporary copy
of the build context (the user's files are never touched); both images are built by the
same engine with the same build args, measured from their saved tars (imagestats), run with
`--network none` (default command and each smoke command), and their configs compared.

Verdicts (exit code 0 only for `ok`):
- `ok`: the rewritten image is not larger (64 kB slack for build noise) and behaves the same;
- `baseline-broken`: the ORIGINAL does not build: not the rewrite's fault;
- `rewrite-broke-build`: the original builds, the rewritten one does not;
- `behaviour-changed`: a run (exit code or stdout) or a runtime config field differs;
- `larger`: same behaviour, but the rewritten image is larger.
Usage and engine problems exit 2 with one line on stderr.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .engine import BuildResult, Engine, EngineError, EngineUnavailable, RunResult
from .imagestats import ImageStats, ImageTarError, human, read_image_tar

SIZE_SLACK = 64 * 1024  # ld.so.cache, dpkg logs and timestamps may differ by a few kB between builds
OUTPUT_LIMIT = 4000  # characters of stdout/stderr kept per run in the report

# config fields that change what the container does (a difference is a behaviour change)
STRICT_FIELDS = ("Entrypoint", "Cmd", "WorkingDir", "User", "ExposedPorts", "Volumes")
VERDICT_EXIT = {"ok": 0, "baseline-broken": 1, "rewrite-broke-build": 1, "behaviour-changed": 1, "larger": 1}


@dataclass
class RunComparison:
    label: str  # "default command" or the smoke command as given
    args: list[str] | None
    before: RunResult
    after: RunResult | None  # None when the rewrite changed nothing (one image)
    same: bool
    note: str = ""

    def to_json(self) -> dict:
        def one(r: RunResult | None) -> dict | None:
            if r is None:
                return None
            return {"exit_code": r.exit_code, "timed_out": r.timed_out, "seconds": round(r.seconds, 2),
                    "stdout": r.stdout[-OUTPUT_LIMIT:], "stderr": r.stderr[-OUTPUT_LIMIT:]}

        return {"command": self.label, "same": self.same, "note": self.note,
                "before": one(self.before), "after": one(self.after)}


@dataclass
class ConfigDiff:
    field: str
    before: Any
    after: Any
    behaviour: bool  # counts against the verdict (else: a note)
    note: str = ""


@dataclass
class VerifyReport:
    dockerfile: str
    context: str
    engine: str = ""
    verdict: str = ""
    reason: str = ""
    changed: bool = False
    transforms: list[str] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)
    withheld: int = 0
    rewrite_errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    builds: dict[str, dict] = field(default_factory=dict)
    stats: dict[str, ImageStats] = field(default_factory=dict)
    runs: list[RunComparison] = field(default_factory=list)
    config_diffs: list[ConfigDiff] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @property
    def size_before(self) -> int | None:
        s = self.stats.get("before")
        return s.size if s else None

    @property
    def size_after(self) -> int | None:
        s = self.stats.get("after") or (self.stats.get("before") if not self.changed else None)
        return s.size if s else None

    @property
    def reduction_percent(self) -> float | None:
        b, a = self.size_before, self.size_after
        if not b or a is None:
            return None
        return round(100.0 * (b - a) / b, 2)

    def to_json(self) -> dict:
        return {
            "dockerfile": self.dockerfile,
            "context": self.context,
            "engine": self.engine,
            "verdict": self.verdict,
            "reason": self.reason,
            "rewrite": {"changed": self.changed, "transforms": self.transforms, "changes": self.changes,
                        "withheld": self.withheld, "errors": self.rewrite_errors},
            "notices": self.notices,
            "builds": self.builds,
            "images": {k: v.to_json() for k, v in self.stats.items()},
            "size_before": self.size_before,
            "size_after": self.size_after,
            "reduction_percent": self.reduction_percent,
            "runs": [r.to_json() for r in self.runs],
            "config_differences": [
                {"field": d.field, "before": d.before, "after": d.after, "behaviour": d.behaviour, "note": d.note}
                for d in self.config_diffs
            ],
            "kept_images": self.kept,
        }


class UsageError(Exception):
    pass


# ------------------------------------------------------------------------------------------
# pure comparison helpers (unit-tested without an engine)


def _empty(v: Any) -> bool:
    return v is None or v == [] or v == {} or v == ""


def env_dict(env: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


_ENV_KEY = re.compile(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=")


def user_env_keys(dockerfile_text: str) -> set[str]:
    """Names the Dockerfile itself sets with ENV (any stage): their values are the user's contract."""
    keys: set[str] = set()
    for line in _logical_lines(dockerfile_text):
        m = re.match(r"\s*ENV\s+(.*)$", line, re.IGNORECASE)
        if not m:
            continue
        body = m.group(1)
        found = _ENV_KEY.findall(body)
        if found and "=" in body.split()[0]:
            keys.update(found)
        elif body.split():
            keys.add(body.split()[0])  # legacy `ENV KEY value`
    return keys


def _logical_lines(text: str) -> list[str]:
    lines, cur = [], ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#") and cur:
            continue
        if raw.rstrip().endswith("\\"):
            cur += raw.rstrip()[:-1] + " "
            continue
        lines.append(cur + raw)
        cur = ""
    if cur:
        lines.append(cur)
    return lines


def compare_config(before: dict, after: dict, user_env: set[str]) -> list[ConfigDiff]:
    """Differences between two image configs (`docker image inspect` .Config)."""
    diffs: list[ConfigDiff] = []
    for name in STRICT_FIELDS:
        b, a = before.get(name), after.get(name)
        if _empty(b) and _empty(a):
            continue
        if b != a:
            diffs.append(ConfigDiff(name, b, a, True))
    eb, ea = env_dict(before.get("Env")), env_dict(after.get("Env"))
    for key in sorted(set(eb) | set(ea)):
        if eb.get(key) == ea.get(key):
            continue
        user = key in user_env
        diffs.append(ConfigDiff(f"Env {key}", eb.get(key), ea.get(key), user,
                                "" if user else "inherited from the base image, not set by this Dockerfile"))
    lb, la = before.get("Labels") or {}, after.get("Labels") or {}
    for key in sorted(set(lb) | set(la)):
        if lb.get(key) != la.get(key):
            diffs.append(ConfigDiff(f"Label {key}", lb.get(key), la.get(key), False, "labels do not change behaviour"))
    return diffs


def compare_runs(label: str, args: list[str] | None, before: RunResult, after: RunResult) -> RunComparison:
    if before.timed_out and after.timed_out:
        return RunComparison(label, args, before, after, True,
                             "both still running at the timeout (a service?): output not compared")
    if before.timed_out != after.timed_out:
        which = "original" if before.timed_out else "rewritten"
        return RunComparison(label, args, before, after, False, f"only the {which} image timed out")
    if before.exit_code != after.exit_code:
        return RunComparison(label, args, before, after, False, f"exit code {before.exit_code} -> {after.exit_code}")
    if before.stdout != after.stdout:
        return RunComparison(label, args, before, after, False, "stdout differs")
    return RunComparison(label, args, before, after, True)


def decide(report: VerifyReport) -> tuple[str, str]:
    """The verdict and one sentence saying why."""
    if not report.builds.get("before", {}).get("ok", False):
        return "baseline-broken", "the original Dockerfile does not build: not the rewrite's fault; fix it first"
    if report.changed and not report.builds.get("after", {}).get("ok", False):
        return "rewrite-broke-build", "the original builds but the rewritten Dockerfile does not"
    changed_runs = [r.label for r in report.runs if not r.same]
    strict = [d.field for d in report.config_diffs if d.behaviour]
    if changed_runs or strict:
        parts = []
        if changed_runs:
            parts.append("runs differ: " + ", ".join(changed_runs))
        if strict:
            parts.append("config differs: " + ", ".join(strict))
        return "behaviour-changed", "; ".join(parts)
    if not report.changed:
        return "ok", "the rewrite changed nothing; the original builds and runs"
    b, a = report.size_before or 0, report.size_after or 0
    if a > b + SIZE_SLACK:
        return "larger", f"same behaviour but the rewritten image is {human(a - b)} larger"
    if a >= b:
        return "ok", "same behaviour, same size" + (f" (+{human(a - b)}, within build noise)" if a > b else "")
    pct = report.reduction_percent or 0.0
    return "ok", f"{human(b - a)} smaller ({pct:.1f} %), same behaviour"


# ------------------------------------------------------------------------------------------


def run_verify(
    dockerfile: Path,
    context: Path | None,
    smoke: list[str],
    options: Any,
    fmt: str,
    timeout: float,
    keep_images: bool,
    build_args: dict[str, str],
    out: IO[str],
    err: IO[str],
    network: str | None = None,
    engine: Engine | None = None,
) -> int:
    """Build, measure, run and compare; print the report to `out` (text or json). Returns the exit code.

    `network` is the build network (`docker build --network`); default $DSLIM_BUILD_NETWORK, else
    `host` when the engine has no bridge network (the lab's), else the engine's default.
    Run commands always use `--network none`. `engine` is for tests (a fake); default: detect.
    """
    from . import pipeline  # late: verify is importable (and its helpers testable) on its own
    from .buildcontext import scan_context
    from .fsio import InputError, read_dockerfile
    from .model import ParseError

    if fmt not in ("text", "json"):
        err.write(f"dslim verify: --format must be text or json, not {fmt!r}\n")
        return 2
    dockerfile = Path(dockerfile)
    context_root = (Path(context) if context else dockerfile.parent).resolve()
    report = VerifyReport(str(dockerfile), str(context_root))
    try:
        data = read_dockerfile(dockerfile)
        if not context_root.is_dir():
            raise InputError(f"{context_root}: build context is not a directory")
        smoke_args = []
        for cmd in smoke:
            try:
                smoke_args.append(shlex.split(cmd))
            except ValueError as exc:
                raise InputError(f"--smoke {cmd!r}: {exc}") from None
        snapshot = scan_context(context_root, dockerfile.resolve())
        try:
            name = dockerfile.resolve().relative_to(context_root).as_posix()
            inside = True
        except ValueError:
            name, inside = dockerfile.name, False
        result = pipeline.rewrite(data, options, snapshot, name)
    except InputError as exc:
        err.write(f"dslim verify: {exc}\n")
        return 2
    except ParseError as exc:
        where = f"{dockerfile}:{exc.line}" if getattr(exc, "line", None) else str(dockerfile)
        err.write(f"dslim verify: {where}: {getattr(exc, 'message', exc)}\n")
        return 2
    report.changed = result.changed
    report.transforms = result.transforms_applied
    report.changes = [{"transform": c.transform, "line": c.line, "safety": c.safety, "explanation": c.explanation,
                       "assumption": c.assumption} for c in result.changes]
    report.changes += [{"transform": fc.transform, "file": fc.path, "safety": fc.safety,
                        "explanation": fc.explanation} for fc in result.file_changes if fc.new != fc.old]
    report.withheld = len(result.withheld)
    report.rewrite_errors = list(result.errors)

    try:
        engine = engine or Engine.detect()
    except EngineUnavailable as exc:
        err.write(f"dslim verify: {exc}\n")
        return 2
    report.engine = engine.describe()
    network = network if network is not None else (os.environ.get("DSLIM_BUILD_NETWORK") or None)
    try:
        if network is None and not engine.has_bridge_network():
            network = "host"
            report.notices.append("the engine has no bridge network (started with --bridge=none): "
                                  "both builds use --network host")
    except EngineError as exc:
        err.write(f"dslim verify: {exc}\n")
        return 2
    run_id = uuid.uuid4().hex[:10]
    tags = {"before": f"dslim-verify-{run_id}:before", "after": f"dslim-verify-{run_id}:after"}
    built: list[str] = []
    scratch = Path(tempfile.mkdtemp(prefix="dslim-verify-"))
    try:
        err.write(f"dslim verify: {report.engine}\n")
        # the rewritten copy of the context
        after_df: Path | None = None
        if result.changed:
            ctx_copy = scratch / "context"
            shutil.copytree(context_root, ctx_copy, symlinks=True)
            if inside:
                after_df = ctx_copy / name
            else:
                (scratch / "dockerfile").mkdir()
                after_df = scratch / "dockerfile" / dockerfile.name
                ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
                if ignore.exists():
                    shutil.copyfile(ignore, after_df.with_name(ignore.name))
            after_df.write_bytes(result.output)
            for fc in result.file_changes:
                if fc.new != fc.old:
                    target = ctx_copy / fc.path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(fc.new)
        builds: list[tuple[str, Path, Path]] = [("before", context_root, dockerfile.resolve())]
        if after_df is not None:
            builds.append(("after", scratch / "context", after_df))
        for which, ctx, df in builds:
            err.write(f"dslim verify: building the {'original' if which == 'before' else 'rewritten'} image "
                      f"({tags[which]})\n")
            b: BuildResult = engine.build(ctx, df, tags[which], build_args, progress=err, network=network,
                                          prefix=f"[{which}] ")
            report.builds[which] = {"ok": b.ok, "seconds": round(b.seconds, 1), "tag": tags[which],
                                    "log_tail": [] if b.ok else b.log_tail[-20:]}
            for notice in b.notices:
                if notice not in report.notices:
                    report.notices.append(notice)
            if b.ok:
                built.append(tags[which])
            else:
                break
        if len(built) == len(builds):
            _measure(engine, report, tags, built, scratch, data, smoke_args, smoke, timeout)
        report.verdict, report.reason = decide(report)
    except (EngineError, ImageTarError, OSError) as exc:  # OSError: copying the context, temp space
        err.write(f"dslim verify: {exc}\n")
        return 2
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if keep_images:
            report.kept = list(built)
        elif built:
            engine.rmi(*built)
    if fmt == "json":
        out.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        out.write(render_text(report))
    return VERDICT_EXIT[report.verdict]


def _measure(engine: Engine, report: VerifyReport, tags: dict[str, str], built: list[str], scratch: Path,
             original: bytes, smoke_args: list[list[str]], smoke: list[str], timeout: float) -> None:
    tar = engine.save(scratch / "images.tar", *built)
    configs = {}
    for which in ("before", "after"):
        if tags[which] in built:
            report.stats[which] = read_image_tar(tar, tag=tags[which])
            inspect = engine.inspect(tags[which])
            configs[which] = inspect.get("Config") or {}
            report.builds[which]["engine_size"] = inspect.get("Size")
    tar.unlink()
    commands: list[tuple[str, list[str] | None]] = [("default command", None)]
    commands += [(f"smoke `{label}`", args) for label, args in zip(smoke, smoke_args)]
    for label, args in commands:
        before = engine.run(tags["before"], args, timeout=timeout)
        if "after" in configs:
            after = engine.run(tags["after"], args, timeout=timeout)
            report.runs.append(compare_runs(label, args, before, after))
        else:
            report.runs.append(RunComparison(label, args, before, None, True, "one image: the rewrite changed nothing"))
    if "after" in configs:
        text = original.decode("utf-8", errors="replace")
        report.config_diffs = compare_config(configs["before"], configs["after"], user_env_keys(text))


# ------------------------------------------------------------------------------------------


def _short(text: str, width: int = 76) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _indent(text: str, prefix: str = "      ") -> str:
    lines = text.rstrip("\n").splitlines()[-15:] or ["(empty)"]
    return "".join(prefix + line + "\n" for line in lines)


def render_text(r: VerifyReport) -> str:
    o: list[str] = [f"dslim verify {r.dockerfile} (context {r.context})\n"]
    if r.changed:
        o.append(f"rewrite: {len(r.changes)} change(s) by {', '.join(r.transforms) or '-'}"
                 + (f"; {r.withheld} withheld by safety class" if r.withheld else "") + "\n")
    else:
        o.append("rewrite: nothing to change (one image built)\n")
    for e in r.rewrite_errors:
        o.append(f"  transform error: {e}\n")
    for n in r.notices:
        o.append(f"note: {n}\n")
    for which in ("before", "after"):
        b = r.builds.get(which)
        if b and not b["ok"]:
            o.append(f"build of the {'original' if which == 'before' else 'rewritten'} image FAILED; last lines:\n")
            o.append(_indent("\n".join(b["log_tail"])))
    if r.stats:
        sb, sa = r.stats.get("before"), r.stats.get("after")
        o.append(f"\n{'':14}{'original':>12}{'rewritten':>12}\n")
        rows = [("size", lambda s: human(s.size)), ("layers", lambda s: str(len(s.layers))),
                ("wasted", lambda s: human(s.wasted)), ("efficiency", lambda s: f"{100 * s.efficiency:.1f} %")]
        for label, fn in rows:
            o.append(f"{label:14}{fn(sb) if sb else '-':>12}{fn(sa) if sa else '-':>12}\n")
        if r.reduction_percent is not None and sa is not None:
            o.append(f"{'reduction':14}{'':>12}{r.reduction_percent:>10.1f} %\n")
        for which, s in (("original", sb), ("rewritten", sa)):
            if s is None:
                continue
            o.append(f"\nlayers of the {which} image (size, hidden later, instruction):\n")
            for layer in s.layers:
                hidden = human(layer.wasted) if layer.wasted else ""
                o.append(f"  {layer.index:>2} {human(layer.size):>9} {hidden:>9}  {_short(layer.instruction or '(no history)')}\n")
            for w in s.wasted_paths[:5]:
                o.append(f"     waste: /{w.path} {human(w.size)} stored in layer {w.layer}, {w.how} by layer {w.hidden_by}\n")
    if r.runs:
        o.append("\nbehaviour (docker run --network none):\n")
        for run in r.runs:
            b = run.before
            state = "timed out" if b.timed_out else f"exit {b.exit_code}"
            if run.same:
                o.append(f"  {run.label}: same ({state})" + (f"; {run.note}" if run.note else "") + "\n")
                continue
            o.append(f"  {run.label}: DIFFERENT: {run.note}\n")
            a = run.after
            assert a is not None
            if b.stdout != a.stdout:
                o.append("    stdout of the original:\n" + _indent(b.stdout))
                o.append("    stdout of the rewritten:\n" + _indent(a.stdout))
            o.append("    stderr of the original:\n" + _indent(b.stderr))
            o.append("    stderr of the rewritten:\n" + _indent(a.stderr))
    if r.config_diffs:
        o.append("\nimage config differences:\n")
        for d in r.config_diffs:
            tag = "BEHAVIOUR" if d.behaviour else "note"
            o.append(f"  [{tag}] {d.field}: {json.dumps(d.before)} -> {json.dumps(d.after)}"
                     + (f" ({d.note})" if d.note else "") + "\n")
    elif r.stats.get("after") is not None:
        o.append("\nimage config: same (ENTRYPOINT, CMD, ENV, WORKDIR, USER, EXPOSE, VOLUME, LABEL)\n")
    if r.kept:
        o.append(f"\nimages kept: {' '.join(r.kept)}\n")
    o.append(f"\nverdict: {r.verdict}: {r.reason}\n")
    return "".join(o)
