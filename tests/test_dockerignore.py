"""The `dockerignore` transform and the context scan behind it.

Contexts are small folder trees built in tmp_path (a big file, nested node_modules, a symlink, a
.git folder ...); the property test builds Snapshots in memory.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockerslim_rewrite.buildcontext import Entry, Snapshot, scan_context
from dockerslim_rewrite.ignorematch import PatternMatcher, read_patterns
from dockerslim_rewrite.model import Document, Instruction, parse
from dockerslim_rewrite.pipeline import rewrite
from dockerslim_rewrite.transform import Context, FileChange, Options, Skip
from dockerslim_rewrite.transforms.dockerignore import _copy_keeps, analyse_needs, dockerignore, knowledge

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "dockerignore"


def make(root: Path, files: dict[str, object]) -> Path:
    """Create files: str/bytes content, int = that many zero bytes, ("link", target) = symlink."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            os.symlink(content[1], path)
        elif isinstance(content, int):
            with open(path, "wb") as fh:
                fh.truncate(content)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def run(root: Path, dockerfile: str, name: str = "Dockerfile", **opts) -> tuple[FileChange | None, list[Skip]]:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(dockerfile)
    snap = scan_context(root, root / name)
    result = rewrite(dockerfile.encode(), Options(select=frozenset({"dockerignore"}), **opts), snap, name)
    assert not result.errors, result.errors
    assert result.output == dockerfile.encode(), "the Dockerfile itself never changes"
    changes = [fc for fc in result.file_changes if fc.transform == "dockerignore"]
    assert len(changes) <= 1
    return (changes[0] if changes else None), [s for s in result.skips if s.transform == "dockerignore"]


def apply(root: Path, fc: FileChange) -> None:
    (root / fc.path).write_bytes(fc.new)


def final_matcher(fc: FileChange) -> PatternMatcher:
    return PatternMatcher.from_dockerignore(fc.new.decode())


def added(fc: FileChange) -> list[str]:
    return fc.report["added_patterns"]


NODE_DOCKERFILE = """\
FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY . .
CMD ["node", "server.js"]
"""


@pytest.fixture
def node_ctx(tmp_path: Path) -> Path:
    outside = make(tmp_path / "outside", {f"f{i}.txt": "x" for i in range(5)})
    return make(
        tmp_path / "ctx",
        {
            "package.json": '{"name": "shop"}',
            "package-lock.json": "{}",
            "server.js": "require('./lib')",
            "lib/index.js": "module.exports = 1",
            "node_modules/express/index.js": 300_000,
            "node_modules/express/node_modules/debug/index.js": 50_000,
            "packages/ui/node_modules/react/index.js": 20_000,
            "packages/ui/index.js": "x",
            ".git/HEAD": "ref: refs/heads/main",
            ".git/objects/pack/pack-1.pack": 2_000_000,
            "assets/video.mp4": 5_000_000,  # big, but the app serves it: stays
            ".env": "STRIPE_KEY=sk_live_x",
            ".env.example": "STRIPE_KEY=",
            "config/.env.local": "STRIPE_KEY=sk_test_y",
            "npm-debug.log": "boom",
            ".vscode/settings.json": "{}",
            "docker-compose.yml": "services: {}",
            "shared": ("link", str(outside)),
        },
    )


def test_symlinked_build_file_is_never_read(tmp_path: Path):
    secret = make(tmp_path / "outside", {"creds": "//r/:_authToken=abc"})
    ctx = make(tmp_path / "ctx", {".npmrc": ("link", str(secret / "creds")), "package.json": "{}"})
    snap = scan_context(ctx, None)
    assert snap.entry(".npmrc").is_symlink and snap.read_text(".npmrc") is None


