"""dslim's PEP 517 build backend: setuptools' own, plus mypy as a build requirement when
``DSLIM_COMPILE=1`` asks for the compiled build (setup.py then compiles the rewrite path with mypyc).

A plain ``pip install .`` needs no compiler and builds the pure-Python package.
"""

from __future__ import annotations

import os

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (every hook not redefined here is setuptools')

#: the compiler: mypyc ships with mypy; the versions the compiled build is tested with
MYPYC_REQUIREMENT = "mypy>=1.10"


def compiling() -> bool:
    return os.environ.get("DSLIM_COMPILE") == "1"


def get_requires_for_build_wheel(config_settings=None):
    if compiling():
        # setuptools' own hook runs setup.py to find setup_requires (dslim has none), and setup.py
        # needs mypyc, which is what this answer installs
        return [MYPYC_REQUIREMENT]
    return _setuptools.get_requires_for_build_wheel(config_settings)
