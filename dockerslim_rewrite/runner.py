"""Reading, rewriting and writing Dockerfiles for the commands: the file-processing half of the CLI layer.

`cli.py` parses flags and prints; this module does the per-file work it asks for (config lookup, the
build-context scan, the pipeline, all-or-nothing writes) and runs it in worker processes when there
are many files. Kept apart so that `dslim --help` and `--version` import none of it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .buildcontext import Snapshot, dockerfile_in_context, scan_context
from .config import Config, ConfigError, find_config
from .datafiles import data_toml
from .fsio import InputError, atomic_write, check_writable, read_dockerfile
from .model import CollectorPaused, ParseError
from .pipeline import RewriteResult
from .pipeline import rewrite as run_pipeline
from .report import FileReport
from .resultcache import ResultCache, open_cache, result_key
from .transform import Options, Skip, listed_transforms


def _ids(value: str | None, known: set[str], flag: str) -> frozenset[str] | None:
    if value is None:
        return None
    ids = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = ids - known
    if unknown:
        raise ConfigError(f"{flag}: unknown transform id(s): {', '.join(sorted(unknown))} (see 'dslim rules')")
    return ids


def build_options(
    settings: dict,
    select: str | None,
    ignore: str | None,
    safe_only: bool | None,
    unsafe_fixes: bool | None,
    cache_mounts: bool | None,
    include_generated: bool | None = None,
) -> Options:
    """Config file values first, CLI flags over them.

    The ids come from data/transforms.toml (a test keeps it equal to the registry), so that checking
    options imports no transform: a run whose files all come from the result cache never needs one.
    """
    known = {entry["id"] for entry in listed_transforms()}
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
    #: where earlier results are kept (resultcache) and the dslim build they are filed under (its
    #: stamp, taken by the command before the pipeline was imported); None: compute every file
    cache_dir: Path | None = None
    cache_build: str | None = None


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
        self._templates: dict[Path, list[Path]] = {}
        self._configs: dict[Path, Config] = {}
        self._folders: dict[Path, Path] = {}
        self._name_sets: dict[Path, frozenset[str] | None] = {}

    def config(self, dockerfile: Path) -> Config:
        """find_config, with each folder looked at once per run (the Dockerfiles share upper folders)."""
        return find_config(self.resolve_folder(dockerfile.parent), self._configs, self.names)

    def resolve(self, path: Path) -> Path:
        """``path.resolve()``, with each folder resolved once per run.

        Resolving costs a system call per component of the path, and every Dockerfile's path is
        resolved several times (its context, config, template): the files of a run share their
        folders. The last component is looked at each time: it may itself be a symlink.
        """
        name = path.name
        if name in ("", ".", "..") or os.path.islink(path):
            return path.resolve()
        return self.resolve_folder(path.parent) / name

    def resolve_folder(self, folder: Path) -> Path:
        found = self._folders.get(folder)
        if found is None:
            found = self._folders[folder] = folder.resolve()
        return found

    def templates(self, folder: Path) -> list[Path]:
        """The files of a folder that look like a generator's template (data/generated.toml: globs, some
        with a subfolder), in the patterns' order, then by name; once per run and folder."""
        found = self._templates.get(folder)
        if found is None:
            found = []
            patterns = data_toml("generated.toml")["template_files"]
            looks_like = _any_of(tuple(p.rpartition("/")[2] for p in patterns))  # most names match none
            for pattern in patterns:
                sub, _, glob = pattern.rpartition("/")
                where = folder / sub if sub else folder
                names = [n for n in self.listdir(where) or () if looks_like(n)]
                found += [where / n for n in names if fnmatch.fnmatchcase(n, glob)]
            self._templates[folder] = found
        return found

    def names(self, folder: Path) -> frozenset[str] | None:
        """The names in a folder as a set (None: unreadable), once per run."""
        found = self._name_sets.get(folder)
        if found is None:
            listed = self.listdir(folder)
            found = self._name_sets[folder] = None if listed is None else frozenset(listed)
        return found

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

    def forget(self, listings: bool = True) -> None:
        """Drop the scans (and, unless told otherwise, the folder listings: they are small)."""
        self._scans.clear()
        if listings:
            self._listings.clear()
            self._templates.clear()
            self._configs.clear()
            self._folders.clear()
            self._name_sets.clear()


@lru_cache(maxsize=8)
def _any_of(globs: tuple[str, ...]) -> Callable[[str], object]:
    """A test for "matches one of these shell globs", one regular expression for all."""
    return re.compile("|".join(fnmatch.translate(g) for g in globs)).match


