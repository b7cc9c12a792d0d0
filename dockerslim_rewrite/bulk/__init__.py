"""``dslim bulk``: migrate many repositories at once, with what a reviewer and a platform team need.

discover (which repositories and Dockerfiles), shard (a deterministic share for one machine),
summarize/estimate (records, pure), render (PR.md, summary.md/html), git (a branch without touching
the checkout), progress, merge (shards into one summary) and run (the only module doing I/O).
"""

from __future__ import annotations
