"""The bulk run: discover, shard, rewrite in parallel, write patches and PR.md, commit, summarise.

This is the only module of the package that writes files and prints. A repository's failure (an
unparseable Dockerfile, a permission error, a refused commit, even a crashed worker) becomes a
line in its record and the run goes on to the next repository.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from .. import __version__
from ..fsio import atomic_write
from ..report import FileReport, printable, unified_diff
from ..runner import Flags, process_groups
from ..transform import Skip
from . import git as gitops
from . import render, summarize
from .discover import Repo, discover, is_repo
from .progress import progress
from .records import SpilledRecords, dump_json
from .shard import shard_of

EXIT_OK, EXIT_ERROR = 0, 2


@dataclass
class BulkOptions:
    out: Path
    flags: Flags = field(default_factory=Flags)
    apply: bool = False
    commit: bool = False
    branch: str = "dslim/smaller-images"
    jobs: int = 1
    shard: tuple[int, int] | None = None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def names(repos: list[Repo]) -> dict[str, str]:
    """A file-system-safe, unique output folder name per repository key (same for every shard)."""
    used: dict[str, str] = {}
    taken: set[str] = set()
    for repo in repos:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", repo.key.replace("/", "__")).strip("._") or "repo"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        used[str(repo.path)] = name
    return used


def _rel(path: Path | str, base: Path) -> str:
    return os.path.relpath(os.path.realpath(path), os.path.realpath(base)).replace(os.sep, "/")


def edits_of(reports: list[FileReport], base: Path) -> list[gitops.Edit]:
    """The files a repository's migration writes, relative to ``base``; a file two Dockerfiles of one
    folder both generate (a shared .dockerignore) is taken from the first, the other is reported as skipped."""
    edits: list[gitops.Edit] = []
    seen: set[str] = set()
    for report in reports:
        result = report.result
        if result is None or not result.changed:
            continue
        if result.output != result.original:
            rel = _rel(report.path, base)
            seen.add(rel)
            edits.append(gitops.Edit(rel, result.original, result.output))
        kept = []
        for fc in result.file_changes:
            if fc.new == fc.old or report.context_root is None:
                kept.append(fc)
                continue
            rel = _rel(report.context_root / fc.path, base)
            if rel in seen:
                result.skips.append(
                    Skip(0, f"{fc.path} is also written for another Dockerfile: run dslim again after this change", fc.transform)
                )
                continue
            seen.add(rel)
            kept.append(fc)
            edits.append(gitops.Edit(rel, fc.old, fc.new))
        result.file_changes = kept
    return edits


def _batches(repos: list[Repo]) -> list[list[tuple[int, int]]]:
    """(repository, Dockerfile) index pairs grouped by folder: Dockerfiles of one folder share a build
    context (and its generated .dockerignore), so one worker handles them in order, as ``rewrite -i`` would."""
    groups: dict[str, list[tuple[int, int]]] = {}
    for r, repo in enumerate(repos):
        for d, path in enumerate(repo.dockerfiles):
            groups.setdefault(os.path.realpath(path.parent), []).append((r, d))
    return list(groups.values())


def _process(
    repos: list[Repo], writes: list[bool], flags: Flags, jobs: int, on_repo_done: Callable[[int, list[FileReport]], None]
) -> None:
    """Rewrite every Dockerfile; ``on_repo_done(repo index, its reports)`` runs as soon as a repository is complete."""
    reports: list[list[FileReport]] = [[FileReport(str(p)) for p in repo.dockerfiles] for repo in repos]
    pending = [len(repo.dockerfiles) for repo in repos]

    batches = _batches(repos)

    def store(b: int, outcome: list[FileReport]) -> None:
        for k, (r, d) in enumerate(batches[b]):
            reports[r][d] = outcome[k]
            pending[r] -= 1
            if pending[r] == 0:
                on_repo_done(r, reports[r])
                reports[r] = []  # its record holds what the summary needs: free the texts

    groups = [([repos[r].dockerfiles[d] for r, d in batch], writes[batch[0][0]]) for batch in batches]
    process_groups(groups, flags, jobs, store)
    for r, repo in enumerate(repos):
        if not repo.dockerfiles:
            on_repo_done(r, [])


def _write_outputs(out: Path, record: dict, patch: str) -> None:
    folder = out / record["name"]
    if not patch:
        for stale in ("changes.patch", "PR.md"):  # a previous run's files would describe changes no longer proposed
            (folder / stale).unlink(missing_ok=True)
        return
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "changes.patch", patch.encode("utf-8"))
    atomic_write(folder / "PR.md", render.render_pr(record, summarize.pr_title(record), __version__).encode("utf-8"))


def commit_message(record: dict) -> str:
    lines = [f"- {c['file']}: {c['transform']} [{c['safety']}] {c['explanation']}" for f in record["files"] for c in f["changes"]]
    return (
        summarize.pr_title(record)
        + "\n\n"
        + "\n".join(lines)
        + "\n\nMade by dslim bulk; prove it with `dslim verify <Dockerfile>`.\n"
    )


def _repo_line(record: dict) -> str:
    text = (
        f"{record['key']}: {record['dockerfiles']} Dockerfile(s), {record['changed']} changed, {len(record['errors'])} error(s)"
    )
    commit = record["commit"] or {}
    if commit.get("status") == "committed":
        text += f", committed on {commit['branch']}"
    elif commit.get("reason"):
        text += f", {commit['status']}: {commit['reason']}"
    return printable(text)


def write_summary(out: Path, summary: dict) -> None:
    """summary.json, .md and .html, each written piece by piece (the records may be spilled to disk)."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "summary.json", _encoded([*dump_json(summary), "\n"]))
    atomic_write(out / "summary.md", _encoded(render.stream_summary_md(summary)))
    atomic_write(out / "summary.html", _encoded(render.stream_summary_html(summary)))


