"""The ``dslim`` command line: the only layer that reads and writes files and prints."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import typer

from . import __version__
from .advisories import run_advisories
from .buildcontext import Snapshot, dockerfile_in_context, scan_context
from .config import ConfigError, find_config
from .datafiles import data_toml
from .fsio import InputError, atomic_write, check_writable, find_dockerfiles, read_dockerfile
from .model import ParseError
from .pipeline import RewriteResult
from .pipeline import rewrite as run_pipeline
from .report import FileReport, file_diff, json_entry, printable, run_advisory_lines, summary_lines
from .transform import Options, Skip
from .transforms import all_transforms

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Rewrite Dockerfiles into smaller-image equivalents, with a reviewable diff.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_CHANGES, EXIT_ERROR = 0, 1, 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {printable(message)}", err=True)
    return typer.Exit(EXIT_ERROR)


def _ids(value: str | None, known: set[str], flag: str) -> frozenset[str] | None:
    if value is None:
        return None
    ids = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = ids - known
    if unknown:
        raise ConfigError(f"{flag}: unknown transform id(s): {', '.join(sorted(unknown))} (see 'dslim rules')")
    return ids


def _check_flags(flags: Flags) -> None:
    """Usage errors in the flags stop the run before any file is read."""
    try:
        build_options({}, flags.select, flags.ignore, flags.safe_only, flags.unsafe_fixes, flags.cache_mounts)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if flags.context is not None and not flags.context.is_dir():
        raise _fail(f"--context {flags.context}: not a directory")


def build_options(
    settings: dict,
    select: str | None,
    ignore: str | None,
    safe_only: bool | None,
    unsafe_fixes: bool | None,
    cache_mounts: bool | None,
    include_generated: bool | None = None,
) -> Options:
    """Config file values first, CLI flags over them."""
    known = {t.id for t in all_transforms()}
    cfg_select = settings.get("select")
    cfg_ignore = settings.get("ignore") or []
    sel = _ids(select, known, "--select")
    if sel is None and cfg_select is not None:
        sel = _ids(",".join(cfg_select), known, "[tool.dslim] select")
    ign = _ids(ignore, known, "--ignore") or frozenset()
    ign |= _ids(",".join(cfg_ignore), known, "[tool.dslim] ignore") or frozenset()
    pick = lambda flag, key: bool(settings.get(key, False)) if flag is None else flag
    opts = Options(
        select=sel,
        ignore=ign,
        safe_only=pick(safe_only, "safe-only"),
        unsafe_fixes=pick(unsafe_fixes, "unsafe-fixes"),
        cache_mounts=pick(cache_mounts, "cache-mounts"),
        image_aliases=dict(settings.get("image-aliases") or {}),
        targets=tuple(str(t) for t in settings.get("targets") or ()),
        include_generated=pick(include_generated, "include-generated"),
        settings={k: v for k, v in settings.items() if isinstance(v, dict) and k in known},
    )
    if opts.safe_only and opts.unsafe_fixes:
        raise ConfigError("--safe-only and --unsafe-fixes cannot be combined")
    return opts


@dataclass
class Rewritten:
    data: bytes  # the Dockerfile as read
    context_root: Path  # resolved
    name: str  # the Dockerfile's path inside the context, else its file name
    inside: bool  # does the Dockerfile lie inside the context?
    result: RewriteResult


class ContextScans:
    """The last few build-context scans of this process, so that Dockerfiles sharing a context share one scan.

    A folder of twenty Dockerfiles is then walked once, not twenty times, and the scan's memo (e.g. a
    sibling Dockerfile's .dockerignore plan) is reused. Any write forgets every scan: the next Dockerfile
    must see the files (a rewritten sibling, a new .dockerignore) as they are now.
    """

    def __init__(self, keep: int = 2):
        self.keep = keep
        self._scans: dict[Path, Snapshot] = {}
        self._listings: dict[Path, list[str] | None] = {}

    def listdir(self, folder: Path) -> list[str] | None:
        """Sorted names in a folder (None: unreadable), read once per run: template lookups climb the same folders."""
        if folder not in self._listings:
            try:
                self._listings[folder] = sorted(os.listdir(folder))
            except OSError:
                self._listings[folder] = None
        return self._listings[folder]

    def get(self, context_root: Path, dockerfile: Path) -> Snapshot:
        snap = self._scans.pop(context_root, None)
        if snap is None:
            snap = scan_context(context_root)
        self._scans[context_root] = snap  # most recent last
        while len(self._scans) > self.keep:
            del self._scans[next(iter(self._scans))]
        return snap.for_dockerfile(dockerfile_in_context(context_root, dockerfile))

    def forget(self) -> None:
        self._scans.clear()
        self._listings.clear()


SCANS = ContextScans()


def read_and_rewrite(path: Path, options: Options | None, context_dir: Path | None) -> Rewritten:
    """Read a Dockerfile, scan its build context and rewrite it: the one path of `rewrite` and `verify`.

    Both commands must see the same bytes, context snapshot and Dockerfile name, or `verify` would prove
    another rewrite than the one `rewrite` writes. Raises InputError or ParseError.
    """
    data = read_dockerfile(path)
    context_root = (Path(context_dir) if context_dir else path.parent).resolve()
    if not context_root.is_dir():
        raise InputError(f"{context_root}: build context is not a directory")
    snapshot = SCANS.get(context_root, path.resolve())
    try:
        name, inside = path.resolve().relative_to(context_root).as_posix(), True
    except ValueError:
        name, inside = path.name, False
    options = options or Options()
    if not options.include_generated and options.generated_from is None:
        options = dataclasses.replace(options, generated_from=find_template(path))
    return Rewritten(data, context_root, name, inside, run_pipeline(data, options, snapshot, name))


def find_template(dockerfile: Path) -> str | None:
    """A generator's template beside the Dockerfile or above it in the repository (data/generated.toml)."""
    known = data_toml("generated.toml")
    folder = dockerfile.resolve().parent
    for _ in range(known["template_levels"]):
        names = SCANS.listdir(folder)
        if names is None:
            return None
        for pattern in known["template_files"]:
            sub, _, glob = pattern.rpartition("/")
            candidates = SCANS.listdir(folder / sub) if sub else names
            for name in candidates or ():
                path = folder / sub / name if sub else folder / name
                if fnmatch.fnmatchcase(name, glob) and path != dockerfile.resolve():
                    return str(path)
        if ".git" in names or folder.parent == folder:
            return None
        folder = folder.parent
    return None


