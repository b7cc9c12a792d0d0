"""Unit tests of the multi-stage transform and its ecosystem helpers (the fixture pairs live in
fixtures/multi-stage/ and run through tests/test_fixtures.py)."""

from __future__ import annotations

import json
from importlib import resources

import pytest
import tomllib
from conftest import oracle_parse

from dockerslim_rewrite import ecosystems as eco
from dockerslim_rewrite.buildcontext import Entry, Snapshot
from dockerslim_rewrite.ecosystems import go, makefile, node
from dockerslim_rewrite.model import parse
from dockerslim_rewrite.pipeline import rewrite
from dockerslim_rewrite.transform import REGISTRY, Options
from dockerslim_rewrite.transforms import all_transforms


def run(text: str, files: dict[str, str] | None = None, **opts):
    options = Options(select=frozenset({"multi-stage"}), **opts)
    snapshot = None
    if files is not None:
        entries, dirs = [], set()
        for path in files:
            parts = path.split("/")
            for i in range(1, len(parts)):
                dirs.add("/".join(parts[:i]))
            entries.append(Entry(path, len(files[path])))
        entries += [Entry(d, 0, is_dir=True) for d in dirs]
        snapshot = Snapshot(files=sorted(entries, key=lambda e: e.path), texts=dict(files))
    return rewrite(text.encode(), options, snapshot)


def skip_reasons(result) -> list[str]:
    return [s.reason for s in result.skips if s.transform == "multi-stage"]


GO_CTX = {"go.mod": "module example.com/acme/ledger/v2\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() {}\n"}


# --------------------------------------------------------------------------- splitting


def test_go_binary_name_from_module_path_skips_major_version_suffix():
    result = run('FROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN go build\nCMD ["/src/ledger"]\n', GO_CTX)
    out = result.output.decode()
    assert "COPY --from=build /src/ledger /src/ledger\n" in out
    assert "RUN CGO_ENABLED=0 go build\n" in out  # no cgo in the sources: static build made explicit
    assert "FROM gcr.io/distroless/static-debian12\n" in out
    oracle_parse(out)


def test_second_run_does_not_split_again_and_says_why():
    first = run('FROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN go build -o /bin/app .\nCMD ["/bin/app"]\n')
    again = run(first.output.decode())
    assert again.output == first.output
    assert skip_reasons(again) == []  # a builder + runtime pair: nothing to report


def test_multi_stage_without_build_step_in_final_stage_is_reported():
    text = 'FROM golang:1.22 AS tools\nRUN go version\nFROM debian:12-slim\nCMD ["true"]\n'
    assert skip_reasons(run(text)) == ["already multi-stage and the final stage has no build step"]


def test_crlf_file_keeps_crlf_line_endings():
    text = 'FROM golang:1.22\r\nWORKDIR /src\r\nCOPY . .\r\nRUN CGO_ENABLED=0 go build -o /bin/app .\r\nCMD ["/bin/app"]\r\n'
    out = run(text).output.decode()
    assert "FROM gcr.io/distroless/static-debian12\r\n" in out
    assert out.count("\n") == out.count("\r\n")
    oracle_parse(out)


def test_file_without_final_newline():
    out = run('FROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/app .\nCMD ["/bin/app"]').output.decode()
    assert 'CMD ["/bin/app"]\n\n# runtime stage' in out
    oracle_parse(out)


def test_paths_with_spaces_use_json_copy():
    text = 'FROM golang:1.22\nWORKDIR "/opt/my app"\nCOPY . .\nRUN CGO_ENABLED=0 go build -o "bin/my tool" .\nCMD ["/opt/my app/bin/my tool"]\n'
    out = run(text).output.decode()
    assert 'COPY --from=build ["/opt/my app/bin/my tool", "/opt/my app/bin/my tool"]' in out
    assert 'WORKDIR "/opt/my app"\n' in out
    oracle_parse(out)
    assert parse(out).stages[-1].copies_from == ["build"]


def test_existing_stage_name_is_reused_and_free_name_chosen():
    text = 'FROM alpine AS build\nRUN true\nFROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/app .\nCMD ["/bin/app"]\n'
    out = run(text).output.decode()
    assert "FROM golang:1.22 AS builder\n" in out
    assert "COPY --from=builder /bin/app /bin/app" in out


def test_shell_form_cmd_gets_debian_slim_by_default_and_distroless_only_unsafe():
    text = "FROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/app .\nCMD /bin/app --port 8080\n"
    default = run(text)
    assert "FROM debian:bookworm-slim\n" in default.output.decode()
    assert {c.safety for c in default.changes} == {"review"}
    unsafe = run(text, unsafe_fixes=True)
    out = unsafe.output.decode()
    assert "FROM gcr.io/distroless/static-debian12\n" in out
    assert 'CMD ["/bin/app", "--port", "8080"]\n' in out
    assert {c.safety for c in unsafe.changes} == {"unsafe"}


def test_shell_form_with_expansion_never_converted():
    text = "FROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/app .\nCMD /bin/app --port $PORT\n"
    out = run(text, unsafe_fixes=True).output.decode()
    assert "FROM debian:bookworm-slim\n" in out
    assert "CMD /bin/app --port $PORT\n" in out


def test_safe_only_withholds_the_split():
    text = 'FROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/app .\nCMD ["/bin/app"]\n'
    result = run(text, safe_only=True)
    assert result.output == text.encode()
    assert result.withheld and all(c.assumption for c in result.withheld)


def test_cgo_in_sources_keeps_glibc_runtime_and_adds_no_cgo_flag():
    files = {
        "go.mod": "module img\n\ngo 1.22\n",
        "main.go": 'package main\n\n/*\n#include <stdio.h>\n*/\nimport "C"\n\nfunc main() {}\n',
    }
    out = run('FROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN go build -o /bin/img .\nCMD ["/bin/img"]\n', files).output.decode()
    assert "CGO_ENABLED" not in out
    assert "FROM gcr.io/distroless/base-debian12\n" in out


def test_known_cgo_dependency_in_go_sum_blocks_cgo_disable():
    files = dict(GO_CTX, **{"go.sum": "github.com/mattn/go-sqlite3 v1.14.22 h1:abc=\n"})
    out = run('FROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN go build -o /bin/app .\nCMD ["/bin/app"]\n', files).output.decode()
    assert "CGO_ENABLED=0" not in out and "distroless/base-debian12" in out


