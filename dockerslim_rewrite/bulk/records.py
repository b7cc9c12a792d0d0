"""Repository records kept on disk while a bulk run goes on, read back one at a time for the summaries.

A record holds every change's explanation and the repository's whole diff: over 10,000 Dockerfiles
the records are ~100 MB of Python objects, and the summaries used to be rendered from all of them
at once. `SpilledRecords` appends each finished record to one temporary file and keeps only its sort
key and offset; iterating it reads the records back in summary order (by key, then path), once per
pass. The summaries are then streamed to their files (see `run.write_summary`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import IO


class SpilledRecords:
    """An append-only, re-iterable sequence of records, sorted by (key, path) when read."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="dslim-records-")  # noqa: SIM115 (closed by close())
        self._where: list[tuple[tuple[str, str], int, int]] = []  # (sort key, offset, length)

    def add(self, record: dict) -> None:
        data = json.dumps(record, separators=(",", ":")).encode("utf-8")
        self._file.seek(0, 2)
        self._where.append(((record["key"], record["path"]), self._file.tell(), len(data)))
        self._file.write(data)

    def __len__(self) -> int:
        return len(self._where)

    def __iter__(self) -> Iterator[dict]:
        for _, offset, length in sorted(self._where):
            self._file.seek(offset)
            yield json.loads(self._file.read(length))

    def close(self) -> None:
        self._file.close()


def dump_json(value: object, indent: int = 2, level: int = 0) -> Iterator[str]:
    """``json.dumps(value, indent=indent)`` in pieces, reading a SpilledRecords one record at a time."""
    pad, inner = " " * (indent * level), " " * (indent * (level + 1))
    if isinstance(value, dict) and value:
        yield "{\n"
        for n, (key, item) in enumerate(value.items()):
            yield f"{inner}{json.dumps(key)}: "
            yield from dump_json(item, indent, level + 1)
            yield ",\n" if n < len(value) - 1 else "\n"
        yield pad + "}"
    elif isinstance(value, SpilledRecords) and len(value):
        yield "[\n"
        for n, item in enumerate(value):
            yield inner
            yield from dump_json(item, indent, level + 1)
            yield ",\n" if n < len(value) - 1 else "\n"
        yield pad + "]"
    elif isinstance(value, SpilledRecords):
        yield "[]"
    else:
        text = json.dumps(value, indent=indent)
        yield text.replace("\n", "\n" + pad) if "\n" in text else text
