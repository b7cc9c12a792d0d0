"""The shared shell-query module over tree-sitter-bash."""

from __future__ import annotations

import pytest

from dockerslim_rewrite.shell import analyse, cmd_has_args, commands_named, has_command


def test_commands_with_spans_and_operators() -> None:
    s = analyse("apt-get update && apt-get install -y curl; echo done | cat || true &")
    assert [c.name for c in s.commands] == ["apt-get", "apt-get", "echo", "cat", "true"]
    assert s.operators == ["&&", ";", "||", "&"]
    first = s.commands[0]
    assert s.text[first.start : first.end] == "apt-get update"
    assert s.background


def test_wrappers_and_assignment_prefixes_are_looked_through() -> None:
    s = analyse("sudo -E -u root DEBIAN_FRONTEND=noninteractive apt-get install -qy curl")
    (cmd,) = s.commands
    assert cmd.name == "apt-get"
    assert cmd.argv == ["install", "-qy", "curl"]
    assert cmd_has_args(cmd, "-y") and not cmd_has_args(cmd, "--no-install-recommends")
    env = analyse("env PIP_NO_CACHE_DIR=1 pip install x").commands[0]
    assert env.name == "pip" and env.argv == ["install", "x"]
    pre = analyse("DEBIAN_FRONTEND=noninteractive apt-get install x").commands[0]
    assert pre.name == "apt-get" and not pre.changes_state


def test_dequoting_static_and_dynamic_words() -> None:
    cmd = analyse("""echo 'a b' "c d" e\\ f "g$HOME" pre"fix" """).commands[0]
    assert [w.static for w in cmd.words] == [True, True, True, False, True]
    assert cmd.argv == ["a b", "c d", "e f", '"g$HOME"', "prefix"]


@pytest.mark.parametrize(
    "body",
    [
        "cd /x",
        "pushd /x",
        "popd",
        "export A=1",
        "unset A",
        "set -e",
        "shopt -s globstar",
        "umask 077",
        "ulimit -n 1024",
        "alias ll='ls -l'",
        "source /etc/profile",
        ". /etc/profile",
        "trap 'x' EXIT",
        "exec bash",
        "exit 0",
        "A=1",
        "declare -x A=1",
        "typeset A=1",
        "readonly A=1",
        "local A=1",
        "for i in a b; do :; done",
        "f() { :; }",
        "true && cd /tmp",
    ],
)
def test_state_changing_bodies(body: str) -> None:
    assert analyse(body).changes_state


@pytest.mark.parametrize("body", ["echo hi", "(cd /x && make)", "A=1 make", "make -C /x", "echo $(cd /x; pwd)", "env A=1 true"])
def test_state_preserving_bodies(body: str) -> None:
    assert not analyse(body).changes_state


@pytest.mark.parametrize(
    "body, grouping",
    [
        ("a && b", False),
        ("a || b", True),
        ("a; b", True),
        ("a | b", False),  # a pipeline binds tighter than &&
        ("if a; then b; fi", False),  # a compound command is one command of an && list
        ("(a; b)", False),
        ("{ a; b; }", False),
        ("a && (b || c)", False),
    ],
)
def test_needs_grouping(body: str, grouping: bool) -> None:
    assert analyse(body).needs_grouping is grouping


def test_parse_errors_comments_heredocs_are_flagged() -> None:
    assert not analyse("if then fi (").ok
    assert analyse("echo a # note").has_comment
    assert analyse("cat <<EOF > /x\nhi\nEOF\n").has_heredoc


def test_queries_and_nested_commands() -> None:
    s = analyse("if command -v curl; then curl -fsSL x | tar xz; fi && pip install -r r.txt")
    assert has_command(s, "tar") and has_command(s, "pip")
    (pip,) = commands_named(s, "pip")
    assert pip.in_top_and_chain and pip.depth == 0
    (curl,) = [c for c in commands_named(s, "curl")]
    assert not curl.in_top_and_chain


def test_unicode_offsets_are_characters() -> None:
    s = analyse("echo 'héllo' && touch /tmp/ü")
    touch = s.commands[1]
    assert s.text[touch.start : touch.end] == "touch /tmp/ü"


def test_deep_and_long_inputs_stay_linear() -> None:
    long_chain = " && ".join(["true"] * 10_000)
    assert len(analyse(long_chain).commands) == 10_000
    nested = "(" * 300 + "true" + ")" * 300
    assert analyse(nested).ok


@pytest.mark.parametrize(
    "command, text, option, value, operands",
    [
        ("apt-get", "apt-get -o Acquire::Retries=3 install -qy curl", "-o", "Acquire::Retries=3", ["install", "curl"]),
        ("curl", "curl -fsSLo /tmp/x.tgz https://e/x.tgz", "-o", "/tmp/x.tgz", ["https://e/x.tgz"]),
        ("tar", "tar -xzf /tmp/x.tgz -C /opt", "-C", "/opt", []),
        ("go", "go build -trimpath -o /bin/app -cover ./cmd", "-o", "/bin/app", ["build", "./cmd"]),
        ("go", "go build --o=/bin/app ./cmd", "-o", "/bin/app", ["build", "./cmd"]),
        ("gcc", "gcc -o app -fno-omit-frame-pointer -Wall -lssl x.c", "-o", "app", ["x.c"]),
        ("gcc", "gcc -oapp -lssl x.c", "-l", "ssl", ["x.c"]),
        ("cp", "cp --backup file /dst", "--backup", "", ["file", "/dst"]),
    ],
)
def test_parse_options_tells_options_from_operands(command, text, option, value, operands) -> None:
    from dockerslim_rewrite.shell import analyse, parse_options

    (cmd,) = [c for c in analyse(text).commands if c.name == command]
    parsed = parse_options(cmd.words, command)
    assert parsed.value(option) == value
    assert [w.value for w in parsed.operands] == operands


def test_a_body_is_parsed_once_per_file_and_recent_bodies_are_kept_for_the_next_files() -> None:
    from dockerslim_rewrite import shell

    shell.forget_analyses()
    shell._recent.cache_clear()
    body = "apt-get update && apt-get install -y curl"
    first = analyse(body)
    assert analyse(body) is first  # the same file asks again: no parse
    shell.forget_analyses()  # the file is done
    assert analyse(body) is first  # the next file's same body comes from the recent ones
    assert shell._recent.cache_info().maxsize is not None  # bounded: a long run keeps a few hundred
    for k in range(shell._recent.cache_info().maxsize + 1):  # a file with more bodies than that ...
        analyse(f"echo {k}")
    assert analyse("echo 0") is analyse("echo 0")  # ... still parses each of them once
    shell.forget_analyses()
    assert analyse(body) is not first  # pushed out of the recent ones by then: parsed again, equal
    assert analyse(body).commands[0].name == first.commands[0].name == "apt-get"