def test_bullseye_builder_gets_matching_runtime_release():
    text = "FROM golang:1.20-bullseye\nCOPY . /src\nRUN CGO_ENABLED=1 go build -C /src -o /bin/app .\nCMD /bin/app\n"
    assert "FROM debian:bullseye-slim\n" in run(text).output.decode()


def test_pragma_ignore_in_final_stage_blocks_the_split():
    text = '# dslim: ignore=multi-stage\nFROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/app .\nCMD ["/bin/app"]\n'
    result = run(text)
    assert result.output == text.encode()
    assert any("pragma" in r for r in skip_reasons(result))


def test_user_created_by_run_without_uid_maps_to_nonroot_on_distroless():
    text = (
        "FROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/app .\n"
        'RUN adduser --system --group app\nUSER app:app\nCMD ["/bin/app"]\n'
    )
    result = run(text)
    out = result.output.decode()
    assert "USER nonroot:nonroot\n" in out
    assert "uid of user app" in result.changes[0].assumption


def test_build_as_non_root_user_keeps_output_ownership():
    text = (
        "FROM golang:1.22\nRUN useradd -u 1000 -m dev\nUSER dev\nWORKDIR /home/dev/src\nCOPY . .\n"
        'RUN CGO_ENABLED=0 go build -o /home/dev/app .\nCMD ["/home/dev/app"]\n'
    )
    out = run(text).output.decode()
    assert "COPY --from=build --chown=1000 /home/dev/app /home/dev/app" in out


def test_build_only_env_is_dropped_and_used_args_redeclared():
    text = (
        "ARG BASE_TAG=1.22\nARG REVISION\nFROM golang:${BASE_TAG}\nARG GOPROXY=direct\nENV GOPROXY=${GOPROXY} GOFLAGS=-mod=vendor\n"
        'LABEL org.opencontainers.image.revision=${REVISION}\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/app .\nCMD ["/bin/app"]\n'
    )
    out = run(text).output.decode()
    runtime = out[out.index("# runtime stage") :]
    assert "GOPROXY" not in runtime
    assert "ARG REVISION\n" in runtime and "BASE_TAG" not in runtime
    oracle_parse(out)


def test_rust_cargo_install_path_gets_path_env():
    files = {"Cargo.toml": '[package]\nname = "tiny-cli"\nversion = "0.1.0"\n', "src/main.rs": "fn main() {}\n"}
    text = 'FROM rust:1.77\nWORKDIR /app\nCOPY . .\nRUN cargo install --path .\nENTRYPOINT ["tiny-cli"]\n'
    out = run(text, files).output.decode()
    assert "COPY --from=build /usr/local/cargo/bin/tiny-cli /usr/local/cargo/bin/tiny-cli" in out
    assert "ENV PATH=/usr/local/cargo/bin:" in out
    assert "FROM gcr.io/distroless/cc-debian12\n" in out


def test_node_yarn_v1_production_install():
    files = {
        "package.json": '{"scripts": {"build": "vite build --outDir www", "start": "serve -s www"}, "dependencies": {"serve": "14.2.1"}}',
        "yarn.lock": "# yarn lockfile v1\n",
    }
    text = 'FROM node:20\nWORKDIR /ui\nCOPY . .\nRUN yarn install --frozen-lockfile && yarn build\nCMD ["yarn", "start"]\n'
    out = run(text, files).output.decode()
    assert "FROM node:20-slim\n" in out
    assert "RUN yarn install --production --frozen-lockfile && yarn cache clean\n" in out
    assert "COPY --from=build /ui/www /ui/www\n" in out


# --------------------------------------------------------------------------- not splitting


NOT_SPLIT = [
    ("FROM golang:1.22\nCOPY . /src\nRUN go build -C /src -o /bin/app .\n", "no CMD or ENTRYPOINT"),
    (
        'FROM golang:1.22\nCOPY . /src\nRUN go build -C /src -o /bin/a ./a && go build -C /src -o /bin/b ./b\nCMD ["/bin/a"]\n',
        "several `go build`",
    ),
    ('FROM golang:1.22\nCOPY . /src\nRUN GOOS=windows go build -C /src -o /bin/a.exe .\nCMD ["/bin/a.exe"]\n', "GOOS=windows"),
    ('FROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/api .\nCMD ["/bin/other"]\n', "would not have"),
    (
        'FROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/api .\nCMD ["dlv", "exec", "/bin/api"]\n',
        "toolchain",
    ),
    (
        'FROM golang:1.22\nCOPY . /src\nRUN --mount=type=cache,target=/out CGO_ENABLED=0 go build -C /src -o /out/api .\nCMD ["/out/api"]\n',
        "cache mount",
    ),
    ('FROM golang:1.22\nWORKDIR $SRC\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /bin/api .\nCMD ["/bin/api"]\n', "WORKDIR"),
    (
        'FROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/api . && git describe > /VERSION\nCMD ["/bin/api"]\n',
        "`git`",
    ),
    (
        'FROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/api .\nUSER ghost\nCMD ["/bin/api"]\n',
        "USER ghost",
    ),
    (
        'FROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/api .\nONBUILD COPY . /x\nCMD ["/bin/api"]\n',
        "ONBUILD",
    ),
    (
        'FROM rust:1.77\nCOPY . /app\nRUN cargo build --manifest-path /app/Cargo.toml --release\nCMD ["/app/target/release/x"]\n',
        "manifest-path",
    ),
    ('FROM rust:1.77\nWORKDIR /app\nCOPY . .\nRUN cargo build\nCMD ["./target/debug/x"]\n', "without --release"),
    ('FROM rust:1.77\nWORKDIR /app\nCOPY . .\nRUN cargo build --release\nCMD ["cargo", "run", "--release"]\n', "cargo"),
    (
        'FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nCMD ["node", "dist/index.js"]\n',
        "package.json not readable",
    ),
    (
        'FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nCMD ["npx", "nodemon", "src/index.js"]\n',
        "package.json",
    ),
    (
        'FROM mcr.microsoft.com/dotnet/sdk:8.0\nWORKDIR /src\nCOPY . .\nRUN dotnet publish -c Release\nENTRYPOINT ["dotnet", "bin/Release/net8.0/App.dll"]\n',
        "without -o",
    ),
    (
        'FROM mcr.microsoft.com/dotnet/sdk:8.0\nWORKDIR /src\nCOPY . .\nRUN dotnet publish -o /out\nENTRYPOINT ["dotnet", "watch", "run"]\n',
        "dotnet watch",
    ),
    ('FROM gcc:13\nCOPY . /src\nRUN make -C /src\nCMD ["/src/app"]\n', "make"),
    ('FROM gcc:13\nCOPY . /src\nRUN gcc -o /usr/local/bin/app /src/app.c -lfoobar\nCMD ["app"]\n', "-lfoobar"),
    (
        'FROM maven:3.9-eclipse-temurin-17\nCOPY . /app\nRUN mvn -f /app/pom.xml package\nCMD ["java", "-cp", "/app/target/classes", "Main"]\n',
        "java -jar",
    ),
    (
        'FROM golang:1.22\nCOPY . /src\nRUN CGO_ENABLED=0 go build -C /src -o /bin/api .\nFROM golang:1.22\nCOPY . /x\nCMD ["/x/run"]\n',
        "no build step",
    ),
    ('FROM python:3.12\nRUN pip install --user -r /tmp/r.txt\nCMD ["python", "-m", "app"]\n', "--user"),
    ('FROM python:3.12\nCOPY . /app\nRUN pip install -r /app/requirements.txt\nCMD ["python", "/app/main.py"]\n', "cannot tell"),
    (
        'FROM ubuntu:22.04\nRUN apt-get update && apt-get install -y golang\nCOPY . /src\nRUN go build -C /src -o /bin/a .\nCMD ["/bin/a"]\n',
        "not a golang image",
    ),
]