SCANS = ContextScans()


def read_and_rewrite(
    path: Path, options: Options | None, context_dir: Path | None, cache: ResultCache | None = None
) -> Rewritten:
    """Read a Dockerfile, scan its build context and rewrite it: the one path of `rewrite` and `verify`.

    Both commands must see the same bytes, context snapshot and Dockerfile name, or `verify` would prove
    another rewrite than the one `rewrite` writes. With ``cache``, a result computed earlier from
    exactly these inputs is reused (resultcache). Raises InputError or ParseError.
    """
    data = read_dockerfile(path)
    resolved = SCANS.resolve(path)
    context_root = SCANS.resolve_folder(Path(context_dir) if context_dir else path.parent)
    if not context_root.is_dir():
        raise InputError(f"{context_root}: build context is not a directory")
    snapshot = SCANS.get(context_root, resolved)
    try:
        name, inside = resolved.relative_to(context_root).as_posix(), True
    except ValueError:
        name, inside = path.name, False
    options = options or Options()
    if not options.include_generated and options.generated_from is None:
        options = dataclasses.replace(options, generated_from=find_template(path))
    if cache is not None and cache.root.resolve().is_relative_to(context_root):
        cache = None  # entries written into the context would change the context they are keyed on
    if cache is None:
        return Rewritten(data, context_root, name, inside, run_pipeline(data, options, snapshot, name))
    key = result_key(data, options, snapshot, name)
    result = cache.get(key)
    if result is None:
        result = run_pipeline(data, options, snapshot, name)  # a ParseError is raised, not kept
        if not result.errors:  # a contained transform bug may be a resource failure: compute it again next time
            cache.put(key, result)
    return Rewritten(data, context_root, name, inside, result)


def find_template(dockerfile: Path) -> str | None:
    """A generator's template beside the Dockerfile or above it in the repository (data/generated.toml)."""
    known = data_toml("generated.toml")
    own = SCANS.resolve(dockerfile)
    folder = own.parent
    for _ in range(known["template_levels"]):
        names = SCANS.names(folder)
        if names is None:
            return None
        for path in SCANS.templates(folder):
            if path != own:
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
    cache: ResultCache | None = None,
) -> FileReport:
    """Read, rewrite and (with write) save one Dockerfile; every failure becomes a one-line error."""
    report = FileReport(str(path))
    try:
        rewritten = read_and_rewrite(path, options, context_dir, cache)
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


def process_path(path: Path, flags: Flags, write: bool) -> FileReport:
    """Config lookup, options and rewrite for one Dockerfile (top level: bulk workers pickle it)."""
    with CollectorPaused():  # the context scan's listings too: see model.CollectorPaused
        return _process_path(path, flags, write)


def _process_path(path: Path, flags: Flags, write: bool) -> FileReport:
    try:
        config = SCANS.config(path)
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
    return process_file(path, options, ctx_dir, write=write, cache=_cache(flags))


def _cache(flags: Flags) -> ResultCache | None:
    if flags.cache_dir is None or flags.cache_build is None:
        return None
    return open_cache(flags.cache_dir, flags.cache_build)


def process_paths(paths: list[Path], flags: Flags, write: bool) -> list[FileReport]:
    """process_path over Dockerfiles that share a folder, in order (a worker's unit of work)."""
    SCANS.forget(listings=False)  # the scans of the previous unit are of no use here; listings are
    return [process_path(path, flags, write) for path in paths]


#: one unit of work: Dockerfiles that share a folder (so a build context), and whether to write them
Group = tuple[list[Path], bool]
#: groups are sent to workers in chunks of at least this many Dockerfiles (fewer round trips)
_CHUNK_FILES = 16
#: a worker process is replaced after this many chunks (see process_groups)
_CHUNKS_PER_WORKER = 64


