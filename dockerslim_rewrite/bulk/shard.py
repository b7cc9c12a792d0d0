"""``--shard I/N``: a deterministic share of the discovered repositories.

Every shard discovers the same repositories and keeps those whose key hashes to its number, so N
machines (a GitHub Actions matrix, a Kubernetes Indexed Job) split the work without talking to each
other, and the union of the shards is exactly the unsharded run. sha256, not ``hash()``: Python
salts string hashes per process.
"""

from __future__ import annotations

import hashlib


class ShardError(ValueError):
    pass


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/5"`` -> ``(2, 5)``; shards are numbered 1..N (a Kubernetes index is 0-based: add 1)."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise ShardError(f"--shard {text!r}: expected I/N, for example 1/4") from None
    if not sep or n < 1 or not 1 <= i <= n:
        raise ShardError(f"--shard {text!r}: expected I/N with 1 <= I <= N (shards are numbered from 1)")
    return i, n


def shard_of(key: str, count: int) -> int:
    """The shard (1..count) a repository key belongs to."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1
