"""Reading a setup.py with libcst, without running it (kept apart: libcst takes ~150 ms to import)."""

from __future__ import annotations

import libcst as cst


class _SetupVisitor(cst.CSTVisitor):
    def __init__(self, calls: set[str], keywords: set[str]):
        self.calls, self.keywords = calls, keywords
        self.found: list[str] = []
        self.install_requires: list[str] = []

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else ""
        if name in self.calls:
            self.found.append(f"{name}(...)")
        for arg in node.args:
            if arg.keyword is None:
                continue
            key = arg.keyword.value
            if key in self.keywords and not _empty_literal(arg.value):
                self.found.append(f"{key}=")
            if key == "install_requires" and isinstance(arg.value, (cst.List, cst.Tuple)):
                for el in arg.value.elements:
                    # evaluated_value is bytes for a b"..." literal, which is no requirement string
                    if isinstance(el.value, cst.SimpleString) and isinstance(el.value.evaluated_value, str):
                        self.install_requires.append(el.value.evaluated_value)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        mod = node.module
        text = cst.Module([]).code_for_node(mod) if mod is not None else ""
        if text.startswith("Cython"):
            self.found.append(f"from {text} import")


def _empty_literal(node: cst.BaseExpression) -> bool:
    return isinstance(node, (cst.List, cst.Tuple)) and not node.elements or (isinstance(node, cst.Name) and node.value == "None")


def read_setup_calls(text: str, calls: set[str], keywords: set[str]) -> _SetupVisitor | None:
    """The extension-declaring calls and install_requires of a setup.py; None when it does not parse."""
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError:
        return None
    visitor = _SetupVisitor(calls, keywords)
    module.visit(visitor)
    return visitor