@pytest.mark.parametrize("text,reason", NOT_SPLIT, ids=[r for _, r in NOT_SPLIT])
def test_not_split(text: str, reason: str):
    result = run(text)
    assert result.output == text.encode()
    assert not result.errors
    reasons = skip_reasons(result)
    assert len(reasons) == 1 and reason in reasons[0], reasons


def test_npm_build_dir_unknown_is_skipped_with_context():
    # dist/ is in the build context and the build script does not name it: not certain the build made it
    files = {
        "package.json": '{"scripts": {"build": "node scripts/build.mjs"}}',
        "package-lock.json": "{}",
        "dist/server.js": "",
    }
    result = run('FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nCMD ["node", "dist/server.js"]\n', files)
    assert result.output.startswith(b"FROM node:20\n") and b"runtime stage" not in result.output
    assert "output folder of the `build` script not known" in skip_reasons(result)


@pytest.mark.parametrize(
    ("build", "files", "evidence"),
    [
        ("node scripts/build.mjs", {}, "dist/ is not in the build context"),
        ("node scripts/build.mjs --out dist", {"dist/old.js": ""}, "the `build` script names dist"),
        ("npm run compile", {"dist/old.js": ""}, "the `build` script names dist"),
    ],
)
def test_npm_build_output_inferred_from_the_start_command(build: str, files: dict, evidence: str):
    scripts = {"build": build, "compile": "node c.js dist"}
    files = {"package.json": json.dumps({"scripts": scripts}), "package-lock.json": "{}", **files}
    result = run('FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nCMD ["node", "dist/server.js"]\n', files)
    out = result.output.decode()
    assert "COPY --from=build /app/dist /app/dist\n" in out and "RUN npm ci --omit=dev" in out
    assert evidence in " ".join(c.explanation for c in result.changes)


def test_npm_build_output_not_inferred_when_a_copy_fills_the_folder():
    files = {"package.json": '{"scripts": {"build": "node b.js dist"}}', "package-lock.json": "{}"}
    text = 'FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nCOPY static/ dist/static/\nCMD ["node", "dist/server.js"]\n'
    assert "output folder of the `build` script not known" in skip_reasons(run(text, files))


def test_npm_local_file_dependency_outside_the_package_is_skipped():
    pkg = {"scripts": {"build": "node b.js dist"}, "dependencies": {"lib": "file:../lib"}}
    files = {"package.json": json.dumps(pkg), "package-lock.json": "{}"}
    text = 'FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nCMD ["node", "dist/server.js"]\n'
    assert any("lies outside the package folder" in r for r in skip_reasons(run(text, files)))


def test_node_start_file_outside_build_output_is_skipped():
    files = {"package.json": '{"scripts": {"build": "vite build"}}', "package-lock.json": "{}"}
    result = run('FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nCMD ["node", "server.js"]\n', files)
    assert b"runtime stage" not in result.output
    assert "outside the build output" in skip_reasons(result)[0]


# --------------------------------------------------------------------------- helpers and data


@pytest.mark.parametrize(
    "text,env,expected",
    [("$A/b", {"A": "/x"}, "/x/b"), ("${A}", {}, None), ("${A:-d}", {}, "d"), ("plain", {}, "plain")],
)
def test_expand(text, env, expected):
    assert eco.expand(text, env) == expected


def test_last_import_elem():
    assert go._last_import_elem("github.com/a/b/v3") == "b"
    assert go._last_import_elem("github.com/a/cli") == "cli"


def test_node_outputs_follow_nested_scripts_and_flags():
    scripts = {
        "build": "npm run build:server && npm run build:web",
        "build:server": "tsc",
        "build:web": "vite build --outDir public/app",
    }
    snap = Snapshot(files=[], texts={"tsconfig.json": '{"compilerOptions": {"outDir": "lib"}}'})
    outs, extras = node._node_outputs(scripts, "build", snap, "", 0)
    assert outs == ["lib", "public/app"]


def test_runtime_libs_map_dev_packages_to_runtime_packages():
    libs = eco.runtime_libs()
    for section, table in libs["apt"].items():
        for dev, runtime in table.items():
            assert eco.is_dev_package(dev) and not eco.is_dev_package(runtime), (section, dev)
    assert libs["apt"]["bookworm"]["libssl-dev"] == "libssl3"
    assert libs["apt"]["common"]["libpq-dev"] == "libpq5"


