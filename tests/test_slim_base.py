"""slim-base: behaviour not visible in fixture diffs (safety classes, assumptions, skip reasons, edge cases)."""

from __future__ import annotations

import pytest

from dockerslim_rewrite.buildcontext import Entry, Snapshot
from dockerslim_rewrite.model import parse
from dockerslim_rewrite.pipeline import rewrite
from dockerslim_rewrite.transform import REGISTRY, Options
from dockerslim_rewrite.transforms import all_transforms


def run(text: str, files: dict[str, str] | None = None, **opts):
    files = files or {}
    snap = Snapshot(files=[Entry(p, len(t)) for p, t in files.items()], texts=dict(files))
    options = Options(select=frozenset({"slim-base"}), **opts)
    return rewrite(text.encode(), options, snap)


def out(text: str, files=None, **opts) -> str:
    return run(text, files, **opts).output.decode()


def reasons(result) -> str:
    return " | ".join(s.reason for s in result.skips)


def test_registered_with_doc():
    all_transforms()
    t = REGISTRY["slim-base"]
    for heading in ("What it does", "Why it saves bytes", "Example", "When it is not applied", "Limits", "Fix safety"):
        assert heading in t.doc


def test_swap_is_review_with_wheel_assumption():
    r = run('FROM python:3.12\nRUN pip install flask\nCMD ["flask", "run"]\n')
    assert r.output.decode().startswith("FROM python:3.12-slim\n")
    (change,) = r.changes
    assert change.safety == "review"
    assert "install from wheels" in change.assumption
    assert "MB" in change.explanation


def test_safe_only_withholds_swap():
    r = run('FROM python:3.12\nCMD ["python"]\n', safe_only=True)
    assert r.output == r.original and r.withheld


def test_never_changes_version_or_distro():
    for src, expected in [("python:3.9.18-bullseye", "python:3.9.18-slim-bullseye"), ("node:16", "node:16-slim")]:
        assert out(f'FROM {src}\nCMD ["x"]\n') == f'FROM {expected}\nCMD ["x"]\n'


def test_healthcheck_curl_installs_exactly_curl_after_from():
    text = 'FROM node:20\nCOPY . /app\nHEALTHCHECK CMD curl -f http://localhost/ || exit 1\nCMD ["node", "/app"]\n'
    lines = out(text).splitlines()
    assert lines[0] == "FROM node:20-slim"
    assert lines[1].startswith("RUN apt-get update && apt-get install -y --no-install-recommends curl &&")
    assert lines[2] == "COPY . /app"


def test_healthcheck_exec_form_and_none():
    text = 'FROM python:3.12\nHEALTHCHECK CMD ["wget", "-q", "-O-", "http://localhost/"]\nCMD ["python"]\n'
    assert "install -y --no-install-recommends wget" in out(text)
    text = 'FROM python:3.12\nHEALTHCHECK NONE\nCMD ["python"]\n'
    assert out(text) == text.replace("python:3.12", "python:3.12-slim")


def test_runtime_need_of_a_target_stage_counts():
    text = (
        'FROM python:3.12 AS base\nCMD ["python"]\n\nFROM base AS debug\nCMD ["ps", "aux"]\n\nFROM base\nCMD ["python", "-V"]\n'
    )
    # the debug stage has a CMD of its own: it is a --target someone runs, so `ps` must keep working
    result = out(text)
    assert result.startswith("FROM python:3.12-slim AS base\n")
    assert "install -y --no-install-recommends procps" in result


def test_crlf_insert_uses_document_newline():
    text = 'FROM python:3.12\r\nHEALTHCHECK CMD curl -f http://localhost/\r\nCMD ["python"]\r\n'
    result = out(text)
    assert "\r\nRUN apt-get update" in result and "rm -rf /var/lib/apt/lists/*\r\nHEALTHCHECK" in result
    assert "\n" not in result.replace("\r\n", "")


def test_digest_skip_reason_names_slim_tag():
    r = run("FROM python:3.12@sha256:" + "ab" * 32 + '\nCMD ["python"]\n')
    assert r.output == r.original
    assert "python:3.12-slim" in reasons(r) and "digest" in reasons(r)


def test_unknown_image_is_silent():
    r = run('FROM example.com/acme/python:3.12\nCMD ["python"]\n')
    assert r.output == r.original and not r.skips