# -- the scan ------------------------------------------------------------------------------------------
def test_scan_is_bounded_and_never_follows_symlinks(node_ctx: Path):
    snap = scan_context(node_ctx, node_ctx / "Dockerfile")
    paths = {e.path for e in snap.files}
    assert "shared" in paths and snap.entry("shared").is_symlink
    assert not any(p.startswith("shared/") for p in paths)
    nm = snap.entry("node_modules")
    assert nm.collapsed and nm.file_count == 2 and nm.size == 350_000
    assert not any(p.startswith("node_modules/") for p in paths)
    assert snap.entry("packages/ui/node_modules").collapsed
    assert snap.entry(".git").collapsed and snap.entry(".git").size > 2_000_000
    assert snap.read_text("package.json") == '{"name": "shop"}'
    assert snap.read_text("assets/video.mp4") is None
    assert snap.exists("node_modules/express/index.js")  # may exist: inside a collapsed folder
    assert not snap.exists("nope.txt")
    assert not snap.truncated


def test_scan_truncates_at_max_files(tmp_path: Path):
    make(tmp_path, {f"d{i}/f{j}.txt": "x" for i in range(5) for j in range(10)})
    snap = scan_context(tmp_path, None, max_files=20)
    assert snap.truncated
    assert len(snap.files) <= 20


def test_scan_preloads_go_headers_and_collapses_venvs(tmp_path: Path):
    make(tmp_path, {"main.go": 'package main\nimport "C"\n' + "//" * 5000, "env3/pyvenv.cfg": "home=/usr", "env3/lib/x.py": "1"})
    snap = scan_context(tmp_path, None)
    assert 'import "C"' in snap.read_text("main.go") and len(snap.read_text("main.go")) == 4096
    assert snap.entry("env3").collapsed and snap.entry("env3/pyvenv.cfg") is not None
    assert snap.total_files == 3  # main.go + the 2 files of the venv, pyvenv.cfg not counted twice


# -- a new file ---------------------------------------------------------------------------------------------
def test_new_file_for_node_project(node_ctx: Path):
    fc, skips = run(node_ctx, NODE_DOCKERFILE)
    assert fc is not None and fc.path == ".dockerignore" and fc.old is None
    text = fc.new.decode()
    assert text.startswith("# .dockerignore written by dslim")
    assert added(fc) == [
        "**/.git",
        "**/node_modules",
        "**/*.log",
        "**/.vscode",
        "**/Dockerfile*",
        "**/*.dockerignore",
        "**/docker-compose*.yml",
    ]
    m = final_matcher(fc)
    for needed in (
        "package.json",
        "package-lock.json",
        "server.js",
        "lib/index.js",
        "assets/video.mp4",
        "packages/ui/index.js",
        ".env.example",
        "shared",
    ):
        assert not m.excluded(needed), needed
    for gone in ("node_modules/express/index.js", "packages/ui/node_modules/react/index.js", ".git/HEAD", "npm-debug.log"):
        assert m.excluded(gone), gone
    for sent in (".env", "config/.env.local"):  # `COPY . .`: the app may read them (dotenv): warned, not excluded
        assert not m.excluded(sent), sent
    rep = fc.report
    assert rep["context_before"]["bytes"] > 7_000_000
    assert rep["context_after"]["bytes"] < rep["context_before"]["bytes"] - 2_300_000
    assert rep["context_after"]["bytes"] > 5_000_000  # the video stays
    assert [g["path"] for g in rep["largest_excluded"][:2]] == [".git", "node_modules"]
    assert rep["secrets_excluded"] == []
    assert fc.safety == "review" and "node_modules" in fc.assumption
    assert "->" in fc.explanation and ".git" in fc.explanation
    assert {s.reason.split(" ")[0] for s in skips} == {".env", "config/.env.local"}


def test_rerun_after_writing_adds_nothing(node_ctx: Path):
    fc, _ = run(node_ctx, NODE_DOCKERFILE)
    apply(node_ctx, fc)
    again, skips = run(node_ctx, NODE_DOCKERFILE)
    assert again is None
    assert all("looks like a secret" in s.reason for s in skips)  # only the warnings for files `COPY . .` sends


