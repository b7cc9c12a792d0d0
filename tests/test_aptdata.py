"""dockerslim_rewrite.aptdata: what --no-install-recommends drops, from the shipped Debian graph.

The exact sets below were checked against apt's own simulation on a clean bookworm image
(scripts/check_apt_recommends.py); these tests read the packaged data only and never run apt.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pure_python_only

from dockerslim_rewrite import aptdata

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "dockerslim_rewrite" / "data" / "apt"


def dropped(release: str, *packages: str) -> aptdata.Dropped:
    result = aptdata.dropped_recommends(release, list(packages))
    assert result is not None
    return result


def everything(d: aptdata.Dropped) -> set[str]:
    return set(d.keep) | set(d.inert)


# --------------------------------------------------------------------------- shipped data


def test_releases_and_unknown_release() -> None:
    assert {"bookworm", "trixie"} <= set(aptdata.known_releases())
    assert aptdata.dropped_recommends("no-such-release", ["git"]) is None


def test_data_files_are_small() -> None:
    # stored uncompressed (read straight into arrays); the wheel and git deflate them to ~2.6 MB in all
    sizes = {p.name: p.stat().st_size for p in DATA.glob("*.apt")}
    assert sizes and all(size < 8_000_000 for size in sizes.values()), sizes
    assert sum(sizes.values()) < 12_000_000


def test_git_keeps_ssh_pager_patch_and_ca_bundle() -> None:
    d = dropped("bookworm", "git")
    assert {"openssh-client", "less", "patch", "ca-certificates"} <= set(d.keep)
    assert d.keep["openssh-client"].startswith("git recommends it: ")
    assert "ssh" in d.keep["openssh-client"]
    assert d.inert == ["krb5-locales"]
    assert d.unknown == []


def test_gpg_keeps_gnupg_and_dirmngr_with_the_path() -> None:
    d = dropped("bookworm", "gpg")
    assert {"gnupg", "dirmngr", "gpg-agent"} <= set(d.keep)
    assert "gpg recommends gnupg" in d.keep["dirmngr"] and "--recv-keys" in d.keep["dirmngr"]
    assert "gnupg-l10n" in d.inert


def test_a_depends_of_a_requested_package_is_never_reported() -> None:
    d = dropped("bookworm", "gnupg")  # gnupg Depends on dirmngr: it is installed anyway
    assert "dirmngr" not in everything(d) and "gnupg" not in everything(d)
    assert d.keep.keys() == {"libgpm2", "libldap-common", "libsasl2-modules", "libssl3"}
    both = dropped("bookworm", "gpg", "gnupg")
    assert not {"gnupg", "dirmngr", "gpg-agent"} & everything(both)


def test_requested_packages_and_their_depends_are_never_reported() -> None:
    d = dropped("bookworm", "git", "openssh-client")
    assert "openssh-client" not in everything(d)
    assert "libfido2-1" not in everything(d)  # a Depends of openssh-client
    assert "xauth" in d.keep  # still only a Recommends of openssh-client


@pytest.mark.parametrize(
    ("package", "keep", "inert"),
    [  # as apt-get install -s with and without recommends says on a clean bookworm image
        ("curl", {"ca-certificates", "libldap-common", "libsasl2-modules", "openssl", "publicsuffix"}, ["krb5-locales"]),
        ("wget", {"ca-certificates", "libssl3", "openssl", "publicsuffix"}, []),
        ("nodejs", {"ca-certificates", "openssl"}, ["nodejs-doc"]),
        ("libpq-dev", {"libldap-common", "libsasl2-modules"}, ["krb5-locales"]),
        ("vim", {"xxd"}, []),
        ("procps", {"libgpm2", "psmisc"}, []),
        ("tzdata", set(), []),
        ("unzip", set(), []),
        ("locales", set(), []),
    ],
)
def test_exact_sets_agree_with_apt_simulation(package: str, keep: set[str], inert: list[str]) -> None:
    d = dropped("bookworm", package)
    assert set(d.keep) == keep
    assert d.inert == inert


def test_apt_sized_installs_agree_with_apt_simulation_in_count() -> None:
    # totals from scripts/check_apt_recommends.py (apt's simulation, clean bookworm image)
    expected = {
        "imagemagick": 69,
        "python3-pip": 122,
        "build-essential": 69,
        "postgresql-15": 29,
        "libvulkan1": 51,
        "ffmpeg": 43,
        "default-libmysqlclient-dev": 37,
        "git": 22,
        "gpg": 19,
    }
    assert {p: len(everything(dropped("bookworm", p))) for p in expected} == expected


def test_or_groups_follow_apt_order() -> None:
    # postgresql-common recommends logrotate, which needs cron; sysstat's "systemd | cron" is then
    # satisfied, so systemd does not come in (apt installs cron, not systemd)
    d = dropped("bookworm", "postgresql-15")
    assert "cron" in d.keep and "sysstat" in d.keep
    assert "systemd" not in everything(d)


def test_drivers_fonts_and_ghostscript_are_kept() -> None:
    vulkan = dropped("bookworm", "libvulkan1")
    assert "mesa-vulkan-drivers" in vulkan.keep and "Vulkan" in vulkan.keep["mesa-vulkan-drivers"]
    magick = dropped("bookworm", "imagemagick")
    assert {"ghostscript", "fonts-urw-base35", "gsfonts"} <= set(magick.keep)
    assert "fonts" in magick.keep["gsfonts"]


def test_unknown_packages_and_request_syntax() -> None:
    d = dropped("bookworm", "no-such-package", "git")
    assert d.unknown == ["no-such-package"] and "openssh-client" in d.keep
    assert dropped("bookworm", "curl:amd64").keep == dropped("bookworm", "curl").keep
    assert dropped("bookworm", "curl=7.88.1-10+deb12u12").keep == dropped("bookworm", "curl").keep
    assert dropped("bookworm", "mysql-client").unknown == ["mysql-client"]  # virtual, several providers
    assert everything(dropped("bookworm", "bash")) == set()  # in every image already


def test_trixie_data_answers() -> None:
    d = dropped("trixie", "git")
    assert {"openssh-client", "less", "patch", "ca-certificates"} <= set(d.keep)
    assert {"gnupg", "dirmngr"} <= set(dropped("trixie", "gpg").keep)


def _sizes(release: str, names) -> int:
    g = aptdata._graph(release)
    return sum(g.size[g.package(n)] for n in names)


def test_installed_size_of_what_is_dropped() -> None:
    # python3-pip: the man pages (manpages 1.5 MiB, manpages-dev 3.6 MiB) and gnupg-l10n are inert
    pip = dropped("bookworm", "python3-pip")
    assert {"manpages", "manpages-dev", "gnupg-l10n"} <= set(pip.inert)
    assert pip.inert_kib > 1000 and pip.inert_kib >= 5 * 1024  # worth --no-install-recommends
    assert pip.keep_kib > 100 * 1024  # build-essential, g++ ...: the bulk, but it does work
    # curl: only krb5-locales (under 0.3 MiB) is inert: not worth the diff
    curl = dropped("bookworm", "curl")
    assert curl.inert == ["krb5-locales"] and 0 < curl.inert_kib < 1024
    assert curl.keep_kib > curl.inert_kib
    assert dropped("bookworm", "nodejs").inert_kib >= 10 * 1024  # nodejs-doc
    assert dropped("trixie", "python3-pip").inert_kib >= 1024


@pytest.mark.parametrize("packages", [("python3-pip",), ("git", "curl"), ("imagemagick",), ("gpg",)])
def test_sizes_are_the_sums_of_installed_size(packages: tuple[str, ...]) -> None:
    d = dropped("bookworm", *packages)
    assert d.inert_kib == _sizes("bookworm", d.inert)
    assert d.keep_kib == _sizes("bookworm", d.keep)


def test_nothing_dropped_weighs_nothing() -> None:
    for d in (dropped("bookworm", "tzdata"), dropped("bookworm", "bash"), dropped("bookworm", "no-such-package")):
        assert (d.inert_kib, d.keep_kib) == (0, 0)
    assert (aptdata.Dropped().inert_kib, aptdata.Dropped().keep_kib) == (0, 0)


def test_shipped_sizes_are_aligned_with_names() -> None:
    for release in ("bookworm", "trixie"):
        doc, arrays = aptdata.unpack((DATA / f"{release}.apt").read_bytes())
        sizes = arrays["size"]
        assert doc["format"] == 3 and len(sizes) == len(arrays["name_lengths"])
        assert all(isinstance(k, int) and k >= 0 for k in sizes)
        assert sum(k == 0 for k in sizes) < 0.01 * len(sizes)  # nearly every stanza has Installed-Size
        g = aptdata._graph(release)
        assert 100 < g.size[g.package("bash")] < 100_000


def test_generator_reads_installed_size() -> None:
    size = _generator().installed_size
    assert size({"Installed-Size": "1548"}) == 1548
    assert size({"Installed-Size": " 12 "}) == 12
    assert size({}) == 0 and size({"Installed-Size": "n/a"}) == 0


def test_module_is_lazy_and_python310_safe() -> None:
    code = "import dockerslim_rewrite.aptdata as a; assert a._graph.cache_info().currsize == 0"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    source = (ROOT / "dockerslim_rewrite" / "aptdata.py").read_text()
    assert "tomllib" not in source


# --------------------------------------------------------------------------- generator


def _generator():
    spec = importlib.util.spec_from_file_location("gen_apt_recommends_new", ROOT / "scripts" / "gen_apt_recommends.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "section", "cls"),
    [
        ("locales", "localization", "program"),
        ("krb5-locales", "localization", "l10n"),
        ("gnupg-l10n", "localization", "l10n"),
        ("git-doc", "doc", "doc"),
        ("bash-completion", "shells", "completion"),
        ("man-db", "doc", "doc"),
        ("man-db", "text", "man"),
        ("libssl3", "libs", "library"),
        ("ca-certificates", "misc", "data"),
        ("fonts-dejavu-core", "fonts", "font"),
        ("mesa-vulkan-drivers", "libs", "driver"),
        ("openssh-client", "net", "program"),
    ],
)
def test_classification_rules_from_toml(name: str, section: str, cls: str) -> None:
    gen = _generator()
    assert gen.classify(name, section, gen.load_classes()) == cls


def test_dpkg_version_comparison() -> None:
    cmp = _generator().compare_versions
    assert cmp("1.0", "1.0") == 0
    assert cmp("1.0~rc1", "1.0") < 0 < cmp("1.0+deb12u1", "1.0")
    assert cmp("1:0.1", "2.0") > 0
    assert cmp("7.88.1-10+deb12u12", "7.88.1-10+deb12u5") > 0


SYNTHETIC = """\
Package: base-a
Priority: required
Version: 1
Depends: libbase | libother

Package: libbase
Priority: optional
Version: 1

Package: app
Version: 1
Depends: libapp, helper-common, mta
Recommends: extra | cron, tool (>= 2), app-doc, old-thing (<< 1)

Package: libapp
Section: libs
Version: 1
Recommends: libbase, plugin

Package: plugin
Version: 1
Installed-Size: 40
Depends: cron
Recommends: tool

Package: extra
Version: 1

Package: cron
Version: 1

Package: tool
Version: 2
Installed-Size: 300
Recommends: tool-data

Package: tool-data
Version: 2
Installed-Size: 2

Package: helper-common
Version: 1

Package: app-doc
Section: doc
Version: 1
Installed-Size: 1500

Package: old-thing
Version: 2

Package: postfix
Priority: optional
Version: 1
Provides: mta

Package: exim
Priority: standard
Version: 1
Provides: mta
"""


@pure_python_only  # points aptdata._data_dir at the generated file
def test_generator_and_module_on_a_synthetic_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _generator()
    index = tmp_path / "Packages"
    index.write_text(SYNTHETIC)
    out = tmp_path / "apt" / "testing.apt"
    assert gen.main(["--release", "testing", str(index), "-o", str(out)]) == 0
    doc, arrays = aptdata.unpack(out.read_bytes())
    names = list(aptdata._Names.from_lengths(arrays["names"].tobytes(), arrays["name_lengths"]))
    assert {names[i] for i in doc["base"]} == {"base-a", "libbase"}
    assert doc["format"] == 3 and len(arrays["size"]) == len(names)
    assert arrays["size"][names.index("app-doc")] == 1500 and arrays["size"][names.index("cron")] == 0
    assert gen.main(["--release", "testing", str(index), "-o", str(tmp_path / "again.apt")]) == 0
    assert (tmp_path / "again.apt").read_bytes() == out.read_bytes()  # regenerating gives the same bytes

    monkeypatch.setattr(aptdata, "_data_dir", lambda: tmp_path / "apt")
    aptdata.known_releases.cache_clear()
    aptdata._graph.cache_clear()
    try:
        assert aptdata.known_releases() == ["testing"]
        g = aptdata._graph("testing")
        # the virtual mta: exim (higher Priority) is apt's pick, postfix also satisfies the group
        assert [g.package("exim"), g.package("postfix")] in g.depends(g.package("app"))
        d = aptdata.dropped_recommends("testing", ["app"])
        # plugin (a Recommends of a Depends) brings cron first, so "extra | cron" is satisfied;
        # tool recommends tool-data (recommends of recommends); old-thing 2 is not << 1; libbase is in the base
        assert set(d.keep) == {"plugin", "cron", "tool", "tool-data"}
        assert d.inert == ["app-doc"]
        assert d.keep["tool-data"].startswith("tool recommends it (pulled in by app)")
        assert d.keep["cron"].startswith("libapp recommends plugin, which needs it")
        # Installed-Size: app-doc 1500; plugin 40 + tool 300 + tool-data 2 + cron (no field: 0)
        assert (d.inert_kib, d.keep_kib) == (1500, 342)
    finally:
        aptdata.known_releases.cache_clear()
        aptdata._graph.cache_clear()


# --------------------------------------------------------------------------- explicit names: speed-ups stay exact


def _fewest_by_brute_force(g, roots: list[int], kept: list[int]) -> list[int]:
    """The definition: one full apt walk of the request plus the other named packages per kept package."""
    named = list(kept)
    for j in kept:
        others = [k for k in named if k != j]
        if j in aptdata._mark(g, roots + others, with_recommends=False):
            named = others
    return named


@pytest.mark.parametrize(
    "packages",
    [("git",), ("curl", "git", "gnupg", "build-essential"), ("imagemagick",), ("python3-pip", "vim"), ("default-jdk",)],
)
@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_explicit_names_equal_the_brute_force_answer(release: str, packages: tuple[str, ...]) -> None:
    g = aptdata._graph(release)
    assert g is not None
    roots = [i for i in map(g.names.position, packages) if i is not None and i not in g.base]
    hard = aptdata._mark(g, roots, with_recommends=False)
    full = aptdata._mark(g, roots, with_recommends=True)
    kept = [j for j in sorted(full - hard, key=lambda j: g.names[j]) if g.klass[j] not in g.inert]
    assert aptdata._fewest_to_name(g, roots, kept) == (_fewest_by_brute_force(g, roots, kept), True)


@pure_python_only  # counts the dependency walks by patching _Walks
@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_explicit_names_equal_the_brute_force_answer_on_random_installs(release: str, monkeypatch) -> None:
    """Random requests of packages that recommend something: the shortcuts (plain-Depends closures,
    packages nothing depends on) must answer as the full walk would, OR groups and cycles included."""
    import random

    g = aptdata._graph(release)
    assert g is not None
    recommending = [i for i in range(len(g.names)) if g.rec_start[i + 1] > g.rec_start[i] and i not in g.base]
    rng = random.Random(f"explicit-{release}")
    walks = []
    exact = aptdata._Walks.pulled
    monkeypatch.setattr(aptdata._Walks, "pulled", lambda self, j, others: walks.append(j) or exact(self, j, others))
    shortcuts = 0
    for _ in range(8):
        roots = sorted(set(rng.sample(recommending, rng.randint(1, 5))))
        hard = aptdata._mark(g, roots, with_recommends=False)
        full = aptdata._mark(g, roots, with_recommends=True)
        kept = [j for j in sorted(full - hard, key=lambda j: g.names[j]) if g.klass[j] not in g.inert]
        assert aptdata._fewest_to_name(g, roots, kept) == (_fewest_by_brute_force(g, roots, kept), True), [
            g.names[r] for r in roots
        ]
        depended_on = g.depended_on(roots + kept)
        shortcuts += sum(1 for j in kept if j not in depended_on)
    assert shortcuts and walks  # both kinds of answer were exercised


def test_explicit_limit_stops_early_with_packages_known_to_stay() -> None:
    full = dropped("bookworm", "curl", "git", "gnupg", "build-essential")
    assert full.explicit_complete and len(full.explicit) > 4
    cut = aptdata.dropped_recommends("bookworm", ["curl", "git", "gnupg", "build-essential"], explicit_limit=3)
    assert cut is not None and not cut.explicit_complete
    assert len(cut.explicit) == 4 and set(cut.explicit) <= set(full.explicit)
    assert cut.inert == full.inert and cut.keep == full.keep  # only the naming work stopped


def test_names_are_found_by_bisection_in_one_blob() -> None:
    names = aptdata._Names.of(["gcc", "git", "libc6", "zlib1g"])
    assert list(names) == ["gcc", "git", "libc6", "zlib1g"] and names[-1] == "zlib1g" and names[1:3] == ["git", "libc6"]
    assert [names.position(n) for n in ("gcc", "libc6", "zlib1g", "curl", "zzz", "")] == [0, 2, 3, None, None, None]
    again = aptdata._Names.from_lengths(names.blob, names.lengths())
    assert list(again) == list(names)
    with pytest.raises(ValueError):
        aptdata._Names.of(["b", "a"])
    g = aptdata._graph("bookworm")
    assert g is not None and g.package("bash") == g.names.position("bash") is not None
    assert g.package("no-such-package") is None