def test_every_planned_ecosystem_has_a_template_and_runtime_rules():
    templates = resources.files("dockerslim_rewrite").joinpath("templates/runtime")
    data = tomllib.loads(resources.files("dockerslim_rewrite.data").joinpath("runtimes.toml").read_text())
    for name in eco.PLANNERS:
        assert templates.joinpath(f"{name}.Dockerfile.j2").is_file(), name
        assert "run_time_toolchain" in data[name]


def test_doc_has_the_rule_sections():
    all_transforms()
    doc = REGISTRY["multi-stage"].doc
    for heading in ("## What it does", "## Why it saves bytes", "## Example", "## When it is not applied", "## Fix safety"):
        assert heading in doc


def test_doc_example_is_what_the_transform_produces():
    all_transforms()
    doc = REGISTRY["multi-stage"].doc
    blocks = doc.split("## Example", 1)[1].split("```dockerfile\n")[1:3]
    before, after = (b.split("```", 1)[0] for b in blocks)
    assert run(before).output.decode() == after


@pytest.mark.parametrize(
    "run_line,users,groups",
    [
        ("useradd -ms /bin/bash app", {"app": None}, {}),
        ("groupadd -g 2000 web && useradd -u 2000 -g web -M web", {"web": "2000"}, {"web": "2000"}),
        ("addgroup -S app && adduser -S app -G app", {"app": None}, {"app": None}),
        ("adduser --system --group --uid 999 svc", {"svc": "999"}, {"svc": None}),
        ("adduser app sudo", {}, {}),
    ],
)
def test_users_created_by_run(run_line, users, groups):
    doc = parse(f"FROM debian:12\nRUN {run_line}\n")
    facts = eco.gather(doc, doc.stages[0])
    assert facts.created_users == users
    assert facts.created_groups == groups


def test_files_removed_by_a_run_are_not_copied():
    files = dict(GO_CTX, **{"config.yaml": "a: 1\n", "templates/x.html": "<p>\n"})
    text = 'FROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /bin/app . && rm -rf /src/templates\nCMD ["/bin/app"]\n'
    out = run(text, files).output.decode()
    assert "COPY --from=build /src/config.yaml /src/config.yaml" in out
    assert "templates" not in out.split("# runtime stage")[1]


def test_go_output_into_existing_folder_is_named_after_the_package():
    text = 'FROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN mkdir -p /out && CGO_ENABLED=0 go build -o /out ./cmd/gateway\nCMD ["/out/gateway"]\n'
    out = run(text).output.decode()
    assert "COPY --from=build /out/gateway /out/gateway" in out


# --------------------------------------------------------------------------- C/C++ make builds

MAKEFILE = (
    "PREFIX ?= /usr/local\nBINDIR = $(PREFIX)/bin\nLDLIBS = -lz\nOBJS := main.o util.o\n\n"
    "all: app\n\napp: $(OBJS)\n\t$(CC) -o $@ $^ $(LDLIBS)\n\n%.o: %.c\n\t$(CC) -c $<\n\n"
    "app: CFLAGS += -O3\n\n"
    "install: app\n\tinstall -d $(DESTDIR)$(BINDIR)\n\tinstall -m 0755 app $(DESTDIR)$(BINDIR)\n\n"
    "clean:\n\trm -f app $(OBJS)\n\n.PHONY: all install clean\n"
)
C_CTX = {"Makefile": MAKEFILE, "main.c": "int main(void) { return 0; }\n", "util.c": "int u;\n"}


def test_makefile_reader_follows_variables_rules_and_overrides():
    mk = makefile.Makefile(MAKEFILE, {"PREFIX": "/opt/app"}, {})
    assert mk.default == "all"
    assert mk.reachable(["all"]) == {"all", "app", "main.o", "util.o"}
    assert mk.expand("$(DESTDIR)$(BINDIR)/x") == "/opt/app/bin/x"  # DESTDIR: empty unless given
    assert mk.expand("$(UNKNOWN)/x") is None
    assert mk.expand("$(patsubst %.c,%.o,x.c)") is None  # functions are not evaluated
    assert makefile.install_files(mk, "install", "/src") == ["/opt/app/bin/app"]
    assert makefile.install_files(makefile.Makefile(MAKEFILE, {"DESTDIR": "/pkg"}, {}), "install", "/src") == [
        "/pkg/usr/local/bin/app"
    ]
    assert makefile.Makefile("X ?= a\n", {}, {"X": "env"}).value("X") == "env"
    assert makefile.Makefile("X = a\nX += b\nY := $(X) c\nX = z\n", {}, {}).value("Y") == "a b c"


def test_make_install_with_prefix_and_destdir_ships_the_installed_binary():
    text = (
        'FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make && make install DESTDIR=/stage PREFIX=/usr\nCMD ["/stage/usr/bin/app"]\n'
    )
    out = run(text, C_CTX).output.decode()
    assert "COPY --from=build /stage/usr/bin/app /stage/usr/bin/app\n" in out
    # -lz from the Makefile -> zlib1g: distroless cc lacks it, libz.so.1 is copied from the builder
    assert "COPY --from=build /usr/lib/*-linux-gnu/libz.so.1 /usr/lib/\n" in out
    assert "FROM gcr.io/distroless/cc-debian12\n" in out and "apt-get" not in out
    oracle_parse(out)


def test_make_in_a_subfolder_then_cp_to_path_dir_ships_the_copy():
    ctx = {"src/Makefile": "app: main.c\n\tcc -o app main.c\n", "src/main.c": "int main(void){return 0;}\n"}
    text = 'FROM gcc:13\nCOPY . /w\nRUN cd /w/src && make && cp /w/src/app /usr/local/bin/\nCMD ["app"]\n'
    out = run(text, ctx).output.decode()
    assert "FROM gcr.io/distroless/cc-debian12\n" in out
    assert "COPY --from=build /usr/local/bin/app /usr/local/bin/app\n" in out
    oracle_parse(out)


def test_make_split_states_the_assumption():
    text = 'FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make\nCMD ["./app"]\n'
    result = run(text, C_CTX)
    assumption = result.changes[-1].assumption
    assert "/src/app is the only build output the app needs at run time" in assumption
    assert "(-lz)" in assumption


