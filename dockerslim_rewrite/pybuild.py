"""Does installing this Python project need a C compiler? Decided from text, never by running it.

Why: python:X-slim has no gcc, make or -dev headers. A pure-Python project whose requirements all
install from wheels runs the same on slim; one with C extensions (``Extension(``, ``ext_modules``,
cython, cffi, compiled build backends such as scikit-build, meson-python, maturin) or requirements
that only ship source (psycopg2, mysqlclient, uwsgi ...) does not. setup.py is read with libcst
(never executed), pyproject.toml with tomllib, setup.cfg with configparser. Knowledge is data in
data/pybuild.toml. Inputs are texts (a ``read_text(relpath) -> str | None`` callable, normally
``Snapshot.read_text``), never paths on disk.

API: ``analyse_project(read_text, root)``, ``analyse_requirements(read_text, path)``,
``analyse_requirement_lines(lines)``, ``analyse_setup_py(text)``, ``analyse_pyproject(text)``,
``analyse_setup_cfg(text)``; each returns a ``BuildNeeds``.
"""

from __future__ import annotations

import configparser
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from .datafiles import TOMLDecodeError, data_toml, loads_toml

__all__ = [
    "BuildNeeds",
    "analyse_project",
    "analyse_requirements",
    "analyse_requirement_lines",
    "analyse_setup_py",
    "analyse_pyproject",
    "analyse_setup_cfg",
    "normalise_name",
    "requirement_name",
    "specs_from_argv",
    "analyse_pipfile",
    "PipInputs",
    "pip_local_inputs",
    "requirements_edit_in_place",
    "python_module",
]

ReadText = Callable[[str], "str | None"]


@cache
def _data() -> dict:
    return data_toml("pybuild.toml")


@dataclass
class BuildNeeds:
    """What a pip install of the analysed inputs needs beyond a slim image."""

    compiler: list[str] = field(default_factory=list)  # reasons a C/C++/Rust toolchain is needed
    headers: list[str] = field(default_factory=list)  # Debian -dev packages the source builds need
    git: list[str] = field(default_factory=list)  # VCS requirements (git+https://...)
    unknown: list[str] = field(default_factory=list)  # inputs that could not be read or parsed
    requirements: list[str] = field(default_factory=list)  # normalised names seen
    runtime: list[str] = field(default_factory=list)  # Debian packages needed at run time (data: runtime_needs)
    runtime_why: list[str] = field(default_factory=list)

    @property
    def needs_compiler(self) -> bool:
        return bool(self.compiler)

    @property
    def certain(self) -> bool:
        """False when something could not be read: the answer may be incomplete."""
        return not self.unknown

    def merge(self, other: BuildNeeds) -> BuildNeeds:
        for name in ("compiler", "headers", "git", "unknown", "requirements", "runtime", "runtime_why"):
            mine = getattr(self, name)
            for item in getattr(other, name):
                if item not in mine:
                    mine.append(item)
        return self


