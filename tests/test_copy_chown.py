"""copy-chown: safety class, explanations, and the reason for every construct left alone.

The fixture pairs (fixtures/copy-chown) check the rewritten text; these tests check what the report
says. The ownership rules the transform relies on (COPY --chown owns the directories it creates but
not an existing one; `chown USER` keeps group 0) were checked on a real BuildKit engine: the
end-to-end case tests/e2e/cases/copy-chown builds both versions and compares owners.
"""

from __future__ import annotations

import pytest
from conftest import oracle_parse

from dockerslim_rewrite.buildcontext import Entry, Snapshot
from dockerslim_rewrite.model import parse
from dockerslim_rewrite.pipeline import rewrite
from dockerslim_rewrite.transform import REGISTRY, Options
from dockerslim_rewrite.transforms import all_transforms

ONLY = Options(select=frozenset({"copy-chown"}))
HEAD = "FROM debian:bookworm-slim\nRUN useradd --system app\n"


def run(text: str, options: Options = ONLY, snapshot=None):
    result = rewrite(text.encode(), options, snapshot)
    assert not result.errors, result.errors
    return result


def folded(text: str, snapshot=None) -> str:
    result = run(text, snapshot=snapshot)
    out = result.output.decode()
    oracle_parse(out)
    again = run(out, snapshot=snapshot)
    assert again.output.decode() == out and not again.changes, "not a fixed point of copy-chown"
    return out


def skip_reasons(text: str, snapshot=None) -> list[str]:
    result = run(text, snapshot=snapshot)
    assert result.output.decode() == text, "expected no change"
    return [s.reason for s in result.skips if s.transform == "copy-chown"]


def test_registered_after_merge_runs_and_before_pkg_cache():
    order = [t.id for t in all_transforms()]
    assert order.index("merge-runs") < order.index("copy-chown") < order.index("pkg-cache")
    doc = REGISTRY["copy-chown"].doc
    for heading in (
        "## What it does",
        "## Why it saves bytes",
        "## Example",
        "## When it is not applied",
        "## Limits",
        "## Fix safety",
    ):
        assert heading in doc
    assert "`review`" in doc[doc.index("## Fix safety") :]


def test_fold_is_review_with_assumption_and_explanation():
    text = HEAD + "COPY data/ /srv/app/data/\nCOPY run.sh /srv/app/\nRUN chown -R app:app /srv/app\nUSER app\n"
    result = run(text)
    assert result.output.decode() == (
        HEAD + "COPY --chown=app:app data/ /srv/app/data/\nCOPY --chown=app:app run.sh /srv/app/\nUSER app\n"
    )
    assert {c.safety for c in result.changes} == {"review"}
    assert len(result.changes) == 3
    for change in result.changes:
        assert "/srv/app" in change.assumption and "setuid" in change.assumption
    run_change = [c for c in result.changes if c.line == 5][0]
    assert "`chown -R app:app /srv/app`" in run_change.explanation
    assert "lines" in run_change.explanation or "line(s) 3, 4" in run_change.explanation
    assert "the RUN is removed" in run_change.explanation


def test_withheld_under_safe_only():
    text = HEAD + "COPY . /srv/app\nRUN chown -R app:app /srv/app\n"
    result = run(text, Options(select=frozenset({"copy-chown"}), safe_only=True))
    assert result.output.decode() == text
    assert len(result.withheld) == 2


def test_existing_directory_keeps_a_non_recursive_chown_and_says_why():
    text = HEAD + "WORKDIR /app\nCOPY . .\nRUN chown -R app:app /app\nUSER app\n"
    out = folded(text)
    assert out == HEAD + "WORKDIR /app\nCOPY --chown=app:app . .\nRUN chown app:app /app\nUSER app\n"
    change = [c for c in run(text).changes if c.line == 5][0]
    assert "not recursive" in change.explanation and "existing directory" in change.explanation


def test_workdir_below_the_tree_is_kept_too():
    text = HEAD + "COPY . /srv/app\nWORKDIR /srv/app/var/run\nRUN chown -R app:app /srv/app\n"
    out = folded(text)
    assert "RUN chown app:app /srv/app /srv/app/var /srv/app/var/run\n" in out
    assert "COPY --chown=app:app . /srv/app\n" in out


def test_rest_of_the_chain_is_kept_byte_for_byte():
    text = (
        HEAD
        + "COPY . /srv/app\nRUN chown -R app:app /srv/app \\\n  &&   ln -s /srv/app/bin/x  '/usr/local/bin/x'  \\\n\t&& true\n"
    )
    out = folded(text)
    assert out.endswith("\nRUN ln -s /srv/app/bin/x  '/usr/local/bin/x'  \\\n\t&& true\n")
    commented = HEAD + "COPY . /srv/app\nRUN chown -R app:app /srv/app && ln -s /srv/app/x /x # link\n"
    assert any("not a plain && chain" in r for r in skip_reasons(commented))


