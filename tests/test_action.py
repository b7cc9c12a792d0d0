"""action.yml, the composite GitHub Action: its steps' `run:` commands, run as the runner would run
them (bash -eo pipefail, GITHUB_* files and variables faked, `${{ }}` expressions substituted) in a
temporary git repository. The `uses:` step (upload-artifact) is not run; its `if:` is evaluated."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
STEPS = ACTION["runs"]["steps"]
CHANGED = b"FROM debian:bookworm\nRUN touch /tmp/one\nRUN rm /tmp/one\n"
CLEAN = b"FROM debian:bookworm\nRUN echo one\n"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class Run:
    exit_code: int
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # step id -> outputs
    ran: list[str] = field(default_factory=list)  # names of the steps run (or, for `uses:`, that would run)
    log: str = ""


class Runner:
    """Runs the action's steps like a GitHub runner, with ``inputs`` over the declared defaults."""

    def __init__(self, workspace: Path, runner_temp: Path, inputs: dict[str, str] | None = None):
        self.inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
        unknown = set(inputs or {}) - set(self.inputs)
        assert not unknown, f"not an input of action.yml: {unknown}"
        self.inputs.update(inputs or {})
        self.workspace, self.temp = workspace, runner_temp
        self.files = workspace.parent / f"{workspace.name}-github"
        self.files.mkdir(exist_ok=True)

    def value(self, expr: str, outputs: dict[str, dict[str, str]]) -> str:
        parts = expr.split(".")
        if parts[0] == "inputs" and len(parts) == 2:
            return self.inputs[parts[1]]
        if parts[:1] == ["github"] and len(parts) == 2:
            return {"action_path": str(ROOT), "workspace": str(self.workspace)}[parts[1]]
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return outputs.get(parts[1], {}).get(parts[3], "")
        raise AssertionError(f"expression the test does not know: {expr}")

    def substitute(self, text: str, outputs: dict[str, dict[str, str]]) -> str:
        return EXPR.sub(lambda m: self.value(m.group(1), outputs), str(text))

    def condition(self, expr: str, outputs: dict[str, dict[str, str]]) -> bool:
        """The `a == 'b' && c == 'd'` conditions action.yml uses."""
        for term in expr.split("&&"):
            m = re.fullmatch(r"\s*([\w.-]+)\s*==\s*'([^']*)'\s*", term)
            assert m, f"condition the test does not know: {expr}"
            if self.value(m.group(1), outputs) != m.group(2):
                return False
        return True

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "NO_COLOR"))}
        python_bin = str(Path(sys.executable).parent)  # `python3` is the Python running the tests
        env.update(
            PATH=f"{python_bin}{os.pathsep}{env.get('PATH', '')}",
            CI="true",
            GITHUB_ACTIONS="true",
            GITHUB_WORKSPACE=str(self.workspace),
            GITHUB_ACTION_PATH=str(ROOT),
            GITHUB_ENV=str(self.files / "env"),
            GITHUB_PATH=str(self.files / "path"),
            GITHUB_STEP_SUMMARY=str(self.files / "summary.md"),
            RUNNER_TEMP=str(self.temp),
            PIP_DISABLE_PIP_VERSION_CHECK="1",
        )
        return env

    def run(self, steps: list[dict]) -> Run:
        result = Run(0)
        for k, step in enumerate(steps):
            name = step.get("name", f"step {k}")
            if "uses" in step:
                assert step["uses"].startswith("actions/upload-artifact@"), step["uses"]
                if self.condition(step.get("if", "true"), result.outputs):
                    result.ran.append(name)
                continue
            assert "if" not in step, "a run step with a condition: teach the test to evaluate it"
            assert step["shell"] == "bash"
            output_file = self.files / f"output-{k}"
            output_file.write_text("")
            env = self.env()
            env["GITHUB_OUTPUT"] = str(output_file)
            env.update({key: self.substitute(value, result.outputs) for key, value in (step.get("env") or {}).items()})
            script = self.files / f"step-{k}.sh"
            script.write_text(self.substitute(step["run"], result.outputs))
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.workspace,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            result.log += f"== {name} (exit {proc.returncode})\n{proc.stdout}{proc.stderr}"
            result.ran.append(name)
            if "id" in step:
                lines = output_file.read_text().splitlines()
                result.outputs[step["id"]] = dict(line.split("=", 1) for line in lines if "=" in line)
            if proc.returncode != 0:
                result.exit_code = proc.returncode
                break
        return result


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RUNNER_TEMP with dslim installed by the action's own first step (pip install of this checkout)."""
    temp = tmp_path_factory.mktemp("runner-temp")
    workspace = tmp_path_factory.mktemp("install-workspace")
    install = [s for s in STEPS if s.get("name") == "Install dslim"]
    assert install == STEPS[:1]
    result = Runner(workspace, temp).run(install)
    assert result.exit_code == 0, result.log
    assert "dslim 0." in result.log
    return temp