MAKE_NOT_SPLIT = [
    ('FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make -f other.mk\nCMD ["./app"]\n', C_CTX, "make option -f"),
    (
        'FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make install\nCMD ["app"]\n',
        {**C_CTX, "Makefile": MAKEFILE.replace("PREFIX ?= /usr/local\n", "")},
        "install prefix unknown",
    ),
    ('FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make && make clean\nCMD ["./app"]\n', C_CTX, "`make clean`"),
    ('FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make\nCMD ["./app"]\n', {**C_CTX, "GNUmakefile": "all:\n"}, "GNUmakefile"),
    (
        'FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make\nCMD ["./app"]\n',
        {**C_CTX, "Makefile": "include config.mk\n" + MAKEFILE},
        "`include`",
    ),
    (
        'FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make\nCMD ["./app"]\n',
        {**C_CTX, "Makefile": MAKEFILE.replace("-lz", "-lfancy")},
        "-lfancy",
    ),
    (
        'FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make\nCMD ["./app"]\n',
        {**C_CTX, "Makefile": "app:\n\t$(MAKE) -C lib\n"},
        "$(MAKE)",
    ),
    ('FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make && gcc -o tool tool.c\nCMD ["./app"]\n', C_CTX, "direct compiler"),
    ('FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN cmake -B build && cmake --build build\nCMD ["./build/app"]\n', C_CTX, "cmake"),
    ('FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make\nCMD ["sh", "-c", "./app | gzip"]\n', C_CTX, "`gzip`"),
    ('FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make\nCMD ["./main.c"]\n', C_CTX, "not a file the make build makes"),
    ('FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make\nCMD ["./all"]\n', C_CTX, "not a file the make build makes"),
    ('FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make\nCMD ["sh", "-c", "make test"]\n', C_CTX, "`make`"),
    (
        'FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make app tool\nCMD ["sh", "-c", "./tool && ./app"]\n',
        {**C_CTX, "Makefile": MAKEFILE + "tool: tool.c\n\tcc -o tool tool.c\n"},
        "several make outputs",
    ),
    (
        'FROM gcc:13\nWORKDIR /src\nCOPY . .\nRUN make install\nCMD ["app"]\n',
        {**C_CTX, "Makefile": "app: main.c\n\tcc -o app main.c\ninstall: app\n\tcp -r app share /usr/local/\n"},
        "copies folders",
    ),
    ('FROM gcc:13-alpine\nWORKDIR /src\nCOPY . .\nRUN make\nCMD ["./app"]\n', C_CTX, "not on a Debian image"),
    ('FROM fedora:40\nWORKDIR /src\nCOPY . .\nRUN make\nCMD ["./app"]\n', C_CTX, "fedora"),
]


@pytest.mark.parametrize("text,files,reason", MAKE_NOT_SPLIT, ids=[r for _, _, r in MAKE_NOT_SPLIT])
def test_make_not_split(text: str, files: dict, reason: str):
    result = run(text, files)
    assert result.output == text.encode()
    assert not result.errors
    reasons = skip_reasons(result)
    assert len(reasons) == 1 and reason in reasons[0], reasons


def test_make_prereqs_from_functions_do_not_block_the_named_target():
    ctx = {
        "Makefile": "SRCS = $(wildcard *.c)\nOBJS = $(SRCS:.c=.o)\nLDLIBS = -lm\n\nserver: $(OBJS)\n\t$(CC) -o $@ $^ $(LDLIBS)\n",
        "a.c": "int a;\n",
        "b.c": "int main(void){return 0;}\n",
    }
    out = run('FROM gcc:13\nWORKDIR /app\nCOPY . .\nRUN make\nUSER nobody\nCMD ["./server"]\n', ctx).output.decode()
    assert "FROM gcr.io/distroless/cc-debian12\nWORKDIR /app\nCOPY --from=build /app/server /app/server\nUSER nobody\n" in out
    oracle_parse(out)


def test_runtime_bases_know_what_debian_slim_has():
    from dockerslim_rewrite.ecosystems import image_packages

    slim = image_packages("debian:bookworm-slim", "bookworm")
    assert {"zlib1g", "libc6", "libgcc-s1", "libstdc++6", "libzstd1"} <= slim
    assert not {"ca-certificates", "libssl3", "libsqlite3-0"} & slim
    assert image_packages("debian:bullseye-slim", "bullseye") == frozenset()  # no apt data: nothing assumed
    assert "libstdc++6" in image_packages("gcr.io/distroless/cc-debian12", "bookworm")


def test_copyable_libs_follow_depends_and_refuse_unknown_packages():
    from dockerslim_rewrite.ecosystems import copyable_libs

    cc = "gcr.io/distroless/cc-debian12"
    assert copyable_libs(["libpng16-16"], cc, "bookworm") == [
        "/usr/lib/*-linux-gnu/libpng16.so.16",
        "/usr/lib/*-linux-gnu/libz.so.1",
    ]
    assert copyable_libs(["libpq5"], cc, "bookworm") is None  # Kerberos, LDAP, SASL modules: apt instead
    assert copyable_libs(["zlib1g"], cc, "bullseye") is None


def test_copy_libs_table_depends_match_the_apt_data():
    """Every Depends the apt data records beyond the Debian base (which it leaves out) is in the table."""
    from dockerslim_rewrite.aptdata import _graph
    from dockerslim_rewrite.ecosystems import runtime_bases

    graph = _graph("bookworm")
    assert graph is not None
    table = runtime_bases()["copy_libs"]["bookworm"]
    for pkg, entry in table.items():
        assert graph.names.position(pkg) is not None, pkg
        for group in graph.depends(graph.package(pkg)):
            names = [graph.names[i] for i in (group if isinstance(group, list) else [group])]
            assert any(n in entry["depends"] for n in names), (pkg, names)


def test_c_program_without_tls_gets_no_ca_bundle_but_tls_keeps_it():
    ctx = {"main.c": "int main(void){return 0;}"}
    plain = "FROM gcc:13\nWORKDIR /src\nCOPY main.c .\nRUN gcc -o app main.c -lz\nCMD ./app < /etc/hostname\n"
    out = run(plain, ctx).output.decode()
    assert "FROM debian:bookworm-slim\n" in out and "apt-get" not in out  # zlib1g is in every Debian image
    tls = plain.replace("-lz", "-lssl -lcrypto")
    assert "install -y --no-install-recommends libssl3 ca-certificates" in run(tls, ctx).output.decode()
    # no build context: vendored TLS code cannot be ruled out, the bundle stays (and the report says why)
    result = run(plain)
    assert "ca-certificates" in result.output.decode()
    assert "CA bundle kept" in " ".join(c.explanation for c in result.changes)