def test_without_npm_install_host_node_modules_stay(node_ctx: Path):
    dockerfile = "FROM node:20-slim\nWORKDIR /app\nCOPY . .\nCMD node server.js\n"
    fc, _ = run(node_ctx, dockerfile)
    assert "**/node_modules" not in added(fc)
    assert not final_matcher(fc).excluded("node_modules/express/index.js")


def test_global_npm_install_does_not_rebuild_node_modules(node_ctx: Path):
    fc, _ = run(node_ctx, "FROM node:20\nCOPY . /app\nRUN npm install -g pm2\nCMD pm2-runtime /app/server.js\n")
    assert "**/node_modules" not in added(fc)


def test_safe_only_writes_only_safe_lines(node_ctx: Path):
    fc, _ = run(node_ctx, NODE_DOCKERFILE, safe_only=True)
    assert fc.safety == "safe" and fc.assumption is None
    assert "**/node_modules" not in added(fc) and "**/.env" not in added(fc)
    assert "**/.git" in added(fc)


def test_no_context_snapshot_yields_nothing():
    doc = parse(NODE_DOCKERFILE.encode())
    assert list(dockerignore(doc, Context(Options(), None))) == []


def test_nothing_to_exclude_writes_nothing(tmp_path: Path):
    make(tmp_path, {"app.py": "print(1)", "requirements.txt": "flask\n"})
    fc, _ = run(
        tmp_path / ".",
        "FROM python:3.12-slim\nCOPY app.py requirements.txt /app/\nCMD python /app/app.py\n",
        name="build/Containerfile",
    )
    assert fc is None


# -- must keep ---------------------------------------------------------------------------------------------------
def test_copy_of_a_file_inside_an_excluded_looking_folder_keeps_the_folder(node_ctx: Path):
    dockerfile = NODE_DOCKERFILE.replace("COPY . .", "COPY node_modules/express/index.js /opt/express.js\nCOPY . .")
    fc, _ = run(node_ctx, dockerfile)
    assert "**/node_modules" not in added(fc)
    assert any(k["pattern"] == "**/node_modules" and "node_modules/express/index.js" in k["reason"] for k in fc.report["kept"])
    assert not final_matcher(fc).excluded("node_modules/express/index.js")


def test_dockerfiles_sharing_a_scan_each_get_their_own_reasons(node_ctx: Path):
    """The choice of lines is made once per scan for equal needs; the reasons stay each file's own."""
    copy = "COPY node_modules/express/index.js /opt/express.js\nCOPY . ."
    texts = {
        "Dockerfile.a": NODE_DOCKERFILE.replace("COPY . .", copy),
        "Dockerfile.b": "# the same build, two lines lower\n\n" + NODE_DOCKERFILE.replace("COPY . .", copy),
    }
    for name, text in texts.items():
        (node_ctx / name).write_text(text)
    scan = scan_context(node_ctx, node_ctx / "Dockerfile.a")
    reasons = {}
    for name, text in texts.items():
        result = rewrite(text.encode(), Options(select=frozenset({"dockerignore"})), scan.for_dockerfile(name), name)
        (fc,) = result.file_changes
        reasons[name] = [k["reason"] for k in fc.report["kept"] if k["pattern"] == "**/node_modules"]
    assert reasons["Dockerfile.a"] == ["COPY node_modules/express/index.js (line 5)"]
    assert reasons["Dockerfile.b"] == ["COPY node_modules/express/index.js (line 7)"]


def test_the_paths_a_run_names_are_looked_up_in_each_context(tmp_path: Path):
    dockerfile = "FROM python:3.12-slim\nCOPY . .\nRUN sh scripts/build.sh\n"
    with_script = scan_context(make(tmp_path / "a", {"scripts/build.sh": "x", "app.py": "x"}), None)
    without = scan_context(make(tmp_path / "b", {"app.py": "x"}), None)
    needs = [{k.path for k in analyse_needs(parse(dockerfile), snap).keeps} for snap in (with_script, without)]
    assert "scripts/build.sh" in needs[0] and "scripts/build.sh" not in needs[1]


