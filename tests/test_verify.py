"""dslim verify without an engine: the comparison rules, the verdicts, and the whole flow on a fake engine."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from dockerslim_rewrite.engine import BuildResult, RunResult, strip_syntax_directive
from dockerslim_rewrite.transform import Options
from dockerslim_rewrite.verify import (
    VerifyReport,
    compare_config,
    compare_runs,
    decide,
    run_verify,
    user_env_keys,
)


def ok(out="", code=0):
    return RunResult(code, out, "", False, 0.1)


TIMEOUT = RunResult(None, "", "", True, 5.0)


@pytest.mark.parametrize(
    "text, expected, removed",
    [
        ("# syntax=docker/dockerfile:1\nFROM a\n", "FROM a\n", "docker/dockerfile:1"),
        ("# escape=`\r\n#syntax = x/y:1.4\r\nFROM a\r\n", "# escape=`\r\nFROM a\r\n", "x/y:1.4"),
        ("# a comment ends the directive block\n# syntax=x\nFROM a\n", None, None),
        ("FROM a\n# syntax=x\n", None, None),
    ],
)
def test_strip_syntax_directive(text, expected, removed):
    new, value = strip_syntax_directive(text)
    assert value == removed
    assert new == (text if expected is None else expected)


def test_user_env_keys():
    text = 'FROM a\nENV A=1 B="x y" \\\n    C=3\nenv LEGACY some value\nRUN echo D=4\nARG E=5\n'
    assert user_env_keys(text) == {"A", "B", "C", "LEGACY"}


def test_compare_config_strict_fields_env_and_labels():
    before = {
        "Cmd": ["app"],
        "Entrypoint": None,
        "WorkingDir": "/app",
        "User": "",
        "Volumes": None,
        "Env": ["PATH=/usr/bin", "APP_MODE=prod", "GOPATH=/go"],
        "Labels": {"a": "1"},
    }
    after = {
        "Cmd": ["app"],
        "Entrypoint": [],
        "WorkingDir": "/",
        "User": "",
        "Volumes": {},
        "Env": ["PATH=/usr/bin", "APP_MODE=dev"],
        "Labels": None,
    }
    diffs = {d.field: d for d in compare_config(before, after, {"APP_MODE"})}
    assert set(diffs) == {"WorkingDir", "Env APP_MODE", "Env GOPATH", "Label a"}  # None == [] == {}
    assert diffs["WorkingDir"].behaviour and diffs["Env APP_MODE"].behaviour
    assert not diffs["Env GOPATH"].behaviour and "base image" in diffs["Env GOPATH"].note
    assert not diffs["Label a"].behaviour


def test_compare_runs():
    assert compare_runs("d", None, ok("x"), ok("x")).same
    assert compare_runs("d", None, TIMEOUT, TIMEOUT).same  # a service: both still running
    assert not compare_runs("d", None, ok("x"), ok("x", 1)).same
    assert compare_runs("d", None, ok("x"), ok("y")).note == "stdout differs"
    assert "rewritten" in compare_runs("d", None, ok("x"), TIMEOUT).note
    same_but_stderr = RunResult(0, "x", "warning", False, 0.1)
    assert compare_runs("d", None, ok("x"), same_but_stderr).same  # stderr is shown, not compared


def _report(**builds):
    r = VerifyReport("Dockerfile", ".")
    r.changed = True
    r.builds = {k: {"ok": v} for k, v in builds.items()}
    return r


def test_decide_each_verdict():
    assert decide(_report(before=False))[0] == "baseline-broken"
    assert decide(_report(before=True, after=False))[0] == "rewrite-broke-build"
    r = _report(before=True, after=True)
    r.runs = [compare_runs("default command", None, ok("a"), ok("b"))]
    assert decide(r) == ("behaviour-changed", "runs differ: default command")


# ------------------------------------------------------------------------------------------
# the whole flow on a fake engine


def _image_tar(path: Path, images: dict[str, int]) -> None:
    """docker-archive with one image per tag, each one layer holding `size` bytes."""
    with tarfile.open(path, "w") as t:

        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))

        manifest = []
        for i, (tag, size) in enumerate(images.items()):
            layer = io.BytesIO()
            with tarfile.open(fileobj=layer, mode="w") as lt:
                info = tarfile.TarInfo("data/blob")
                info.size = size
                lt.addfile(info, io.BytesIO(b"\0" * size))
            add(f"l{i}.tar", layer.getvalue())
            add(f"c{i}.json", json.dumps({"history": [{"created_by": f"RUN build {tag}"}]}).encode())
            manifest.append({"Config": f"c{i}.json", "RepoTags": [tag], "Layers": [f"l{i}.tar"]})
        add("manifest.json", json.dumps(manifest).encode())


class FakeEngine:
    def __init__(self, sizes=(300_000, 200_000), build_ok=(True, True), stdout=("hi\n", "hi\n"), config_after=None):
        self.sizes, self.build_ok, self.stdout = sizes, build_ok, stdout
        self.config = {"Cmd": ["app"], "Env": ["PATH=/bin"]}
        self.config_after = config_after or self.config
        self.built: dict[str, str] = {}
        self.removed: list[str] = []

    def describe(self):
        return "fake engine"

    def has_bridge_network(self):
        return True

    def build(self, context, dockerfile, tag, build_args, progress=None, network=None, prefix=""):
        self.built[tag] = Path(dockerfile).read_text()
        self.build_args = build_args
        i = len(self.built) - 1
        return BuildResult(self.build_ok[i], tag, 0.1, ["step failed"] if not self.build_ok[i] else [])

    def save(self, path, *tags):
        _image_tar(path, {tag: self.sizes[i] for i, tag in enumerate(tags)})
        return path

    def inspect(self, tag):
        return {"Config": self.config if tag.endswith(":before") else self.config_after, "Size": 1}

    def run(self, image, args=None, timeout=60, entrypoint=None):
        return ok(self.stdout[0 if image.endswith(":before") else 1])

    def rmi(self, *tags):
        self.removed += tags


DOCKERFILE = 'FROM debian:bookworm\nRUN apt-get update\nRUN apt-get install -y jq && rm -rf /var/lib/apt/lists/*\nCMD ["app"]\n'


def _verify(tmp_path, engine, fmt="json", keep=False, dockerfile=DOCKERFILE):
    (tmp_path / "Dockerfile").write_text(dockerfile)
    out, err = io.StringIO(), io.StringIO()
    rc = run_verify(
        tmp_path / "Dockerfile",
        None,
        ["app --version"],
        Options(select=frozenset({"merge-runs"})),
        fmt,
        30,
        keep,
        {"V": "1"},
        out,
        err,
        engine=engine,
    )
    return rc, out.getvalue(), err.getvalue()


def test_ok_flow_rewrites_a_copy_and_cleans_up(tmp_path):
    engine = FakeEngine()
    rc, out, _ = _verify(tmp_path, engine)
    report = json.loads(out)
    assert rc == 0 and report["verdict"] == "ok"
    assert (tmp_path / "Dockerfile").read_text() == DOCKERFILE  # the user's file is untouched
    before, after = (engine.built[t] for t in sorted(engine.built, key=lambda t: not t.endswith(":before")))
    assert (
        before == DOCKERFILE
        and after != DOCKERFILE
        and " ".join(after.replace("\\\n", " ").split()).count("apt-get update && apt-get install") == 1
    )
    assert engine.build_args == {"V": "1"}
    assert report["size_before"] == 300_000 and report["size_after"] == 200_000
    assert report["reduction_percent"] == pytest.approx(33.33, abs=0.01)
    assert [r["command"] for r in report["runs"]] == ["default command", "smoke `app --version`"]
    assert report["images"]["before"]["layer_details"][0]["instruction"].startswith("RUN build")
    assert sorted(engine.removed) == sorted(engine.built)  # images removed without --keep-images


def test_text_report_and_keep_images(tmp_path):
    engine = FakeEngine()
    rc, out, _ = _verify(tmp_path, engine, fmt="text", keep=True)
    assert rc == 0 and engine.removed == []
    assert "verdict: ok:" in out and "reduction" in out and "images kept:" in out


def test_behaviour_change_is_reported(tmp_path):
    rc, out, _ = _verify(tmp_path, FakeEngine(stdout=("hi\n", "bye\n")), fmt="text")
    assert rc == 1
    assert "DIFFERENT: stdout differs" in out and "verdict: behaviour-changed" in out


def test_config_change_is_a_behaviour_change(tmp_path):
    rc, out, _ = _verify(tmp_path, FakeEngine(config_after={"Cmd": ["other"], "Env": ["PATH=/bin"]}))
    assert rc == 1 and json.loads(out)["verdict"] == "behaviour-changed"


def test_larger_image_is_not_ok(tmp_path):
    rc, out, _ = _verify(tmp_path, FakeEngine(sizes=(100_000, 400_000)))
    assert rc == 1 and json.loads(out)["verdict"] == "larger"


@pytest.mark.parametrize("build_ok, verdict", [((False, True), "baseline-broken"), ((True, False), "rewrite-broke-build")])
def test_build_failures(tmp_path, build_ok, verdict):
    engine = FakeEngine(build_ok=build_ok)
    rc, out, _ = _verify(tmp_path, engine)
    assert rc == 1 and json.loads(out)["verdict"] == verdict
    assert len(engine.built) == (1 if verdict == "baseline-broken" else 2)  # no second build after a broken baseline


def test_nothing_to_change_builds_once(tmp_path):
    engine = FakeEngine()
    rc, out, _ = _verify(tmp_path, engine, dockerfile='FROM debian:bookworm\nCMD ["app"]\n')
    report = json.loads(out)
    assert rc == 0 and report["verdict"] == "ok" and len(engine.built) == 1
    assert report["reduction_percent"] == 0.0


def test_no_engine_is_one_line_and_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER", str(tmp_path / "no-such-docker"))
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    out, err = io.StringIO(), io.StringIO()
    rc = run_verify(tmp_path / "Dockerfile", None, [], None, "text", 30, False, {}, out, err)
    assert rc == 2 and out.getvalue() == ""
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "tests/e2e/lab.sh" in lines[0]


def test_usage_errors_exit_2(tmp_path):
    err = io.StringIO()
    assert run_verify(tmp_path / "missing", None, [], None, "text", 30, False, {}, io.StringIO(), err) == 2
    assert "missing" in err.getvalue()
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    err = io.StringIO()
    assert (
        run_verify(
            tmp_path / "Dockerfile",
            None,
            ["unterminated 'quote"],
            None,
            "text",
            30,
            False,
            {},
            io.StringIO(),
            err,
            engine=FakeEngine(),
        )
        == 2
    )
    assert "--smoke" in err.getvalue()


def test_user_env_keys_follow_the_parser():
    """The model's rules: BOM, the backtick escape directive, comments inside continuations, ENV in any stage."""
    text = '\ufeff# escape=`\nFROM a AS one\nENV A=1 `\n# a comment\n    B=2\nFROM one\nENV C "x y"\nLABEL D=4\n'
    assert user_env_keys(text.encode("utf-8")) == {"A", "B", "C"}