# --------------------------------------------------------------------------- python: lean venv, consumed inputs

CEXT = {"ext/setup.py": "from setuptools import setup, Extension\nsetup(ext_modules=[Extension('x', ['x.c'])])\n"}


def test_python_venv_without_pip_and_pip_commands_run_through_python():
    text = (
        "FROM python:3.12\nCOPY ext/ /tmp/ext/\nRUN pip --version\n"
        "RUN pip3 install /tmp/ext && python3 -m pip check && pip freeze > /tmp/lock.txt\n"
        'CMD ["python", "-m", "x"]\n'
    )
    result = run(text, CEXT)
    out = result.output.decode()
    # isolated venv creation (-I) and pip without the WORKDIR on sys.path (-P): a types.py there is not imported
    assert "RUN pip --version\nRUN python -I -m venv --without-pip --system-site-packages /opt/venv\n" in out
    assert "RUN python -P -m pip install /tmp/ext && python3 -m pip check && python -P -m pip freeze > /tmp/lock.txt\n" in out
    assert "COPY --from=build /tmp/ext" not in out
    (assumption,) = {c.assumption for c in result.changes}
    assert "python:3.12-slim pulled at the same time as python:3.12" in assumption


def test_python_whole_pipeline_keeps_the_builder_image_full():
    """slim-base sees `python -P -m pip install` of a C extension as a build that needs the full image."""
    text = 'FROM python:3.11\nWORKDIR /app\nCOPY . .\nRUN pip install ./ext\nCMD ["python", "app.py"]\n'
    snapshot = snapshot_of({**CEXT, "app.py": "import x\n"})
    result = rewrite(text.encode(), Options(), snapshot)
    out = result.output.decode()
    assert out.startswith("FROM python:3.11 AS build\n") and "FROM python:3.11-slim\n" in out
    assert "RUN python -P -m pip install --no-cache-dir ./ext\n" in out
    assert rewrite(result.output, Options(), snapshot).output == result.output


@pytest.mark.parametrize(
    "tag, why",
    [
        ("3.10", "python:3.10 has Python 3.10"),
        ("3.9-bookworm", "python:3.9-bookworm has Python 3.9"),
        ("3", "not known from its tag"),
        ("latest", "not known from its tag"),
    ],
)
def test_python_lean_venv_needs_a_known_python_3_11(tag: str, why: str):
    """`python -P` exists from 3.11 on: an older or unknown version keeps the venv's own pip (pre-lean)."""
    text = f'FROM python:{tag}\nWORKDIR /app\nCOPY ext/ /tmp/ext/\nRUN pip install /tmp/ext\nCMD ["python", "-m", "x"]\n'
    result = run(text, CEXT)
    out = result.output.decode()
    assert "RUN python -I -m venv /opt/venv\n" in out and "--without-pip" not in out
    assert "RUN pip install /tmp/ext\n" in out and "-m pip" not in out
    explanation = " ".join(c.explanation for c in result.changes)
    assert "the virtualenv keeps its own pip: " in explanation and why in explanation


@pytest.mark.parametrize("tag", ["3.11", "3.11-bookworm", "3.11.9-slim-bookworm", "3.13"])
def test_python_version_from_tag(tag: str):
    from dockerslim_rewrite.ecosystems.python import python_version

    major, minor = python_version(tag) or (0, 0)
    assert major == 3 and minor >= 11
    assert python_version("3") is None and python_version("bookworm") is None and python_version(None) is None


@pytest.mark.parametrize(
    "change, why",
    [
        ('CMD ["python", "-m", "x"]', 'HEALTHCHECK CMD pip check || exit 1\nCMD ["python", "-m", "x"]'),
        ('CMD ["python", "-m", "x"]', 'CMD ["sh", "-c", "pip3.12 list && exec python -m x"]'),
        # the original image loses its setuptools; a venv seeing the image's site-packages would not
        ("RUN pip3 install /tmp/ext", "RUN pip3 install /tmp/ext && pip uninstall -y setuptools"),
    ],
)
def test_python_venv_keeps_its_pip_when_pip_runs_with_another_path(change: str, why: str):
    text = 'FROM python:3.12\nCOPY ext/ /tmp/ext/\nRUN pip3 install /tmp/ext\nCMD ["python", "-m", "x"]\n'
    result = run(text.replace(change, why), CEXT)
    out = result.output.decode()
    assert "RUN python -I -m venv /opt/venv\n" in out and "--without-pip" not in out
    assert "-m pip install" not in out
    assert "the virtualenv keeps its own pip" in " ".join(c.explanation for c in result.changes)


PIP_HEAD = "FROM python:3.12\nWORKDIR /srv\nCOPY ext/ /tmp/ext/\n"
PIP_TAIL = 'COPY app.py .\nCMD ["python", "app.py"]\n'