def test_leading_chowns_all_fold_in_one_pass():
    text = HEAD + "COPY a/ /srv/a/\nCOPY b/ /srv/b/\nRUN chown -R app:app /srv/a && chown -R app /srv/b && touch /tmp/done\n"
    out = folded(text)
    assert "COPY --chown=app:app a/ /srv/a/\nCOPY --chown=app:0 b/ /srv/b/\nRUN touch /tmp/done\n" in out


def test_chown_of_other_paths_between_does_not_block():
    text = HEAD + "COPY a/ /srv/a/\nCOPY b/ /srv/b/\nRUN chown -R app:app /srv/b\nRUN chown -R app:app /srv/a\n"
    out = folded(text)
    assert out == HEAD + "COPY --chown=app:app a/ /srv/a/\nCOPY --chown=app:app b/ /srv/b/\n"


def test_crlf_and_continuation_lines():
    text = (HEAD + 'COPY \\\n    src/ \\\n    /srv/app/\nRUN chown -R app:app /srv/app\nCMD ["true"]\n').replace("\n", "\r\n")
    out = folded(text)
    assert out.endswith('COPY \\\r\n    --chown=app:app src/ \\\r\n    /srv/app/\r\nCMD ["true"]\r\n')


def test_whole_pipeline_keeps_the_fold():
    text = HEAD + "COPY . /srv/app\nRUN chown -R app:app /srv/app\nRUN apt-get update && apt-get install -y curl\n"
    result = rewrite(text.encode(), Options())
    assert not result.errors
    out = result.output.decode()
    assert "COPY --chown=app:app . /srv/app" in out and "chown -R" not in out
    assert rewrite(result.output, Options()).output == result.output


def test_single_file_needs_the_build_context():
    text = HEAD + "COPY start.sh /usr/local/bin/start\nRUN chown app /usr/local/bin/start\n"
    (reason,) = skip_reasons(text)
    assert "not a single file" in reason and "no build context" in reason
    snapshot = Snapshot(files=[Entry("start.sh", 20)])
    assert folded(text, snapshot) == HEAD + "COPY --chown=app:0 start.sh /usr/local/bin/start\n"
    dir_snapshot = Snapshot(files=[Entry("start.sh", 0, is_dir=True)])
    assert skip_reasons(text, dir_snapshot) == []  # a plain chown of a directory: not this pattern


