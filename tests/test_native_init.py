"""The dataclasses whose ``__init__`` is written out (so that the compiled build compiles it, see
setup.py) take exactly the fields they declare, in order, with the declared defaults."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path
from types import ModuleType

import pytest

import dockerslim_rewrite
from dockerslim_rewrite import model
from dockerslim_rewrite.datafiles import module_source

PACKAGE = Path(dockerslim_rewrite.__file__ or "").parent


def _modules() -> list[ModuleType]:
    """Every module of the package, found from the package's folder (see datafiles.module_source)."""
    names = [".".join(["dockerslim_rewrite", *p.relative_to(PACKAGE).with_suffix("").parts]) for p in PACKAGE.rglob("*.py")]
    return [importlib.import_module(name) for name in sorted(names) if not name.endswith(("__init__", "__main__"))]


def _source(module: ModuleType) -> str:
    return module_source(module.__name__).read_text()


def _written_out() -> dict[type, list[tuple[str, object]]]:
    """Every class whose __init__ is marked written out, with its parameters and their defaults
    (``EMPTY`` for none), read from the source so that the compiled build is checked too."""
    found: dict[type, list[tuple[str, object]]] = {}
    for module in _modules():
        source = _source(module)
        for node in ast.parse(source).body:
            init = next((f for f in getattr(node, "body", []) if getattr(f, "name", "") == "__init__"), None)
            if not isinstance(node, ast.ClassDef) or init is None:
                continue
            if "written out to be compiled" not in (ast.get_source_segment(source, init) or ""):
                continue
            args = init.args.args[1:]
            defaults = [EMPTY] * (len(args) - len(init.args.defaults)) + [
                eval(ast.unparse(d), vars(module)) for d in init.args.defaults
            ]
            found[getattr(module, node.name)] = [(a.arg, d) for a, d in zip(args, defaults)]
    return found


EMPTY = object()
STAND_INS = pytest.mark.skipif(
    dockerslim_rewrite.compiled_build(), reason="builds with stand-in values of any type: a compiled __init__ checks types"
)
SIGNATURES = _written_out()
WRITTEN_OUT = list(SIGNATURES)


def test_the_hot_classes_are_written_out() -> None:
    names = {cls.__name__ for cls in WRITTEN_OUT}
    hot = {"Word", "Command", "ParsedArgs", "Script", "Item", "Instruction", "_Line", "State", "Keep", "Hazards", "ImageRef"}
    per_parse = {"Comment", "Blank", "Heredoc", "Stage", "Context", "RunStep", "CopyStep", "StageFacts"}
    assert hot | per_parse | {"_Run", "_Use", "_Candidate", "Needs", "Plan", "_Choice", "_Target"} <= names


@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda cls: cls.__name__)
def test_written_out_init_takes_the_declared_fields(cls: type) -> None:
    declared = [f for f in dataclasses.fields(cls) if f.init]
    params = SIGNATURES[cls]
    assert [name for name, _ in params] == [f.name for f in declared]
    for (_, default), f in zip(params, declared):
        if f.default is not dataclasses.MISSING:
            assert default == f.default, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert default is None, f"{f.name}: a factory's default is None, made into a fresh value"
        else:
            assert default is EMPTY, f.name


@STAND_INS
@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda cls: cls.__name__)
def test_written_out_init_keeps_its_arguments_and_makes_fresh_defaults(cls: type) -> None:
    declared = [f for f in dataclasses.fields(cls) if f.init]
    required = {f.name: object() for f in declared if f.default is f.default_factory is dataclasses.MISSING}
    made, again = cls(**required), cls(**required)
    for f in declared:
        if f.name in required:
            assert getattr(made, f.name) is required[f.name]
        elif f.default_factory is not dataclasses.MISSING:
            assert getattr(made, f.name) == f.default_factory()
            if isinstance(getattr(made, f.name), (list, dict, set)):
                assert getattr(made, f.name) is not getattr(again, f.name), f"{f.name} is shared between instances"
        else:
            assert getattr(made, f.name) == f.default
    given = {f.name: object() for f in declared}
    made = cls(**given)
    assert all(getattr(made, name) is value for name, value in given.items())


@STAND_INS
@pytest.mark.parametrize("cls", [c for c in WRITTEN_OUT if c.__dataclass_params__.frozen], ids=lambda cls: cls.__name__)  # type: ignore[attr-defined]
def test_frozen_ones_stay_frozen_and_hashable(cls: type) -> None:
    declared = [f for f in dataclasses.fields(cls) if f.init]
    values = {f.name: f"v{k}" for k, f in enumerate(declared)}
    a, b = cls(**values), cls(**values)
    assert a == b and hash(a) == hash(b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(a, declared[0].name, "other")


def test_replace_goes_through_the_written_out_init() -> None:
    state = model.State(workdir="/app", env={"A": "1"})
    moved = dataclasses.replace(state, workdir="/srv")
    assert moved == model.State(workdir="/srv", env={"A": "1"}) and moved.env is state.env