def process_file(
    path: Path,
    options: Options,
    context_dir: Path | None,
    write: bool,
) -> FileReport:
    """Read, rewrite and (with write) save one Dockerfile; every failure becomes a one-line error."""
    report = FileReport(str(path))
    try:
        rewritten = read_and_rewrite(path, options, context_dir)
        data, context_root = rewritten.data, rewritten.context_root
        report.result = rewritten.result
        report.context_root = context_root
        _drop_unsafe_targets(report.result, context_root)
        if write and report.result.changed:
            writes: list[tuple[Path, bytes, bytes | None]] = (
                [(path, report.result.output, data)] if report.result.output != data else []
            )
            writes += [(context_root / fc.path, fc.new, fc.old) for fc in report.result.file_changes if fc.new != fc.old]
            for target, _, old in writes:  # all or nothing: check every target before writing any
                check_writable(target, old)
            SCANS.forget()
            for target, new, old in writes:
                atomic_write(target, new, expected_old=old)
                report.written.append(str(target))
    except ParseError as exc:
        report.error = f"{path}:{exc.line}: {exc.message}" if exc.line else f"{path}: {exc.message}"
        report.result = None
    except InputError as exc:
        report.error = str(exc)
        report.result = None
    return report


def _drop_unsafe_targets(result, context_root: Path) -> None:
    """Generated files are written only as regular files inside the context, never through a symlink."""
    kept = []
    for fc in result.file_changes:
        target = context_root / fc.path
        inside = os.path.realpath(target).startswith(str(context_root) + os.sep)
        if target.is_symlink() or not inside:
            result.skips.append(
                Skip(0, f"{fc.path} not written: it is a symlink or leads outside the build context", fc.transform)
            )
        else:
            kept.append(fc)
    result.file_changes = kept


