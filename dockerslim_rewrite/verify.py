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
import shlex
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .engine import BuildResult, Engine, EngineError, EngineUnavailable, RunResult
from .imagestats import ImageStats, ImageTarError, human, read_image_tar

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import RewriteResult
    from .runner import Rewritten

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
            return {
                "exit_code": r.exit_code,
                "timed_out": r.timed_out,
                "seconds": round(r.seconds, 2),
                "stdout": r.stdout[-OUTPUT_LIMIT:],
                "stderr": r.stderr[-OUTPUT_LIMIT:],
            }

        return {"command": self.label, "same": self.same, "note": self.note, "before": one(self.before), "after": one(self.after)}


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
            "rewrite": {
                "changed": self.changed,
                "transforms": self.transforms,
                "changes": self.changes,
                "withheld": self.withheld,
                "errors": self.rewrite_errors,
            },
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


class VerifyError(Exception):
    """A usage, input or engine problem found before anything is built: one line on stderr, exit 2."""


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


def user_env_keys(dockerfile: bytes | str) -> set[str]:
    """Names the Dockerfile itself sets with ENV (any stage): their values are the user's contract."""
    from .model import parse

    return {key for ins in parse(dockerfile).instructions if ins.keyword == "ENV" for key in ins.key_values()}


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
        diffs.append(
            ConfigDiff(
                f"Env {key}",
                eb.get(key),
                ea.get(key),
                user,
                "" if user else "inherited from the base image, not set by this Dockerfile",
            )
        )
    lb, la = before.get("Labels") or {}, after.get("Labels") or {}
    for key in sorted(set(lb) | set(la)):
        if lb.get(key) != la.get(key):
            diffs.append(ConfigDiff(f"Label {key}", lb.get(key), la.get(key), False, "labels do not change behaviour"))
    return diffs


def compare_runs(label: str, args: list[str] | None, before: RunResult, after: RunResult) -> RunComparison:
    if before.timed_out and after.timed_out:
        return RunComparison(
            label, args, before, after, True, "both still running at the timeout (a service?): output not compared"
        )
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
    if fmt not in ("text", "json"):
        err.write(f"dslim verify: --format must be text or json, not {fmt!r}\n")
        return 2
    dockerfile = Path(dockerfile)
    report = VerifyReport(str(dockerfile), "")
    try:
        smoke_args = _smoke_args(smoke)
        rewritten = _rewrite(dockerfile, context, options)
        report.context = str(rewritten.context_root)
        _record_rewrite(report, rewritten.result)
        engine = engine or _detect_engine()
        report.engine = engine.describe()
        network = _build_network(engine, network, report)
    except VerifyError as exc:
        err.write(f"dslim verify: {exc}\n")
        return 2
    run_id = uuid.uuid4().hex[:10]
    tags = {"before": f"dslim-verify-{run_id}:before", "after": f"dslim-verify-{run_id}:after"}
    built: list[str] = []
    scratch = Path(tempfile.mkdtemp(prefix="dslim-verify-"))
    try:
        err.write(f"dslim verify: {report.engine}\n")
        builds: list[tuple[str, Path, Path]] = [("before", rewritten.context_root, dockerfile.resolve())]
        after_df = _rewritten_copy(dockerfile, rewritten, scratch)
        if after_df is not None:
            builds.append(("after", scratch / "context", after_df))
        _build(engine, report, builds, tags, build_args, network, err, built)
        if len(built) == len(builds):
            _measure(engine, report, tags, built, scratch, rewritten.data, smoke_args, smoke, timeout)
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
    out.write(json.dumps(report.to_json(), indent=2) + "\n" if fmt == "json" else render_text(report))
    return VERDICT_EXIT[report.verdict]


def _smoke_args(smoke: list[str]) -> list[list[str]]:
    args = []
    for cmd in smoke:
        try:
            args.append(shlex.split(cmd))
        except ValueError as exc:
            raise VerifyError(f"--smoke {cmd!r}: {exc}") from None
    return args


def _rewrite(dockerfile: Path, context: Path | None, options: Any) -> Rewritten:
    """The same read, context scan and rewrite as `dslim rewrite`, its errors as VerifyError."""
    from .fsio import InputError
    from .model import ParseError
    from .runner import read_and_rewrite  # late: verify is importable (and its helpers testable) on its own

    try:
        return read_and_rewrite(dockerfile, options, context)
    except InputError as exc:
        raise VerifyError(str(exc)) from None
    except ParseError as exc:
        where = f"{dockerfile}:{exc.line}" if getattr(exc, "line", None) else str(dockerfile)
        raise VerifyError(f"{where}: {getattr(exc, 'message', exc)}") from None