def normalise_name(name: str) -> str:
    """PEP 503 normalisation (``Django_Foo`` -> ``django-foo``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


def requirement_name(spec: str) -> tuple[str, list[str]] | None:
    """``"psycopg[c]>=3 ; python_version>'3'"`` -> ``("psycopg", ["c"])``; None for URLs/paths/options."""
    spec = spec.strip()
    if not spec or spec.startswith(("-", ".", "/", "#")) or "://" in spec.split("@")[0] or spec.startswith("git+"):
        return None
    m = _NAME_RE.match(spec)
    if not m:
        return None
    extras = [e.strip().lower() for e in (m.group(2) or "").split(",") if e.strip()]
    return normalise_name(m.group(1)), extras


def _check_requirement(spec: str, needs: BuildNeeds, where: str) -> None:
    data = _data()
    if spec.startswith(("git+", "hg+", "svn+", "bzr+")) or re.search(r"@\s*git\+", spec):
        needs.git.append(f"{where}: {spec} is installed from a VCS checkout")
        return
    parsed = requirement_name(spec)
    if parsed is None:
        return
    name, extras = parsed
    if name not in needs.requirements:
        needs.requirements.append(name)
    entry = data["source_builds"].get(name)
    if entry is not None:
        needs.compiler.append(f"{where}: {name} builds from source (no binary wheel)")
        for h in entry.get("headers", []):
            if h not in needs.headers:
                needs.headers.append(h)
    rt = data.get("runtime_needs", {}).get(name)
    if rt is not None:
        needs.runtime_why.append(f"{name} {rt['why']}")
        for pkg in rt["packages"]:
            if pkg not in needs.runtime:
                needs.runtime.append(pkg)
    bad_extras = set(data["source_extras"].get(name, [])) & set(extras)
    if bad_extras:
        needs.compiler.append(f"{where}: {name}[{','.join(sorted(bad_extras))}] builds a C extension")


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    buf, start = "", 0
    for i, raw in enumerate(text.splitlines(), 1):
        line = raw
        if not buf:
            start = i
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        yield start, buf
        buf = ""
    if buf:
        yield start, buf


def analyse_requirement_lines(
    lines: Iterable[str], where: str = "pip install", read_text: ReadText | None = None, base: str = "."
) -> BuildNeeds:
    """Requirement specifiers (from a command line or a file). ``--no-binary`` forces source builds.

    Nested ``-r``/``-c`` files are read relative to ``base`` when ``read_text`` is given.
    """
    needs = BuildNeeds()
    for spec in lines:
        spec = spec.split(" #", 1)[0].strip()
        if not spec or spec.startswith("#"):
            continue
        option = re.match(r"^(-r|--requirement|-c|--constraint|--no-binary|-e|--editable)(?:\s*=?\s*)(.*)$", spec)
        if option:
            flag, value = option.group(1), option.group(2).strip()
            if flag == "--no-binary" and value:
                needs.compiler.append(f"{where}: --no-binary {value} forces source builds")
            elif flag in ("-r", "--requirement") and value:
                if read_text is None:
                    needs.unknown.append(value)
                else:
                    needs.merge(analyse_requirements(read_text, posixpath.normpath(posixpath.join(base, value))))
            elif flag in ("-e", "--editable") and value:
                _check_local_or_spec(value, needs, where, read_text, base)
            continue
        if spec.startswith("-"):
            continue  # other pip options (--index-url, --hash ...) do not change what builds
        _check_local_or_spec(spec, needs, where, read_text, base)
    return needs


_PIP_VALUE_OPTIONS = frozenset(
    {
        "-r",
        "--requirement",
        "-c",
        "--constraint",
        "-e",
        "--editable",
        "--no-binary",
        "--only-binary",
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "-t",
        "--target",
        "--prefix",
        "--root",
        "--platform",
        "--python-version",
        "--implementation",
        "--abi",
        "--trusted-host",
        "--cache-dir",
        "--src",
        "--upgrade-strategy",
        "--progress-bar",
        "--log",
        "--timeout",
        "--retries",
        "--proxy",
        "--cert",
        "--client-cert",
        "--config-settings",
        "-C",
        "--global-option",
        "--report",
    }
)
_PIP_KEEP = frozenset({"-r", "--requirement", "-e", "--editable", "--no-binary"})


_PYTHON_VALUE_FLAGS = frozenset("WX")  # `-W ignore`, `-X utf8`: the value may follow as the next word


def python_module(argv: Sequence[str]) -> tuple[str, int] | None:
    """(MODULE, index of its first argument in ``argv``) when ``python ARGV`` runs a module: `-m pip
    install x`, `-P -m pip ...`, `-I -m venv /v`, `-mpip`, `-W ignore -m pip`. None for a script,
    `-c CODE`, stdin or an unknown long option."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--check-hash-based-pycs":
            i += 2
            continue
        if not word.startswith("-") or word in ("-", "--") or word.startswith("--"):
            return None
        for k, flag in enumerate(word[1:], start=1):
            if flag == "c":
                return None
            if flag == "m" or flag in _PYTHON_VALUE_FLAGS:
                value = word[k + 1 :]
                if not value:
                    i += 1
                    value = argv[i] if i < len(argv) else ""
                if flag == "m":
                    return (value, i + 1) if value else None
                break
        i += 1
    return None


