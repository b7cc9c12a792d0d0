"""dslim: rewrite Dockerfiles into smaller-image equivalents, with a reviewable diff."""

__version__ = "0.1.0"


def compiled_build() -> bool:
    """Is the rewrite machinery the mypyc-compiled build (``DSLIM_COMPILE=1``, see setup.py)? Looked up
    without importing it: ``--version`` must stay fast."""
    from importlib.util import find_spec

    spec = find_spec("dockerslim_rewrite.model")
    return spec is not None and spec.origin is not None and not spec.origin.endswith(".py")
