"""Read a saved image (`docker save` tar) in pure Python: sizes, layers and dive-style waste.

Why in Python and not via dive: verify must work on a bare engine, and the numbers must be
reproducible in tests with synthetic tars. Both save formats are read: the classic
docker-archive (`manifest.json`) and the OCI image layout (`index.json` + `blobs/`), with
plain, gzip or (when the `zstandard` module is present) zstd layer tars.

Waste is what a later layer hides: a file overwritten by a later layer, or deleted by a
whiteout (`.wh.NAME`) or an opaque-directory marker (`.wh..wh..opq`), still costs its bytes
in the lower layer. `efficiency` = bytes visible in the final filesystem / bytes stored in
all layers (1.0 = no waste), the same ratio dive reports.
"""

from __future__ import annotations

import gzip
import io
import json
import posixpath
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


class ImageTarError(Exception):
    """The file is not a docker-archive / OCI layout tar this module understands."""


@dataclass
class LayerStats:
    index: int
    digest: str  # blob name / path inside the saved tar
    size: int  # bytes of file content in the layer (regular files; what `docker history` shows)
    files: int  # regular files, symlinks and hard links added or changed
    whiteouts: int  # deletions recorded by this layer
    instruction: str  # the Dockerfile instruction that made it ("" when the history does not say)
    wasted: int = 0  # bytes of this layer hidden by later layers

    def to_json(self) -> dict:
        return {
            "index": self.index,
            "size": self.size,
            "files": self.files,
            "whiteouts": self.whiteouts,
            "instruction": self.instruction,
            "wasted": self.wasted,
        }


@dataclass
class WastedPath:
    path: str
    size: int  # bytes hidden (a directory: everything under it)
    layer: int  # the layer that stored the hidden bytes
    hidden_by: int  # the layer that overwrote or deleted it
    how: str  # "overwritten" | "deleted"


@dataclass
class ImageStats:
    layers: list[LayerStats]
    config: dict
    wasted: int
    wasted_paths: list[WastedPath] = field(default_factory=list)  # largest first

    @property
    def size(self) -> int:
        """Bytes stored in all layers (what the image costs on disk, uncompressed)."""
        return sum(layer.size for layer in self.layers)

    @property
    def visible(self) -> int:
        return self.size - self.wasted

    @property
    def efficiency(self) -> float:
        return 1.0 if self.size == 0 else self.visible / self.size

    def to_json(self, top: int = 10) -> dict:
        return {
            "size": self.size,
            "layers": len(self.layers),
            "layer_details": [layer.to_json() for layer in self.layers],
            "wasted": self.wasted,
            "efficiency": round(self.efficiency, 4),
            "top_wasted": [
                {"path": w.path, "size": w.size, "layer": w.layer, "hidden_by": w.hidden_by, "how": w.how}
                for w in self.wasted_paths[:top]
            ],
        }


# --------------------------------------------------------------------------------------------
# the stacked filesystem: a trie of the paths currently visible, each leaf remembering its layer


class _Node:
    __slots__ = ("children", "size", "layer")

    def __init__(self, size: int = 0, layer: int = -1, is_dir: bool = False):
        self.children: dict[str, _Node] | None = {} if is_dir else None
        self.size = size
        self.layer = layer