def _encoded(pieces: Iterable[str]) -> Iterator[bytes]:
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size > 1 << 16:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
    yield "".join(buffer).encode("utf-8")


def final_line(summary: dict, out: Path) -> str:
    t = summary["totals"]
    if t["dockerfiles_changed"] == 0 and not t["errors"]:
        head = f"nothing to change: {t['repos']} repositories, {t['dockerfiles']} Dockerfiles, all already migrated"
    else:
        head = (
            f"{t['repos']} repositories: {t['repos_changed']} changed ({t['dockerfiles_changed']}/{t['dockerfiles']} Dockerfiles),"
            f" {t['repos_failed']} failed, {t['committed']} committed; estimated ~{t['image_mb']:.0f} MB image,"
            f" ~{t['context_mb']:.1f} MB build context"
        )
    already = sum(1 for r in summary["repos"] if (r["commit"] or {}).get("status") == "already")
    if already and already == t["repos_changed"] and not t["errors"]:
        head = f"nothing new: the changes of all {already} changed repositories are already committed on their branch"
    elif already:
        head += f"; {already} already committed earlier, nothing new"
    return f"{head}\nsummary.json, summary.md, summary.html and one folder per changed repository in {out}"


def run_bulk(roots: list[Path], opts: BulkOptions, err: TextIO | None = None, tty: bool | None = None) -> int:
    """The whole run; returns the exit status (2 when any repository or ROOT failed, else 0)."""
    err = err or sys.stderr
    tty = err.isatty() if tty is None else tty
    all_repos, root_errors = discover(roots)
    folder_names = names(all_repos)
    repos = [r for r in all_repos if opts.shard is None or shard_of(r.key, opts.shard[1]) == opts.shard[0]]
    bases: list[Path] = []
    git_tops: list[Path | None] = []
    refusals: list[str | None] = []
    for repo in repos:
        top = gitops.toplevel(repo.path) if opts.commit else None
        base = top or (repo.path if is_repo(repo.path) else gitops.toplevel(repo.path) or repo.path)
        bases.append(base)
        git_tops.append(top)
        reason = None
        if opts.commit and top is not None and any(repo.dockerfiles):
            try:
                gitops.preflight(top, opts.branch)
            except gitops.Refused as exc:
                reason = str(exc)
        refusals.append(reason)
    # with --commit a git repository gets a branch, never a write into its checkout
    writes = [opts.apply and not (opts.commit and top is not None) for top in git_tops]
    total = sum(len(r.dockerfiles) for r in repos)
    records = SpilledRecords()  # on disk until the summaries are written: they may be 100s of MB
    with progress(err, total, tty) as bar:

        def done(r: int, reports: list[FileReport]) -> None:
            repo, name = repos[r], folder_names[str(repos[r].path)]
            bar.advance(len(reports))
            try:
                record = _finish(repo, name, reports, bases[r], git_tops[r], refusals[r], opts)
            except Exception as exc:  # never stop the run for one repository
                record = summarize.repo_record(name, repo.key, str(repo.path), [], "", [f"internal error: {exc!r}"])
            records.add(record)
            bar.line(_repo_line(record))

        _process(repos, writes, opts.flags, opts.jobs, done)
    summary = summarize.summary(
        records, root_errors, __version__, now(), f"{opts.shard[0]}/{opts.shard[1]}" if opts.shard else None
    )
    try:
        write_summary(opts.out, summary)
        for error in root_errors:
            print(f"error: {printable(error)}", file=err)
        print(final_line(summary, opts.out), file=err)
    finally:
        records.close()
    return EXIT_ERROR if summary["totals"]["errors"] else EXIT_OK


