"""# merge-runs

**What it does.** Merges consecutive `RUN` instructions of the same stage into one `RUN`, joining the
bodies with `&&` and ` \\` line continuations.

**Why it saves bytes.** Every `RUN` is a layer. A file created in one layer and deleted in a later one
still costs its full size in the image. With the bodies in one layer, cleanups that follow an install
really remove the bytes, and the other transforms (`pkg-cache`) can put the cleanup in the layer that
made the mess.

**Example**

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
status or control flow would change when followed by `&& next` (it contains `;`, `||`, `|`, a newline
or a compound command) is grouped in `( ... )` too. Comments between the merged RUNs are kept as
comment lines inside the continuation (BuildKit skips them); blank lines between them are dropped.

A body that turns on `set -e` (or runs under a `SHELL` with `-e` and has `;`-separated commands) is
only merged as the last body of a chain: POSIX shells ignore `errexit` inside every command of an `&&`
list except the last, so placing it earlier would let a failing command pass silently.

**When it is not applied.** RUNs with different flags (`--mount`, `--network`, `--security`); exec-form
(JSON) RUNs; RUNs under a non-POSIX `SHELL` (powershell, cmd); RUNs with a heredoc; RUNs whose body the
shell parser cannot parse cleanly; a RUN whose body contains a shell comment; a RUN that starts a
background job with `&` (the job would outlive its original layer); any other instruction (including
`SHELL`, `ENV`, `ARG`, `WORKDIR`) between RUNs; an instruction marked `# dslim: ignore`.

**Limits.** Layer count is not a goal in itself: two RUNs that write unrelated files give the same image
size merged or not; the merge is what lets a later cleanup work. Build cache granularity gets coarser.

**Fix safety: safe.** Behaviour is unchanged: state isolation and grouping keep every body's working
directory, environment, options and exit status as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..model import Blank, Comment, Document, Instruction
from ..shell import Script
from ..transform import Change, Context, Result, Skip, transform

ID = "merge-runs"


@dataclass
class _Candidate:
    ins: Instruction
    script: Script

    @property
    def errexit_sensitive(self) -> bool:
        """Would this body behave differently as a non-last element of an && list?"""
        script = self.script
        if script.sets_errexit:
            return True
        grouped = script.needs_grouping or script.has_sequence or any(
            item.node_type in ("subshell", "compound_statement") for item in script.items
        )
        return grouped and _shell_has_errexit(self.ins.stage_shell)


@transform(id=ID, summary="Merge consecutive RUN instructions of a stage into one layer", order=10)
def merge_runs(doc: Document, ctx: Context) -> Iterator[Result]:
    indent = doc.continuation_indent or "    "
    chain: list[_Candidate] = []
    previous_was_run = False
    for node in doc.nodes:
        if isinstance(node, (Comment, Blank)):
            continue
        if not isinstance(node, Instruction) or node.keyword != "RUN":
            yield from _flush(doc, chain, indent)
            chain = []
            previous_was_run = False
            continue
        candidate, reason = _candidate(node, ctx)
        if candidate is None:
            if previous_was_run or _next_is_run(doc, node):
                yield Skip(node.line, f"RUN at line {node.line} not merged: {reason}")
            yield from _flush(doc, chain, indent)
            chain = []
        elif chain and _flag_key(chain[0].ins) != _flag_key(node):
            yield Skip(node.line, f"RUN at line {node.line} not merged: its flags differ from the RUN before it")
            yield from _flush(doc, chain, indent)
            chain = [candidate]
        else:
            chain.append(candidate)
        if candidate is not None and candidate.errexit_sensitive:
            # POSIX shells ignore `set -e` inside an && list except in its last command:
            # such a body may only end a chain.
            yield from _flush(doc, chain, indent)
            chain = []
        previous_was_run = True
    yield from _flush(doc, chain, indent)


def _candidate(ins: Instruction, ctx: Context) -> tuple[_Candidate | None, str]:
    """A RUN that can be merged, or the reason it cannot."""
    if ctx.is_ignored(ins, ID):
        return None, "'# dslim: ignore' pragma"
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


def _next_is_run(doc: Document, ins: Instruction) -> bool:
    for node in doc.nodes[ins.node_index + 1 :]:
        if isinstance(node, Instruction):
            return node.keyword == "RUN"
    return False


def _flag_key(ins: Instruction) -> tuple:
    return tuple(sorted((f.name, f.value or "") for f in ins.flags))


def _flush(doc: Document, chain: list[_Candidate], indent: str) -> Iterator[Result]:
    if len(chain) < 2:
        return
    first, last = chain[0].ins, chain[-1].ins
    continuation = " " + doc.escape + doc.newline
    parts = [doc.text[first.start : first.body_start]]
    isolated: list[int] = []
    for position, candidate in enumerate(chain):
        ins = candidate.ins
        body = doc.text[ins.body_start : ins.body_end]
        is_last = position == len(chain) - 1
        needs_subshell = candidate.script.needs_grouping or (candidate.script.changes_state and not is_last)
        if needs_subshell:
            body = f"( {body} )" if body.startswith("(") else f"({body})"
            if candidate.script.changes_state:
                isolated.append(ins.line)
        if position == 0:
            parts.append(body)
            continue
        parts.append(continuation)
        previous = chain[position - 1].ins
        for node in doc.nodes[previous.node_index + 1 : ins.node_index]:
            if isinstance(node, Comment):
                parts.append(doc.text[node.start : node.end])
        parts.append(f"{indent}&& {body}")
    parts.append(doc.text[last.body_end : last.end])
    lines = ", ".join(str(c.ins.line) for c in chain)
    explanation = f"merged {len(chain)} RUN instructions (lines {lines}) into one layer"
    if isolated:
        explanation += "; state-changing bodies (lines " + ", ".join(map(str, isolated)) + ") run in a subshell"
    yield Change(first.start, last.end, "".join(parts), "safe", explanation)


def _shell_has_errexit(shell: list[str]) -> bool:
    for k, arg in enumerate(shell[1:], start=1):
        if arg.startswith("-") and not arg.startswith("--") and "e" in arg[1:] and arg != "-c":
            return True
        if arg == "-o" and k + 1 < len(shell) and shell[k + 1] == "errexit":
            return True
    return False