def git_repo(path: Path, dockerfile: bytes) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "Dockerfile").write_bytes(dockerfile)
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "add", "Dockerfile"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    return path


def run_action(tmp_path: Path, runner_temp: Path, dockerfile: bytes, **inputs: str) -> tuple[Run, Path]:
    workspace = git_repo(tmp_path / "repo", dockerfile)
    result = Runner(workspace, runner_temp, {k.replace("_", "-"): v for k, v in inputs.items()}).run(STEPS[1:])
    return result, workspace


def test_action_is_composite_and_declares_its_inputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert {"paths", "args", "fail-on-change"} <= set(ACTION["inputs"])
    assert ACTION["inputs"]["fail-on-change"]["default"] == "true"
    assert "${{ github.action_path }}" in str(STEPS[0]["env"])
    assert any("dslim rewrite --check" in s.get("run", "").replace('"$RUNNER_TEMP/dslim-venv/bin/dslim"', "dslim") for s in STEPS)


def test_clean_dockerfile_passes(tmp_path: Path, runner_temp: Path) -> None:
    result, _ = run_action(tmp_path, runner_temp, CLEAN, args="--select merge-runs")
    assert result.exit_code == 0, result.log
    assert result.outputs["rewrite"] == {"changed": "false", "patch": ""}
    assert result.ran == ["Rewrite (dry run)", "Fail on change"]


def test_changed_dockerfile_fails_with_a_patch_that_applies(tmp_path: Path, runner_temp: Path) -> None:
    result, workspace = run_action(tmp_path, runner_temp, CHANGED, args="--select merge-runs")
    assert result.exit_code == 1, result.log
    assert result.ran == ["Rewrite (dry run)", "Fail on change"]
    assert "::error::dslim would change Dockerfiles" in result.log
    outputs = result.outputs["rewrite"]
    assert outputs["changed"] == "true"
    patch = Path(outputs["patch"])
    assert patch.is_relative_to(runner_temp) and "+RUN touch /tmp/one \\" in patch.read_text()
    assert "```diff" in (workspace.parent / "repo-github" / "summary.md").read_text()
    assert (workspace / "Dockerfile").read_bytes() == CHANGED  # a dry run
    subprocess.run(["git", "-C", str(workspace), "apply", str(patch)], check=True)
    assert (workspace / "Dockerfile").read_bytes() == b"FROM debian:bookworm\nRUN touch /tmp/one \\\n    && rm /tmp/one\n"


def test_fail_on_change_false_reports_but_passes(tmp_path: Path, runner_temp: Path) -> None:
    result, _ = run_action(tmp_path, runner_temp, CHANGED, args="--select merge-runs", fail_on_change="false")
    assert result.exit_code == 0, result.log
    assert result.outputs["rewrite"]["changed"] == "true"


def test_patch_mode_uploads_the_patch_only_when_something_changed(tmp_path: Path, runner_temp: Path) -> None:
    result, _ = run_action(tmp_path / "a", runner_temp, CHANGED, mode="patch", fail_on_change="false")
    assert result.exit_code == 0, result.log
    assert result.ran == ["Rewrite (dry run)", "Upload the patch", "Fail on change"]
    result, _ = run_action(tmp_path / "b", runner_temp, CLEAN, mode="patch", args="--select merge-runs")
    assert result.exit_code == 0, result.log
    assert "Upload the patch" not in result.ran


def test_paths_select_what_is_checked_and_errors_fail(tmp_path: Path, runner_temp: Path) -> None:
    workspace = git_repo(tmp_path / "repo", CLEAN)
    (workspace / "svc").mkdir()
    (workspace / "svc" / "Dockerfile").write_bytes(CHANGED)
    inputs = {"args": "--select merge-runs"}
    assert Runner(workspace, runner_temp, {**inputs, "paths": "Dockerfile"}).run(STEPS[1:]).exit_code == 0
    assert Runner(workspace, runner_temp, {**inputs, "paths": "Dockerfile\nsvc"}).run(STEPS[1:]).exit_code == 1
    # a missing path is an error (exit 2) whatever fail-on-change says; so is a bad mode
    missing = Runner(workspace, runner_temp, {**inputs, "paths": "nope", "fail-on-change": "false"}).run(STEPS[1:])
    assert missing.exit_code == 2 and missing.ran == ["Rewrite (dry run)"], missing.log
    assert Runner(workspace, runner_temp, {"mode": "apply"}).run(STEPS[1:]).exit_code == 2
