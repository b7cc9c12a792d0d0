"""Answers worked out once and kept, keyed by what they depend on.

Objects that never change once built (a parsed Document, a context Snapshot, a planner) keep their
derived answers here instead of in ``functools.cached_property`` or their ``__dict__``: classes of the
compiled build (mypyc) have no ``__dict__``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Memo:
    def __init__(self) -> None:
        self.answers: dict[object, object] = {}

    def remember(self, key: object, compute: Callable[[], T]) -> T:
        """``compute()``, worked out once under ``key`` (which names what the answer depends on)."""
        answers = self.answers
        if key not in answers:
            answers[key] = compute()
        return answers[key]  # type: ignore[return-value]
