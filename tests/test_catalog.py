"""catalog: image families, tag grammar and variant naming (same version, same distro release)."""

import pytest

from dockerslim_rewrite.catalog import (
    family_of,
    find_variant,
    full_only_tools,
    load_catalog,
    saving_mb,
    size_mb,
    slim_variant,
    tool_group_of,
)
from dockerslim_rewrite.imageref import parse_image_ref as ref


@pytest.mark.parametrize(
    "text, slim",
    [
        ("python:3.12", "python:3.12-slim"),
        ("python:3.12.3", "python:3.12.3-slim"),
        ("python:3.13.0rc1", "python:3.13.0rc1-slim"),
        ("python:3.12-bookworm", "python:3.12-slim-bookworm"),
        ("python", "python:slim"),
        ("python:latest", "python:slim"),
        ("python:bookworm", "python:slim-bookworm"),
        ("docker.io/library/python:3.11", "docker.io/library/python:3.11-slim"),
        ("node:20", "node:20-slim"),
        ("node:20.11.1-bookworm", "node:20.11.1-bookworm-slim"),
        ("node:lts", "node:lts-slim"),
        ("node:iron-bullseye", "node:iron-bullseye-slim"),
        ("ruby:3.3-bookworm", "ruby:3.3-slim-bookworm"),
        ("rust:1.77", "rust:1.77-slim"),
        ("perl:5.38-threaded", "perl:5.38-slim-threaded"),
        ("perl:5.38.2-bookworm", "perl:5.38.2-slim-bookworm"),
        ("eclipse-temurin:21-jdk", "eclipse-temurin:21-jre"),
        ("eclipse-temurin:17.0.10_7-jdk-jammy", "eclipse-temurin:17.0.10_7-jre-jammy"),
        ("openjdk:11", "openjdk:11-jdk-slim"),
        ("openjdk:8-jre", "openjdk:8-jre-slim"),
        ("openjdk:17-jdk-bullseye", "openjdk:17-jdk-slim-bullseye"),
        ("debian:bookworm", "debian:bookworm-slim"),
        ("debian:bookworm-20240311", "debian:bookworm-20240311-slim"),
        ("debian:12.5", "debian:12.5-slim"),
        ("debian:latest", "debian:stable-slim"),
        ("buildpack-deps:bookworm", "debian:bookworm-slim"),
        ("buildpack-deps:bullseye-scm", "debian:bullseye-slim"),
        ("buildpack-deps:jammy-curl", "ubuntu:jammy"),
        ("rockylinux:9", "rockylinux:9-minimal"),
        ("almalinux:8.9", "almalinux:8.9-minimal"),
        ("registry.access.redhat.com/ubi9/ubi:9.3", "registry.access.redhat.com/ubi9/ubi-minimal:9.3"),
        ("redhat/ubi8:8.9", "redhat/ubi8-minimal:8.9"),
    ],
)
def test_slim_variant_keeps_version(text, slim):
    v = find_variant(ref(text))
    assert v is not None and v.new_text == slim


@pytest.mark.parametrize(
    "text",
    [
        "python:3.12-slim",
        "python:3.12-alpine3.19",
        "node:20-bookworm-slim",
        "golang:1.22",
        "php:8.3-apache",
        "ubuntu:22.04",
        "alpine:3.19",
        "openjdk:17",
        "maven:3.9-eclipse-temurin-21",
        "centos:7",
        "python:3.12@sha256:" + "a" * 64,
        "example.com/team/python:3.12",
        "mcr.microsoft.com/dotnet/sdk:8.0",
        "python:3.12-windowsservercore",
        "eclipse-temurin:21-jre",
        "${BASE}",
        "${REG}/python:3.12",
    ],
)
def test_no_slim_variant(text):
    assert find_variant(ref(text)) is None