def _subtree_by_layer(node: _Node, acc: dict[int, int]) -> None:
    """Sum the bytes under node, per layer that stored them."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.size:
            acc[n.layer] = acc.get(n.layer, 0) + n.size
        if n.children:
            stack.extend(n.children.values())


class _Stack:
    """Applies layers in order and records what each one hides from the layers below."""

    def __init__(self) -> None:
        self.root = _Node(is_dir=True)
        self.wasted_by_layer: dict[int, int] = {}
        self.paths: list[WastedPath] = []

    def _hide(self, path: str, node: _Node, by: int, how: str) -> None:
        acc: dict[int, int] = {}
        _subtree_by_layer(node, acc)
        for layer, size in acc.items():
            self.wasted_by_layer[layer] = self.wasted_by_layer.get(layer, 0) + size
            self.paths.append(WastedPath(path, size, layer, by, how))

    def _parent(self, parts: list[str], layer: int) -> _Node:
        node = self.root
        for part in parts:
            assert node.children is not None
            child = node.children.get(part)
            if child is None or child.children is None:
                if child is not None:  # a file replaced by a directory
                    self._hide("/".join(parts), child, layer, "overwritten")
                child = _Node(is_dir=True, layer=layer)
                node.children[part] = child
            node = child
        return node

    def _lookup(self, parts: list[str]) -> _Node | None:
        node = self.root
        for part in parts:
            if node.children is None:
                return None
            node = node.children.get(part)  # type: ignore[assignment]
            if node is None:
                return None
        return node

    def delete(self, path: str, layer: int) -> None:
        parts = path.split("/")
        parent = self._lookup(parts[:-1])
        if parent is None or parent.children is None:
            return
        node = parent.children.pop(parts[-1], None)
        if node is not None:
            self._hide(path, node, layer, "deleted")

    def make_opaque(self, directory: str, layer: int) -> None:
        node = self._lookup(directory.split("/")) if directory else self.root
        if node is None or node.children is None:
            return
        for name, child in list(node.children.items()):
            self._hide(posixpath.join(directory, name), child, layer, "deleted")
        node.children.clear()

    def add(self, path: str, size: int, is_dir: bool, layer: int) -> None:
        parts = path.split("/")
        parent = self._parent(parts[:-1], layer)
        assert parent.children is not None
        old = parent.children.get(parts[-1])
        if is_dir:
            if old is not None and old.children is not None:
                return  # directory metadata change: costs nothing, hides nothing
            if old is not None:
                self._hide(path, old, layer, "overwritten")
            parent.children[parts[-1]] = _Node(is_dir=True, layer=layer)
            return
        if old is not None:
            self._hide(path, old, layer, "overwritten")
        parent.children[parts[-1]] = _Node(size=size, layer=layer)


def _norm(name: str) -> str:
    name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    name = posixpath.normpath(name) if name not in ("", ".") else ""
    return "" if name == "." else name


def _open_layer(raw: IO[bytes]) -> tarfile.TarFile:
    head = raw.read(4)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b":
        return tarfile.open(fileobj=gzip.GzipFile(fileobj=raw), mode="r|")
    if head == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImageTarError("zstd-compressed layer and the zstandard module is not installed") from exc
        return tarfile.open(fileobj=zstandard.ZstdDecompressor().stream_reader(raw), mode="r|")
    return tarfile.open(fileobj=raw, mode="r|")


def clean_instruction(created_by: str) -> str:
    """Turn a history `created_by` into the Dockerfile instruction a reader recognises."""
    text = created_by.strip()
    if text.endswith("# buildkit"):
        text = text[: -len("# buildkit")].rstrip()
    for prefix in ("/bin/sh -c #(nop) ", "|0 /bin/sh -c #(nop) "):
        if text.startswith(prefix):
            return text[len(prefix) :].strip()
    if text.startswith("/bin/sh -c "):
        return "RUN " + text[len("/bin/sh -c ") :]
    return text


def _history_instructions(config: dict, n_layers: int) -> list[str]:
    history = config.get("history") or []
    made = [clean_instruction(h.get("created_by") or h.get("comment") or "") for h in history if not h.get("empty_layer")]
    if len(made) != n_layers:
        # an imported image has no history for its layers; align from the top (newest)
        made = ([""] * n_layers + made)[-n_layers:] if len(made) < n_layers else made[-n_layers:]
    return made


def _resolve(tar: tarfile.TarFile, tag: str | None = None) -> tuple[dict, list[str]]:
    """Find the config and the ordered layer member names, docker-archive first, then OCI.

    One tar may hold several images (`docker save a b` stores shared layers once): `tag`
    picks one by its RepoTags / ref-name annotation; default is the first.
    """
    names = set(tar.getnames())

    def read_json(name: str) -> Any:  # whatever JSON value the file holds: callers check its shape
        member = tar.extractfile(name)
        if member is None:
            raise ImageTarError(f"{name} is not a file in the image tar")
        return json.load(member)

    if "manifest.json" in names:
        manifest = read_json("manifest.json")
        if not isinstance(manifest, list) or not manifest:
            raise ImageTarError("manifest.json holds no image")
        entry = manifest[0]
        if tag is not None:
            matches = [m for m in manifest if tag in (m.get("RepoTags") or [])]
            if not matches:
                raise ImageTarError(f"{tag} is not in the image tar")
            entry = matches[0]
        config = read_json(entry["Config"])
        return config, list(entry.get("Layers") or [])
    if "index.json" in names:

        def blob(digest: str) -> str:
            alg, _, hexd = digest.partition(":")
            return f"blobs/{alg}/{hexd}"

        node = read_json("index.json")
        if tag is not None and isinstance(node, dict):

            def ref_names(m: dict) -> list[str]:
                ann = m.get("annotations") or {}
                return [ann.get("io.containerd.image.name", ""), ann.get("org.opencontainers.image.ref.name", "")]

            named = [m for m in node.get("manifests") or [] if any(n == tag or n.endswith("/" + tag) for n in ref_names(m))]
            if not named:
                raise ImageTarError(f"{tag} is not in the image tar")
            node = {"manifests": named}
        for _ in range(8):  # index -> (nested index ->) manifest
            manifests = node.get("manifests") if isinstance(node, dict) else None
            if not manifests:
                break
            chosen = next(
                (
                    m
                    for m in manifests
                    if (m.get("platform") or {}).get("os", "linux") == "linux"
                    and (m.get("platform") or {}).get("architecture", "amd64") in ("amd64", "x86_64")
                ),
                manifests[0],
            )
            node = read_json(blob(chosen["digest"]))
        if not isinstance(node, dict) or "config" not in node:
            raise ImageTarError("index.json does not lead to an image manifest")
        config = read_json(blob(node["config"]["digest"]))
        return config, [blob(layer["digest"]) for layer in node.get("layers") or []]
    raise ImageTarError("neither manifest.json nor index.json found: not a `docker save` tar")


def _scan_layer(tar_stream: tarfile.TarFile) -> Iterable[tuple[str, tarfile.TarInfo]]:
    for info in tar_stream:
        path = _norm(info.name)
        if path:
            yield path, info


def read_image_tar(path: str | Path, tag: str | None = None, top_paths: int = 50) -> ImageStats:
    """Stats of one image (`tag`, default the first) in a `docker save` tar."""
    try:
        outer = tarfile.open(path, mode="r:")  # noqa: SIM115 - closed by the `with outer:` below
    except (tarfile.TarError, OSError) as exc:
        raise ImageTarError(f"cannot read {path}: {exc}") from exc
    with outer:
        config, layer_names = _resolve(outer, tag)
        instructions = _history_instructions(config, len(layer_names))
        stack = _Stack()
        layers: list[LayerStats] = []
        for index, name in enumerate(layer_names):
            member = outer.extractfile(name)
            if member is None:
                raise ImageTarError(f"layer {name} missing from the image tar")
            # an ExFileObject is a raw stream to BufferedReader; typeshed types extractfile() as IO[bytes]
            raw = io.BufferedReader(cast(io.RawIOBase, member))
            size = files = whiteouts = 0
            additions: list[tuple[str, int, bool]] = []
            with _open_layer(raw) as layer_tar:
                # whiteouts only hide lower layers, wherever they sit in this layer's tar
                for p, info in _scan_layer(layer_tar):
                    base = posixpath.basename(p)
                    parent = posixpath.dirname(p)
                    if base == OPAQUE_MARKER:
                        whiteouts += 1
                        stack.make_opaque(parent, index)
                    elif base.startswith(WHITEOUT_PREFIX):
                        whiteouts += 1
                        stack.delete(posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]), index)
                    elif info.isdir():
                        additions.append((p, 0, True))
                    else:
                        file_size = info.size if info.isreg() else 0
                        size += file_size
                        files += 1
                        additions.append((p, file_size, False))
            for p, file_size, is_dir in additions:
                stack.add(p, file_size, is_dir, index)
            layers.append(
                LayerStats(index, name, size, files, whiteouts, instructions[index] if index < len(instructions) else "")
            )
    for layer in layers:
        layer.wasted = stack.wasted_by_layer.get(layer.index, 0)
    wasted_paths = sorted(stack.paths, key=lambda w: (-w.size, w.path))[:top_paths]
    return ImageStats(layers=layers, config=config, wasted=sum(stack.wasted_by_layer.values()), wasted_paths=wasted_paths)


def human(n: float) -> str:
    """Bytes for people: 1.0 kB / 12.3 MB (decimal units, as `docker images` prints)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover
