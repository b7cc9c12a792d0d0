"""What ``apt-get install --no-install-recommends`` leaves out, from Debian's dependency graph.

The data (``data/apt/<release>.apt``, made by ``scripts/gen_apt_recommends.py`` from Debian's
Packages indexes, stored as ``pack`` writes it) is the resolved Depends/Pre-Depends and Recommends
graph of a release. For the packages of one ``apt-get install``, the packages the flag drops are::

    closure(Depends + Recommends) - closure(Depends) - base image

computed recursively as apt does with ``APT::Install-Recommends=true`` (recommends of recommends
too). The base image is what every Debian image has (Priority required and their Depends). Each
dropped package is "inert" (documentation, translations, shell completion, ...) or does work (the
caller should add it back or review), by classes that ``data/apt/classes.toml`` defines. The
Installed-Size of each package (KiB, from the Packages index) weighs what dropping them saves.

Pure functions: the only I/O is reading the packaged data, lazily and once per release.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from itertools import accumulate

__all__ = ["Dropped", "dropped_recommends", "known_releases", "pack", "unpack"]

_SUFFIX = ".apt"
_FORMAT = 3  # 3: packed (pack); 2 was the generator's nested JSON document
#: the per-package and per-group fields stored as arrays, in file order, with their array typecodes
_ARRAYS = (
    ("names", "B"),  # sorted package names, UTF-8, one after the other (see _Names)
    ("name_lengths", "B"),  # their lengths in bytes (lengths compress far better than offsets)
    ("virtual_names", "B"),  # virtual package names with one provider, sorted
    ("virtual_lengths", "B"),
    ("virtual_pick", "i"),  # the provider of each
    ("class", "B"),
    ("size", "I"),
    ("dep_start", "I"),
    ("dep_codes", "i"),
    ("rec_start", "I"),
    ("rec_codes", "i"),
    ("alt_start", "I"),
    ("alt_packages", "i"),
)
# apt-get install arguments: name[:arch][=version | /release], or a trailing +/- action
_REQUEST_RE = re.compile(r"^([a-z0-9][a-z0-9+.-]*?)(?::[a-z0-9-]+)?(?:[=/].*)?$")


@dataclass
class Dropped:
    """Packages ``--no-install-recommends`` drops for one install.

    ``keep``: package -> one-line reason why it does work (add it back, or review).
    ``inert``: dropped packages that are harmless to lose in a container.
    ``unknown``: requested packages not in the release's data (the flag's effect is not known).
    ``explicit``: the packages of ``keep`` to add to the install: the rest are their Depends.
    ``inert_kib`` / ``keep_kib``: total Installed-Size (KiB, as the Packages index says; apt's
    "disk space" figure adds up the same) of ``inert`` / of ``keep``. ``inert_kib`` is what the
    flag saves once the ``keep`` packages are added back.
    """

    keep: dict[str, str] = field(default_factory=dict)
    inert: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    explicit: list[str] = field(default_factory=list)  # the fewest of ``keep`` to name so apt installs all of it
    explicit_complete: bool = True  # False: the work stopped past the caller's limit (see dropped_recommends)
    inert_kib: int = 0
    keep_kib: int = 0


def _data_dir():
    return resources.files("dockerslim_rewrite.data").joinpath("apt")


@cache
def known_releases() -> list[str]:
    """Releases with data, sorted (e.g. ``["bookworm", "trixie"]``)."""
    return sorted(p.name[: -len(_SUFFIX)] for p in _data_dir().iterdir() if p.name.endswith(_SUFFIX))


class _Names(Sequence[str]):
    """Sorted strings kept as one UTF-8 blob and their end offsets, found by bisection.

    A release's 63,000 package names (and 34,000 virtual ones) as str objects, with dicts to find
    them, cost ~12 MB in every worker process of a run; this costs ~1.5 MB.
    """

    __slots__ = ("blob", "ends")

    def __init__(self, blob: bytes, ends: array) -> None:
        self.blob, self.ends = blob, ends

    @classmethod
    def of(cls, names: list[str]) -> _Names:
        if names != sorted(names):
            raise ValueError("names must be sorted")
        ends, at = array("I"), 0
        encoded = [n.encode() for n in names]
        for n in encoded:
            at += len(n)
            ends.append(at)
        return cls(b"".join(encoded), ends)

    @classmethod
    def from_lengths(cls, blob: bytes, lengths: array) -> _Names:
        return cls(blob, array("I", accumulate(lengths)))

    def lengths(self) -> array:
        """Each name's length in bytes (at most 255: Debian package names are far shorter)."""
        return array("B", (end - start for start, end in zip([0, *self.ends], self.ends)))

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return self.blob[self.ends[i - 1] if i else 0 : self.ends[i]].decode()

    def position(self, name: str) -> int | None:
        k = bisect_left(self, name)
        return k if k < len(self) and self[k] == name else None


@dataclass(frozen=True)
class _Graph:
    """One release's graph. The Depends and Recommends groups are flat arrays, not lists of ints:
    63,000 packages as Python lists cost ~20 MB per release in every worker process of a run.

    A group code >= 0 is a package; a code < 0 is an OR group, alternatives ``-code - 1``.
    """

    names: _Names
    base: frozenset[int]
    virtual_names: _Names  # virtual packages with one provider
    virtual_pick: array  # ... and that provider
    klass: list[str]
    inert: frozenset[str]  # inert class names
    what: dict[str, str]  # class name -> generic reason
    reasons: list[tuple[str, str]]  # (name glob, reason)
    dep_start: array  # package i's Depends groups are dep_codes[dep_start[i]:dep_start[i + 1]]
    dep_codes: array
    rec_start: array  # the same for Recommends
    rec_codes: array
    alt_start: array  # OR group k's alternatives are alt_packages[alt_start[k]:alt_start[k + 1]]
    alt_packages: array
    size: array  # Installed-Size in KiB
    #: decoded groups of the packages walked so far (a run walks a few thousand, not 63,000)
    decoded: dict[tuple[int, bool], tuple[list[int], int]] = field(default_factory=dict, compare=False)
    #: per package: itself and every package its plain (non-OR) Depends reach; see plain_closure
    plain: dict[int, frozenset[int]] = field(default_factory=dict, compare=False)
    #: names looked up so far (``package``)
    found: dict[str, int | None] = field(default_factory=dict, compare=False)
    #: per package: the reason ``_why`` gives (the first matching glob of ``reasons``)
    why: dict[int, str] = field(default_factory=dict, compare=False)

    def package(self, name: str) -> int | None:
        """The package ``apt-get install NAME`` selects: NAME itself, or a virtual name's only provider."""
        if name in self.found:
            return self.found[name]
        i = self.names.position(name)
        if i is None:
            k = self.virtual_names.position(name)
            i = None if k is None else self.virtual_pick[k]
        if len(self.found) < 65536:  # the names a run asks for, not every name of the release
            self.found[name] = i
        return i

    def groups(self, i: int, with_recommends: bool) -> tuple[list[int], int]:
        """Package i's group codes in field order (Depends, then Recommends) and how many are Depends."""
        key = (i, with_recommends)
        found = self.decoded.get(key)
        if found is None:
            deps = self.dep_codes[self.dep_start[i] : self.dep_start[i + 1]].tolist()
            recs = self.rec_codes[self.rec_start[i] : self.rec_start[i + 1]].tolist() if with_recommends else []
            found = self.decoded[key] = (deps + recs, len(deps))
        return found

    def alternatives(self, code: int) -> list[int]:
        k = -code - 1
        return self.alt_packages[self.alt_start[k] : self.alt_start[k + 1]].tolist()

    def plain_closure(self, i: int) -> frozenset[int]:
        """Package i and everything its plain Depends groups reach, recursively.

        Whatever else is marked and in whichever order, apt marks all of these once it marks i: a
        group with one alternative has no choice to make. A property of the release, so memoised.
        """
        found = self.plain.get(i)
        if found is None:
            seen, todo = {i}, [i]
            while todo:
                for code in self.groups(todo.pop(), with_recommends=False)[0]:
                    if code >= 0 and code not in seen:
                        seen.add(code)
                        todo.append(code)
            found = self.plain[i] = frozenset(seen)
        return found

    def depended_on(self, starts: list[int]) -> set[int]:
        """Packages that a Depends group of some other package reachable from ``starts`` names (any
        alternative counts). A package outside this set cannot be marked by walking from ``starts``."""
        seen, todo, targets = set(starts), list(starts), set()
        while todo:
            node = todo.pop()
            for code in self.groups(node, with_recommends=False)[0]:
                for k in (code,) if code >= 0 else self.alternatives(code):
                    if k != node:
                        targets.add(k)
                    if k not in seen:
                        seen.add(k)
                        todo.append(k)
        return targets

    def depends(self, i: int) -> list[int | list[int]]:
        """Package i's Depends groups, an OR group as the list of its alternatives."""
        codes, _ = self.groups(i, with_recommends=False)
        return [c if c >= 0 else self.alternatives(c) for c in codes]


def _flatten(fields: list[list[int | list[int]]], alt_start: array, alt_packages: array) -> tuple[array, array]:
    """Per-package group lists as (start, codes) arrays; OR groups are appended to the alternatives."""
    start, codes = array("I", [0]), array("i")
    for groups in fields:
        for group in groups:
            if isinstance(group, int):
                codes.append(group)
            else:
                codes.append(-len(alt_start))
                alt_packages.extend(group)
                alt_start.append(len(alt_packages))
        start.append(len(codes))
    return start, codes


def pack(document: dict) -> bytes:
    """A data file's bytes for the generator's document (``dep``/``rec`` as nested group lists).

    One JSON header line (base, classes, reasons, the arrays' lengths), then the names (as _Names
    stores them) and the per-package fields as little-endian arrays. Every worker process of a run
    loads the data: this reads in ~0.01 s and holds ~5 MB, where the nested JSON took ~0.18 s and
    ~15 MB. Not compressed: inflating it took ~0.02 s per release in every worker, and the wheel (a
    zip) and git compress it anyway.
    """
    alt_start, alt_packages = array("I", [0]), array("i")
    dep_start, dep_codes = _flatten(document["dep"], alt_start, alt_packages)
    rec_start, rec_codes = _flatten(document["rec"], alt_start, alt_packages)
    names = _Names.of(document["names"])
    virtual = sorted(document["virtual"].items())
    virtual_names = _Names.of([v for v, _ in virtual])
    fields = {
        "names": array("B", names.blob),
        "name_lengths": names.lengths(),
        "virtual_names": array("B", virtual_names.blob),
        "virtual_lengths": virtual_names.lengths(),
        "virtual_pick": array("i", [i for _, i in virtual]),
        "class": array("B", document["class"]),
        "size": array("I", document["size"]),
        "dep_start": dep_start,
        "dep_codes": dep_codes,
        "rec_start": rec_start,
        "rec_codes": rec_codes,
        "alt_start": alt_start,
        "alt_packages": alt_packages,
    }
    header = {k: v for k, v in document.items() if k not in ("names", "virtual", "dep", "rec", "class", "size")}
    header.update(format=_FORMAT, arrays={name: len(fields[name]) for name, _ in _ARRAYS})
    body = b"".join(_little_endian(fields[name]).tobytes() for name, _ in _ARRAYS)
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    return head + b"\n" + body


def unpack(data: bytes) -> tuple[dict, dict[str, array]]:
    """The header and the arrays of a data file written by ``pack``."""
    newline = data.index(b"\n")
    header = json.loads(data[:newline])
    body = memoryview(data)[newline + 1 :]  # the arrays copy their bytes once, from the file's
    if header.get("format") != _FORMAT:
        raise ValueError(f"apt data format {header.get('format')!r}, expected {_FORMAT}: regenerate it")
    arrays, at = {}, 0
    for name, typecode in _ARRAYS:
        values = array(typecode)
        end = at + values.itemsize * header["arrays"][name]
        values.frombytes(body[at:end])
        arrays[name] = _little_endian(values)
        at = end
    return header, arrays


def _little_endian(values: array) -> array:
    """The file stores little-endian; on a big-endian machine swap (a copy: the caller's array is kept)."""
    if sys.byteorder == "little" or values.itemsize == 1:
        return values
    swapped = array(values.typecode, values)
    swapped.byteswap()
    return swapped


@cache
def _graph(release: str) -> _Graph | None:
    if release not in known_releases():
        return None
    with _data_dir().joinpath(release + _SUFFIX).open("rb") as fh:
        doc, arrays = unpack(fh.read())
    classes = list(doc["classes"])
    return _Graph(
        names=_Names.from_lengths(arrays["names"].tobytes(), arrays["name_lengths"]),
        base=frozenset(doc["base"]),
        virtual_names=_Names.from_lengths(arrays["virtual_names"].tobytes(), arrays["virtual_lengths"]),
        virtual_pick=arrays["virtual_pick"],
        klass=[classes[c] for c in arrays["class"]],
        inert=frozenset(c for c, info in doc["classes"].items() if info["inert"]),
        what={c: info["what"] for c, info in doc["classes"].items()},
        reasons=list(doc["reasons"].items()),
        dep_start=arrays["dep_start"],
        dep_codes=arrays["dep_codes"],
        rec_start=arrays["rec_start"],
        rec_codes=arrays["rec_codes"],
        alt_start=arrays["alt_start"],
        alt_packages=arrays["alt_packages"],
        size=arrays["size"],
    )