@pytest.mark.parametrize(
    "middle, files, why",
    [
        # pip settings that send installs outside the venv (problem: ~/.local is not copied)
        ("ENV PIP_USER=1\nRUN pip install /tmp/ext\n", {}, "PIP_USER is set for pip (line 5)"),
        ("ENV PIP_USER=true\nRUN pip install /tmp/ext\n", {}, "PIP_USER is set"),
        ("ARG PIP_TARGET=/deps\nRUN pip install /tmp/ext\n", {}, "PIP_TARGET is set"),
        ("ENV PIP_PREFIX=/install PIP_NO_CACHE_DIR=1\nRUN pip install /tmp/ext\n", {}, "PIP_PREFIX is set"),
        ("ARG ROOT\nENV PIP_ROOT=$ROOT\nRUN pip install /tmp/ext\n", {}, "PIP_ROOT is set"),
        ("ENV PIP_CONFIG_FILE=/srv/pip.conf\nRUN pip install /tmp/ext\n", {}, "PIP_CONFIG_FILE is set"),
        ("RUN PIP_USER=1 pip install /tmp/ext\n", {}, "PIP_USER is set"),
        ("RUN export PIP_USER=yes && pip install /tmp/ext\n", {}, "PIP_USER is set"),
        ("ENV XDG_CONFIG_HOME=/cfg\nRUN pip install /tmp/ext\n", {}, "XDG_CONFIG_HOME is set"),
        # a pip configuration file put into the image
        ("COPY pip.conf /etc/pip.conf\nRUN pip install /tmp/ext\n", {"pip.conf": "[global]\nuser = true\n"}, "/etc/pip.conf"),
        ("COPY pip.conf /etc/\nRUN pip install /tmp/ext\n", {"pip.conf": "[global]\n"}, "puts /etc/pip.conf"),
        ("COPY pip.conf /etc\nRUN pip install /tmp/ext\n", {"pip.conf": "[global]\n"}, "puts /etc/pip.conf"),
        ("COPY home/ /root/\nRUN pip install /tmp/ext\n", {"home/.config/pip/pip.conf": "x"}, "/root/.config/pip/pip.conf"),
        ("COPY pip.conf /root/.pip/pip.conf\nRUN pip install /tmp/ext\n", {"pip.conf": "x"}, "/root/.pip/pip.conf"),
        ("COPY pip.conf /etc/xdg/pip/\nRUN pip install /tmp/ext\n", {"pip.conf": "x"}, "/etc/xdg/pip/pip.conf"),
        ("RUN printf '[global]\\nuser = true\\n' > /etc/pip.conf && pip install /tmp/ext\n", {}, "writes a pip.conf"),
        ("RUN mkdir -p /root/.config/pip && cp /tmp/ext/cfg ~/.config/pip/pip.conf\nRUN pip install /tmp/ext\n", {}, "pip.conf"),
        ("RUN pip config set global.user true && pip install /tmp/ext\n", {}, "`pip config set global.user`"),
        ("RUN python -m pip config set install.target /x\nRUN pip install /tmp/ext\n", {}, "`pip config set install.target`"),
        ("ENV HOME=/home/app\nCOPY pip.conf /home/app/.config/pip/\nRUN pip install /tmp/ext\n", {"pip.conf": "x"}, "/home/app/"),
        # pip run as another user: the venv belongs to root, pip falls back to ~/.local
        ("RUN pip install /tmp/ext\nRUN useradd -m app\nUSER app\nRUN pip install /tmp/ext\n", {}, "pip runs as USER app"),
        ("USER 1000:1000\nRUN pip install /tmp/ext\n", {}, "pip runs as USER 1000:1000"),
        # sudo: secure_path runs the image's pip; a login shell resets PATH
        ("RUN sudo pip install /tmp/ext\n", {}, "sudo's secure_path"),
        ("RUN sudo -H python -m pip install /tmp/ext\n", {}, "sudo's secure_path"),
        ('SHELL ["/bin/bash", "-l", "-c"]\nRUN pip install /tmp/ext\n', {}, "is a login shell"),
        ('SHELL ["/bin/bash", "-lc"]\nRUN pip install /tmp/ext\n', {}, "is a login shell"),
        ('RUN pip install /tmp/ext\nSHELL ["/bin/bash", "--login", "-c"]\n', {}, "is a login shell"),
        ("RUN PATH=/usr/local/bin:$PATH pip install /tmp/ext\n", {}, "another PATH"),
    ],
)
def test_python_split_skipped_when_pip_would_install_outside_the_venv(middle: str, files: dict, why: str):
    result = run(PIP_HEAD + middle + PIP_TAIL, {**CEXT, "app.py": "import x\n", **files})
    assert result.output.decode() == PIP_HEAD + middle + PIP_TAIL
    reasons = skip_reasons(result)
    assert any(why in r for r in reasons), reasons


@pytest.mark.parametrize(
    "middle",
    [
        "ENV PIP_USER=0\nRUN pip install /tmp/ext\n",
        "ENV PIP_CONFIG_FILE=/dev/null\nRUN pip install /tmp/ext\n",
        "RUN pip config set global.index-url https://mirror.invalid/simple && pip install /tmp/ext\n",
        "COPY etc/ /etc/\nRUN pip install /tmp/ext\n",  # the folder has no pip.conf
        "RUN useradd -m app\nRUN pip install /tmp/ext\nUSER app\n",  # pip ran as root
        'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN pip install /tmp/ext\n',
    ],
)
def test_python_split_still_made_when_pip_settings_keep_installs_in_the_venv(middle: str):
    files = {**CEXT, "app.py": "import x\n", "etc/app.ini": "x"}
    out = run(PIP_HEAD + middle + PIP_TAIL, files).output.decode()
    assert "FROM python:3.12-slim\n" in out


# --------------------------------------------------------------------------- python: started scripts

START_CTX = {**CEXT, "app.py": "import x\n"}


def snapshot_of(files: dict[str, str]) -> Snapshot:
    dirs = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    entries = [Entry(p, len(t)) for p, t in files.items()] + [Entry(d, 0, is_dir=True) for d in dirs]
    return Snapshot(files=sorted(entries, key=lambda e: e.path), texts={p: t for p, t in files.items() if t})


def started(text: str, files: dict[str, str]) -> list[tuple[str, str, bool]]:
    doc = parse(text.encode())
    facts = eco.gather(doc, doc.stages[-1])
    snapshot = snapshot_of(files)
    return [(s.path, s.who, s.text is not None) for s in eco.started_scripts(facts, snapshot)]