def process_groups(groups: list[Group], flags: Flags, jobs: int, on_done: Callable[[int, list[FileReport]], None]) -> None:
    """process_paths over every group, in ``jobs`` worker processes when there is more than one.

    A group stays in one worker, in order: its Dockerfiles share a build context and the .dockerignore
    one of them may write. ``on_done(group index, one report per Dockerfile)`` runs in this process, in
    group order. A failure in one group never stops the others: its Dockerfiles get an error report.
    """
    chunks: list[list[int]] = [[]]
    files = 0
    for g, (paths, _) in enumerate(groups):
        if files >= _CHUNK_FILES:
            chunks.append([])
            files = 0
        chunks[-1].append(g)
        files += len(paths)
    if jobs <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            for g, outcome in zip(chunk, _process_chunk([groups[g] for g in chunk], flags)):
                on_done(g, outcome)
        return
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    workers = min(jobs, len(chunks))
    with ProcessPoolExecutor(max_workers=workers, **_worker_start(len(chunks), workers)) as pool:
        # a few chunks in flight per worker: finished results are handed on and dropped at once, so
        # memory does not grow with the number of files
        pending: deque[tuple[list[int], Future]] = deque()
        todo = iter(chunks)
        for chunk in todo:
            pending.append((chunk, pool.submit(_process_chunk, [groups[g] for g in chunk], flags)))
            if len(pending) >= 4 * workers:
                break
        while pending:
            chunk, future = pending.popleft()
            try:
                outcomes = future.result()
            except Exception as exc:  # the worker itself died: every group of the chunk failed
                outcomes = [_failed(groups[g][0], exc) for g in chunk]
            del future
            for following in todo:
                pending.append((following, pool.submit(_process_chunk, [groups[g] for g in following], flags)))
                break
            for g, outcome in zip(chunk, outcomes):
                on_done(g, outcome)


def _worker_start(chunks: int, workers: int) -> dict[str, Any]:
    """How the worker processes start: ProcessPoolExecutor's arguments.

    Forked, a worker starts at once with the modules this process has imported; spawned, it starts a
    new interpreter and imports them again (0.1 s per worker: 5 % of a 500-file run). Forking is safe
    only on Linux and from a process with a single thread (a fork copies the other threads' locks, not
    the threads). Over many files, workers are spawned and replaced after _CHUNKS_PER_WORKER chunks
    (Python 3.11+; the standard library allows it for spawned workers only): caches and the
    allocator's leftovers would otherwise grow with the number of files, and a spawned worker holds
    only what rewriting needs, not a copy of this process. The sum over the process tree is what a CI
    runner has to fit. A run no worker would have to be replaced in is forked.
    """
    import multiprocessing
    import threading

    short = chunks <= workers * _CHUNKS_PER_WORKER
    if short and sys.platform == "linux" and threading.active_count() == 1:
        return {"mp_context": multiprocessing.get_context("fork")}
    if sys.version_info >= (3, 11):
        return {"mp_context": multiprocessing.get_context("spawn"), "max_tasks_per_child": _CHUNKS_PER_WORKER}
    return {"mp_context": multiprocessing.get_context("spawn")}


def _process_chunk(groups: list[Group], flags: Flags) -> list[list[FileReport]]:
    outcomes: list[list[FileReport]] = []
    for paths, write in groups:
        try:
            outcomes.append(process_paths(paths, flags, write))
        except Exception as exc:  # a bug in one file must not end the run
            outcomes.append(_failed(paths, exc))
    cache = _cache(flags)
    if cache is not None:
        cache.flush()  # once per chunk: it checks that dslim's own files did not change meanwhile
    return outcomes


def _failed(paths: list[Path], exc: Exception) -> list[FileReport]:
    return [FileReport(str(path), error=f"{path}: internal error: {exc!r}") for path in paths]


def rewrite_all(
    targets: list[Path], flags: Flags, write: bool, jobs: int, on_report: Callable[[FileReport], None] | None = None
) -> list[FileReport]:
    """One report per Dockerfile, in the order given; Dockerfiles sharing a context stay in one worker.

    ``on_report(report)`` runs for each in that order too, as soon as it and those before it are done.
    """
    by_context: dict[Path, list[int]] = {}
    for i, path in enumerate(targets):
        context = flags.context if flags.context is not None else path.parent
        by_context.setdefault(SCANS.resolve_folder(context), []).append(i)
    members = list(by_context.values())
    reports: list[FileReport] = [FileReport(str(p)) for p in targets]
    done = [False] * len(targets)
    shown = 0

    def store(g: int, outcome: list[FileReport]) -> None:
        nonlocal shown
        for k, i in enumerate(members[g]):
            reports[i] = outcome[k]
            done[i] = True
        while on_report is not None and shown < len(targets) and done[shown]:
            on_report(reports[shown])
            shown += 1

    jobs = jobs if jobs > 0 else (os.cpu_count() or 1)
    process_groups([([targets[i] for i in ids], write) for ids in members], flags, jobs, store)
    return reports
