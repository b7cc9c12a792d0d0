#!/usr/bin/env python3
"""Regenerate dockerslim_rewrite/data/apt_recommends.json from a Debian Packages index.

Usage: scripts/gen_apt_recommends.py PACKAGES_FILE [PACKAGES_FILE...] [-o OUT]

PACKAGES_FILE is a Packages index (plain, .gz, .xz, .bz2, or .lz4 through the `lz4` tool), e.g. one
under /var/lib/apt/lists/ after `apt-get update`. For every package it reads the Recommends of the
package itself and of the "carrier" libraries it depends on (libcurl recommends ca-certificates for
every program linked with it) and keeps only the recommends in the curated LOAD_BEARING list below:
packages whose absence under `--no-install-recommends` breaks a build or a program at run time. A
recommend that the package already pulls in through Depends is dropped (it is installed anyway).
Packages from sections that do not show up in container images (games, desktops) are left out to
keep the table focused. CURATED_EXTRA adds pairs seen in other releases than the index at hand.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import lzma
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "dockerslim_rewrite" / "data" / "apt_recommends.json"

# recommended package -> why its absence breaks things
LOAD_BEARING = {
    "ca-certificates": "without the CA bundle every https:// download (TLS certificate check) fails at run time",
    "build-essential": "pip falls back to building source distributions, which needs a C compiler and make",
    "python3-dev": "building C extensions from source distributions needs the Python headers",
    "dirmngr": "gpg --recv-keys and other keyserver fetches need dirmngr",
}
# libraries whose Recommends matter to every package that depends on them
CARRIERS = {"libcurl4", "libcurl3-gnutls", "libcurl3-nss", "libcurl4t64", "libcurl3t64-gnutls"}
# sections worth listing (what shows up in container images)
SECTIONS = {
    "admin", "database", "devel", "golang", "httpd", "interpreters", "java", "javascript", "libs",
    "net", "perl", "php", "python", "ruby", "rust", "utils", "vcs", "web",
}
# pairs from releases other than the one indexed (kept when regenerating)
CURATED_EXTRA = {
    "gnupg": {"dirmngr": "Debian stretch era: gnupg only Recommends dirmngr; keyserver fetches fail without it"},
    "gnupg2": {"dirmngr": "Debian stretch era: gnupg2 only Recommends dirmngr; keyserver fetches fail without it"},
}


def read_index(path: str) -> str:
    p = Path(path)
    if p.suffix == ".lz4":
        return subprocess.run(["lz4", "-dc", str(p)], check=True, capture_output=True).stdout.decode("utf-8", "replace")
    opener = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}.get(p.suffix, open)
    with opener(p, "rt", encoding="utf-8", errors="replace") as fh:
        return fh.read()


def parse_index(text: str) -> dict[str, dict[str, str]]:
    packages: dict[str, dict[str, str]] = {}
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if not line or line[0] in " \t":
                continue
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        if "Package" in fields:
            packages.setdefault(fields["Package"], fields)
    return packages


def relation(value: str) -> list[str]:
    """Package names of a Depends/Recommends field (first alternative, no versions or arch)."""
    names = []
    for group in value.split(","):
        first = group.split("|")[0].strip()
        if first:
            names.append(re.split(r"[\s(:]", first)[0])
    return names


def generate(packages: dict[str, dict[str, str]]) -> dict:
    providers: dict[str, str] = {}
    for name, fields in packages.items():
        for virtual in relation(fields.get("Provides", "")):
            providers.setdefault(virtual, name)

    def depends(name: str) -> list[str]:
        fields = packages.get(name) or packages.get(providers.get(name, ""), {})
        return relation(fields.get("Depends", "")) + relation(fields.get("Pre-Depends", ""))

    def closure(name: str) -> set[str]:
        seen, todo = {name}, [name]
        while todo:
            for dep in depends(todo.pop()):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    table: dict[str, dict[str, str]] = {}
    for name in sorted(packages):
        fields = packages[name]
        section = fields.get("Section", "").rsplit("/", 1)[-1]
        if section not in SECTIONS or name.endswith(("-dev", "-dbg", "-doc")):
            continue
        if name.startswith("lib") and name not in CARRIERS:
            continue
        wanted: dict[str, str] = {}
        for rec in relation(fields.get("Recommends", "")):
            if rec in LOAD_BEARING:
                wanted[rec] = f"{name} recommends {rec}: {LOAD_BEARING[rec]}"
        for dep in depends(name):
            if dep in CARRIERS:
                for rec in relation(packages.get(dep, {}).get("Recommends", "")):
                    if rec in LOAD_BEARING and rec not in wanted:
                        wanted[rec] = f"{name} uses {dep}, which recommends {rec}: {LOAD_BEARING[rec]}"
        if wanted:
            installed = closure(name)
            wanted = {rec: why for rec, why in wanted.items() if rec not in installed}
        if wanted:
            table[name] = wanted
    for name, extra in CURATED_EXTRA.items():
        for rec, why in extra.items():
            table.setdefault(name, {}).setdefault(rec, why)
    return dict(sorted(table.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="+", help="Debian Packages index file(s)")
    parser.add_argument("-o", "--output", default=str(OUT))
    args = parser.parse_args(argv)
    packages: dict[str, dict[str, str]] = {}
    for path in args.packages:
        for name, fields in parse_index(read_index(path)).items():
            packages.setdefault(name, fields)
    table = generate(packages)
    document = {
        "_doc": "Load-bearing Recommends: package -> {recommended package: reason}. "
        "Generated by scripts/gen_apt_recommends.py from a Debian Packages index; do not edit by hand.",
        "load_bearing": LOAD_BEARING,
        "packages": table,
    }
    Path(args.output).write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"{len(table)} packages with load-bearing recommends -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