def test_copy_from_another_stage_and_heredoc_do_not_keep_anything(node_ctx: Path):
    dockerfile = (
        "FROM node:20 AS build\nWORKDIR /app\nCOPY package.json package-lock.json ./\nRUN npm ci\nCOPY . .\n"
        "FROM node:20-slim\nCOPY --from=build /app/node_modules ./node_modules\nCOPY <<EOF .env\nX=1\nEOF\n"
        "COPY --from=build /app/server.js ./\n"
    )
    fc, _ = run(node_ctx, dockerfile)
    # the builder copies the whole context: a build step there may read .env (next build does)
    assert "**/node_modules" in added(fc) and "**/.env" not in added(fc)


def test_copy_of_tests_folder_and_cmd_path_keep_them(tmp_path: Path):
    make(
        tmp_path,
        {
            "app/main.py": "print(1)",
            "tests/test_main.py": "def test(): pass",
            "tests/__pycache__/test_main.cpython-312.pyc": 2000,
            "tests/selfcheck.log": "ok",
            "tools/selfcheck.py": "print(1)",
            "pyproject.toml": "[project]\nname='x'\n",
            "debug.log": "x",
        },
    )
    dockerfile = (
        "FROM python:3.12-slim\nWORKDIR /srv\nCOPY pyproject.toml ./\nCOPY app/ app/\nCOPY tests/ tests/\n"
        "COPY tools/ /srv/tools/\nRUN pip install --no-cache-dir .\nHEALTHCHECK CMD python /srv/tools/selfcheck.py\n"
        'CMD ["python", "-m", "pytest", "tests"]\n'
    )
    fc, _ = run(tmp_path, dockerfile)
    m = final_matcher(fc)
    for keep in ("tests/test_main.py", "tests/selfcheck.log", "tools/selfcheck.py", "app/main.py", "pyproject.toml"):
        assert not m.excluded(keep), keep
    assert m.excluded("tests/__pycache__/test_main.cpython-312.pyc")  # caches may go, even inside a copied folder
    assert m.excluded("debug.log")  # *.log outside explicitly copied folders
    assert "**/*.log" in added(fc)


def test_lockfiles_and_build_files_stay(tmp_path: Path):
    make(
        tmp_path,
        {
            "package.json": "{}",
            "yarn.lock": "# yarn lockfile v1",
            "tsconfig.json": "{}",
            "tsconfig.build.json": "{}",
            "src/index.ts": "export {}",
            "node_modules/a/index.js": "1",
            ".yarnrc.yml": "nodeLinker: node-modules",
            ".npmrc": "//registry.example/:_authToken=abc",
            "yarn-error.log": "x",
        },
    )
    dockerfile = (
        "FROM node:20\nWORKDIR /app\nCOPY . .\nRUN yarn install --frozen-lockfile && yarn build\nCMD node dist/index.js\n"
    )
    fc, skips = run(tmp_path, dockerfile)
    m = final_matcher(fc)
    for keep in ("package.json", "yarn.lock", "tsconfig.json", "tsconfig.build.json", ".yarnrc.yml", ".npmrc", "src/index.ts"):
        assert not m.excluded(keep), keep
    assert m.excluded("node_modules/a/index.js") and m.excluded("yarn-error.log")
    assert any(".npmrc" in s.reason and "secret" in s.reason for s in skips)


def test_npmrc_token_excluded_when_no_install_reads_it(tmp_path: Path):
    make(tmp_path, {"package.json": "{}", "dist/index.js": "1", ".npmrc": "//r.example/:_authToken=abc"})
    fc, _ = run(tmp_path, "FROM node:20-slim\nCOPY . /app\nCMD node /app/dist/index.js\n")
    assert "**/.npmrc" in added(fc)


