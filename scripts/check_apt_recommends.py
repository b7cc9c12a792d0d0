#!/usr/bin/env python3
"""Compare dockerslim_rewrite.aptdata.dropped_recommends() with apt's own simulation.

Usage: scripts/check_apt_recommends.py [--release bookworm] [-v] [PACKAGE[,PACKAGE...] ...]

An argument with commas is one install of several packages (apt-get install -s git,curl -> git curl).

For each package (default: a fixed list of ~20 common ones) apt-get simulates two installs on a
clean Debian image, `apt-get install -s PKG` and `apt-get install -s --no-install-recommends PKG`;
what the first installs and the second does not is what the flag drops. That set is compared with
keep + inert of dropped_recommends(release, [PKG]).

A clean image: apt reads a temporary dpkg status file (-o Dir::State::status=...) that lists only
the base image of the data (Priority required packages and their Depends, at their candidate
versions, taken from the apt lists of this machine), so the packages installed on this machine do
not change the answer. Needs `apt-get update` first and the release of this machine's apt lists;
apt-get -s only simulates, it changes nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dockerslim_rewrite import aptdata  # noqa: E402 - after the path insert

DEFAULT = [
    "git",
    "curl",
    "wget",
    "gnupg",
    "gpg",
    "imagemagick",
    "python3-pip",
    "build-essential",
    "postgresql-15",
    "libvulkan1",
    "nodejs",
    "openjdk-17-jdk-headless",
    "vim",
    "procps",
    "tzdata",
    "locales",
    "ffmpeg",
    "libpq-dev",
    "default-libmysqlclient-dev",
    "unzip",
]
STATUS_FIELDS = (
    "Package",
    "Priority",
    "Section",
    "Installed-Size",
    "Maintainer",
    "Architecture",
    "Multi-Arch",
    "Version",
    "Essential",
    "Provides",
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Breaks",
    "Conflicts",
    "Replaces",
    "Description",
)


def _generator():
    spec = importlib.util.spec_from_file_location("gen_apt_recommends", ROOT / "scripts" / "gen_apt_recommends.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def status_file(release: str, path: Path) -> None:
    gen = _generator()
    packages = gen.merge_indexes(gen.fetch(release, None, None))
    graph = aptdata._graph(release)
    stanzas = []
    for i in sorted(graph.base):
        fields = packages[graph.names[i]]
        lines = [f"{k}: {fields[k]}" for k in STATUS_FIELDS if k in fields and k != "Description"]
        lines.insert(1, "Status: install ok installed")
        lines.append("Description: base image")
        stanzas.append("\n".join(lines))
    path.write_text("\n\n".join(stanzas) + "\n", encoding="utf-8")


def simulate(status: Path, packages: list[str], recommends: bool) -> set[str]:
    cmd = [
        "apt-get",
        "install",
        "-s",
        "-q",
        "-o",
        f"Dir::State::status={status}",
        "-o",
        f"APT::Install-Recommends={'true' if recommends else 'false'}",
        *packages,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "LC_ALL": "C"}).stdout
    return {line.split()[1].split(":")[0] for line in out.splitlines() if line.startswith("Inst ")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", default=DEFAULT)
    parser.add_argument("--release", default="bookworm")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    exact = total_apt = total_ours = total_common = 0
    with tempfile.TemporaryDirectory() as tmp:
        status = Path(tmp) / "status"
        status_file(args.release, status)
        skipped = []
        for pkg in args.packages:
            try:
                full = simulate(status, pkg.split(","), True)
                hard = simulate(status, pkg.split(","), False)
            except subprocess.CalledProcessError as exc:
                print(f"skip {pkg:28} apt-get fails: {exc.stderr.strip().splitlines()[-1:]}")
                skipped.append(pkg)
                continue
            apt = full - hard
            d = aptdata.dropped_recommends(args.release, pkg.split(","))
            ours = set(d.keep) | set(d.inert)
            common = apt & ours
            exact += apt == ours
            total_apt += len(apt)
            total_ours += len(ours)
            total_common += len(common)
            mark = "ok " if apt == ours else "DIFF"
            print(
                f"{mark} {pkg:28} apt drops {len(apt):3}, we say {len(ours):3}, same {len(common):3}"
                f" (keep {len(d.keep)}, inert {len(d.inert)})"
            )
            if apt != ours:
                print(f"       only apt: {' '.join(sorted(apt - ours)) or '-'}")
                print(f"       only us:  {' '.join(sorted(ours - apt)) or '-'}")
            if args.verbose:
                for name, why in sorted(d.keep.items()):
                    print(f"       keep {name}: {why}")
                print(f"       inert: {' '.join(d.inert) or '-'}")
    n = len(args.packages) - len(skipped)
    print(
        f"\n{exact}/{n} packages exactly equal; dropped packages: apt {total_apt}, ours {total_ours}, "
        f"in both {total_common} (recall {total_common / max(total_apt, 1):.1%}, "
        f"precision {total_common / max(total_ours, 1):.1%})"
    )
    return 0 if exact == n else 1


if __name__ == "__main__":
    sys.exit(main())
