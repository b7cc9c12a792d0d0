"""Tests for dockerslim_rewrite.imageref: parsing and re-rendering FROM references."""

import pytest

from dockerslim_rewrite.imageref import find_vars, parse_image_ref


@pytest.mark.parametrize(
    "text, registry, registry_written, path, repository, tag, digest, has_args",
    [
        ("python", "docker.io", None, "python", "python", None, None, False),
        ("python:3.12", "docker.io", None, "python", "python", "3.12", None, False),
        ("library/python:3.12-slim", "docker.io", None, "library/python", "python", "3.12-slim", None, False),
        ("docker.io/library/python:3.12", "docker.io", "docker.io", "library/python", "python", "3.12", None, False),
        ("docker.io/python:3.12", "docker.io", "docker.io", "python", "python", "3.12", None, False),
        ("index.docker.io/library/node:20", "docker.io", "index.docker.io", "library/node", "node", "20", None, False),
        ("Python:3.12", "docker.io", None, "Python", "python", "3.12", None, False),
        ("bitnami/python:3.12", "docker.io", None, "bitnami/python", "bitnami/python", "3.12", None, False),
        ("ghcr.io/acme/python:3.12", "ghcr.io", "ghcr.io", "acme/python", "acme/python", "3.12", None, False),
        ("localhost:5000/python:3.12", "localhost:5000", "localhost:5000", "python", "python", "3.12", None, False),
        ("localhost:5000/python", "localhost:5000", "localhost:5000", "python", "python", None, None, False),
        ("localhost/python:3", "localhost", "localhost", "python", "python", "3", None, False),
        ("python@sha256:" + "a" * 64, "docker.io", None, "python", "python", None, "sha256:" + "a" * 64, False),
        ("python:3.12@sha256:" + "b" * 64, "docker.io", None, "python", "python", "3.12", "sha256:" + "b" * 64, False),
        ("python:${PYTHON_VERSION}", "docker.io", None, "python", "python", "${PYTHON_VERSION}", None, True),
        ("python:${PY:-3.12}-bookworm", "docker.io", None, "python", "python", "${PY:-3.12}-bookworm", None, True),
        ("python:$PY", "docker.io", None, "python", "python", "$PY", None, True),
        ("${BASE_IMAGE}", "docker.io", None, "${BASE_IMAGE}", "${BASE_IMAGE}", None, None, True),
        ("$BASE", "docker.io", None, "$BASE", "$BASE", None, None, True),
        ("${REGISTRY}/python:3.12", None, "${REGISTRY}", "python", "python", "3.12", None, True),
        ("${BASE:-python:3.12}", "docker.io", None, "${BASE:-python:3.12}", "${BASE:-python:3.12}", None, None, True),
    ],
)
def test_parse(text, registry, registry_written, path, repository, tag, digest, has_args):
    ref = parse_image_ref(text)
    assert (ref.registry, ref.registry_written, ref.path, ref.repository, ref.tag, ref.digest, ref.has_args) == (
        registry,
        registry_written,
        path,
        repository,
        tag,
        digest,
        has_args,
    )


def test_whitespace_and_empty():
    assert parse_image_ref("  python:3  ").tag == "3"
    with pytest.raises(ValueError):
        parse_image_ref("   ")


def test_whole_arg_and_tag_args():
    assert parse_image_ref("${BASE_IMAGE}").is_whole_arg
    assert parse_image_ref("$BASE").is_whole_arg
    assert not parse_image_ref("python:${V}").is_whole_arg
    assert parse_image_ref("python:${V}").tag_has_args
    assert not parse_image_ref("python:${V}").name_has_args
    assert parse_image_ref("${REG}/python:3").name_has_args
    assert not parse_image_ref("python:3").tag_has_args


def test_effective_tag_and_name():
    assert parse_image_ref("python").effective_tag == "latest"
    assert parse_image_ref("ghcr.io/acme/tools/python:1").name == "python"


@pytest.mark.parametrize(
    "text, new_tag, expected",
    [
        ("python:3.12", "3.12-slim", "python:3.12-slim"),
        ("python", "slim", "python:slim"),
        ("docker.io/library/python:3.12", "3.12-slim", "docker.io/library/python:3.12-slim"),
        ("library/python:3.12", "3.12-slim", "library/python:3.12-slim"),
        ("registry.example.com/mirror/python:3.12", "3.12-slim", "registry.example.com/mirror/python:3.12-slim"),
        ("localhost:5000/node:20", "20-slim", "localhost:5000/node:20-slim"),
        ("python:${PYTHON_VERSION}", "${PYTHON_VERSION}-slim", "python:${PYTHON_VERSION}-slim"),
        ("${REGISTRY}/python:3.12", "3.12-slim", "${REGISTRY}/python:3.12-slim"),
    ],
)
def test_with_tag(text, new_tag, expected):
    assert parse_image_ref(text).with_tag(new_tag) == expected


def test_with_tag_refuses_digest():
    with pytest.raises(ValueError):
        parse_image_ref("python:3.12@sha256:" + "c" * 64).with_tag("3.12-slim")


def test_aliases_exact_and_prefix():
    aliases = {
        "registry.example.com/mirror/python": "python",
        "mirror.corp.example:8443/dockerhub": "library",
        "registry.example.com/base/": "",
    }
    ref = parse_image_ref("registry.example.com/mirror/python:3.12", aliases)
    assert (ref.repository, ref.registry, ref.aliased) == ("python", "docker.io", True)
    assert ref.with_tag("3.12-slim") == "registry.example.com/mirror/python:3.12-slim"
    ref = parse_image_ref("mirror.corp.example:8443/dockerhub/node:20", aliases)
    assert (ref.repository, ref.aliased) == ("node", True)
    ref = parse_image_ref("registry.example.com/base/ruby:3.3", aliases)
    assert ref.repository == "ruby"
    # Not a whole-component prefix: no alias.
    ref = parse_image_ref("registry.example.com/mirror/python2:3", aliases)
    assert (ref.repository, ref.registry, ref.aliased) == ("mirror/python2", "registry.example.com", False)


def test_private_registry_without_alias_is_not_official():
    ref = parse_image_ref("registry.example.com/mirror/python:3.12")
    assert ref.registry == "registry.example.com"
    assert ref.repository == "mirror/python"


def test_find_vars():
    assert find_vars("a${B:-x}c$D") == [(1, 8, "B"), (9, 11, "D")]
