#!/usr/bin/env python3
"""Generate dockerslim_rewrite/data/apt/<release>.apt: the Debian dependency graph dslim needs.

The data lets `dockerslim_rewrite.aptdata.dropped_recommends()` compute exactly which packages
`apt-get install --no-install-recommends` leaves out for a set of requested packages:
closure(Depends + Pre-Depends + Recommends) minus closure(Depends + Pre-Depends), both recursive as
apt does with APT::Install-Recommends=true, minus what every Debian image already has.

Usage:
  scripts/gen_apt_recommends.py --release bookworm PACKAGES_FILE [PACKAGES_FILE...] [-o OUT]
  scripts/gen_apt_recommends.py --fetch bookworm [--fetch trixie ...] [--mirror URL] [--security-mirror URL]

PACKAGES_FILE is a Packages index (plain, .gz, .xz, .bz2, or .lz4 through the `lz4` tool), e.g. the
files under /var/lib/apt/lists/ after `apt-get update`. Several files (main, -updates, -security)
are merged; for a package in several of them the highest version wins, as apt's candidate does.

--fetch RELEASE takes the lists of RELEASE, RELEASE-updates and RELEASE-security from
/var/lib/apt/lists when `apt-get update` left them there (the machine's own release), otherwise
downloads dists/<suite>/main/binary-amd64/Packages.xz of each suite. The mirror base URLs are read
at run time from the `URIs:` lines of /etc/apt/sources.list.d/*.sources (the suites of the machine's
release are mapped to RELEASE, so "bookworm-security" on the security URI becomes
"trixie-security"), or given with --mirror/--security-mirror. A suite that cannot be downloaded
(e.g. no -updates yet) is skipped with a note; the main suite is required.

What is stored: the document below, written by dockerslim_rewrite.aptdata.pack (one JSON header line,
then `class`, `size` and the `dep`/`rec` groups as flat little-endian arrays, gzip'ed: every dslim
worker process loads it, and arrays load ~4x faster than nested JSON). The document:
  names      package names, sorted; a package is referred to by its index in this list
  dep, rec   per package, its Pre-Depends+Depends and its Recommends groups in field order. A group
             is the index of apt's pick, or [pick, other...] when other packages also satisfy it
             (other alternatives of "a | b", other providers of a virtual package): apt installs the
             pick only when none of them is installed or marked yet. The pick is what apt's
             MarkInstall takes: alternatives in order; within one, the package itself, then its
             providers ordered as apt's CompareProviders does (Essential, Important, higher
             Priority, then the higher cache ID, i.e. the name apt's cache met last); packages with
             a Depends nothing can satisfy are passed over; nothing installable: no edge. A group
             that the base image satisfies is left out. Version constraints are checked against
             the candidate versions (and versioned Provides); arch qualifiers (":any") are ignored.
  base       indices of the base image: Priority required packages and their Depends closure
             (Debian images have them; `apt` itself is Priority required)
  virtual    virtual package name -> index of its only provider (apt-get install VIRTUAL selects it;
             with several providers apt refuses, and so the name is unknown here)
  class      per package, an index into `classes` (see data/apt/classes.toml: the rules live there)
  classes    class name -> {"inert": bool, "what": generic reason}
  reasons    name glob -> why the package does work (from classes.toml)
  size       per package, its Installed-Size in KiB (from the Packages index; 0 when absent), so
             callers can weigh what the flag saves
"""

from __future__ import annotations

import argparse
import bz2
import fnmatch
import gzip
import lzma
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from dockerslim_rewrite.aptdata import pack  # noqa: E402  (the loader owns the file format)

DATA_DIR = ROOT / "dockerslim_rewrite" / "data" / "apt"
CLASSES = DATA_DIR / "classes.toml"
LISTS = Path("/var/lib/apt/lists")
SOURCES_DIR = Path("/etc/apt/sources.list.d")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
ARCH = "amd64"
FORMAT = 2  # the document layout (2: + size); the file on disk is aptdata.pack's format 3
PRIORITY_RANK = {"required": 0, "important": 1, "standard": 2, "optional": 3, "extra": 4}


# --------------------------------------------------------------------------- reading indexes


def read_index(path: str | Path) -> str:
    p = Path(path)
    if p.suffix == ".lz4":
        out = subprocess.run(["lz4", "-dc", str(p)], check=True, capture_output=True).stdout
        return out.decode("utf-8", "replace")
    opener = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}.get(p.suffix)
    if opener is None:
        return p.read_text(encoding="utf-8", errors="replace")
    with opener(p, "rt", encoding="utf-8", errors="replace") as fh:
        return fh.read()