def test_builder_stage_not_reaching_final_untouched():
    text = "FROM python:3.12 AS build\nRUN echo hi\n\nFROM alpine:3.19\nCOPY --from=build /etc/hostname /x\n"
    r = run(text)
    assert r.output == r.original and not r.skips


def test_build_need_defers_to_multi_stage():
    r = run('FROM python:3.12\nRUN make -C /src install\nCMD ["app"]\n')
    assert r.output == r.original
    assert "multi-stage" in reasons(r) and "make" in reasons(r)


def test_tool_installed_later_does_not_count():
    text = 'FROM python:3.12\nRUN gcc --version\nRUN apt-get update && apt-get install -y gcc\nCMD ["python"]\n'
    assert run(text).output.decode() == text


def test_tool_installed_earlier_in_same_run_counts():
    text = 'FROM python:3.12\nRUN apt-get update && apt-get install -y --no-install-recommends git && git --version\nCMD ["python"]\n'
    assert out(text).startswith("FROM python:3.12-slim\n")


def test_unparseable_run_and_non_posix_shell_skip():
    r = run('FROM python:3.12\nRUN if then fi (\nCMD ["python"]\n')
    assert r.output == r.original and "could not be parsed" in reasons(r)
    r = run('FROM python:3.12\nSHELL ["pwsh", "-Command"]\nRUN Get-ChildItem\nCMD ["python"]\n')
    assert r.output == r.original and "could not be parsed" in reasons(r)


def test_exec_form_run_analysed():
    r = run('FROM python:3.12\nRUN ["gcc", "-o", "/x", "/x.c"]\nCMD ["python"]\n')
    assert r.output == r.original and "gcc" in reasons(r)


def test_requirements_via_copy_directory_and_workdir():
    snap_files = {"svc/requirements.txt": "uwsgi==2.0.25\n"}
    text = 'FROM python:3.12\nWORKDIR /app\nCOPY svc/ ./\nRUN pip install -r requirements.txt\nCMD ["uwsgi"]\n'
    snap = Snapshot(files=[Entry("svc", 0, is_dir=True), Entry("svc/requirements.txt", 10)], texts=snap_files)
    r = rewrite(text.encode(), Options(select=frozenset({"slim-base"})), snap)
    assert r.output.decode() == text and "uwsgi builds from source" in reasons(r)


def test_alias_prefix_map():
    text = 'FROM mirror.example.com/dockerhub/library/node:20\nCMD ["node"]\n'
    result = out(text, image_aliases={"mirror.example.com/dockerhub": ""})
    assert result.startswith("FROM mirror.example.com/dockerhub/library/node:20-slim\n")


def test_alpine_only_with_unsafe_fixes():
    text = 'FROM node:20\nCOPY dist /app\nCMD ["node", "/app/main.js"]\n'
    assert out(text).startswith("FROM node:20-slim\n")
    r = run(text, unsafe_fixes=True)
    assert r.output.decode().startswith("FROM node:20-alpine\n")
    assert r.changes[0].safety == "unsafe"


def test_alpine_refused_for_bash_or_useradd():
    text = 'FROM node:20\nRUN useradd -m app\nCMD ["node"]\n'
    assert out(text, unsafe_fixes=True).startswith("FROM node:20-slim\n")
    text = 'FROM node:20\nCMD ["bash", "-c", "node /app"]\n'
    assert out(text, unsafe_fixes=True).startswith("FROM node:20-slim\n")


def test_arg_without_default_assumed_in_review():
    r = run('ARG PYTHON_VERSION\nFROM python:${PYTHON_VERSION}\nCMD ["python"]\n')
    assert "FROM python:${PYTHON_VERSION}-slim\n" in r.output.decode()
    assert "ARG PYTHON_VERSION holds a plain version" in r.changes[0].assumption


def test_arg_whole_image_without_default_left_alone():
    r = run('ARG BASE\nFROM ${BASE}\nCMD ["x"]\n')
    assert r.output == r.original


def test_ignore_pragma():
    text = '# dslim: ignore=slim-base\nFROM python:3.12\nCMD ["python"]\n'
    r = run(text)
    assert r.output.decode() == text


