"""The ``dslim`` command line: the only layer that reads and writes files and prints."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from . import __version__
from .buildcontext import scan_context
from .config import ConfigError, find_config
from .fsio import InputError, atomic_write, find_dockerfiles, read_dockerfile
from .model import ParseError
from .pipeline import rewrite as run_pipeline
from .report import FileReport, file_diff, json_entry, summary_lines
from .transform import Options
from .transforms import all_transforms

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Rewrite Dockerfiles into smaller-image equivalents, with a reviewable diff.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_CHANGES, EXIT_ERROR = 0, 1, 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_ERROR)


def _ids(value: Optional[str], known: set[str], flag: str) -> frozenset[str] | None:
    if value is None:
        return None
    ids = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = ids - known
    if unknown:
        raise _fail(f"{flag}: unknown transform id(s): {', '.join(sorted(unknown))} (see 'dslim rules')")
    return ids


def build_options(
    settings: dict,
    select: Optional[str],
    ignore: Optional[str],
    safe_only: Optional[bool],
    unsafe_fixes: Optional[bool],
    cache_mounts: Optional[bool],
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
    pick = lambda flag, key: bool(settings.get(key, False)) if flag is None else flag  # noqa: E731
    opts = Options(
        select=sel,
        ignore=ign,
        safe_only=pick(safe_only, "safe-only"),
        unsafe_fixes=pick(unsafe_fixes, "unsafe-fixes"),
        cache_mounts=pick(cache_mounts, "cache-mounts"),
        image_aliases=dict(settings.get("image-aliases") or {}),
        settings={k: v for k, v in settings.items() if isinstance(v, dict) and k in known},
    )
    if opts.safe_only and opts.unsafe_fixes:
        raise _fail("--safe-only and --unsafe-fixes cannot be combined")
    return opts


def process_file(
    path: Path,
    options: Options,
    context_dir: Optional[Path],
    write: bool,
) -> FileReport:
    """Read, rewrite and (with write) save one Dockerfile; every failure becomes a one-line error."""
    report = FileReport(str(path))
    try:
        data = read_dockerfile(path)
        context_root = (context_dir or path.parent).resolve()
        if not context_root.is_dir():
            raise InputError(f"{context_root}: build context is not a directory")
        snapshot = scan_context(context_root, path.resolve())
        try:
            name = path.resolve().relative_to(context_root).as_posix()
        except ValueError:
            name = path.name
        report.result = run_pipeline(data, options, snapshot, name)
        report.context_root = context_root
        if write and report.result.changed:
            if report.result.output != data:
                atomic_write(path, report.result.output, expected_old=data)
                report.written.append(str(path))
            for fc in report.result.file_changes:
                if fc.new != fc.old:
                    target = context_root / fc.path
                    atomic_write(target, fc.new, expected_old=fc.old)
                    report.written.append(str(target))
    except ParseError as exc:
        report.error = f"{path}:{exc.line}: {exc.message}" if exc.line else f"{path}: {exc.message}"
        report.result = None
    except InputError as exc:
        report.error = str(exc)
        report.result = None
    return report


@app.command()
def rewrite(
    paths: list[Path] = typer.Argument(None, help="Dockerfiles or directories to search (default: .)"),
    in_place: bool = typer.Option(False, "--in-place", "-i", help="Write the changes (and generated files)."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 when any file would change."),
    diff: bool = typer.Option(False, "--diff", help="Print the diff (default unless --in-place)."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
    select: Optional[str] = typer.Option(None, "--select", help="Comma-separated transform ids to run."),
    ignore: Optional[str] = typer.Option(None, "--ignore", help="Comma-separated transform ids to skip."),
    safe_only: Optional[bool] = typer.Option(None, "--safe-only", help="Apply only 'safe' changes."),
    unsafe_fixes: Optional[bool] = typer.Option(None, "--unsafe-fixes", help="Also apply 'unsafe' changes."),
    cache_mounts: Optional[bool] = typer.Option(None, "--cache-mounts", help="pkg-cache: use BuildKit cache mounts."),
    context: Optional[Path] = typer.Option(None, "--context", help="Build context (default: the Dockerfile's folder)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the one-line summary per file."),
) -> None:
    """Rewrite Dockerfiles; print a unified diff (default), write them (-i) or gate CI (--check)."""
    if fmt not in ("text", "json"):
        raise _fail(f"--format must be text or json, not {fmt!r}")
    if in_place and check:
        raise _fail("--in-place and --check cannot be combined")
    if context is not None and not context.is_dir():
        raise _fail(f"--context {context}: not a directory")
    targets: list[Path] = []
    reports: list[FileReport] = []
    for given in paths or [Path(".")]:
        try:
            targets.extend(find_dockerfiles(given))
        except InputError as exc:
            reports.append(FileReport(str(given), error=str(exc)))
    color = fmt == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    json_files = []
    for path in dict.fromkeys(targets):
        try:
            config = find_config(path)
            settings = config.for_file(path)
        except ConfigError as exc:
            reports.append(FileReport(str(path), error=str(exc)))
            continue
        options = build_options(settings, select, ignore, safe_only, unsafe_fixes, cache_mounts)
        ctx_dir = context
        if ctx_dir is None and settings.get("context") and config.path is not None:
            ctx_dir = config.path.parent / settings["context"]
        report = process_file(path, options, ctx_dir, write=in_place)
        reports.append(report)
    for report in reports:
        prefix = ""
        root = report.context_root
        if root is not None:
            try:
                prefix = os.path.relpath(root, Path.cwd()).replace(os.sep, "/") + "/"
            except ValueError:
                prefix = str(root) + "/"
            prefix = "" if prefix == "./" else prefix
        text_diff = file_diff(report, prefix, color=False)
        if fmt == "json":
            json_files.append(json_entry(report, text_diff))
            continue
        if text_diff and (not in_place or diff):
            typer.echo(file_diff(report, prefix, color=color) if color else text_diff, nl=False)
        for line in summary_lines(report, verbose=not quiet):
            typer.echo(line, err=True)
    errors = sum(1 for r in reports if r.error)
    changed = sum(1 for r in reports if r.result is not None and r.result.changed)
    if fmt == "json":
        typer.echo(json.dumps({"files": json_files, "summary": {"files": len(reports), "changed": changed, "errors": errors}}, indent=2))
    else:
        verb = "rewritten" if in_place else "would change"
        typer.echo(f"{len(reports)} file(s): {changed} {verb}, {errors} error(s)", err=True)
    if errors:
        raise typer.Exit(EXIT_ERROR)
    if check and changed:
        raise typer.Exit(EXIT_CHANGES)


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


def run() -> None:
    """Console entry point: typer's usage errors exit 2 already; never show a traceback for bad input."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