def test_named_venv_kept_unless_rebuilt(tmp_path: Path):
    make(tmp_path, {"app.py": "1", "requirements.txt": "flask", "venv/pyvenv.cfg": "home=/usr", "venv/bin/python": "x"})
    fc, _ = run(tmp_path, 'FROM python:3.12\nCOPY . /app\nCMD ["/app/venv/bin/python", "/app/app.py"]\n')
    assert fc is None or "**/venv" not in added(fc)
    dockerfile = (
        "FROM python:3.12\nCOPY . /app\nRUN python -m venv /app/venv && /app/venv/bin/pip install -r /app/requirements.txt\n"
        'CMD ["/app/venv/bin/python", "/app/app.py"]\n'
    )
    fc, _ = run(tmp_path, dockerfile)
    assert "**/venv" in added(fc)


def test_secret_inside_explicitly_copied_folder_is_kept_and_reported(tmp_path: Path):
    make(tmp_path, {"config/tls/server.pem": "-----BEGIN", "config/app.yml": "a: 1", "certs/dev.pem": "x", "app.py": "1"})
    fc, skips = run(tmp_path, "FROM python:3.12-slim\nCOPY config/ /etc/app/\nCOPY . /app\nCMD python /app/app.py\n")
    m = final_matcher(fc) if fc is not None else None
    assert m is None or not (m.excluded("config/tls/server.pem") or m.excluded("certs/dev.pem"))  # `COPY . /app` sends both
    assert any(s.reason.startswith("config/tls/server.pem looks like a secret") for s in skips)
    assert any(s.reason.startswith("certs/dev.pem looks like a secret") for s in skips)


def test_git_kept_when_the_build_uses_git_metadata(tmp_path: Path):
    make(tmp_path, {".git/HEAD": "x", "pyproject.toml": "[tool.setuptools_scm]\n", "src/a.py": "1", "x.log": "1"})
    fc, _ = run(tmp_path, "FROM python:3.12\nCOPY . /src\nRUN pip install /src\n")
    assert "**/.git" not in added(fc)
    make(tmp_path, {"pyproject.toml": "[project]\nname='a'\n"})
    fc, _ = run(tmp_path, "FROM python:3.12\nCOPY . /src\nRUN cd /src && git describe --tags > VERSION\n")
    assert "**/.git" not in added(fc)
    fc, _ = run(tmp_path, "FROM python:3.12\nCOPY . /src\nRUN pip install /src\n")
    assert "**/.git" in added(fc)


def test_cargo_target_only_when_the_image_builds(tmp_path: Path):
    make(tmp_path, {"Cargo.toml": "[package]", "Cargo.lock": "", "src/main.rs": "fn main(){}", "target/release/app": 900_000})
    fc, _ = run(tmp_path, "FROM rust:1\nWORKDIR /w\nCOPY . .\nRUN cargo build --release\nCMD /w/target/release/app\n")
    assert "target" in added(fc)
    fc, _ = run(tmp_path, "FROM debian:12-slim\nCOPY target/release/app /usr/local/bin/app\nCMD app\n")
    assert fc is None or "target" not in added(fc)


# -- an existing file ----------------------------------------------------------------------------------------------
def test_existing_file_gets_a_marked_block_and_keeps_user_lines(node_ctx: Path):
    user = "# ours\nnode_modules\n*.md\n!README.md\n"
    make(node_ctx, {".dockerignore": user, "README.md": "hi"})
    fc, _ = run(node_ctx, NODE_DOCKERFILE)
    text = fc.new.decode()
    assert fc.old == user.encode() and text.startswith(user)
    assert text[len(user) :].startswith("\n# added by dslim\n")
    assert "**/node_modules" in added(fc)  # the user's line covers only the root one, not packages/ui/node_modules
    assert not final_matcher(fc).excluded("README.md")