def specs_from_argv(argv: list[str]) -> list[str]:
    """The requirement lines of ``pip install ARGS``: ``["-r", "req.txt", "flask"]`` -> ``["-r req.txt", "flask"]``.

    Options that take a value are paired with it; options other than -r/-e/--no-binary are dropped.
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in _PIP_VALUE_OPTIONS and i + 1 < len(argv):
            if word in _PIP_KEEP:
                out.append(f"{word} {argv[i + 1]}")
            i += 2
            continue
        if word.startswith("-"):
            key = word.split("=", 1)[0]
            if key in _PIP_KEEP and "=" in word:
                out.append(f"{key} {word.split('=', 1)[1]}")
            elif len(word) > 2 and word[:2] in ("-r", "-e") and not word.startswith("--"):
                out.append(f"{word[:2]} {word[2:]}")
            i += 1
            continue
        out.append(word)
        i += 1
    return out


@dataclass
class PipInputs:
    """The local paths a ``pip install`` command line names, as written (relative to its directory)."""

    consumed: list[str] = field(default_factory=list)  # read at install time only: projects, wheels, -r/-c files, -f folders
    editable: list[str] = field(default_factory=list)  # -e/--editable projects: the environment points at them
    requirement_files: list[str] = field(default_factory=list)  # -r files (their lines may name more paths)


_LOCAL_FLAGS = {
    "-r": "requirement",
    "--requirement": "requirement",
    "-c": "consumed",
    "--constraint": "consumed",
    "-f": "consumed",
    "--find-links": "consumed",
    "-e": "editable",
    "--editable": "editable",
}


def _local_path(value: str) -> str | None:
    """A local path operand (``./x``, ``/x``, ``.``, ``x/``), without extras; None for names and URLs."""
    path = value.split("[", 1)[0].strip()
    if "://" in path or path.startswith(("git+", "hg+", "svn+", "bzr+", "file:")) or "@" in path:
        return None
    if path in (".", "..") or path.startswith(("./", "../", "/")) or path.endswith("/"):
        return path
    if path.endswith((".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")):
        return path
    return None


def pip_local_inputs(argv: list[str]) -> PipInputs:
    """Local paths of ``pip install ARGS`` (the arguments after ``install``), sorted by how pip uses them.

    A non-editable project folder, wheel or archive is built and copied into the environment, and -r/-c
    files and -f folders are read while installing: none of them is needed once the install is done. An
    editable project (``-e DIR``) stays where it is: the environment imports it from there.
    """
    out = PipInputs()
    i = 0
    while i < len(argv):
        word = argv[i]
        flag, value = word, None
        if word.startswith("--") and "=" in word:
            flag, value = word.split("=", 1)
        elif word[:2] in ("-r", "-c", "-e", "-f") and len(word) > 2 and not word.startswith("--"):
            flag, value = word[:2], word[2:]
        if flag in _PIP_VALUE_OPTIONS:
            if value is None:
                value = argv[i + 1] if i + 1 < len(argv) else None
                i += 1
            kind = _LOCAL_FLAGS.get(flag)
            if kind is not None and value:
                if kind == "editable":
                    path = _local_path(value)
                    out.editable.append(path if path is not None else value)
                elif kind == "requirement":
                    out.requirement_files.append(value)
                    out.consumed.append(value)
                elif "://" not in value:
                    out.consumed.append(value)
        elif not word.startswith("-"):
            path = _local_path(word)
            if path is not None:
                out.consumed.append(path)
        i += 1
    return out


def requirements_edit_in_place(read_text: ReadText, path: str, _seen: frozenset[str] = frozenset()) -> bool | None:
    """Does a requirements file (or one it includes) install a project editable (``-e``)? None: not readable."""
    if path in _seen:
        return False
    text = read_text(path)
    if text is None:
        return None
    for _, line in _logical_lines(text):
        line = line.split(" #", 1)[0].strip()
        option = re.match(r"^(-r|--requirement|-e|--editable)(?:\s*=?\s*)(.*)$", line)
        if option is None:
            continue
        if option.group(1) in ("-e", "--editable"):
            return True
        nested = posixpath.normpath(posixpath.join(posixpath.dirname(path) or ".", option.group(2).strip()))
        found = requirements_edit_in_place(read_text, nested, _seen | {path})
        if found is not False:
            return found
    return False


def _check_local_or_spec(spec: str, needs: BuildNeeds, where: str, read_text: ReadText | None, base: str) -> None:
    path = spec.split("[", 1)[0].strip()
    if path.endswith(".whl"):
        return  # a built wheel: nothing to compile
    if path in (".", "..") or path.startswith(("./", "../", "/")) or path.startswith("file:"):
        if read_text is None or path.startswith(("/", "file:")):
            needs.unknown.append(path)
        else:
            needs.merge(analyse_project(read_text, posixpath.normpath(posixpath.join(base, path))))
        return
    _check_requirement(spec, needs, where)


def analyse_requirements(read_text: ReadText, path: str, _seen: frozenset[str] = frozenset()) -> BuildNeeds:
    """A requirements file (and the files it includes with -r)."""
    if path in _seen:
        return BuildNeeds()
    text = read_text(path)
    if text is None:
        return BuildNeeds(unknown=[path])
    lines = [line for _, line in _logical_lines(text)]
    return analyse_requirement_lines(lines, path, read_text, posixpath.dirname(path) or ".")


# --------------------------------------------------------------------------- project files


def analyse_setup_py(text: str, where: str = "setup.py") -> BuildNeeds:
    """Look for compiled extensions in a setup.py without executing it."""
    from .setuppy import read_setup_calls  # libcst is heavy: imported only when a setup.py is read

    data = _data()["setup_py"]
    needs = BuildNeeds()
    visitor = read_setup_calls(text, set(data["calls"]), set(data["keywords"]))
    if visitor is None:
        needs.unknown.append(f"{where} (not parseable)")
        return needs
    for found in dict.fromkeys(visitor.found):
        needs.compiler.append(f"{where}: {found} declares a compiled extension")
    for spec in visitor.install_requires:
        _check_requirement(spec, needs, where)
    return needs


def _build_requires_reasons(requires: Iterable[str], where: str) -> list[str]:
    compiled = set(_data()["build_system"]["requires"])
    out = []
    for spec in requires:
        parsed = requirement_name(spec)
        if parsed and parsed[0] in compiled:
            out.append(f"{where}: build requirement {parsed[0]} compiles native code")
    return out


def _load_toml(text: str, where: str, needs: BuildNeeds) -> dict | None:
    """Parsed TOML, or None with the file recorded as unknown (we cannot tell what it needs)."""
    try:
        return loads_toml(text)
    except TOMLDecodeError:
        needs.unknown.append(f"{where} (not valid TOML)")
        return None


def analyse_pyproject(text: str, where: str = "pyproject.toml") -> BuildNeeds:
    """[build-system], compiled-build tool tables and [project]/poetry dependencies."""
    needs = BuildNeeds()
    data = _load_toml(text, where, needs)
    if data is None:
        return needs
    bs = data.get("build-system", {})
    needs.compiler.extend(_build_requires_reasons(bs.get("requires", []), where))
    knowledge = _data()["build_system"]
    if bs.get("build-backend") in knowledge["backends"]:
        needs.compiler.append(f"{where}: build backend {bs['build-backend']} compiles native code")
    for dotted in knowledge["tables"]:
        node: object = data
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node:
            needs.compiler.append(f"{where}: [{dotted}] configures a compiled build")
    for spec in data.get("project", {}).get("dependencies", []):
        _check_requirement(spec, needs, where)
    poetry = data.get("tool", {}).get("poetry", {})
    for name, value in poetry.get("dependencies", {}).items():
        if name.lower() == "python":
            continue
        if isinstance(value, dict) and "git" in value:
            needs.git.append(f"{where}: {name} is installed from git")
            continue
        extras = value.get("extras", []) if isinstance(value, dict) else []
        _check_requirement(f"{name}[{','.join(extras)}]" if extras else name, needs, where)
    if poetry.get("build"):
        needs.compiler.append(f"{where}: [tool.poetry.build] runs a build script")
    return needs


def analyse_setup_cfg(text: str, where: str = "setup.cfg") -> BuildNeeds:
    """setup_requires / install_requires and a [build_ext] section."""
    needs = BuildNeeds()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        needs.unknown.append(f"{where} (not parseable)")
        return needs
    if parser.has_section("build_ext"):
        needs.compiler.append(f"{where}: [build_ext] section configures C extensions")
    if parser.has_section("options"):
        setup_requires = parser.get("options", "setup_requires", fallback="").split("\n")
        needs.compiler.extend(_build_requires_reasons([s for s in setup_requires if s.strip()], where))
        for spec in parser.get("options", "install_requires", fallback="").split("\n"):
            if spec.strip():
                _check_requirement(spec.strip(), needs, where)
    return needs


def analyse_pipfile(text: str, where: str = "Pipfile") -> BuildNeeds:
    """[packages] (and [dev-packages]) of a Pipfile (TOML)."""
    needs = BuildNeeds()
    data = _load_toml(text, where, needs)
    if data is None:
        return needs
    for table in ("packages", "dev-packages"):
        for name, value in data.get(table, {}).items():
            if isinstance(value, dict) and "git" in value:
                needs.git.append(f"{where}: {name} is installed from git")
                continue
            extras = value.get("extras", []) if isinstance(value, dict) else []
            _check_requirement(f"{name}[{','.join(extras)}]" if extras else name, needs, where)
    return needs


def analyse_project(read_text: ReadText, root: str = ".") -> BuildNeeds:
    """A local project directory (``pip install .``): setup.py, setup.cfg and pyproject.toml."""
    needs = BuildNeeds()
    found = False
    for name, fn in (("pyproject.toml", analyse_pyproject), ("setup.cfg", analyse_setup_cfg), ("setup.py", analyse_setup_py)):
        path = posixpath.normpath(posixpath.join(root, name))
        text = read_text(path)
        if text is not None:
            found = True
            needs.merge(fn(text, path))
    if not found:
        needs.unknown.append(posixpath.normpath(root) + "/ (no setup.py, setup.cfg or pyproject.toml readable)")
    return needs
