"""The lossless model: byte-identical round trips, and instruction boundaries that agree with BuildKit."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, oracle_parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockerslim_rewrite.model import ParseError, parse

TRICKY = {
    "crlf": b"FROM alpine\r\nRUN echo a \\\r\n  && echo b\r\n",
    "bom": b"\xef\xbb\xbfFROM alpine\nRUN echo hi\n",
    "no-final-newline": b"FROM alpine\nRUN echo hi",
    "tabs-and-trailing-spaces": b"FROM alpine  \n\tRUN\techo hi\t \n",
    "comment-in-continuation": b"FROM alpine\nRUN echo a \\\n# inner comment\n    && echo b\n",
    "empty-continuation-line": b"FROM alpine\nRUN echo a \\\n\n    && echo b\n",
    "escape-backtick": b"# escape=`\nFROM mcr.microsoft.com/windows/nanoserver\nCOPY testfile.txt c:\\ `\n    c:\\dest\\\nRUN dir c:\\\n",
    "syntax-and-check": b"# syntax=docker/dockerfile:1.7\n# check=skip=JSONArgsRecommended\nFROM alpine\n",
    "json-forms": b'FROM alpine\nCMD ["echo", "hi"]\nENTRYPOINT ["/bin/sh", "-c"]\nSHELL ["/bin/bash", "-c"]\n',
    "onbuild": b"FROM alpine\nONBUILD RUN echo hi\nONBUILD COPY . /app\n",
    "lowercase": b"from alpine as base\nrun echo hi\ncopy --from=base /a /b\n",
    "arg-before-from": b"ARG VERSION=3.19\nFROM alpine:${VERSION}\nARG VERSION\n",
    "heredoc-run": b"FROM alpine\nRUN <<EOF\nset -e\necho hi\nEOF\n",
    "heredoc-copy": b"FROM alpine\nCOPY <<EOF /etc/motd\nhello\nEOF\n",
    "heredoc-chomp": b"FROM alpine\nRUN <<-EOT\n\techo tabbed\n\tEOT\n",
    "heredoc-quoted": b"FROM alpine\nRUN <<'EOF'\necho $HOME\nEOF\nRUN <<\"END\"\necho x\nEND\n",
    "heredoc-two-on-one-line": b"FROM alpine\nRUN <<FILE1 cat > /f1 && <<FILE2 cat > /f2\none\nFILE1\ntwo\nFILE2\n",
    "heredoc-cat-redirect": b"FROM alpine\nRUN cat <<EOF > /x.sh\n#!/bin/sh\necho RUN not an instruction\nEOF\nRUN echo after\n",
    "heredoc-fd": b"FROM alpine\nRUN python3 3<<EOF\nprint(1)\nEOF\n",
    "blank-lines-and-comments": b"# leading comment\n\nFROM alpine\n\n\n# c\n  # indented comment\nRUN true\n",
    "multi-stage": b"FROM golang:1.22 AS build\nRUN go build\nFROM --platform=$BUILDPLATFORM build AS test\nFROM gcr.io/distroless/static\nCOPY --from=build /app /app\n",
    "continuation-at-eof": b"FROM alpine\nRUN echo a \\\n",
    "whitespace-only-lines": b"FROM alpine\n   \n\t\nRUN true\n",
    "healthcheck": b"FROM alpine\nHEALTHCHECK --interval=30s CMD wget -qO- localhost || exit 1\n",
    "env-label-multi": b'FROM alpine\nENV A=1 \\\n    B="two words"\nLABEL a=b c="d e"\n',
}


def _oracle_lines(text: str):
    return [(c.cmd.upper(), c.start_line, c.end_line) for c in oracle_parse(text)]


def _our_lines(doc):
    return [(i.keyword, i.line, i.end_line) for i in doc.instructions]


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_round_trip_is_byte_identical(name: str) -> None:
    data = TRICKY[name]
    assert parse(data).render() == data


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_instruction_boundaries_agree_with_buildkit(name: str) -> None:
    data = TRICKY[name]
    doc = parse(data)
    assert _our_lines(doc) == _oracle_lines(data.decode("utf-8-sig"))


@pytest.mark.parametrize("name", [n for n in sorted(TRICKY) if n.startswith("heredoc")])
def test_heredoc_bodies_agree_with_buildkit(name: str) -> None:
    text = TRICKY[name].decode()
    ours = [[(h.name, h.body) for h in i.heredocs] for i in parse(text.encode()).instructions]
    theirs = [[(h.name, h.content) for h in c.heredocs] for c in oracle_parse(text)]
    assert ours == theirs


def test_fixture_corpus_round_trips_and_agrees_with_buildkit() -> None:
    files = sorted(FIXTURES.glob("*/*/*.Dockerfile"))
    assert files
    for path in files:
        data = path.read_bytes()
        doc = parse(data)
        assert doc.render() == data, path
        assert _our_lines(doc) == _oracle_lines(data.decode("utf-8-sig")), path


def test_heredoc_body_is_not_read_as_instructions() -> None:
    doc = parse(b"FROM alpine\nRUN <<EOF\nset -e\nRUN echo inside\nEOF\nRUN echo outside\n")
    assert [i.keyword for i in doc.instructions] == ["FROM", "RUN", "RUN"]
    assert doc.instructions[1].heredocs[0].body == "set -e\nRUN echo inside\n"


def test_flags_args_and_offsets() -> None:
    text = "FROM alpine\nRUN --mount=type=cache,target=/root/.cache \\\n    --network=none pip install x \\\n  && echo y\n"
    doc = parse(text.encode())
    run = doc.instructions[1]
    assert [(f.name, f.value) for f in run.flags] == [("mount", "type=cache,target=/root/.cache"), ("network", "none")]
    assert run.args == "pip install x   && echo y"
    assert text[run.body_start : run.body_start + 3] == "pip"
    assert text[run.body_end - 6 : run.body_end] == "echo y"
    index = run.args.index("echo")
    assert text[run.doc_offset(index) : run.doc_offset(index) + 4] == "echo"


def test_stages_are_first_class() -> None:
    doc = parse(
        b"ARG BASE=python:3.12\nFROM ${BASE} AS Base\nFROM --platform=linux/amd64 base AS build\n"
        b"RUN make\nFROM debian:bookworm-slim\nCOPY --from=build /out /out\nCOPY --from=0 /x /x\n"
    )
    names = [(s.index, s.name, s.base, s.platform, s.parent) for s in doc.stages]
    assert names == [
        (0, "base", "${BASE}", None, None),
        (1, "build", "base", "linux/amd64", 0),
        (2, None, "debian:bookworm-slim", None, None),
    ]
    assert doc.stages[2].copies_from == ["build", "0"]
    assert doc.stages[2].is_final and not doc.stages[1].is_final
    assert doc.instructions[0].stage == -1
    assert doc.stages_reaching_final() == {2}


def test_shell_form_posix_follows_shell_instruction() -> None:
    doc = parse(
        b'FROM x\nRUN echo a\nSHELL ["powershell", "-Command"]\nRUN Write-Host b\nSHELL ["/bin/bash", "-c"]\nRUN echo c\nRUN ["a"]\n'
    )
    runs = [i for i in doc.instructions if i.keyword == "RUN"]
    assert [r.shell_form_posix for r in runs] == [True, False, True, False]
    assert runs[1].script() is None


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "no instructions"),
        (b"# only a comment\n\n", "no instructions"),
        (b"ARG A=1\n", "no FROM"),
        (b"RUN echo\n", "before the first FROM"),
        (b"FROM alpine\nFROBNICATE x\n", "unknown instruction"),
        (b"FROM alpine\nRUN <<EOF\necho never ends\n", "unterminated heredoc"),
        (b'FROM alpine\nCMD ["echo", "hi"\n', "not valid JSON"),
        (b"\x00\x01\x02binary", "binary"),
        (b"\xff\xfeF\x00R\x00", "UTF-16"),
        (b"FROM alpine\nRUN echo \xe9\n", "UTF-8"),
        (b"# escape=x\nFROM alpine\n", "invalid escape"),
        (b"FROM alpine\nSHELL /bin/bash -c\n", "JSON form"),
    ],
)
def test_bad_input_raises_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- property tests

_words = st.sampled_from(["echo", "hi", "a=b", "'q x'", '"d $X"', "--flag", "&&", "||", ";", "|", "$(pwd)", "x\\y", "é"])
_body = st.lists(_words, min_size=1, max_size=6).map(" ".join)
_ws = st.sampled_from(["", " ", "\t", "  "])


@st.composite
def dockerfiles(draw) -> bytes:
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = []
    if draw(st.booleans()):
        lines.append("# syntax=docker/dockerfile:1")
    if draw(st.booleans()):
        lines.append("ARG V=1")
    lines.append(draw(st.sampled_from(["FROM alpine", "from debian:bookworm AS base", "FROM --platform=linux/amd64 x:1"])))
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["run", "cont", "comment", "blank", "heredoc", "json", "env", "copy"]))
        if kind == "run":
            lines.append(draw(_ws) + "RUN " + draw(_body) + draw(_ws))
        elif kind == "cont":
            lines.append("RUN " + draw(_body) + " \\")
            if draw(st.booleans()):
                lines.append(draw(_ws) + "# inside")
            if draw(st.booleans()):
                lines.append("")
            lines.append(draw(_ws) + "&& " + draw(_body))
        elif kind == "comment":
            lines.append(draw(_ws) + "# " + draw(_body))
        elif kind == "blank":
            lines.append(draw(_ws))
        elif kind == "heredoc":
            name = draw(st.sampled_from(["EOF", "'EOT'", '"END"', "-EOF"]))
            bare = name.strip("'\"-")
            lines.append(f"RUN <<{name}")
            lines.append(draw(_body))
            lines.append(("\t" if name.startswith("-") else "") + bare)
        elif kind == "json":
            lines.append('CMD ["' + draw(st.sampled_from(["a", "b c", "é"])) + '"]')
        elif kind == "env":
            lines.append("ENV A=1 B=" + draw(st.sampled_from(["x", '"y z"'])))
        else:
            lines.append("COPY --chown=1:1 . /app")
    text = newline.join(lines)
    if draw(st.booleans()):
        text += newline
    data = text.encode()
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dockerfiles())
def test_generated_dockerfiles_round_trip_and_agree_with_buildkit(data: bytes) -> None:
    doc = parse(data)
    assert doc.render() == data
    assert _our_lines(doc) == _oracle_lines(data.decode("utf-8-sig"))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_never_raise_anything_but_parse_error(data: bytes) -> None:
    try:
        doc = parse(data)
    except ParseError:
        return
    assert doc.render() == data


def test_key_values_for_env_label_arg() -> None:
    doc = parse(b'ARG V=3.12 FLAG\nFROM python:${V}\nENV A=1 B="two words"\nENV LEGACY some value\nLABEL "k"="v"\n')
    arg, _, env, legacy, label = doc.instructions
    assert arg.key_values() == {"V": "3.12", "FLAG": ""}
    assert env.key_values() == {"A": "1", "B": "two words"}
    assert legacy.key_values() == {"LEGACY": "some value"}
    assert label.key_values() == {"k": "v"}
    assert parse(b"FROM x\nENV P=$HOME/bin\n").instructions[1].key_values({"HOME": "/root"}) == {"P": "/root/bin"}


@pytest.mark.parametrize("data", [b"FROM x\nENV A=1 B\n", b"FROM x\nENV A\n", b"FROM x\nLABEL a=b c\n"])
def test_env_and_label_forms_buildkit_rejects(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse(data)


def test_stage_base_image_reference() -> None:
    doc = parse(b"ARG V=3.12\nFROM --platform=linux/arm64 docker.io/library/python:${V}-slim@sha256:" + b"a" * 64 + b" AS app\n")
    ref = doc.stages[0].image()
    assert (ref.repository, ref.tag, ref.has_args) == ("python", "${V}-slim", True)
    assert ref.digest == "sha256:" + "a" * 64 and doc.stages[0].platform == "linux/arm64"


def test_walk_gives_the_state_in_force_with_unknown_build_args() -> None:
    from dockerslim_rewrite.model import parse

    doc = parse(
        b"ARG G=1\nARG NODEF\nFROM debian AS base\nARG G\nARG NODEF\n"
        b"ENV A=1 B=$A C=${NODEF:-d} D=${G:+set}\nWORKDIR /app\nUSER $NODEF\n"
        b"FROM base\nWORKDIR sub\nRUN x\n"
    )
    states = dict((ins.keyword + str(ins.line), st) for ins, st in doc.walk(1))
    run = states["RUN11"]
    assert run.workdir == "/app/sub" and run.env["A"] == "1" and run.env["D"] == "set"
    assert run.env["B"] == ""  # ENV sees the values from before the instruction, as BuildKit does
    assert {"B", "C"} <= run.unknown and "A" not in run.unknown  # B: $A was not set yet; C: NODEF has no default
    assert not run.user_is_root  # USER from an unknown build arg is not known to be root
    assert run.expand("$A") == "1" and run.expand("${G}") is None  # build args do not cross into a child stage
    assert run.expand("$C") is None
    assert doc.descendants(0) == [0, 1] and doc.global_unknown == {"NODEF"}


def test_expand_static_follows_buildkit_modifiers() -> None:
    from dockerslim_rewrite.model import expand_static

    env = {"E": "", "S": "x"}
    assert expand_static("${E:-d}|${E-d}|${S:+a}|${E:+a}|${U:-d}", env) == "d||a||d"
    assert expand_static("$U", env) is None and expand_static("${S:-d}", env, unknown={"S"}) is None


# -- what is worked out once per text (the pipeline parses the file again after every edit) ---------------


def test_an_error_in_a_text_seen_before_names_its_own_line() -> None:
    for blank_lines in (0, 3, 1):
        text = "FROM alpine\n" + "\n" * blank_lines + 'RUN ["apk", "add"\n'
        with pytest.raises(ParseError) as info:
            parse(text)
        assert info.value.line == 2 + blank_lines


def test_documents_with_the_same_instructions_share_no_lists() -> None:
    text = 'FROM alpine\nRUN --mount=type=cache,target=/c ["apk", "add", "curl"]\n'
    first, second = parse(text), parse("# again\n" + text)
    first.instructions[1].json_args.append("git")  # type: ignore[union-attr]
    first.instructions[1].flags.clear()
    again = second.instructions[1]
    assert again.json_args == ["apk", "add", "curl"] and [f.name for f in again.flags] == ["mount"]
    assert again.line == 3 and again.doc is second


def test_substitution_follows_the_variables_in_force() -> None:
    doc = parse("FROM alpine\nENV DIR=/opt/$APP\nWORKDIR $DIR\n")
    env = doc.instructions[1]
    assert env.key_values({"APP": "shop"}) == {"DIR": "/opt/shop"}
    assert env.key_values({"APP": "blog"}) == {"DIR": "/opt/blog"}
    assert env.key_values({}) == {"DIR": "/opt/"}
    assert env.key_values() == {"DIR": "/opt/$APP"}


def test_derived_answers_are_worked_out_once_per_document() -> None:
    """The state walk and the stage graph are kept on the document (Memo), in both builds: the compiled
    build's classes have no __dict__, and a cache that silently stops caching costs 2x in speed."""
    doc = parse(b"ARG V=1\nFROM a AS one\nENV X=1\nFROM one\nCOPY --from=one / /\n")
    assert doc._states is doc._states
    assert doc._global_state is doc._global_state
    assert doc.shipping_stages() is doc.shipping_stages()
    assert doc.stages_reaching_final() is doc.stages_reaching_final()
    assert doc.state_at(doc.instructions[2]) is doc._states[0][1]