def _package_name(arg: str) -> str:
    m = _REQUEST_RE.match(arg.strip().lower())
    return m.group(1) if m else arg.strip()


def dropped_recommends(release: str, packages: list[str], explicit_limit: int | None = None) -> Dropped | None:
    """What ``apt-get install --no-install-recommends PACKAGES`` drops on ``release`` (see ``_dropped``).

    With ``explicit_limit``, working out ``explicit`` stops once more than that many packages are
    certain to need naming (``explicit_complete`` is then False): a caller that gives up past a limit
    need not pay for the rest, one dependency walk per kept package. Memoised per question: the same
    installs recur across the files of a run. Callers must not mutate the result.
    """
    return _dropped(release, tuple(packages), explicit_limit)


@lru_cache(maxsize=256)
def _dropped(release: str, packages: tuple[str, ...], explicit_limit: int | None = None) -> Dropped | None:
    """What ``apt-get install --no-install-recommends PACKAGES`` drops on ``release``.

    None when there is no data for the release. Requested packages and everything in the Depends
    closure of any of them are never reported (they are installed anyway); packages of the base
    image neither. Requested names may carry ``:arch``, ``=version`` or ``/release``; virtual names
    resolve to their provider.
    """
    g = _graph(release)
    if g is None:
        return None
    result = Dropped()
    roots: list[int] = []
    for arg in packages:
        name = _package_name(arg)
        i = g.package(name)
        if i is None:
            if arg not in result.unknown:
                result.unknown.append(arg)
        elif i not in roots and i not in g.base:  # a base-image package is installed already
            roots.append(i)

    hard = _mark(g, roots, with_recommends=False)
    parent: dict[int, tuple[int, bool]] = {}  # package -> (marked by, through a Recommends)
    full = _mark(g, roots, with_recommends=True, parent=parent)

    dropped = sorted(j for j in full if j not in hard)  # by name: the names are stored sorted
    kept: list[int] = []
    for j in dropped:
        name = g.names[j]
        if g.klass[j] in g.inert:
            result.inert.append(name)
            result.inert_kib += g.size[j]
        else:
            result.keep[name] = f"{_how(g, j, parent)}: {_why(g, j)}"
            result.keep_kib += g.size[j]
            kept.append(j)
    named, result.explicit_complete = _fewest_to_name(g, roots, kept, explicit_limit)
    result.explicit = [g.names[j] for j in named]
    return result


def _fewest_to_name(g: _Graph, roots: list[int], kept: list[int], limit: int | None = None) -> tuple[list[int], bool]:
    """Drop from ``kept`` every package that the others (and the request) pull in through Depends.

    One at a time, in order, so that of two packages depending on each other one stays named: a
    package that stays is final, so past ``limit`` of them the answer is returned unfinished (False
    as the second item; the list then holds only the packages known to stay). Each
    question is "does ``apt-get install ROOTS OTHERS`` mark j?". Most answers need no walk: j is
    marked when it is in the plain-Depends closure of another named package, and is not when no
    package reachable from the request depends on it. The rest walk as apt does (``_Walks``).
    """
    depended_on = g.depended_on(roots + kept)
    named = list(kept)
    stays: list[int] = []
    walks = _Walks(g, roots, kept)
    for j in kept:
        if limit is not None and len(stays) > limit:
            return stays, False
        others = [k for k in named if k != j]
        if j not in depended_on:
            pulled = False
        elif any(j in g.plain_closure(k) for k in others):
            pulled = True
        else:
            pulled = walks.pulled(j, others)
        if pulled:
            named = others
        else:
            stays.append(j)
    return named, True