def test_existing_exception_is_respected(tmp_path: Path):
    user = "*.log\n!keep/audit.log\n"
    make(tmp_path, {".dockerignore": user, "keep/audit.log": "x", "logs/a.log": "x", "app.py": "1"})
    fc, _ = run(tmp_path, "FROM python:3.12-slim\nCOPY . /app\nCMD python /app/app.py\n")
    assert added(fc)[:2] == ["**/*.log", "!keep/audit.log"]  # the user's exception is repeated after our line
    assert not final_matcher(fc).excluded("keep/audit.log")
    assert final_matcher(fc).excluded("logs/a.log")
    assert fc.new.decode().startswith(user)


def test_existing_file_already_covering_everything_changes_nothing(node_ctx: Path):
    user = ".git\nnode_modules\npackages/*/node_modules\nnpm-debug.log\n.vscode\n**/.env*\nDockerfile\ndocker-compose.yml\n"
    make(node_ctx, {".dockerignore": user})
    fc, _ = run(node_ctx, NODE_DOCKERFILE)
    assert fc is None


def test_crlf_file_without_trailing_newline(tmp_path: Path):
    make(tmp_path, {".dockerignore": b"foo\r\nbar", "app.log": "x", "app.py": "1"})
    fc, _ = run(tmp_path, "FROM python:3.12-slim\nCOPY . /app\n")
    assert fc.new.startswith(b"foo\r\nbar\r\n\r\n# added by dslim\r\n")
    assert b"\n" not in fc.new.replace(b"\r\n", b"")


def test_bad_existing_pattern_is_left_alone(tmp_path: Path):
    make(tmp_path, {".dockerignore": "[oops\n", "a.log": "x"})
    fc, skips = run(tmp_path, "FROM alpine\nCOPY . /\n")
    assert fc is None and any("rejects" in s.reason for s in skips)


def test_user_line_excluding_a_copy_source_is_reported(tmp_path: Path):
    make(tmp_path, {".dockerignore": "config\n", "config/a.yml": "x"})
    _, skips = run(tmp_path, "FROM alpine\nCOPY config/a.yml /etc/a.yml\n")
    assert any("already excludes config/a.yml" in s.reason and s.line == 2 for s in skips)


def test_add_url_and_bind_mount_sources(tmp_path: Path):
    make(tmp_path, {"package.json": "{}", "node_modules/x/i.js": "1", "certs/ca.pem": "x", "a.pem": "y"})
    dockerfile = (
        "FROM node:20\nADD https://example.invalid/ca.pem /etc/ca.pem\n"
        "RUN --mount=type=bind,source=certs/ca.pem,target=/tmp/ca.pem npm ci\nCOPY . /app\n"
    )
    fc, _ = run(tmp_path, dockerfile)
    m = final_matcher(fc)
    # `COPY . /app` sends every file, so a.pem stays too (the app may read it); node_modules is reinstalled
    assert not m.excluded("certs/ca.pem") and not m.excluded("a.pem") and m.excluded("node_modules/x/i.js")


# -- several Dockerfiles -----------------------------------------------------------------------------------------------
def test_per_dockerfile_ignore_when_another_dockerfile_needs_the_paths(node_ctx: Path):
    (node_ctx / "Dockerfile.dev").write_text("FROM node:20\nWORKDIR /app\nCOPY . .\nCMD node server.js\n")
    fc, _ = run(node_ctx, NODE_DOCKERFILE)
    assert fc.path == "Dockerfile.dockerignore"
    apply(node_ctx, fc)
    again, _ = run(node_ctx, NODE_DOCKERFILE)
    assert again is None