@pytest.mark.parametrize(
    "text, alpine",
    [
        ("python:3.12", "python:3.12-alpine"),
        ("python:3.12-slim", "python:3.12-alpine"),
        ("node:lts", "node:lts-alpine"),
        ("golang:1.22", "golang:1.22-alpine"),
        ("php:8.3-fpm", "php:8.3-fpm-alpine"),
        ("eclipse-temurin:21-jre", "eclipse-temurin:21-jre-alpine"),
        ("mcr.microsoft.com/dotnet/aspnet:8.0", "mcr.microsoft.com/dotnet/aspnet:8.0-alpine"),
    ],
)
def test_alpine_variant(text, alpine):
    assert find_variant(ref(text), "alpine").new_text == alpine


def test_distro_specific_tags_have_no_alpine_variant():
    assert find_variant(ref("python:3.12-bookworm"), "alpine") is None
    assert find_variant(ref("perl:5.38"), "alpine") is None


def test_arg_tags():
    v = find_variant(ref("python:${PYTHON_VERSION}"))
    assert v.new_text == "python:${PYTHON_VERSION}-slim" and v.assumed_args == ("PYTHON_VERSION",)
    v = find_variant(ref("python:${PYTHON_VERSION}"), arg_values={"PYTHON_VERSION": "3.12"})
    assert v.new_text == "python:${PYTHON_VERSION}-slim" and v.assumed_args == ()
    # a default holding version AND distro cannot take a "-slim" suffix
    assert find_variant(ref("python:${PYTHON_VERSION}"), arg_values={"PYTHON_VERSION": "3.12-bookworm"}) is None
    v = find_variant(ref("node:${NODE}-${DISTRO}"), arg_values={"NODE": "20", "DISTRO": "bookworm"})
    assert v.new_text == "node:${NODE}-${DISTRO}-slim"
    # ARG in literal text of the tag: no rule can keep it whole
    assert find_variant(ref("python:3.${MINOR}"), arg_values={"MINOR": "12"}) is None
    assert slim_variant(ref("python:${V}")) is None
    assert slim_variant(ref("python:3.12"))[0] == "3.12-slim"


def test_aliases():
    r = ref("registry.example.com/mirror/python:3.12", {"registry.example.com/mirror/python": "python"})
    assert find_variant(r).new_text == "registry.example.com/mirror/python:3.12-slim"
    r = ref("registry.example.com/hub/buildpack-deps:bookworm", {"registry.example.com/hub": "library"})
    assert find_variant(r).new_text == "registry.example.com/hub/debian:bookworm-slim"
    # exact alias to a differently named path: renaming would be a guess
    r = ref("registry.example.com/mirror/bpd:bookworm", {"registry.example.com/mirror/bpd": "buildpack-deps"})
    assert find_variant(r) is None


def test_families_and_tools():
    cat = load_catalog()
    for fid in [
        "python",
        "node",
        "ruby",
        "golang",
        "rust",
        "php",
        "perl",
        "eclipse-temurin",
        "openjdk",
        "maven",
        "dotnet-sdk",
        "dotnet-runtime",
        "debian",
        "buildpack-deps",
        "ubuntu",
        "rhel-like",
        "centos",
        "alpine",
    ]:
        assert fid in cat.families
    assert family_of(ref("gradle:8-jdk21")).build_only
    assert family_of(ref("mcr.microsoft.com/dotnet/sdk:8.0")).build_only
    assert "compiler" in full_only_tools("python") and "curl" in full_only_tools("python")
    assert "compiler" not in full_only_tools("rust")  # rust:slim keeps gcc (rustc needs a linker)
    assert tool_group_of("/usr/bin/gcc").name == "compiler"
    assert tool_group_of("curl").install == ("curl",)
    assert tool_group_of("ls") is None
    assert size_mb("python", "slim") < size_mb("python", "full")
    assert saving_mb("python", "slim") > 500
    assert saving_mb("golang", "slim") is None
    assert cat.meta["sizes_taken"]


def test_small_tags():
    assert family_of(ref("python:3.12-slim")).is_small("3.12-slim")
    assert not family_of(ref("python:3.12")).is_small("3.12")
