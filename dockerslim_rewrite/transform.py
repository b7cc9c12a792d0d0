"""The transform API: what a transform receives and what it may return.

A transform is a function decorated with ``@transform`` in its own module under
``dockerslim_rewrite/transforms/``. It looks at a Document and yields Changes (text edits with
an explanation and a fix-safety class), FileChanges (files beside the Dockerfile, such as
.dockerignore) and Skips (constructs it did not handle, with the reason). It never does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from .datafiles import data_toml, module_docstring

if TYPE_CHECKING:  # the model is only named in annotations: `dslim rules` imports this module alone
    from .model import Document, Instruction

if TYPE_CHECKING:  # pragma: no cover
    from .buildcontext import Snapshot

Safety = Literal["safe", "review", "unsafe"]
SAFETY_LEVELS: dict[str, int] = {"safe": 0, "review": 1, "unsafe": 2}


@dataclass
class Change:
    """Replace ``doc.text[start:end]`` with ``replacement``."""

    start: int
    end: int
    replacement: str
    safety: Safety
    explanation: str
    assumption: str | None = None
    transform: str = ""
    line: int = 0  # filled in by the pipeline

    def __post_init__(self) -> None:
        if self.safety not in SAFETY_LEVELS:
            raise ValueError(f"unknown safety class {self.safety!r}")
        if self.safety == "review" and not self.assumption:
            raise ValueError("a 'review' change must state its assumption")


@dataclass
class FileChange:
    """Create or replace a file in the build context (path relative to the context root)."""

    path: str
    new: bytes
    old: bytes | None
    safety: Safety
    explanation: str
    assumption: str | None = None
    report: dict = field(default_factory=dict)
    transform: str = ""


@dataclass
class Skip:
    """Something the transform saw and deliberately left alone."""

    line: int
    reason: str
    transform: str = ""


Result = Change | FileChange | Skip


@dataclass
class Options:
    select: frozenset[str] | None = None
    ignore: frozenset[str] = frozenset()
    safe_only: bool = False
    unsafe_fixes: bool = False
    cache_mounts: bool = False
    image_aliases: dict[str, str] = field(default_factory=dict)
    targets: tuple[str, ...] = ()  # stages built with --target: they ship like the final stage
    include_generated: bool = False  # edit files marked as generated (DO NOT EDIT) too
    generated_from: str | None = None  # a generator's template found beside the file (by the CLI)
    settings: dict[str, dict] = field(default_factory=dict)  # per-transform settings from config

    @property
    def max_safety(self) -> int:
        if self.safe_only:
            return SAFETY_LEVELS["safe"]
        return SAFETY_LEVELS["unsafe" if self.unsafe_fixes else "review"]


def _nothing_ignored(instruction: Instruction, transform_id: str) -> bool:
    return False


@dataclass
class Context:
    options: Options
    build_context: Snapshot | None = None
    dockerfile_name: str = "Dockerfile"
    ignored: Callable[[Instruction, str], bool] = _nothing_ignored

    def __init__(  # written out to be compiled: see setup.py
        self,
        options: Options,
        build_context: Snapshot | None = None,
        dockerfile_name: str = "Dockerfile",
        ignored: Callable[[Instruction, str], bool] = _nothing_ignored,
    ) -> None:
        self.options = options
        self.build_context = build_context
        self.dockerfile_name = dockerfile_name
        self.ignored = ignored

    def shipping_stages(self, doc: Document) -> frozenset[int]:
        """Stages whose files end up in an image (see ``Document.shipping_stages``), with the configured targets."""
        return doc.shipping_stages(self.options.targets)

    def is_ignored(self, instruction: Instruction, transform_id: str) -> bool:
        """Has the user opted this instruction out of the transform with a ``# dslim: ignore`` pragma?"""
        return self.ignored(instruction, transform_id)


TransformFunc = Callable[["Document", "Context"], Iterable["Result"]]


@dataclass
class Transform:
    id: str
    summary: str
    order: int
    func: TransformFunc
    module: str

    @property
    def doc(self) -> str:
        """The transform module's docstring (its documentation: `dslim rule ID`)."""
        return (module_docstring(self.module) or self.summary).strip()

    def run(self, doc: Document, ctx: Context) -> Iterable[Result]:
        return self.func(doc, ctx)


REGISTRY: dict[str, Transform] = {}


def transform(id: str) -> Callable[[TransformFunc], TransformFunc]:
    """Register a transform function under its id; its summary and order come from data/transforms.toml."""

    def register(func: TransformFunc) -> TransformFunc:
        if id in REGISTRY and REGISTRY[id].module != func.__module__:
            raise ValueError(f"transform id {id!r} registered twice")
        entry = next((e for e in listed_transforms() if e["id"] == id), None)
        if entry is None:
            raise ValueError(f"transform id {id!r} is not listed in data/transforms.toml")
        REGISTRY[id] = Transform(id, entry["summary"], entry["order"], func, func.__module__)
        return func

    return register


def listed_transforms() -> list[dict]:
    """The transforms of data/transforms.toml (id, module, order, summary), in pipeline order.

    Reading them needs no transform module: `dslim rules` lists them without importing any.
    """
    return sorted(data_toml("transforms.toml")["transform"], key=lambda e: (e["order"], e["id"]))