def parse_index(text: str) -> list[dict[str, str]]:
    """Stanzas of a Packages index, in file order (continuation lines are not needed here)."""
    stanzas = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if not line or line[0] in " \t":
                continue
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        if "Package" in fields:
            stanzas.append(fields)
    return stanzas


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def compare_versions(a: str, b: str) -> int:
    """dpkg's version comparison (epoch:upstream-revision): <0, 0, >0."""

    def split(v: str) -> tuple[int, str, str]:
        epoch, _, rest = v.partition(":") if ":" in v else ("0", "", v)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
        return int(epoch or 0), upstream, revision

    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return ea - eb
    return _compare_part(ua, ub) or _compare_part(ra, rb)


# fields whose package names apt's cache generator meets, in the order it parses them
_ID_FIELDS = ("Pre-Depends", "Depends", "Conflicts", "Breaks", "Recommends", "Suggests", "Replaces", "Enhances", "Provides")


def merge_indexes(texts: list[str], ids: dict[str, int] | None = None) -> dict[str, dict[str, str]]:
    """Package -> fields of its candidate (highest version) over all indexes, first-seen order kept.

    ``ids`` gets every name (packages, and the names their relations mention) numbered in the order
    apt's cache generator first meets them: apt breaks ties between providers with these IDs.
    """
    packages: dict[str, dict[str, str]] = {}
    for text in texts:
        for fields in parse_index(text):
            if fields.get("Architecture", ARCH) not in (ARCH, "all"):
                continue
            if ids is not None:
                ids.setdefault(fields["Package"], len(ids))
                for key in _ID_FIELDS:
                    for group in relation(fields.get(key, "")):
                        for alt in group:
                            ids.setdefault(alt, len(ids))
            old = packages.get(fields["Package"])
            if old is None or compare_versions(fields.get("Version", "0"), old.get("Version", "0")) > 0:
                packages[fields["Package"]] = fields
    return packages


_NAME_RE = re.compile(r"^([^\s(:\[]+)")


def relation(value: str) -> list[list[str]]:
    """OR groups of a Depends-like field: [["a", "b"], ["c"]] (no versions, arch or profiles)."""
    groups = []
    for group in value.split(","):
        alts = []
        for alt in group.split("|"):
            m = _NAME_RE.match(alt.strip())
            if m:
                alts.append(m.group(1))
        if alts:
            groups.append(alts)
    return groups


# --------------------------------------------------------------------------- the graph


def load_classes(path: Path = CLASSES) -> dict:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def classify(name: str, section: str, config: dict) -> str:
    section = section.rsplit("/", 1)[-1]
    for rule in config.get("rules", []):
        if name in rule.get("except", []):
            continue
        if section in rule.get("sections", []) or any(fnmatch.fnmatchcase(name, g) for g in rule.get("names", [])):
            return rule["class"]
    return config["default"]


_ALT_RE = re.compile(r"^([^\s(:\[]+)(?::\S+)?\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^)\s]+)\s*\))?")


def relation_versioned(value: str) -> list[list[tuple[str, str | None, str | None]]]:
    """OR groups with their version constraints: [[("a", ">=", "1.0"), ("b", None, None)], ...]."""
    groups = []
    for group in value.split(","):
        alts = []
        for alt in group.split("|"):
            m = _ALT_RE.match(alt.strip())
            if m:
                alts.append((m.group(1), m.group(2), m.group(3)))
        if alts:
            groups.append(alts)
    return groups


def satisfies(version: str | None, op: str | None, wanted: str | None) -> bool:
    if op is None:
        return True
    if version is None:  # an unversioned Provides satisfies no versioned dependency
        return False
    c = compare_versions(version, wanted)
    return {"<<": c < 0, "<=": c <= 0, "<": c <= 0, "=": c == 0, ">=": c >= 0, ">": c >= 0, ">>": c > 0}[op]