@pytest.mark.parametrize(
    "lines, files, expected",
    [
        (
            'COPY start.sh /usr/local/bin/\nCMD ["start.sh"]',
            {"start.sh": "cd /src\n"},
            [("/usr/local/bin/start.sh", "CMD", True)],
        ),
        ("COPY start.sh /start.sh\nCMD /start.sh", {"start.sh": "x=1\n"}, [("/start.sh", "CMD", True)]),
        ('WORKDIR /app\nCOPY . .\nCMD ["sh", "./run.sh"]', {"run.sh": "true\n"}, [("/app/run.sh", "CMD", True)]),
        ('COPY e.sh /\nENTRYPOINT ["tini", "--", "/e.sh"]', {"e.sh": 'exec "$@"\n'}, [("/e.sh", "ENTRYPOINT", True)]),
        ('COPY e.sh /\nENTRYPOINT ["gosu", "app", "/e.sh"]', {"e.sh": "true\n"}, [("/e.sh", "ENTRYPOINT", True)]),
        ('COPY h.sh /\nHEALTHCHECK CMD sh -c "/h.sh || exit 1"', {"h.sh": "true\n"}, [("/h.sh", "HEALTHCHECK", True)]),
        # a script the started one runs, by absolute path or through PATH
        (
            'COPY a.sh b.sh /usr/local/bin/\nCMD ["a.sh"]',
            {"a.sh": "exec /usr/local/bin/b.sh\n", "b.sh": "cd /data\n"},
            [("/usr/local/bin/a.sh", "CMD", True), ("/usr/local/bin/b.sh", "/usr/local/bin/a.sh", True)],
        ),
        # not readable: no text in the build context (a binary, another stage, not a known script name)
        ('COPY tool /usr/local/bin/\nCMD ["tool"]', {"tool": ""}, [("/usr/local/bin/tool", "CMD", False)]),
        ('COPY --from=other:1 /x.sh /x.sh\nCMD ["/x.sh"]', {}, [("/x.sh", "CMD", False)]),
        # programs of the image and the build output are not started scripts
        ('WORKDIR /srv\nCOPY . .\nCMD ["python", "app.py"]', {"app.py": "x"}, []),
        ('COPY bin/ /usr/local/bin/\nCMD ["gunicorn", "app:app"]', {"bin/a.sh": "x"}, []),
        (
            'COPY e.sh /\nENTRYPOINT ["/e.sh"]\nCMD ["python", "-m", "x"]',
            {"e.sh": 'exec "$@"\n'},
            [("/e.sh", "ENTRYPOINT", True)],
        ),
    ],
)
def test_started_scripts(lines: str, files: dict, expected: list):
    assert started("FROM python:3.12\n" + lines + "\n", files) == expected


def test_mentioned_paths():
    from dockerslim_rewrite.ecosystems.facts import mentioned_paths

    text = '#!/bin/sh\ncd "${APP:-/src/app}" && exec python ./x.py --cfg=/etc/app.ini $HOME/y a/b https://h.invalid/z\n'
    assert mentioned_paths(text) == ["/bin/sh", "/src/app", "/etc/app.ini", "//h.invalid/z"]


@pytest.mark.parametrize(
    "script, kept",
    [
        ("#!/bin/sh\ncd /tmp/ext && exec python -m x\n", True),  # the script reads the consumed input
        ("#!/bin/sh\nexec python -m x\n", False),
    ],
)
def test_python_started_script_paths_are_run_time_paths(script: str, kept: bool):
    text = 'FROM python:3.12\nCOPY ext/ /tmp/ext/\nRUN pip install /tmp/ext\nCOPY start.sh /usr/local/bin/\nCMD ["start.sh"]\n'
    out = run(text, {**CEXT, "start.sh": script}).output.decode()
    assert "FROM python:3.12-slim\n" in out
    assert ("COPY --from=build /tmp/ext /tmp/ext\n" in out) is kept
    assert "--without-pip" in out


def test_python_unreadable_started_script_keeps_every_input_and_the_venv_pip():
    text = 'FROM python:3.12\nCOPY ext/ /tmp/ext/\nRUN pip install /tmp/ext\nCOPY --from=tools:1 /start /start\nCMD ["/start"]\n'
    result = run(text, CEXT)
    out = result.output.decode()
    assert "COPY --from=build /tmp/ext /tmp/ext\n" in out
    assert "RUN python -I -m venv /opt/venv\n" in out and "RUN pip install /tmp/ext\n" in out
    explanation = " ".join(c.explanation for c in result.changes)
    assert "build inputs kept: /start (started by CMD) cannot be read" in explanation
    assert "the virtualenv keeps its own pip: /start (started by CMD) cannot be read" in explanation


@pytest.mark.parametrize("script", ["pip list\nexec python -m x\n", "python -m pip show x >/dev/null; exec python -m x\n"])
def test_python_started_script_running_pip_keeps_the_venv_pip(script: str):
    text = 'FROM python:3.12\nCOPY ext/ /tmp/ext/\nRUN pip install /tmp/ext\nCOPY start.sh /\nCMD ["sh", "/start.sh"]\n'
    result = run(text, {**CEXT, "start.sh": script})
    out = result.output.decode()
    assert "RUN python -I -m venv /opt/venv\n" in out and "--without-pip" not in out
    assert "the virtualenv keeps its own pip: /start.sh (started by CMD) runs pip" in " ".join(
        c.explanation for c in result.changes
    )


@pytest.mark.parametrize(
    "text, kept",
    [
        # the source is the WORKDIR: the app runs (and imports) from it
        ('FROM python:3.12\nWORKDIR /tmp/ext\nCOPY ext/ .\nRUN pip install .\nCMD ["python", "-m", "x"]\n', "/tmp/ext"),
        # the start command names a file inside it
        ('FROM python:3.12\nCOPY ext/ /tmp/ext/\nRUN pip install /tmp/ext\nCMD ["python", "/tmp/ext/run.py"]\n', "/tmp/ext"),
        # a VOLUME over it
        ('FROM python:3.12\nCOPY ext/ /tmp/ext/\nRUN pip install /tmp/ext\nVOLUME /tmp\nCMD ["python", "-m", "x"]\n', "/tmp/ext"),
    ],
)
def test_python_install_source_kept_when_read_at_run_time(text: str, kept: str):
    out = run(text, CEXT).output.decode()
    assert "FROM python:3.12-slim" in out
    assert f"COPY --from=build {kept} {kept}\n" in out


def test_python_requirements_file_with_editable_line_keeps_every_input():
    files = {**CEXT, "req.txt": "-e ./ext\n"}
    text = 'FROM python:3.12\nCOPY ext/ /tmp/ext/\nCOPY req.txt /tmp/\nRUN pip install -r /tmp/req.txt /tmp/ext\nCMD ["python", "-m", "x"]\n'
    out = run(text, files).output.decode()
    assert "COPY --from=build /tmp/ext /tmp/ext\n" in out and "COPY --from=build /tmp/req.txt /tmp/req.txt\n" in out
    out = run(text, {**files, "req.txt": "flask\n"}).output.decode()
    assert "COPY --from=build /tmp/ext" not in out and "/tmp/req.txt" not in out.split("# runtime stage")[1]
