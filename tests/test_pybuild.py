"""pybuild: does a Python install need a compiler? (text only, setup.py never executed)."""

import pytest

from dockerslim_rewrite import pybuild
from dockerslim_rewrite.pybuild import (
    analyse_project,
    analyse_pyproject,
    analyse_requirement_lines,
    analyse_requirements,
    analyse_setup_cfg,
    analyse_setup_py,
    requirement_name,
    specs_from_argv,
)


def reader(files):
    return lambda path: files.get(path)


@pytest.mark.parametrize(
    "text, compiled",
    [
        ("from setuptools import setup\nsetup(name='x', packages=['x'])\n", False),
        ("from setuptools import setup, Extension\nsetup(ext_modules=[Extension('x._c', ['x/c.c'])])\n", True),
        ("import setuptools\nsetuptools.setup(ext_modules=[setuptools.Extension('a', ['a.c'])])\n", True),
        ("from Cython.Build import cythonize\nfrom setuptools import setup\nsetup(ext_modules=cythonize('*.pyx'))\n", True),
        ("from setuptools import setup\nsetup(cffi_modules=['build.py:ffi'])\n", True),
        ("from setuptools import setup\nsetup(ext_modules=[])\n", False),
        # a string that merely mentions Extension( is not a call
        ("from setuptools import setup\nsetup(description='no Extension( here')\n", False),
    ],
)
def test_setup_py(text, compiled):
    assert analyse_setup_py(text).needs_compiler is compiled


def test_setup_py_never_executed_and_install_requires():
    text = "import os\nos.system('rm -rf /')\nfrom setuptools import setup\nsetup(install_requires=['psycopg2>=2.9', 'flask'])\n"
    needs = analyse_setup_py(text)
    assert needs.needs_compiler and "libpq-dev" in needs.headers
    assert needs.requirements == ["psycopg2", "flask"]


def test_setup_py_syntax_error_is_unknown():
    needs = analyse_setup_py("setup(\n")
    assert not needs.certain and not needs.needs_compiler


@pytest.mark.parametrize(
    "text, compiled",
    [
        (
            '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n[project]\nname="x"\ndependencies=["requests>=2"]\n',
            False,
        ),
        ('[build-system]\nrequires = ["scikit-build-core"]\nbuild-backend = "scikit_build_core.build"\n', True),
        ('[build-system]\nrequires = ["maturin>=1,<2"]\nbuild-backend = "maturin"\n', True),
        ('[build-system]\nrequires = ["meson-python"]\nbuild-backend = "mesonpy"\n', True),
        ('[build-system]\nrequires = ["setuptools", "Cython>=3"]\n', True),
        ('[build-system]\nrequires = ["setuptools"]\n[tool.setuptools]\next-modules = [{name="a", sources=["a.c"]}]\n', True),
        ('[tool.poetry.dependencies]\npython = "^3.11"\nmysqlclient = "^2.2"\n', True),
        ('[tool.poetry.dependencies]\npython = "^3.11"\nfastapi = "^0.110"\n', False),
        ('[project]\ndependencies = ["psycopg[c]>=3"]\n', True),
        ('[project]\ndependencies = ["psycopg[binary]>=3"]\n', False),
    ],
)
def test_pyproject(text, compiled):
    assert analyse_pyproject(text).needs_compiler is compiled


def test_pyproject_invalid_toml_is_unknown():
    assert not analyse_pyproject("[build-system\n").certain


def test_setup_cfg():
    assert analyse_setup_cfg("[metadata]\nname = x\n[options]\ninstall_requires =\n    requests\n").needs_compiler is False
    assert analyse_setup_cfg("[options]\nsetup_requires =\n    cython\n").needs_compiler
    assert analyse_setup_cfg("[build_ext]\ninplace = 1\n").needs_compiler
    assert analyse_setup_cfg("[options]\ninstall_requires =\n    uWSGI==2.0.23\n").needs_compiler


def test_requirements_files_nested_and_vcs():
    files = {
        "requirements.txt": "-r requirements/base.txt\nflask==3.0.0  # web\n",
        "requirements/base.txt": "Django>=4.2\npsycopg2==2.9.9 \\\n    --hash=sha256:abc\ngit+https://example.invalid/x.git#egg=x\n",
    }
    needs = analyse_requirements(reader(files), "requirements.txt")
    assert needs.needs_compiler and needs.headers == ["libpq-dev"]
    assert needs.git and needs.certain
    assert set(needs.requirements) == {"flask", "django", "psycopg2"}


def test_requirements_wheels_only_and_missing_file():
    needs = analyse_requirements(reader({"r.txt": "psycopg2-binary==2.9.9\nnumpy\nrequests[socks]\n"}), "r.txt")
    assert not needs.needs_compiler and needs.certain
    missing = analyse_requirements(reader({}), "r.txt")
    assert not missing.certain


def test_no_binary_forces_source():
    assert analyse_requirement_lines(["--no-binary :all:", "requests"]).needs_compiler