def build(packages: dict[str, dict[str, str]], config: dict, release: str, ids: dict[str, int] | None = None) -> dict:
    names = sorted(packages)
    index = {name: i for i, name in enumerate(names)}
    if ids is None:
        ids = {name: i for i, name in enumerate(packages)}

    providers: dict[str, list[tuple[str, str | None]]] = {}  # virtual -> [(provider, provided version)]
    for name, fields in packages.items():
        for group in relation_versioned(fields.get("Provides", "")):
            vname, _, version = group[0]
            if name != vname:
                providers.setdefault(vname, []).append((name, version))

    def hard(name: str):
        fields = packages[name]
        return relation_versioned(fields.get("Pre-Depends", "")) + relation_versioned(fields.get("Depends", ""))

    def soft(name: str):
        return relation_versioned(packages[name].get("Recommends", ""))

    def options(alt) -> list[str]:
        """Packages (at their candidate version) that satisfy one alternative: itself, then providers."""
        vname, op, wanted = alt
        found = [vname] if vname in packages and satisfies(packages[vname].get("Version"), op, wanted) else []
        return found + [p for p, version in providers.get(vname, []) if satisfies(version, op, wanted)]

    def satisfiers(group) -> list[str]:
        found: list[str] = []
        for alt in group:
            found += [p for p in options(alt) if p not in found]
        return found

    def preference(name: str) -> tuple:
        """apt's CompareProviders among providers: Essential, Important, higher Priority, later cache ID."""
        fields = packages[name]
        return (
            fields.get("Essential") != "yes",
            fields.get("Important") != "yes",
            PRIORITY_RANK.get(fields.get("Priority", "optional"), 3),
            -ids.get(name, 0),
        )

    # apt does not pick a package with a Depends that nothing at all can satisfy
    installable = {name for name in packages if all(satisfiers(group) for group in hard(name))}
    prefer = set(config.get("base", {}).get("prefer", []))

    def choose(group, base: set[str]) -> str | None:
        """apt's pick for one OR group: None when the base image satisfies it or nothing can."""
        if any(p in base for p in satisfiers(group)):
            return None
        ordered: list[str] = []
        for alt in group:
            # CompareProviders puts the package of the dependency's own name first, then the providers
            opts = [p for p in options(alt) if p in installable and p not in ordered]
            real = [p for p in opts if p == alt[0]]
            ordered += real + sorted((p for p in opts if p != alt[0]), key=preference)
        return ordered[0] if ordered else None

    # the base image: Priority required and their Depends closure
    base: set[str] = set()
    todo = [n for n, f in packages.items() if f.get("Priority") == "required"]
    while todo:
        name = todo.pop()
        if name in base:
            continue
        base.add(name)
        for group in hard(name):
            if any(p in base for p in satisfiers(group)):
                continue
            # debootstrap: a preferred alternative, else the first real one, else apt's choice
            pick = next((alt[0] for alt in group if alt[0] in prefer), None)
            pick = pick or next((alt[0] for alt in group if alt[0] in options(alt)), None) or choose(group, base)
            if pick:
                todo.append(pick)

    dep: list[list] = []
    rec: list[list] = []
    for name in names:
        for kind, out in ((hard, dep), (soft, rec)):
            groups: list = []
            for group in kind(name):
                pick = choose(group, base)
                every = satisfiers(group)
                if not pick or name in every:  # satisfied by the base image, nothing, or itself
                    continue
                others = [s for s in every if s != pick]
                entry = [index[pick]] + sorted(index[s] for s in others) if others else index[pick]
                if entry not in groups:
                    groups.append(entry)
            out.append(groups)

    virtual = {}
    for vname in sorted(providers):
        # apt-get install VIRTUAL selects the provider only when there is exactly one
        if vname not in packages and len({p for p, _ in providers[vname]}) == 1:
            pick = choose([(vname, None, None)], set())
            if pick:
                virtual[vname] = index[pick]

    class_names = list(config["classes"])
    class_of = [class_names.index(classify(n, packages[n].get("Section", ""), config)) for n in names]
    return {
        "format": FORMAT,
        "release": release,
        "arch": ARCH,
        "doc": "Generated by scripts/gen_apt_recommends.py from Debian Packages indexes; do not edit by hand.",
        "classes": {c: {"inert": bool(config["classes"][c]["inert"]), "what": config["classes"][c]["what"]} for c in class_names},
        "reasons": config.get("reasons", {}),
        "names": names,
        "base": sorted(index[n] for n in base),
        "virtual": virtual,
        "class": class_of,
        "dep": dep,
        "rec": rec,
        "size": [installed_size(packages[n]) for n in names],
    }


def installed_size(fields: dict[str, str]) -> int:
    """Installed-Size in KiB (dpkg's estimate of the unpacked size); 0 when absent or malformed."""
    value = fields.get("Installed-Size", "").strip()
    return int(value) if value.isdigit() else 0


def write(document: dict, out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pack(document))  # byte-identical for the same input
    return out.stat().st_size


