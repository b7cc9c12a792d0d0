"""dslim: rewrite Dockerfiles into smaller-image equivalents, with a reviewable diff."""

__version__ = "0.1.0"
