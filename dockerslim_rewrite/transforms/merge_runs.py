"""# merge-runs

## What it does

Merges consecutive `RUN` instructions of the same stage into one `RUN`, joining the
bodies with `&&` and ` \\` line continuations.

## Why it saves bytes

Every `RUN` is a layer. A file created in one layer and deleted in a later one
still costs its full size in the image. With the bodies in one layer, cleanups that follow an install
really remove the bytes, and the other transforms (`pkg-cache`) can put the cleanup in the layer that
made the mess.

## Example

```dockerfile
RUN apt-get update
RUN apt-get install -y curl
RUN cd /opt && tar xf app.tgz
RUN make
```

becomes

```dockerfile
RUN apt-get update \\
    && apt-get install -y curl \\
    && (cd /opt && tar xf app.tgz) \\
    && make
```

Semantics are kept exactly: each original `RUN` starts in the `WORKDIR` with a fresh shell, so a body
that changes shell state (`cd`, `export`, `umask`, `set`, `source`, `exit`, a bare assignment, a `for`
loop variable, ...) is isolated in a subshell `( ... )` before the next body runs. A body whose exit
status or control flow would change when followed by `&& next` (it contains `;`, `||`, a newline or a
compound command) is grouped in braces `{ ...; }`, which keep the exit status without a subshell; a
pipeline needs no grouping. New lines follow the first RUN's own indentation and `&&` placement.
A body that starts with `apt-get update` right after bodies that only ran `apt-get update`/`install`
(nothing that changes the package sources or deletes the lists in between) drops that second update:
the lists it would fetch are already there.

A body that turns on `set -e` (or runs under a `SHELL` with `-e` and has `;`-separated commands) is
only merged as the last body of a chain: POSIX shells ignore `errexit` inside every command of an `&&`
list except the last, so placing it earlier would let a failing command pass silently.

## When it is not applied

When no later RUN of the chain removes, moves or rewrites files (`rm`, `mv`, `chmod`/`chown`,
`sed -i`, `find -delete`, a package manager's remove/purge/clean: `data/shell.toml`
`[layer_rewriters]`): then no layer gets smaller and a merge only coarsens the build cache. A chain is
merged up to its last such RUN. `[tool.dslim.merge-runs] only-when-smaller = false` merges every chain.
Stages whose files do not ship (a builder stage only read through
`COPY --from`): merging there saves nothing and only coarsens the build cache. RUNs separated by a
comment (a section title or a `# hadolint ignore=` pragma stays above the RUN it describes); RUNs with different flags (`--mount`, `--network`, `--security`); exec-form
(JSON) RUNs; RUNs under a non-POSIX `SHELL` (powershell, cmd); RUNs with a heredoc; RUNs whose body the
shell parser cannot parse cleanly; a RUN whose body contains a shell comment; a RUN that starts a
background job with `&` (the job would outlive its original layer); any other instruction (including
`SHELL`, `ENV`, `ARG`, `WORKDIR`) between RUNs; an instruction marked `# dslim: ignore`.

## Limits

Layer count is not a goal in itself: two RUNs that write unrelated files give the same image
size merged or not; the merge is what lets a later cleanup work. Build cache granularity gets coarser.

## Fix safety

Safe. Behaviour is unchanged: state isolation and grouping keep every body's working
directory, environment, options and exit status as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..model import Blank, Comment, Document, Instruction, continuation_of
from ..postconditions import errexit_shell, relies_on_errexit
from ..shell import Script, paths_overlap, rewritten_paths, written_paths
from ..transform import Change, Context, Result, Skip, transform

ID = "merge-runs"
_APT = ("apt-get", "apt")
_APT_VERBS_KEEPING_LISTS = frozenset({"update", "install", "remove", "purge", "autoremove", "clean", "autoclean"})


@dataclass
class _Candidate:
    ins: Instruction
    script: Script

    def __init__(self, ins: Instruction, script: Script) -> None:  # written out to be compiled: see setup.py
        self.ins = ins
        self.script = script

    @property
    def errexit_sensitive(self) -> bool:
        """Would this body behave differently as a non-last element of an && list?"""
        return relies_on_errexit(self.script.text, errexit_shell(self.ins.stage_shell))


@transform(ID)
def merge_runs(doc: Document, ctx: Context) -> Iterator[Result]:
    shipping = ctx.shipping_stages(doc)
    only_when_smaller = bool(ctx.options.settings.get(ID, {}).get("only-when-smaller", True))
    chain: list[_Candidate] = []
    previous_was_run = False
    reported_stages: set[int] = set()
    next_is_run = _next_is_run(doc)
    for position, node in enumerate(doc.nodes):
        if isinstance(node, Blank):
            continue
        if isinstance(node, Comment):
            if chain and previous_was_run and next_is_run[position]:
                yield Skip(
                    node.line, f"RUNs around line {node.line} not merged: a comment stands between them (kept above its RUN)"
                )
            yield from _flush(doc, chain, only_when_smaller)
            chain = []
            continue
        if not isinstance(node, Instruction) or node.keyword != "RUN":
            yield from _flush(doc, chain, only_when_smaller)
            chain = []
            previous_was_run = False
            continue
        if node.stage not in shipping:
            if node.stage not in reported_stages and next_is_run[position]:
                reported_stages.add(node.stage)
                yield Skip(node.line, f"stage '{doc.stages[node.stage].label}' does not ship: merging its RUNs saves nothing")
            continue
        candidate, reason = _candidate(node, ctx)
        if candidate is None:
            if previous_was_run or next_is_run[position]:
                yield Skip(node.line, f"RUN at line {node.line} not merged: {reason}")
            yield from _flush(doc, chain, only_when_smaller)
            chain = []
        elif chain and _flag_key(chain[0].ins) != _flag_key(node):
            yield Skip(node.line, f"RUN at line {node.line} not merged: its flags differ from the RUN before it")
            yield from _flush(doc, chain, only_when_smaller)
            chain = [candidate]
        elif chain and _styles_differ(chain, node):
            yield Skip(node.line, f"RUN at line {node.line} not merged: it puts `&&` at the other end of its lines")
            yield from _flush(doc, chain, only_when_smaller)
            chain = [candidate]
        else:
            chain.append(candidate)
        if candidate is not None and candidate.errexit_sensitive:
            # POSIX shells ignore `set -e` inside an && list except in its last command:
            # such a body may only end a chain.
            yield from _flush(doc, chain, only_when_smaller)
            chain = []
        previous_was_run = True
    yield from _flush(doc, chain, only_when_smaller)


def _candidate(ins: Instruction, ctx: Context) -> tuple[_Candidate | None, str]:
    """A RUN that can be merged, or the reason it cannot."""
    if ctx.is_ignored(ins, ID):
        return None, "ignore pragma (# dslim: ignore, or # hadolint ignore of the rule this fix answers)"
    if ins.is_exec_form:
        return None, "exec (JSON) form"
    if not ins.shell_form_posix:
        return None, f"non-POSIX SHELL {ins.stage_shell[0]!r}, not analysed"
    if ins.heredocs:
        return None, "heredoc body"
    script = ins.script()
    if script is None or not script.ok:
        return None, "the shell parser could not parse the body cleanly"
    if script.has_comment:
        return None, "the body contains a shell comment"
    if script.has_heredoc:
        return None, "heredoc in the body"
    if script.background:
        return None, "the body starts a background job (&)"
    if not ins.args.strip():
        return None, "empty body"
    return _Candidate(ins, script), ""


def _next_is_run(doc: Document) -> list[bool]:
    """Per node: is the next instruction after it a RUN? (one backward pass, not a scan per node)"""
    out = [False] * len(doc.nodes)
    following = False
    for position in range(len(doc.nodes) - 1, -1, -1):
        out[position] = following
        node = doc.nodes[position]
        if isinstance(node, Instruction):
            following = node.keyword == "RUN"
    return out


def _styles_differ(chain: list[_Candidate], ins: Instruction) -> bool:
    """Would the merged RUN mix `&& \\` at line ends with `&&` at line starts?"""
    style = ins.continuation_style()
    if style is None:
        return False
    chain_style = continuation_of([c.ins for c in chain]) if any(c.ins.continuation_style() for c in chain) else None
    return chain_style is not None and (chain_style.trailing is None) != (style.trailing is None)


def _flag_key(ins: Instruction) -> tuple:
    return tuple(sorted((f.name, f.value or "") for f in ins.flags))


def _worth_merging(chain: list[_Candidate]) -> list[_Candidate]:
    """The head of the chain up to the last body that removes or rewrites what an earlier body wrote:
    merging more than that makes no layer smaller, it only coarsens the build cache."""
    last = 0
    earlier: list[str] = []  # what the bodies before k wrote, grown as k advances
    for k, candidate in enumerate(chain):
        cwd = candidate.ins.doc.state_at(candidate.ins).workdir
        rewritten = rewritten_paths(candidate.script, cwd) if k else []
        if rewritten and paths_overlap(earlier, rewritten):
            last = k
        earlier += written_paths(candidate.script, cwd)
    return chain[: last + 1]


def _flush(doc: Document, chain: list[_Candidate], only_when_smaller: bool = True) -> Iterator[Result]:
    if len(chain) < 2:
        return
    if only_when_smaller:
        worth = _worth_merging(chain)
        if len(worth) < len(chain):
            rest = chain[len(worth) :] if len(worth) > 1 else chain
            lines = ", ".join(str(c.ins.line) for c in rest)
            yield Skip(
                rest[0].ins.line,
                f"RUNs at lines {lines} not merged: no later one removes or rewrites files,"
                " so merging would make no layer smaller",
            )
        chain = worth
        if len(chain) < 2:
            return
    first, last = chain[0].ins, chain[-1].ins
    style = continuation_of([c.ins for c in chain])
    parts = [doc.text[first.start : first.body_start]]
    isolated: list[int] = []
    dropped_updates: list[int] = []
    lists_fresh = False  # did the bodies so far fetch apt lists and leave them in place?
    for position, candidate in enumerate(chain):
        ins, script = candidate.ins, candidate.script
        body = doc.text[ins.body_start : ins.body_end]
        without_update = _without_leading_update(script, ins) if lists_fresh else None
        if without_update is not None:
            body = without_update
            dropped_updates.append(ins.line)
        lists_fresh = _keeps_fresh_lists(script, lists_fresh)
        is_last = position == len(chain) - 1
        if script.changes_state and not is_last:
            body = f"( {body} )" if body.startswith("(") else f"({body})"
            isolated.append(ins.line)
        elif script.needs_grouping:
            body = "{ " + body + (" }" if body.rstrip().endswith((";", "&")) else "; }")
        if position == 0:
            parts.append(body)
            continue
        parts.append(style.join(doc.escape, doc.newline, body))
    parts.append(doc.text[last.body_end : last.end])
    lines = ", ".join(str(c.ins.line) for c in chain)
    explanation = f"merged {len(chain)} RUN instructions (lines {lines}) into one layer"
    if isolated:
        explanation += "; state-changing bodies (lines " + ", ".join(map(str, isolated)) + ") run in a subshell"
    if dropped_updates:
        explanation += (
            "; apt-get update not repeated (lines " + ", ".join(map(str, dropped_updates)) + "): the lists were just fetched"
        )
    yield Change(first.start, last.end, "".join(parts), "safe", explanation)


def _apt_verb(cmd) -> str | None:
    if cmd.name not in _APT:
        return None
    verbs = [w.value for w in cmd.words if not w.value.startswith("-")]
    return verbs[0] if verbs else None


def _keeps_fresh_lists(script: Script, fresh: bool) -> bool:
    """After this body, are the apt lists freshly fetched and untouched? Only a body made of nothing but
    apt-get update/install/remove commands in one && chain keeps them so."""
    if not script.is_and_chain or not script.commands:
        return False
    verbs = [_apt_verb(c) for c in script.commands]
    if any(v not in _APT_VERBS_KEEPING_LISTS for v in verbs):
        return False
    return fresh or "update" in verbs


def _without_leading_update(script: Script, ins: Instruction) -> str | None:
    """The body without its leading plain ``apt-get update &&``, when that is all it starts with."""
    first = script.commands[0] if script.commands else None
    if first is None or not script.is_and_chain or len(script.items) < 2 or _apt_verb(first) != "update":
        return None
    if first.prefix_words or any(w.value not in ("update", "-q", "-qq", "-y", "--quiet") for w in first.words):
        return None
    if first.start != script.items[0].start or first.end != script.items[0].end:
        return None
    rest_at = ins.doc_offset(script.items[1].start)
    return ins.doc.text[rest_at : ins.body_end]