def _record_rewrite(report: VerifyReport, result: RewriteResult) -> None:
    report.changed = result.changed
    report.transforms = result.transforms_applied
    report.changes = [
        {"transform": c.transform, "line": c.line, "safety": c.safety, "explanation": c.explanation, "assumption": c.assumption}
        for c in result.changes
    ]
    report.changes += [
        {"transform": fc.transform, "file": fc.path, "safety": fc.safety, "explanation": fc.explanation}
        for fc in result.file_changes
        if fc.new != fc.old
    ]
    report.withheld = len(result.withheld)
    report.rewrite_errors = list(result.errors)


def _detect_engine() -> Engine:
    try:
        return Engine.detect()
    except EngineUnavailable as exc:
        raise VerifyError(str(exc)) from None


def _build_network(engine: Engine, network: str | None, report: VerifyReport) -> str | None:
    """The given network, else $DSLIM_BUILD_NETWORK, else host when the engine has no bridge."""
    network = network if network is not None else (os.environ.get("DSLIM_BUILD_NETWORK") or None)
    try:
        if network is None and not engine.has_bridge_network():
            report.notices.append("the engine has no bridge network (started with --bridge=none): both builds use --network host")
            return "host"
    except EngineError as exc:
        raise VerifyError(str(exc)) from None
    return network


def _rewritten_copy(dockerfile: Path, rewritten: Rewritten, scratch: Path) -> Path | None:
    """A copy of the context with the rewrite applied (the user's files are never touched); the new Dockerfile's path."""
    result = rewritten.result
    if not result.changed:
        return None
    ctx_copy = scratch / "context"
    shutil.copytree(rewritten.context_root, ctx_copy, symlinks=True)
    if rewritten.inside:
        after_df = ctx_copy / rewritten.name
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
    return after_df


def _build(
    engine: Engine,
    report: VerifyReport,
    builds: list[tuple[str, Path, Path]],
    tags: dict[str, str],
    build_args: dict[str, str],
    network: str | None,
    err: IO[str],
    built: list[str],
) -> None:
    """Build in order, stopping at the first failure (a broken original makes the rewrite moot).

    Each tag goes into `built` as soon as it exists, so the caller removes it even when a later build raises.
    """
    for which, ctx, df in builds:
        err.write(f"dslim verify: building the {'original' if which == 'before' else 'rewritten'} image ({tags[which]})\n")
        b: BuildResult = engine.build(ctx, df, tags[which], build_args, progress=err, network=network, prefix=f"[{which}] ")
        report.builds[which] = {
            "ok": b.ok,
            "seconds": round(b.seconds, 1),
            "tag": tags[which],
            "log_tail": [] if b.ok else b.log_tail[-20:],
        }
        for notice in b.notices:
            if notice not in report.notices:
                report.notices.append(notice)
        if not b.ok:
            break
        built.append(tags[which])


def _measure(
    engine: Engine,
    report: VerifyReport,
    tags: dict[str, str],
    built: list[str],
    scratch: Path,
    original: bytes,
    smoke_args: list[list[str]],
    smoke: list[str],
    timeout: float,
) -> None:
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
        report.config_diffs = compare_config(configs["before"], configs["after"], user_env_keys(original))


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
        o.append(
            f"rewrite: {len(r.changes)} change(s) by {', '.join(r.transforms) or '-'}"
            + (f"; {r.withheld} withheld by safety class" if r.withheld else "")
            + "\n"
        )
    else:
        o.append("rewrite: nothing to change (one image built)\n")
    for e in r.rewrite_errors:
        o.append(f"  transform error: {e}\n")
    for n in r.notices:
        o.append(f"note: {n}\n")
    for which in ("before", "after"):
        build = r.builds.get(which)
        if build and not build["ok"]:
            o.append(f"build of the {'original' if which == 'before' else 'rewritten'} image FAILED; last lines:\n")
            o.append(_indent("\n".join(build["log_tail"])))
    if r.stats:
        sb, sa = r.stats.get("before"), r.stats.get("after")
        o.append(f"\n{'':14}{'original':>12}{'rewritten':>12}\n")
        rows = [
            ("size", lambda s: human(s.size)),
            ("layers", lambda s: str(len(s.layers))),
            ("wasted", lambda s: human(s.wasted)),
            ("efficiency", lambda s: f"{100 * s.efficiency:.1f} %"),
        ]
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
                o.append(
                    f"  {layer.index:>2} {human(layer.size):>9} {hidden:>9}  {_short(layer.instruction or '(no history)')}\n"
                )
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
            o.append(
                f"  [{tag}] {d.field}: {json.dumps(d.before)} -> {json.dumps(d.after)}"
                + (f" ({d.note})" if d.note else "")
                + "\n"
            )
    elif r.stats.get("after") is not None:
        o.append("\nimage config: same (ENTRYPOINT, CMD, ENV, WORKDIR, USER, EXPOSE, VOLUME, LABEL)\n")
    if r.kept:
        o.append(f"\nimages kept: {' '.join(r.kept)}\n")
    o.append(f"\nverdict: {r.verdict}: {r.reason}\n")
    return "".join(o)