@pytest.mark.parametrize(
    "text",
    [
        'FROM python:3.12\nRUN pip install -r requirements.txt\nCMD ["python"]\n',
        "FROM golang:1.22\nRUN go build ./...\n",
        "FROM python:3.12\nRUN gcc x.c\n",
        "FROM python:3.12\nHEALTHCHECK CMD curl -f http://localhost/\n",
    ],
)
def test_output_parses_and_is_fixed_point(text, oracle):
    first = run(text)
    oracle(first.output.decode())
    parse(first.output)
    second = run(first.output.decode())
    assert second.output == first.output and not second.changes


def test_runtime_library_already_installed_is_not_added_twice():
    text = (
        "FROM python:3.12\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 && rm -rf /var/lib/apt/lists/*\n"
        'RUN pip install python-magic\nCMD ["python"]\n'
    )
    result = out(text)
    assert result == text.replace("python:3.12", "python:3.12-slim")
    assert result.count("libmagic1") == 1


def test_cargo_at_run_time_is_a_build_need():
    r = run('FROM rust:1.78\nWORKDIR /w\nCOPY . .\nCMD ["cargo", "clippy", "--all-targets"]\n')
    assert r.output == r.original and "cargo clippy" in reasons(r)


# --------------------------------------------------------------------------- JDK -> JRE: native builds


def test_jre_swap_refused_for_jni_build_with_installed_compiler():
    text = (
        "FROM eclipse-temurin:21-jdk\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev\n"
        "COPY native /native\n"
        'RUN gcc -shared -fPIC -I"$JAVA_HOME/include" -I"$JAVA_HOME/include/linux" -o /usr/lib/libzap.so /native/zap.c\n'
        'CMD ["java", "-jar", "/app.jar"]\n'
    )
    r = run(text)
    assert r.output == r.original
    assert "JAVA_HOME/include" in reasons(r) and "jni.h" in reasons(r) and "multi-stage" in reasons(r)


@pytest.mark.parametrize("cmd", ["jpackage --input lib --main-jar app.jar", "cmake -S . -B build", "javac -h include Foo.java"])
def test_jre_swap_refused_for_jdk_tools_and_native_builds(cmd):
    r = run(f'FROM eclipse-temurin:17-jdk-jammy\nRUN {cmd}\nCMD ["java", "-version"]\n')
    assert r.output == r.original and cmd.split()[0] in reasons(r)


def test_native_build_commands_only_matter_for_jre():
    # python:3.12 -> slim: make is a full-only tool (as before); a stage installing its own make is fine
    text = 'FROM python:3.12\nRUN apt-get update && apt-get install -y make\nRUN make -C /opt/tool\nCMD ["python"]\n'
    assert out(text).startswith("FROM python:3.12-slim\n")


# --------------------------------------------------------------------------- base images and ONBUILD


def test_onbuild_in_a_child_stage_keeps_parent_full():
    text = 'FROM python:3.12 AS base\nCMD ["python"]\n\nFROM base\nONBUILD RUN pip install -r requirements.txt\n'
    r = run(text)
    assert r.output == r.original and "ONBUILD RUN pip install" in reasons(r)


@pytest.mark.parametrize(
    "text",
    [
        "FROM python:3.12\nRUN pip install tox nox\n",
        "FROM node:20\nCOPY --from=docker:26-cli /usr/local/bin/docker /usr/local/bin/docker\nRUN npm install -g pnpm\n",
        "FROM buildpack-deps:bookworm\nCOPY setup-tools.sh /tmp/\nRUN sh /tmp/setup-tools.sh\n",
        "FROM ruby:3.3\nCOPY gemrc /etc/gemrc\nADD https://example.com/tool.tar.gz /opt/\n",
    ],
)
def test_base_image_left_alone(text):
    r = run(text)
    assert r.output == r.original and "builds a base image" in reasons(r)


@pytest.mark.parametrize(
    "text",
    [
        "FROM python:3.12\nCOPY worker.py /srv/worker.py\n",  # app file: runs with the inherited CMD
        "FROM golang:1.22 AS build\nRUN true\n\nFROM debian:bookworm\nCOPY --from=build /out/app /usr/local/bin/app\n",
        'FROM python:3.12 AS tool\nCMD ["x"]\n\nFROM python:3.12\nRUN pip install httpie\n',  # a CMD somewhere: not a base image
    ],
)
def test_not_a_base_image_still_swapped(text):
    r = run(text)
    assert r.output != r.original, reasons(r)
    assert "base image" not in reasons(r)


# --------------------------------------------------------------------------- app manifests (data/runtime_needs.toml)