def test_dockerfile_outside_the_context_never_gets_a_per_dockerfile_file(node_ctx: Path, tmp_path: Path):
    (node_ctx / "Dockerfile.dev").write_text("FROM node:20\nWORKDIR /app\nCOPY . .\nCMD node server.js\n")
    outside = tmp_path / "docker" / "prod.Dockerfile"
    outside.parent.mkdir()
    outside.write_text(NODE_DOCKERFILE)
    snap = scan_context(node_ctx, outside)
    result = rewrite(NODE_DOCKERFILE.encode(), Options(select=frozenset({"dockerignore"})), snap, "prod.Dockerfile")
    assert [fc.path for fc in result.file_changes] == [".dockerignore"]


def test_shared_ignore_when_the_other_dockerfile_agrees(node_ctx: Path):
    (node_ctx / "Dockerfile.ci").write_text(NODE_DOCKERFILE.replace("--omit=dev", ""))
    fc, _ = run(node_ctx, NODE_DOCKERFILE)
    assert fc.path == ".dockerignore"


# -- property: COPY sources are never excluded ---------------------------------------------------------------------------
NAMES = ["src", "tests", "node_modules", ".git", "logs", "config", "lib", "__pycache__", "venv", "target"]
FILES = ["a.py", "b.pyc", "app.log", ".env", ".env.local", "key.pem", "package.json", "x.js", "Dockerfile", "id_rsa"]


@st.composite
def contexts(draw):
    paths: set[str] = set()
    for _ in range(draw(st.integers(3, 14))):
        depth = draw(st.integers(0, 2))
        dirs = [draw(st.sampled_from(NAMES)) for _ in range(depth)]
        paths.add("/".join([*dirs, draw(st.sampled_from(FILES))]))
    entries: dict[str, Entry] = {}
    for p in sorted(paths):
        parts = p.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            entries.setdefault(d, Entry(d, 0, is_dir=True))
        entries[p] = Entry(p, 10)
    snap = Snapshot(files=sorted(entries.values(), key=lambda e: e.path))
    files = sorted(paths)
    dirs = sorted(e.path for e in entries.values() if e.is_dir)
    sources = draw(
        st.lists(st.sampled_from(files + dirs + ["*.json", "src/*.py", "*/app.log", "config"]), min_size=1, max_size=4)
    )
    runs = draw(st.lists(st.sampled_from(["npm ci", "pip install -r req.txt", "cargo build", "mvn package", "true"]), max_size=2))
    lines = ["FROM base"]
    lines += [f"COPY {s} /dst/" for s in sources]
    lines += [f"RUN {r}" for r in runs]
    lines.append("COPY . /app")
    return snap, "\n".join(lines) + "\n", sources


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contexts())
def test_property_copy_sources_are_never_excluded(case):
    snap, dockerfile, sources = case
    doc = parse(dockerfile.encode())
    out = [r for r in dockerignore(doc, Context(Options(), snap)) if isinstance(r, FileChange)]
    if not out:
        return
    lines = read_patterns(out[0].new.decode())
    m = PatternMatcher(lines)
    inside = {c.pattern for c in knowledge()["candidates"] if c.inside}
    inside_m = PatternMatcher([ln for ln in lines if ln in inside or ln.startswith("!")])
    for ins in doc.instructions:
        if ins.keyword != "COPY":
            continue
        for keep in _copy_keeps(ins, snap):
            assert not m.excluded(keep.path), (keep, out[0].new.decode())
            if keep.strict:  # inside an explicitly copied folder only caches/VCS/deps may go
                for e in snap.files:
                    if e.path.startswith(keep.path + "/") and m.excluded(e.path):
                        assert inside_m.excluded(e.path), (e.path, out[0].new.decode())