@dataclass(frozen=True)
class Flags:
    """The CLI flags that shape one file's options (None: take the config file's value)."""

    select: str | None = None
    ignore: str | None = None
    safe_only: bool | None = None
    unsafe_fixes: bool | None = None
    cache_mounts: bool | None = None
    context: Path | None = None
    include_generated: bool | None = None


def process_path(path: Path, flags: Flags, write: bool) -> FileReport:
    """Config lookup, options and rewrite for one Dockerfile (top level: bulk workers pickle it)."""
    try:
        config = find_config(path)
        settings = config.for_file(path)
    except ConfigError as exc:
        return FileReport(str(path), error=str(exc))
    try:
        options = build_options(
            settings, flags.select, flags.ignore, flags.safe_only, flags.unsafe_fixes, flags.cache_mounts, flags.include_generated
        )
    except ConfigError as exc:
        return FileReport(str(path), error=f"{config.path}: {exc}")
    ctx_dir = flags.context
    if ctx_dir is None and settings.get("context") and config.path is not None:
        ctx_dir = (config.path.parent / settings["context"]).resolve()
        if not ctx_dir.is_relative_to(config.path.parent.resolve()):
            # a repository's own config must not point dslim's writes outside the repository
            return FileReport(
                str(path), error=f"{config.path}: context {settings['context']!r} leaves the folder of the config file"
            )
    return process_file(path, options, ctx_dir, write=write)


def process_paths(paths: list[Path], flags: Flags, write: bool) -> list[FileReport]:
    """process_path over Dockerfiles that share a folder, in order (a bulk worker's unit of work)."""
    SCANS.forget()  # the scans of the previous unit are of no use here
    return [process_path(path, flags, write) for path in paths]