@pytest.mark.parametrize(
    "body, reason",
    [
        ("COPY . /srv/app\nRUN sudo chown -R app /srv/app\n", "not the first command"),
        ("COPY . /srv/app\nRUN chown --from=root -R app /srv/app\n", "chown option --from=root"),
        ("COPY . /srv/app\nUSER app\nRUN chown -R app /srv/app\n", "runs as USER app"),
        ("ARG RUNAS=root\nUSER $RUNAS\nCOPY . /srv/app\nRUN chown -R app /srv/app\n", "runs as USER $RUNAS"),
        ("COPY a/ /srv/a/\nCOPY b/ /srv/b/\nRUN chown -R app /srv/a || chown -R app /srv/b\n", "not a plain && chain"),
        ("COPY a/ /srv/a/\nRUN chown -R app /srv/a | tee /tmp/log\n", "not the first command"),
        ("COPY <<EOF /srv/a/x\nhi\nEOF\nRUN chown -R app /srv/a\n", "heredoc COPY"),
        ("COPY . /srv/app\nRUN chown -R :app /srv/app\n", "not a plain USER"),
        ("COPY . /srv/app\nRUN chown -R app: /srv/app\n", "not a plain USER"),
        ("COPY . /srv/app\nRUN chown -R app:app ~/app\n", "glob, ~ or .."),
        ("COPY . /srv/app\nRUN chown -R app:app /srv/x/../app\n", "glob, ~ or .."),
        ("COPY . /srv/app\nRUN chown -R app:app app\n", "WORKDIR is not known"),
        ("COPY . app\nRUN chown -R app:app /srv/app\n", "WORKDIR is not known"),
        ("COPY . /srv/app\nRUN --mount=type=cache,target=/tmp chown -R app:app /srv/app\n", "the RUN has flags"),
        ("COPY . /srv/app\nUSER nobody\nUSER root\nRUN chown -R app:app /srv/app\n", "USER at line"),
        ("COPY . /srv/app\nCOPY passwd /etc/passwd\nRUN chown -R app:app /srv/app\n", "may change users"),
        ("COPY --link . /srv/app\nRUN chown -R app:app /srv/app\n", "already has --link"),
        ("COPY --chown=root . /srv/app\nRUN chown -R app:app /srv/app\n", "already has --chown"),
        ("ADD https://example.invalid/a.txt /srv/app/\nRUN chown -R app:app /srv/app\n", "downloads"),
        ("ADD vendor /srv/app/\nRUN chown -R app:app /srv/app\n", "may extract a local archive"),
        ("ARG DEST=/srv/app\nCOPY . $DEST\nRUN chown -R app:app /srv/app\n", "variables"),
        ("RUN echo hello > /srv/app/motd\nCOPY . /srv/app\nRUN chown -R app:app /srv/app\n", "mentions /srv/app/motd"),
        (
            "RUN pip install --target=/srv/app/lib flask\nCOPY . /srv/app\nRUN chown -R app:app /srv/app\n",
            "mentions /srv/app/lib",
        ),
        (
            "ENV APP_HOME=/srv/app\nRUN mkdir -p $APP_HOME/cache\nCOPY . /srv/app\nRUN chown -R app:app /srv/app\n",
            "mkdir with a variable",
        ),
        ("ENV APP_HOME=/srv/app\nRUN touch $APP_HOME/x\nCOPY . /srv/app\nRUN chown -R app:app /srv/app\n", "APP_HOME point into"),
        ("RUN cd /srv && mkdir app && touch app/x\nCOPY . /srv/app\nRUN chown -R app:app /srv/app\n", "changes directory"),
        ("WORKDIR /srv/app\nRUN npm install\nCOPY . .\nRUN chown -R app:app /srv/app\n", "runs inside /srv/app"),
        ("RUN useradd svc\nCOPY . /home/svc\nRUN chown -R svc /home/svc\n", "home directory"),
        ("RUN useradd -d /srv/app svc\nCOPY . /srv/app\nRUN chown -R svc /srv/app\n", "CREATE_HOME"),
        ("RUN adduser --home /srv/app svc\nCOPY . /srv/app\nRUN chown -R svc /srv/app\n", "skeleton files"),
        ("COPY . /srv/app\nCOPY . /srv/app\nRUN chown -R app:app /srv/app && chown -R root:root /srv/app\n", "different owners"),
        ("COPY . /etc/app/\nRUN chown -R app:app /etc/app\n", "system tree"),
        ("COPY . /var/www/\nRUN chown -R app:app /var/www\n", "system tree"),
        ("COPY . /var/www/html/\nRUN chown -R app:app /var/www/html\n", "/var/www may not exist"),
        ("COPY . /\nRUN chown -R app:app /\n", "system directory"),
        ("WORKDIR $HOME\nCOPY . /srv/app\nRUN chown -R app:app /srv/app\n", "WORKDIR at line 3 has a variable"),
        ("COPY . /srv/app\nRUN chown -R app:app /srv/app /srv/app/extra\n", "above /srv/app/extra"),
    ],
)
def test_left_alone_with_a_reason(body: str, reason: str):
    reasons = skip_reasons(HEAD + body)
    assert any(reason in r for r in reasons), reasons


def test_not_the_first_command_even_when_user_is_created_first():
    (reason,) = skip_reasons("FROM debian:bookworm-slim\nCOPY . /srv/app\nRUN useradd -r app && chown -R app /srv/app\n")
    assert "not the first command" in reason


def test_copy_in_parent_stage_blocks():
    text = "FROM debian:bookworm-slim AS base\nRUN useradd -r app\nCOPY conf/ /srv/app/conf/\n\nFROM base\nCOPY . /srv/app/\nRUN chown -R app:app /srv/app\n"
    (reason,) = skip_reasons(text)
    assert "another stage" in reason


def test_non_posix_shell_and_stage_not_reaching_final_are_not_touched():
    text = (
        "FROM debian:bookworm-slim AS tools\nRUN useradd -r app\nCOPY . /srv/app\nRUN chown -R app:app /srv/app\n\n"
        'FROM debian:bookworm-slim\nSHELL ["pwsh", "-Command"]\nCOPY . /srv/app\nRUN chown -R app:app /srv/app\n'
    )
    assert skip_reasons(text) == []


def test_pragma_on_the_copy():
    text = HEAD + "# dslim: ignore\nCOPY . /srv/app\nRUN chown -R app:app /srv/app\n"
    (reason,) = skip_reasons(text)
    assert "pragma" in reason