def _finish(
    repo: Repo, name: str, reports: list[FileReport], base: Path, top: Path | None, refusal: str | None, opts: BulkOptions
) -> dict:
    """One repository after its Dockerfiles were rewritten: patch, PR.md, commit, record."""
    edits = edits_of(reports, base)
    files = []
    for report in reports:
        context = report.context_root if report.context_root is not None else Path(report.path).parent
        ctx_rel = _rel(context, base)
        files.append(summarize.file_record(report, _rel(report.path, base), "" if ctx_rel == "." else ctx_rel))
    patch = "".join(unified_diff(e.old, e.new, e.rel) for e in edits)
    record = summarize.repo_record(name, repo.key, str(repo.path), files, patch)
    _write_outputs(opts.out, record, patch)
    if not (opts.commit and edits):
        return record
    if top is None:
        record["commit"] = {
            "status": "not-git",
            "branch": None,
            "reason": "not a git repository: changes written, nothing committed",
        }
        return record
    if refusal is None and record["errors"]:
        refusal = (
            f"{len(record['errors'])} Dockerfile(s) could not be processed; nothing committed so the branch is complete or absent"
        )
    try:
        if refusal is not None:
            raise gitops.Refused(refusal)
        record["commit"] = gitops.commit(top, opts.branch, edits, commit_message(record))
    except (gitops.Refused, OSError) as exc:
        record["commit"] = {"status": "refused", "branch": opts.branch, "reason": str(exc)}
        summarize.fail(record, f"not committed: {exc}")
    return record


def merge_reports(sources: list[Path], out: Path, err: TextIO | None = None) -> int:
    """``--merge-reports``: the shards' summaries (and their repository folders) as one summary in ``out``."""
    from . import merge

    err = err or sys.stderr
    try:
        summaries = [merge.load(source) for source in sources]
        merge.copy_repo_folders(sources, out)
    except (merge.MergeError, OSError) as exc:
        print(f"error: {printable(str(exc))}", file=err)
        return EXIT_ERROR
    summary = merge.merge(summaries, __version__, now())
    write_summary(out, summary)
    print(f"merged {len(sources)} report(s): " + final_line(summary, out), file=err)
    return EXIT_ERROR if summary["totals"]["errors"] else EXIT_OK