@app.command()
def rewrite(
    paths: list[Path] = typer.Argument(None, readable=False, help="Dockerfiles or directories to search (default: .)"),
    in_place: bool = typer.Option(False, "--in-place", "-i", help="Write the changes (and generated files)."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 when any file would change."),
    diff: bool = typer.Option(False, "--diff", help="Print the diff (default unless --in-place)."),
    fmt: str = typer.Option("text", "--format", help="text, json or sarif (SARIF 2.1.0)."),
    select: str | None = typer.Option(None, "--select", help="Comma-separated transform ids to run."),
    ignore: str | None = typer.Option(None, "--ignore", help="Comma-separated transform ids to skip."),
    safe_only: bool | None = typer.Option(None, "--safe-only", help="Apply only 'safe' changes."),
    unsafe_fixes: bool | None = typer.Option(None, "--unsafe-fixes", help="Also apply 'unsafe' changes."),
    cache_mounts: bool | None = typer.Option(None, "--cache-mounts", help="pkg-cache: use BuildKit cache mounts."),
    context: Path | None = typer.Option(None, "--context", help="Build context (default: the Dockerfile's folder)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the one-line summary per file."),
    color: bool | None = typer.Option(
        None, "--color/--no-color", help="Color the diff (default: on a terminal, unless NO_COLOR is set)."
    ),
    include_generated: bool | None = typer.Option(
        None, "--include-generated", help="Also edit files marked as generated (DO NOT EDIT, GENERATED VIA ...)."
    ),
) -> None:
    """Rewrite Dockerfiles; print a unified diff (default), write them (-i) or gate CI (--check)."""
    if fmt not in ("text", "json", "sarif"):
        raise _fail(f"--format must be text, json or sarif, not {fmt!r}")
    if in_place and check:
        raise _fail("--in-place and --check cannot be combined")
    flags = Flags(select, ignore, safe_only, unsafe_fixes, cache_mounts, context, include_generated)
    SCANS.forget()  # files may have changed since an earlier command of this process
    _check_flags(flags)
    targets: list[Path] = []
    reports: list[FileReport] = []
    for given in paths or [Path(".")]:
        try:
            targets.extend(find_dockerfiles(given))
        except InputError as exc:
            reports.append(FileReport(str(given), error=str(exc)))
    if color is None:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    color = color and fmt == "text"
    json_files = []
    for path in dict.fromkeys(targets):
        reports.append(process_path(path, flags, write=in_place))
    for report in reports:
        prefix = ""
        root = report.context_root
        if root is not None:
            try:
                prefix = os.path.relpath(root, Path.cwd()).replace(os.sep, "/") + "/"
            except ValueError:
                prefix = str(root) + "/"
            prefix = "" if prefix == "./" else prefix
        if fmt == "sarif":
            continue
        text_diff = file_diff(report, prefix, color=False)
        if fmt == "json":
            json_files.append(json_entry(report, text_diff))
            continue
        if text_diff and (not in_place or diff):
            # click strips ANSI codes when stdout is no terminal: a forced --color must reach a pipe too
            typer.echo(file_diff(report, prefix, color=True) if color else text_diff, nl=False, color=color or None)
        for line in summary_lines(report, verbose=not quiet):
            typer.echo(line, err=True)
    errors = sum(1 for r in reports if r.error)
    changed = sum(1 for r in reports if r.result is not None and r.result.changed)
    if fmt == "json":
        summary = {"files": len(reports), "changed": changed, "errors": errors}
        advice = [a.as_json() for a in run_advisories()]
        typer.echo(json.dumps({"files": json_files, "summary": summary, "advisories": advice}, indent=2))
    elif fmt == "sarif":
        from .sarif import sarif_log

        typer.echo(json.dumps(sarif_log(reports), indent=2))
    else:
        verb = "rewritten" if in_place else "would change"
        for line in [] if quiet else run_advisory_lines(reports):
            typer.echo(line, err=True)
        typer.echo(f"{len(reports)} file(s): {changed} {verb}, {errors} error(s)", err=True)
    if errors:
        raise typer.Exit(EXIT_ERROR)
    if check and changed:
        raise typer.Exit(EXIT_CHANGES)


@app.command()
def verify(
    dockerfile: Path = typer.Argument(..., help="The Dockerfile to prove."),
    context: Path | None = typer.Option(None, "--context", help="Build context (default: the Dockerfile's folder)."),
    smoke: list[str] = typer.Option([], "--smoke", help="A command to run in both images (repeatable)."),
    build_arg: list[str] = typer.Option([], "--build-arg", help="KEY=VALUE for both builds (repeatable)."),
    select: str | None = typer.Option(None, "--select", help="Comma-separated transform ids to run."),
    ignore: str | None = typer.Option(None, "--ignore", help="Comma-separated transform ids to skip."),
    safe_only: bool | None = typer.Option(None, "--safe-only", help="Apply only 'safe' changes."),
    unsafe_fixes: bool | None = typer.Option(None, "--unsafe-fixes", help="Also apply 'unsafe' changes."),
    cache_mounts: bool | None = typer.Option(None, "--cache-mounts", help="pkg-cache: use BuildKit cache mounts."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds each run in a container may take."),
    keep_images: bool = typer.Option(False, "--keep-images", help="Keep the built images."),
    network: str | None = typer.Option(None, "--network", help="Network for the builds (default: detected)."),
) -> None:
    """Build the original and the rewritten Dockerfile, compare size and behaviour, print a verdict."""
    from .verify import run_verify

    if fmt not in ("text", "json"):
        raise _fail(f"--format must be text or json, not {fmt!r}")
    if not dockerfile.is_file():
        raise _fail(f"{dockerfile}: not a file")
    flags = Flags(select, ignore, safe_only, unsafe_fixes, cache_mounts, context)
    _check_flags(flags)
    SCANS.forget()
    args = {}
    for item in build_arg:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _fail(f"--build-arg {item!r}: expected KEY=VALUE")
        args[key] = value
    try:
        settings = find_config(dockerfile).for_file(dockerfile)
        options = build_options(settings, select, ignore, safe_only, unsafe_fixes, cache_mounts)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    code = run_verify(
        dockerfile, context, list(smoke), options, fmt, timeout, keep_images, args, sys.stdout, sys.stderr, network=network
    )
    raise typer.Exit(code)


@app.command()
def bulk(
    roots: list[Path] = typer.Argument(
        None, help="Repositories, or folders of repositories (with --merge-reports: the shards' --out folders)."
    ),
    out: Path = typer.Option(Path("dslim-bulk"), "--out", help="Folder for the summaries and a patch + PR.md per repository."),
    apply: bool = typer.Option(False, "--apply", help="Also write the changes into the repositories."),
    commit: bool = typer.Option(
        False, "--commit", help="With --apply: commit on a new branch in each git repository (checkout untouched; never pushes)."
    ),
    branch: str = typer.Option("dslim/smaller-images", "--branch", help="Branch name for --commit."),
    jobs: int = typer.Option(os.cpu_count() or 1, "--jobs", "-j", help="Parallel workers."),
    select: str | None = typer.Option(None, "--select", help="Comma-separated transform ids to run."),
    ignore: str | None = typer.Option(None, "--ignore", help="Comma-separated transform ids to skip."),
    safe_only: bool | None = typer.Option(None, "--safe-only", help="Apply only 'safe' changes."),
    unsafe_fixes: bool | None = typer.Option(None, "--unsafe-fixes", help="Also apply 'unsafe' changes."),
    shard: str | None = typer.Option(None, "--shard", help="I/N: only shard I of N (1-based; stable hash of repository paths)."),
    merge_reports: bool = typer.Option(False, "--merge-reports", help="Merge the shards' summary.json files into --out."),
) -> None:
    """Migrate many repositories: a patch and PR.md per repository, summary.json/.md/.html, optional commits."""
    from .bulk import run as bulk_run
    from .bulk.shard import ShardError, parse_shard

    if not roots:
        raise _fail("give at least one ROOT (a repository or a folder of repositories)")
    if merge_reports:
        raise typer.Exit(bulk_run.merge_reports(list(roots), out))
    if commit and not apply:
        raise _fail("--commit needs --apply")
    flags = Flags(select, ignore, safe_only, unsafe_fixes)
    _check_flags(flags)
    try:
        part = parse_shard(shard) if shard else None
    except ShardError as exc:
        raise _fail(str(exc)) from None
    options = bulk_run.BulkOptions(out, flags, apply, commit, branch, max(1, jobs), part)
    raise typer.Exit(bulk_run.run_bulk(list(roots), options))


@app.command()
def rules() -> None:
    """List the transforms, in pipeline order."""
    for t in all_transforms():
        typer.echo(f"{t.id:14} {t.summary}")


@app.command()
def rule(transform_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Print one transform's documentation."""
    for t in all_transforms():
        if t.id == transform_id:
            typer.echo(t.doc)
            return
    raise _fail(f"unknown transform id {transform_id!r} (see 'dslim rules')")


@app.callback(invoke_without_command=True)
def main(version: bool = typer.Option(False, "--version", help="Print the version.")) -> None:
    if version:
        typer.echo(f"dslim {__version__}")
        raise typer.Exit(EXIT_OK)


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


def run() -> None:
    """Console entry point: typer's usage errors exit 2 already; never show a traceback for bad input."""
    # SIGTERM (timeout, CI cancel) unwinds like Ctrl-C, so atomic writes clean up their temporary file
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