# -- fixtures: fixtures/dockerignore/<case>/context + expected.dockerignore ------------------------------------------------
CASES = sorted(p.parent for p in FIXTURES.glob("*/in.Dockerfile"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fixture_expected_dockerignore(case: Path):
    source = (case / "in.Dockerfile").read_bytes()
    assert (case / "out.Dockerfile").read_bytes() == source
    snap = scan_context(case / "context", None)
    result = rewrite(source, Options(select=frozenset({"dockerignore"})), snap)
    assert not result.errors
    expected = case / "expected.dockerignore"
    changes = [fc for fc in result.file_changes if fc.transform == "dockerignore"]
    if not expected.exists():
        assert changes == []
        return
    assert len(changes) == 1
    assert changes[0].new.decode() == expected.read_text()


@pytest.mark.parametrize(
    "dockerfile, kept",
    [
        # COPY sources are the instruction's words (Instruction.words): quotes removed, exec form as given
        (
            'FROM python:3.12\nCOPY "logs/keep me.log" /app/\nCOPY ["notes.log", "/app/"]\nCOPY app.py /app/\n',
            ("logs/keep me.log", "notes.log"),
        ),
        # ENV words and the plain words of a RUN under a non-POSIX SHELL name context paths too
        (
            'FROM python:3.12\nCOPY . /app\nENV LOG_TEMPLATE="/app/conf/app.log"\n'
            'SHELL ["pwsh", "-Command"]\nRUN Get-Content "/app/notes.log"\n',
            ("conf/app.log", "notes.log"),
        ),
    ],
)
def test_paths_the_instructions_name_are_kept(tmp_path: Path, dockerfile: str, kept: tuple[str, ...]):
    make(tmp_path, {"logs/keep me.log": "x", "conf/app.log": "x", "notes.log": "x", "build.log": "x", "app.py": "1"})
    m = final_matcher(run(tmp_path, dockerfile)[0])
    assert not any(m.excluded(path) for path in kept) and m.excluded("build.log")


def test_report_numbers_and_safety(node_ctx: Path):
    """The FileChange built from the plan: target, created flag, context totals and a review assumption."""
    fc, _ = run(node_ctx, NODE_DOCKERFILE)
    report = fc.report
    assert report["target"] == ".dockerignore" and report["created"] and fc.old is None
    assert report["context_after"]["bytes"] < report["context_before"]["bytes"]
    assert fc.safety == "review" and "node_modules" in fc.assumption
    assert fc.new.decode().splitlines()[0].startswith("#")


@pytest.mark.parametrize("run", ["pip install .", "python -m pip install .", "python -P -m pip install ."])
def test_python_install_condition_sees_pip_behind_interpreter_options(run: str) -> None:
    """multi-stage writes `python -P -m pip install`: still a Python install for the ignore templates."""
    from dockerslim_rewrite.transforms.dockerignore import _conditions

    doc = parse(f"FROM python:3.12\nCOPY . .\nRUN {run}\n".encode())
    assert "python-install" in _conditions(doc, Snapshot(files=[Entry("setup.py", 10)]))


def test_a_rewrite_leaves_no_documents_to_the_cyclic_collector(node_ctx: Path):
    """Every document a rewrite parses (one per edit, and the sibling Dockerfile's) is released: a
    document is a reference cycle (its instructions point back at it), see Document.release."""
    (node_ctx / "Dockerfile.ci").write_text(NODE_DOCKERFILE.replace("--omit=dev", ""))  # read for a shared file
    data = NODE_DOCKERFILE.replace("node:20-slim", "node:20").replace(
        "COPY . .", "RUN apt-get update && apt-get install -y curl\nCOPY . ."
    )
    (node_ctx / "Dockerfile").write_text(data)
    rewrite(data.encode(), build_context=scan_context(node_ctx, node_ctx / "Dockerfile"))  # loads data files first
    snap = scan_context(node_ctx, node_ctx / "Dockerfile")  # a fresh scan: the sibling is parsed again
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        result = rewrite(data.encode(), build_context=snap)
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, (Document, Instruction))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()
    assert len({c.transform for c in result.changes}) >= 2, "several edits, so several documents"
    assert [fc.path for fc in result.file_changes] == [".dockerignore"], "the sibling's document was read"
    assert left == []