# --------------------------------------------------------------------------- fetching


def system_sources() -> list[tuple[str, list[str]]]:
    """(URI, suites) of the deb822 sources of this machine."""
    found = []
    for path in sorted(SOURCES_DIR.glob("*.sources")):
        for stanza in path.read_text(encoding="utf-8").split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[0] in " \t":
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and fields.get("uris"):
                found.append((fields["uris"][0], fields.get("suites", [])))
    return found


def local_lists(suite: str) -> list[Path]:
    return sorted(LISTS.glob(f"*_dists_{suite}_main_binary-{ARCH}_Packages*"))


def download(url: str) -> bytes:
    import ssl

    context = ssl.create_default_context(cafile=CA_BUNDLE) if Path(CA_BUNDLE).exists() else None
    with urllib.request.urlopen(url, timeout=120, context=context) as resp:
        return resp.read()


def fetch(release: str, mirror: str | None, security: str | None) -> list[str]:
    """Packages index texts of RELEASE (main suite first, then -updates and -security)."""
    suites = [release, f"{release}-updates", f"{release}-security"]
    if all(local_lists(s) for s in suites[:1]):
        texts = []
        for suite in suites:
            for path in local_lists(suite):
                print(f"  {suite}: {path}", file=sys.stderr)
                texts.append(read_index(path))
        return texts
    bases: dict[str, str] = {}
    for uri, srcs in system_sources():
        for suite in srcs:
            suffix = suite.partition("-")[2]
            bases.setdefault(f"{release}-{suffix}" if suffix else release, uri)
    if mirror:
        bases[release] = bases[f"{release}-updates"] = mirror
    if security:
        bases[f"{release}-security"] = security
    bases.setdefault(f"{release}-updates", bases.get(release, ""))
    if not bases.get(release):
        raise SystemExit("no mirror: give --mirror URL (no URIs line in /etc/apt/sources.list.d/*.sources)")
    texts = []
    for suite in suites:
        url = f"{bases[suite].rstrip('/')}/dists/{suite}/main/binary-{ARCH}/Packages.xz"
        try:
            data = download(url)
        except OSError as exc:
            if suite == release:
                raise
            print(f"  {suite}: skipped ({exc})", file=sys.stderr)
            continue
        print(f"  {suite}: {len(data)} bytes from {url}", file=sys.stderr)
        texts.append(lzma.decompress(data).decode("utf-8", "replace"))
    return texts


# --------------------------------------------------------------------------- CLI


def generate(release: str, texts: list[str], out: Path | None = None, classes: Path = CLASSES) -> Path:
    ids: dict[str, int] = {}
    packages = merge_indexes(texts, ids)
    document = build(packages, load_classes(classes), release, ids)
    out = out or DATA_DIR / f"{release}.apt"
    size = write(document, out)
    inert = sum(document["classes"][c]["inert"] for c in [list(document["classes"])[i] for i in document["class"]])
    print(
        f"{release}: {len(document['names'])} packages, {len(document['base'])} in the base image, "
        f"{sum(map(len, document['dep']))} depends + {sum(map(len, document['rec']))} recommends groups, "
        f"{inert} inert, {sum(document['size']) // 1024} MiB installed in all -> {out} ({size} bytes)",
        file=sys.stderr,
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("packages", nargs="*", help="Packages index file(s) of --release")
    parser.add_argument("--release", help="release name of the PACKAGES_FILEs (bookworm, trixie, ...)")
    parser.add_argument("--fetch", action="append", default=[], metavar="RELEASE", help="get the indexes of RELEASE (repeatable)")
    parser.add_argument("--mirror", help="Debian mirror base URL (default: from /etc/apt/sources.list.d)")
    parser.add_argument("--security-mirror", help="Debian security mirror base URL (default: from /etc/apt/sources.list.d)")
    parser.add_argument("--classes", default=str(CLASSES), help="classification rules (TOML)")
    parser.add_argument("-o", "--output", help="output file (only with --release)")
    args = parser.parse_args(argv)
    if args.release and args.packages:
        texts = [read_index(p) for p in args.packages]
        generate(args.release, texts, Path(args.output) if args.output else None, Path(args.classes))
    elif args.fetch and not args.packages:
        for release in args.fetch:
            print(f"{release}:", file=sys.stderr)
            generate(release, fetch(release, args.mirror, args.security_mirror), classes=Path(args.classes))
    else:
        parser.error("give --release NAME PACKAGES_FILE... or --fetch RELEASE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