class _Walks:
    """The exact answer to "does installing the roots and ``others`` mark j?", by walking as apt does.

    When no Depends group of the roots' own walk was satisfied by kept packages alone, that walk is the
    same whichever of them are requested, so it is done once (on first use) and each question only
    walks the other kept packages from there.
    """

    def __init__(self, g: _Graph, roots: list[int], kept: list[int]) -> None:
        self.g, self.roots, self.kept = g, roots, kept
        self.shared: set[int] | None = None
        self.roots_walk_depends_on_kept = False

    def pulled(self, j: int, others: list[int]) -> bool:
        g = self.g
        if self.shared is None:
            kept_set = set(self.kept)
            shared = set(self.roots) | kept_set
            self.roots_walk_depends_on_kept = _walk(g, shared, self.roots, with_recommends=False, watch=kept_set)
            self.shared = shared - kept_set
        if self.roots_walk_depends_on_kept:
            return j in _mark(g, self.roots + others, with_recommends=False, stop_at=j)
        marked = self.shared | set(others)
        _walk(g, marked, others, with_recommends=False, stop_at=j)
        return j in marked


def _mark(
    g: _Graph,
    roots: list[int],
    with_recommends: bool,
    parent: dict[int, tuple[int, bool]] | None = None,
    stop_at: int | None = None,
) -> set[int]:
    """The packages apt marks for installation, in apt's order.

    The requested packages are marked first; then, depth first from each of them, every dependency
    group in field order (Pre-Depends, Depends, then Recommends): a group that an installed or
    already marked package satisfies is skipped, otherwise its pick is marked and followed at once.
    The order matters for OR groups: "systemd | cron" is satisfied when cron came in earlier.
    With ``stop_at``, the walk ends as soon as that package is marked (the answer is then partial).
    """
    marked = set(roots)
    _walk(g, marked, roots, with_recommends, parent, stop_at)
    return marked


def _walk(
    g: _Graph,
    marked: set[int],
    starts: list[int],
    with_recommends: bool,
    parent: dict[int, tuple[int, bool]] | None = None,
    stop_at: int | None = None,
    watch: set[int] | None = None,
) -> bool:
    """Apt's depth-first marking from each of ``starts`` in turn, adding to ``marked`` (see _mark).

    Returns whether a group it looked at was satisfied only by packages of ``watch`` (so that
    without them it would have picked something).
    """
    groups_of, alternatives = g.groups, g.alternatives
    watched = False
    if stop_at in marked:
        return watched
    for start in starts:
        # a frame: [package, its group codes, next group to look at, how many of them are Depends]
        codes, n = groups_of(start, with_recommends)
        stack: list[list] = [[start, codes, 0, n]]
        while stack:
            frame = stack[-1]
            node, groups, at, n_dep = frame
            while at < len(groups):
                code = groups[at]
                at += 1
                if code >= 0:
                    if code in marked:
                        watched = watched or (watch is not None and code in watch)
                        continue
                    pick = code
                else:
                    group = alternatives(code)
                    if any(k in marked for k in group):
                        # only a watched package satisfies it: without them the walk would differ
                        watched = watched or (watch is not None and all(k in watch for k in group if k in marked))
                        continue
                    pick = group[0]
                marked.add(pick)
                if pick == stop_at:
                    return watched
                if parent is not None:
                    parent[pick] = (node, at > n_dep)
                frame[2] = at
                codes, n = groups_of(pick, with_recommends)
                stack.append([pick, codes, 0, n])
                break
            else:
                stack.pop()
    return watched


def _root(j: int, parent: dict[int, tuple[int, bool]]) -> int:
    """The requested package whose walk marked j."""
    while j in parent:
        j = parent[j][0]
    return j


def _how(g: _Graph, j: int, parent: dict[int, tuple[int, bool]]) -> str:
    """ "gnupg recommends it (pulled in by gpg)" / "gpg recommends gnupg, which needs it"."""
    node = j
    while node in parent:
        src, is_rec = parent[node]
        if is_rec:
            who = g.names[src]
            text = f"{who} recommends it" if node == j else f"{who} recommends {g.names[node]}, which needs it"
            root = g.names[_root(j, parent)]
            return text if root == who else f"{text} (pulled in by {root})"
        node = src
    return f"pulled in by {g.names[_root(j, parent)]}"  # an OR group that apt resolved another way without recommends


def _why(g: _Graph, j: int) -> str:
    found = g.why.get(j)
    if found is None:
        name = g.names[j]
        found = next((reason for pattern, reason in g.reasons if fnmatch.fnmatchcase(name, pattern)), g.what[g.klass[j]])
        g.why[j] = found
    return found