def test_every_output_parses_for_generated_variants():
    """Combinations of WORKDIR, relative paths and owner spellings: valid output, fixed point, no errors."""
    for workdir in ("", "WORKDIR /srv/app\n", "WORKDIR /srv\n"):
        for dest in ("/srv/app/", ".", "app/"):
            for owner in ("app", "app:app", "10001:10001", "app:0"):
                for target in ("/srv/app", ".", "app"):
                    text = HEAD + workdir + f'COPY src/ {dest}\nRUN chown -R {owner} {target}\nCMD ["x"]\n'
                    out = run(text).output.decode()
                    oracle_parse(out)
                    assert run(out).output.decode() == out
                    parse(out.encode())


def test_workdir_comes_from_the_model_across_stages():
    """The WORKDIR set in the stage built FROM is the one in force (Document.walk), relative steps included."""
    text = (
        "FROM debian:bookworm-slim AS base\nRUN useradd -r app\nWORKDIR /srv\n\n"
        "FROM base\nWORKDIR app\nCOPY . .\nRUN chown -R app:app .\n"
    )
    assert folded(text) == (
        "FROM debian:bookworm-slim AS base\nRUN useradd -r app\nWORKDIR /srv\n\n"
        "FROM base\nWORKDIR app\nCOPY --chown=app:app . .\nRUN chown app:app .\n"
    )


@pytest.mark.parametrize("workdir", ["WORKDIR app\n", "ARG D=/srv/app\nWORKDIR $D\n"])
def test_workdir_not_trusted_without_an_absolute_literal(workdir: str):
    """The base image's WORKDIR is not in the file, and a build arg may change a variable."""
    reasons = skip_reasons(HEAD + workdir + "COPY . .\nRUN chown -R app:app .\n")
    assert reasons and all("WORKDIR" in r for r in reasons), reasons


def test_root_with_a_group_is_root():
    """USER root:staff still runs the chown as uid 0 (State.user_is_root)."""
    text = HEAD + "USER root:staff\nCOPY data/ /srv/app/\nRUN chown -R app:app /srv/app\n"
    assert folded(text) == HEAD + "USER root:staff\nCOPY --chown=app:app data/ /srv/app/\n"


@pytest.mark.parametrize(
    "chown, shown",
    [("chown -Rh app", "-h"), ("chown --from root -R app", "--from=root"), ("chown -R --dereference app", "--dereference")],
)
def test_chown_options_named_one_by_one(chown: str, shown: str):
    (reason,) = skip_reasons(HEAD + f"COPY . /srv/app\nRUN {chown} /srv/app\n")
    assert f"chown option {shown} (" in reason


def test_chown_options_after_the_operands_count():
    text = HEAD + "COPY data/ /srv/app/\nRUN chown app:app /srv/app -R\n"
    assert folded(text) == HEAD + "COPY --chown=app:app data/ /srv/app/\n"


def test_mkdir_with_a_mode_keeps_the_directory_chowned():
    """`mkdir -m 755 DIR` made DIR before the COPY (755 is the mode's value, not a directory): DIR is still chowned."""
    text = HEAD + "RUN mkdir -m 755 /srv/app\nCOPY data/ /srv/app/\nRUN chown -R app:app /srv/app\n"
    assert folded(text) == HEAD + "RUN mkdir -m 755 /srv/app\nCOPY --chown=app:app data/ /srv/app/\nRUN chown app:app /srv/app\n"


@pytest.mark.parametrize(
    "user_cmd, reason",
    [
        ("useradd --home-dir=/srv/app -m svc", "skeleton files"),
        ("useradd -mb /srv app", "skeleton files"),
        ("useradd -r -d /srv/app svc", None),
        ("adduser -D -h /srv/app svc", "skeleton files"),
        ("adduser -S -H svc", None),
    ],
)
def test_home_directory_options(user_cmd: str, reason: str | None):
    text = f"FROM debian:bookworm-slim\nRUN {user_cmd}\nCOPY . /srv/app\nRUN chown -R svc /srv/app\n"
    if reason is None:
        assert "COPY --chown=svc:0 . /srv/app" in folded(text)
    else:
        assert any(reason in r for r in skip_reasons(text)), skip_reasons(text)


def test_stage_with_its_own_cmd_ships():
    """A stage built with --target (it has its own CMD) ships like the final one: its chown is looked at."""
    text = (
        'FROM debian:bookworm-slim AS app\nRUN useradd -r app\nCOPY . /srv/app\nRUN chown -R app:app /srv/app\nCMD ["x"]\n\n'
        'FROM debian:bookworm-slim\nCMD ["y"]\n'
    )
    assert "COPY --chown=app:app . /srv/app" in folded(text)