GEMFILE_LOCK = """GEM
  remote: https://rubygems.org/
  specs:
    nokogiri (1.16.5-x86_64-linux)
      racc (~> 1.4)
    pg (1.5.6)
    racc (1.8.0)

PLATFORMS
  x86_64-linux

DEPENDENCIES
  nokogiri
  pg
"""


def test_lockfile_parser_marks_platform_gems():
    from dockerslim_rewrite.transforms.slim_base import _lockfile_gems

    gems = _lockfile_gems(GEMFILE_LOCK)
    assert gems == {"nokogiri": True, "pg": False, "racc": False}


def test_gemfile_lock_preferred_and_pg_headers_required():
    text = (
        "FROM ruby:3.3-bookworm\nRUN apt-get update && apt-get install -y build-essential\n"
        'WORKDIR /app\nCOPY Gemfile Gemfile.lock ./\nRUN bundle install\nCMD ["ruby", "app.rb"]\n'
    )
    r = run(text, {"Gemfile": 'gem "mysql2"\n', "Gemfile.lock": GEMFILE_LOCK})
    assert r.output == r.original
    assert "pg needs libpq-dev" in reasons(r) and "mysql2" not in reasons(r)


def test_runtime_only_gem_installs_program():
    text = (
        "FROM ruby:3.3-bookworm\nRUN apt-get update && apt-get install -y build-essential\n"
        'WORKDIR /app\nCOPY Gemfile ./\nRUN bundle install\nCMD ["ruby", "app.rb"]\n'
    )
    result = out(text, {"Gemfile": 'source "https://rubygems.org"\ngem "mini_magick"\n'})
    assert result.startswith(
        "FROM ruby:3.3-slim-bookworm\nRUN apt-get update && apt-get install -y --no-install-recommends imagemagick"
    )


def test_release_specific_library_unknown_for_release_is_not_swapped():
    text = (
        "FROM ruby:3.3-trixie\nRUN apt-get update && apt-get install -y build-essential libmagickwand-dev\n"
        'WORKDIR /app\nCOPY Gemfile ./\nRUN bundle install\nCMD ["ruby", "app.rb"]\n'
    )
    r = run(text, {"Gemfile": 'gem "rmagick"\n'})
    assert r.output == r.original and "rmagick" in reasons(r) and "trixie" in reasons(r)
    bookworm = text.replace("ruby:3.3-trixie", "ruby:3.3-bookworm")
    assert "libmagickwand-6.q16-6" in out(bookworm, {"Gemfile": 'gem "rmagick"\n'})


def test_psycopg_with_binary_package_needs_nothing():
    text = 'FROM python:3.12\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCMD ["python"]\n'
    result = out(text, {"requirements.txt": "psycopg==3.1.19\npsycopg-binary==3.1.19\n"})
    assert result == text.replace("python:3.12", "python:3.12-slim")


def test_dev_package_provides_runtime_library():
    text = (
        "FROM python:3.12-bookworm\nRUN apt-get update && apt-get install -y --no-install-recommends build-essential libpq-dev\n"
        'RUN pip install psycopg2==2.9.9\nCMD ["python"]\n'
    )
    result = out(text)
    assert result.startswith("FROM python:3.12-slim-bookworm\n") and "libpq5" not in result


def test_npm_runtime_program_and_native_dependency():
    text = 'FROM node:20\nWORKDIR /app\nCOPY package.json .\nRUN npm install\nCOPY . .\nCMD ["node", "i.js"]\n'
    pkg = '{"dependencies": {"simple-git": "^3.24.0"}}'
    assert "--no-install-recommends git &&" in out(text, {"package.json": pkg})
    r = run(text, {"package.json": '{"dependencies": {"pg-native": "^3.0.1"}}'})
    assert r.output == r.original and "pg-native" in reasons(r)


def test_runtime_needs_data_is_well_formed():
    from dockerslim_rewrite.datafiles import data_toml as _data_file

    data = _data_file("runtime_needs.toml")
    releases = set(data["meta"]["releases"])
    for eco in ("npm", "pypi", "gems"):
        for name, entry in data[eco].items():
            assert set(entry) <= {"run", "build", "headers", "unless", "why"}, name
            assert entry.get("why"), name
            assert entry.get("build", "source") in ("source", "precompiled"), name
            run_ = entry.get("run", [])
            assert isinstance(run_, list) or set(run_) <= releases, name
