"""Build script. Pure Python by default; with ``DSLIM_COMPILE=1`` the modules a rewrite runs through
are compiled to C extensions with mypyc (as black and mypy ship), which rewrites files ~1.4x faster.

Not compiled: the CLI, the runner and ``bulk`` (they start processes and pass frozen dataclasses such
as ``Flags`` to spawned workers, which mypyc's native classes cannot be unpickled into), ``verify``
and the result cache (below). No file's rewrite spends time there.

mypyc leaves the ``__init__`` that ``@dataclass`` generates interpreted: 4 to 8 times slower than a
compiled one, which counted for 6 % of a rewrite. The classes built most often (words, commands,
instructions, states and the like) write theirs out, marked "written out to be compiled";
tests/test_native_init.py checks that each takes the fields the dataclass declares, with its defaults.
Not the classes whose instances are pickled (a rewrite's result goes from a worker to the parent and
into the result cache): a compiled class with its own ``__init__`` cannot be unpickled.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup

NOT_COMPILED = {
    f"dockerslim_rewrite/{name}.py"
    # the command line and the processes it starts
    for name in ("__main__", "cli", "runner")
    # `dslim verify` and the result cache: their time goes to the engine and the disk, and their tests
    # stand in for the engine, the disk and dslim's own files at module level
    + ("verify", "engine", "imagestats", "resultcache", "fsio")
}


def compiled_modules() -> list[str]:
    """Every module of the package but those above, ``bulk`` and the packages' ``__init__`` (a compiled
    ``__init__`` hides the package's Python submodules)."""
    found = sorted(p.as_posix() for p in Path("dockerslim_rewrite").rglob("*.py"))
    return [p for p in found if p not in NOT_COMPILED and not p.endswith("/__init__.py") and "/bulk/" not in p]


if os.environ.get("DSLIM_COMPILE") == "1":
    from mypyc.build import mypycify

    setup(
        ext_modules=mypycify(compiled_modules(), opt_level="3", group_name="dockerslim_rewrite.native"),
    )
else:
    setup()