def test_local_project():
    files = {"pyproject.toml": '[build-system]\nrequires=["setuptools"]\n', "setup.py": "from setuptools import setup\nsetup()\n"}
    assert not analyse_project(reader(files), ".").needs_compiler
    files["setup.py"] = "from setuptools import setup, Extension\nsetup(ext_modules=[Extension('a', ['a.c'])])\n"
    assert analyse_project(reader(files), ".").needs_compiler
    assert not analyse_project(reader({}), "pkg").certain
    lines = analyse_requirement_lines(["-e ."], read_text=reader(files))
    assert lines.needs_compiler


@pytest.mark.parametrize(
    "argv, specs",
    [
        (["--no-cache-dir", "-r", "requirements.txt"], ["-r requirements.txt"]),
        (["-U", "pip", "setuptools"], ["pip", "setuptools"]),
        (["--requirement=req.txt", "-i", "https://x.invalid/simple", "gunicorn"], ["--requirement req.txt", "gunicorn"]),
        (["-rrequirements.txt", "-e", "."], ["-r requirements.txt", "-e ."]),
        (["--no-binary", ":all:", "lxml"], ["--no-binary :all:", "lxml"]),
    ],
)
def test_specs_from_argv(argv, specs):
    assert specs_from_argv(argv) == specs


def test_requirement_name():
    assert requirement_name("Django_Rest.Framework[x, y] >=1 ; python_version > '3'") == ("django-rest-framework", ["x", "y"])
    assert requirement_name("./local") is None
    assert requirement_name("https://x.invalid/a.whl") is None


def test_data_file_loads():
    data = pybuild._data()
    assert "psycopg2" in data["source_builds"]
    assert all(n == pybuild.normalise_name(n) for n in data["source_builds"])


def test_pipfile():
    from dockerslim_rewrite.pybuild import analyse_pipfile

    assert analyse_pipfile('[packages]\nflask = "*"\n').needs_compiler is False
    assert analyse_pipfile('[packages]\nflask = "*"\nuwsgi = "==2.0.23"\n').needs_compiler
    assert analyse_pipfile('[packages]\nx = {git = "https://example.invalid/x.git"}\n').git


def test_wheel_files_need_nothing():
    needs = analyse_requirement_lines(["/wheels/*.whl", "./dist/app-1.0-py3-none-any.whl"], read_text=lambda p: None)
    assert needs.certain and not needs.needs_compiler


def test_runtime_needs_from_data():
    needs = analyse_requirement_lines(["python-magic==0.4.27", "GitPython"])
    assert needs.runtime == ["libmagic1", "git"] and not needs.needs_compiler
    assert any("libmagic" in why for why in needs.runtime_why)


@pytest.mark.parametrize(
    "argv, consumed, editable, files",
    [
        (["--no-build-isolation", "/tmp/fastsum"], ["/tmp/fastsum"], [], []),
        (["-e", "/src", "-r", "req.txt", "flask"], ["req.txt"], ["/src"], ["req.txt"]),
        (["--editable=./lib", "./app[extra]", "dist/a-1.whl"], ["./app", "dist/a-1.whl"], ["./lib"], []),
        (["-c/tmp/c.txt", "--find-links=/wheels", "--no-index", "pkg"], ["/tmp/c.txt", "/wheels"], [], []),
        (["-i", "https://x.invalid/simple", "gunicorn", "git+https://x.invalid/r.git"], [], [], []),
        (["-rreq.txt", "."], ["req.txt", "."], [], ["req.txt"]),
    ],
)
def test_pip_local_inputs(argv, consumed, editable, files):
    from dockerslim_rewrite.pybuild import pip_local_inputs

    found = pip_local_inputs(argv)
    assert (found.consumed, found.editable, found.requirement_files) == (consumed, editable, files)


def test_requirements_edit_in_place_follows_includes():
    from dockerslim_rewrite.pybuild import requirements_edit_in_place

    files = {"r.txt": "flask\n-r more/base.txt\n", "more/base.txt": "# x\n--editable ./lib\n", "plain.txt": "flask\n"}
    assert requirements_edit_in_place(reader(files), "r.txt") is True
    assert requirements_edit_in_place(reader(files), "plain.txt") is False
    assert requirements_edit_in_place(reader(files), "missing.txt") is None


@pytest.mark.parametrize(
    "argv, found",
    [
        (["-m", "pip", "install", "x"], ("pip", 2)),
        (["-P", "-m", "pip", "install"], ("pip", 3)),
        (["-I", "-m", "venv", "/opt/venv"], ("venv", 3)),
        (["-IPmpip", "list"], ("pip", 1)),
        (["-W", "ignore", "-X", "utf8", "-m", "pip"], ("pip", 6)),
        (["-Wignore", "-mpip"], ("pip", 2)),
        (["app.py", "-m", "pip"], None),
        (["-c", "import pip"], None),
        (["-u"], None),
        (["-m"], None),
        (["--version"], None),
    ],
)
def test_python_module(argv, found):
    from dockerslim_rewrite.pybuild import python_module

    assert python_module(argv) == found
