"""Shared test helpers: the official parser oracle and fixture discovery."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dockerslim_rewrite import compiled_build  # noqa: E402  (after the checkout is on the path)

#: for a test that patches a function or class inside a module that the compiled build (mypyc,
#: scripts/compiled_build.sh) compiles: compiled code calls its own functions directly, and its classes
#: cannot be patched
pure_python_only = pytest.mark.skipif(compiled_build(), reason="patches the inside of a module the compiled build compiles")


@pytest.fixture(autouse=True)
def _own_result_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with an empty result cache of its own (never the user's ~/.cache/dslim)."""
    monkeypatch.setenv("DSLIM_CACHE_DIR", str(tmp_path_factory.mktemp("dslim-cache")))
    monkeypatch.delenv("DSLIM_NO_CACHE", raising=False)


def oracle_parse(text: str):
    """Parse with BuildKit's own parser (the `dockerfile` package); raises on invalid input."""
    import dockerfile

    return dockerfile.parse_string(text)


def run_bodies(data: bytes) -> list[tuple[int, str]]:
    """(line, shell text) of every RUN a POSIX shell runs: the joined body, or a ``RUN <<EOF`` script."""
    from dockerslim_rewrite.model import parse
    from dockerslim_rewrite.postconditions import shell_body

    found = []
    for ins in parse(data).instructions:
        body = shell_body(ins)
        if body is not None and body.strip():
            found.append((ins.line, body))
    return found


def shell_syntax_errors(data: bytes) -> list[str]:
    """``bash -n`` and ``dash -n`` over every RUN body: what a real shell says, not tree-sitter."""
    import subprocess

    errors = []
    for line, body in run_bodies(data):
        for shell in ("bash", "dash"):
            proc = subprocess.run([shell, "-n", "-c", body], capture_output=True, text=True)
            if proc.returncode and not (shell == "dash" and "bash" in body):
                errors.append(f"line {line}: {shell} -n: {proc.stderr.strip()}")
    return errors


def fixture_cases(transform_id: str | None = None) -> list[Path]:
    """Every fixtures/<id>/<case>/ folder holding an in.Dockerfile."""
    pattern = f"{transform_id}/*/in.Dockerfile" if transform_id else "*/*/in.Dockerfile"
    return sorted(p.parent for p in FIXTURES.glob(pattern))


def case_options(case: Path):
    """Options for a fixture case: select its transform, plus overrides from options.json."""
    from dockerslim_rewrite.transform import Options

    overrides = {}
    if (case / "options.json").exists():
        overrides = json.loads((case / "options.json").read_text())
    overrides.setdefault("select", [case.parent.name])
    for key in ("select", "ignore"):
        if key in overrides:
            overrides[key] = frozenset(overrides[key])
    return Options(**overrides)


def case_snapshot(case: Path):
    """The build-context Snapshot of a fixture (its context/ folder), or an empty one."""
    from dockerslim_rewrite.buildcontext import Snapshot, scan_context

    context = case / "context"
    if context.is_dir():
        return scan_context(context, None)
    return Snapshot()


@pytest.fixture
def oracle():
    return oracle_parse