def test_verify_rewrites_like_the_cli(tmp_path, monkeypatch):
    """verify and `dslim rewrite` read, scan and rewrite through the one helper."""
    from dockerslim_rewrite import runner

    calls = []
    real = runner.read_and_rewrite

    def spy(path, options, context_dir):
        calls.append((Path(path), context_dir))
        return real(path, options, context_dir)

    monkeypatch.setattr(runner, "read_and_rewrite", spy)
    rc, out, _ = _verify(tmp_path, FakeEngine())
    assert rc == 0 and calls == [(tmp_path / "Dockerfile", None)]
    assert json.loads(out)["context"] == str(tmp_path.resolve())


def test_dockerfile_outside_the_context(tmp_path):
    """The rewritten Dockerfile stays outside the copied context, with its own .dockerignore beside it."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    df_dir = tmp_path / "df"
    df_dir.mkdir()
    (df_dir / "Dockerfile").write_text(DOCKERFILE)
    (df_dir / "Dockerfile.dockerignore").write_text(".git\n")
    engine = FakeEngine()
    seen = []
    build = engine.build

    def record(context, dockerfile, *args, **kwargs):
        seen.append((Path(context), Path(dockerfile), Path(dockerfile).with_name("Dockerfile.dockerignore").exists()))
        return build(context, dockerfile, *args, **kwargs)

    engine.build = record
    out, err = io.StringIO(), io.StringIO()
    rc = run_verify(
        df_dir / "Dockerfile", ctx, [], Options(select=frozenset({"merge-runs"})), "json", 30, False, {}, out, err, engine=engine
    )
    assert rc == 0, err.getvalue()
    (before_ctx, before_df, _), (after_ctx, after_df, ignore_copied) = seen
    assert before_ctx == ctx.resolve() and before_df == (df_dir / "Dockerfile").resolve()
    assert after_ctx.name == "context" and after_df.parent.name == "dockerfile" and ignore_copied
