"""The ``dslim`` command line: the only layer that reads and writes files and prints."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from . import __version__, compiled_build

if TYPE_CHECKING:
    from .runner import Flags

# Nothing heavy is imported above: `dslim --help`, `--version` and `rules` must start fast, so each
# command imports the machinery it needs (runner, pipeline, report) when it runs.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Rewrite Dockerfiles into smaller-image equivalents, with a reviewable diff.",
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,  # plain help: formatting it with rich costs more than the rest of the start-up
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_CHANGES, EXIT_ERROR = 0, 1, 2


def _fail(message: str) -> typer.Exit:
    from .report import printable

    typer.echo(f"error: {printable(message)}", err=True)
    return typer.Exit(EXIT_ERROR)


def _check_flags(flags: Flags) -> None:
    """Usage errors in the flags stop the run before any file is read."""
    from .config import ConfigError
    from .runner import build_options

    try:
        build_options({}, flags.select, flags.ignore, flags.safe_only, flags.unsafe_fixes, flags.cache_mounts)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if flags.context is not None and not flags.context.is_dir():
        raise _fail(f"--context {flags.context}: not a directory")


def _result_cache(no_cache: bool, cache_dir: Path | None) -> tuple[Path | None, str | None]:
    """The result cache folder and this dslim build's stamp, or (None, None) for no cache.

    Off with --no-cache or DSLIM_NO_CACHE (anything but empty/0/false/no). An unusable --cache-dir is a
    usage error; an unusable default folder (DSLIM_CACHE_DIR, ~/.cache/dslim) only a warning. The stamp
    is taken here, before the pipeline is imported: see resultcache.
    """
    if no_cache or os.environ.get("DSLIM_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no"):
        return None, None
    from .resultcache import CacheFolderError, build_stamp, check_folder, default_folder, prune

    if cache_dir is not None and not str(cache_dir).strip():
        raise _fail("--cache-dir: empty path")
    folder = cache_dir.absolute() if cache_dir is not None else default_folder()
    if folder is None:
        return None, None
    try:
        check_folder(folder)
    except CacheFolderError as exc:
        if cache_dir is not None:
            raise _fail(f"--cache-dir: {exc}") from None
        typer.echo(f"warning: result cache not used: {exc}", err=True)
        return None, None
    prune(folder)
    return folder, build_stamp()


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
    jobs: int = typer.Option(0, "--jobs", "-j", help="Parallel workers for many files (default: one per CPU)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Compute every file; neither read nor write the result cache."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Result cache folder (default: $DSLIM_CACHE_DIR, else ~/.cache/dslim)."
    ),
) -> None:
    """Rewrite Dockerfiles; print a unified diff (default), write them (-i) or gate CI (--check)."""
    if fmt not in ("text", "json", "sarif"):
        raise _fail(f"--format must be text, json or sarif, not {fmt!r}")
    if in_place and check:
        raise _fail("--in-place and --check cannot be combined")
    cache_folder, cache_build = _result_cache(no_cache, cache_dir)  # before the pipeline is imported
    from .advisories import run_advisories
    from .fsio import InputError, find_dockerfiles
    from .report import FileReport, file_diff, json_entry, run_advisory_lines, summary_lines
    from .runner import SCANS, Flags, rewrite_all

    flags = Flags(select, ignore, safe_only, unsafe_fixes, cache_mounts, context, include_generated, cache_folder, cache_build)
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
    cwd = Path.cwd()

    def show(report: FileReport) -> None:
        prefix = ""
        root = report.context_root
        if root is not None:
            try:
                prefix = os.path.relpath(root, cwd).replace(os.sep, "/") + "/"
            except ValueError:
                prefix = str(root) + "/"
            prefix = "" if prefix == "./" else prefix
        if fmt == "sarif":
            return
        text_diff = file_diff(report, prefix, color=False)
        if fmt == "json":
            json_files.append(json_entry(report, text_diff))
            return
        if text_diff and (not in_place or diff):
            # click strips ANSI codes when stdout is no terminal: a forced --color must reach a pipe too
            typer.echo(file_diff(report, prefix, color=True) if color else text_diff, nl=False, color=color or None)
        lines = summary_lines(report, verbose=not quiet)
        if lines:  # one write per file: each echo flushes
            typer.echo("\n".join(lines), err=True)

    for report in reports:
        show(report)
    # each file is shown as soon as it and the files before it are done, while the workers go on
    reports += rewrite_all(list(dict.fromkeys(targets)), flags, in_place, jobs, on_report=show)
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
    from .config import ConfigError, find_config
    from .runner import SCANS, Flags, build_options
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
    no_cache: bool = typer.Option(False, "--no-cache", help="Compute every file; neither read nor write the result cache."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Result cache folder (default: $DSLIM_CACHE_DIR, else ~/.cache/dslim)."
    ),
) -> None:
    """Migrate many repositories: a patch and PR.md per repository, summary.json/.md/.html, optional commits."""
    if not roots:
        raise _fail("give at least one ROOT (a repository or a folder of repositories)")
    if commit and not apply:
        raise _fail("--commit needs --apply")
    cache_folder, cache_build = (None, None) if merge_reports else _result_cache(no_cache, cache_dir)
    from .bulk import run as bulk_run
    from .bulk.shard import ShardError, parse_shard
    from .runner import SCANS, Flags

    SCANS.forget()  # files may have changed since an earlier command of this process
    if merge_reports:
        raise typer.Exit(bulk_run.merge_reports(list(roots), out))
    flags = Flags(select, ignore, safe_only, unsafe_fixes, cache_dir=cache_folder, cache_build=cache_build)
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
    from .transform import listed_transforms

    for entry in listed_transforms():
        typer.echo(f"{entry['id']:14} {entry['summary']}")


@app.command()
def rule(transform_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Print one transform's documentation."""
    from .transforms import all_transforms

    for t in all_transforms():
        if t.id == transform_id:
            typer.echo(t.doc)
            return
    raise _fail(f"unknown transform id {transform_id!r} (see 'dslim rules')")


@app.callback(invoke_without_command=True)
def main(version: bool = typer.Option(False, "--version", help="Print the version.")) -> None:
    if version:
        typer.echo(f"dslim {__version__}{' (compiled)' if compiled_build() else ''}")
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
