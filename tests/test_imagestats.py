"""imagestats on image tars synthesised here: both save formats, gzip layers, whiteouts, opaque dirs."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from dockerslim_rewrite.imagestats import ImageTarError, clean_instruction, human, read_image_tar

# a layer is a list of entries: ("f", path, size) file, ("d", path) dir, ("l", path, target) symlink,
# ("h", path, target) hard link


def layer_bytes(entries, compress=False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for entry in entries:
            kind, path = entry[0], entry[1]
            info = tarfile.TarInfo(path)
            data = None
            if kind == "f":
                info.size = entry[2]
                data = io.BytesIO(b"x" * entry[2])
            elif kind == "d":
                info.type = tarfile.DIRTYPE
            elif kind == "l":
                info.type, info.linkname = tarfile.SYMTYPE, entry[2]
            elif kind == "h":
                info.type, info.linkname = tarfile.LNKTYPE, entry[2]
            t.addfile(info, data)
    raw = buf.getvalue()
    return gzip.compress(raw) if compress else raw


def config_for(instructions):
    history = []
    for ins in instructions:
        if ins.startswith("ENV") or ins.startswith("CMD"):
            history.append({"created_by": ins + " # buildkit", "empty_layer": True})
        else:
            history.append({"created_by": ins + " # buildkit"})
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "history": history,
        "rootfs": {"type": "layers", "diff_ids": []},
    }


def _add(t: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))


def save_tar(tmp_path: Path, layers, instructions, fmt="docker", compress=False, more=()) -> Path:
    """One image (`layers`, tag x:1) plus optional `more` images as (tag, layers, instructions)."""
    out = tmp_path / f"image-{fmt}-{compress}.tar"
    images = [("x:1", layers, instructions), *more]
    written: set[str] = set()
    with tarfile.open(out, "w") as t:

        def put(data: bytes) -> str:
            digest = hashlib.sha256(data).hexdigest()
            if digest not in written:  # shared layers are stored once, as `docker save a b` does
                written.add(digest)
                _add(t, f"blobs/sha256/{digest}", data)
            return "sha256:" + digest

        entries, index = [], []
        for tag, image_layers, image_instructions in images:
            blobs = [layer_bytes(e, compress) for e in image_layers]
            config = json.dumps(config_for(image_instructions)).encode()
            layer_digests = [put(b) for b in blobs]
            config_digest = put(config)
            entries.append(
                {
                    "Config": "blobs/sha256/" + config_digest[7:],
                    "RepoTags": [tag],
                    "Layers": ["blobs/sha256/" + d[7:] for d in layer_digests],
                }
            )
            manifest = {
                "schemaVersion": 2,
                "config": {"digest": config_digest, "size": len(config)},
                "layers": [{"digest": d, "size": len(b)} for d, b in zip(layer_digests, blobs)],
            }
            mdata = json.dumps(manifest).encode()
            inner = {
                "schemaVersion": 2,
                "manifests": [{"digest": put(mdata), "size": len(mdata), "platform": {"os": "linux", "architecture": "amd64"}}],
            }
            idata = json.dumps(inner).encode()
            index.append(
                {
                    "digest": put(idata),
                    "size": len(idata),
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "annotations": {
                        "io.containerd.image.name": "registry.example/library/" + tag,
                        "org.opencontainers.image.ref.name": tag.split(":")[-1],
                    },
                }
            )
        if fmt == "docker":
            _add(t, "manifest.json", json.dumps(entries).encode())
        else:
            _add(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            _add(t, "index.json", json.dumps({"schemaVersion": 2, "manifests": index}).encode())
    return out


BASE = [("d", "etc"), ("f", "etc/passwd", 100), ("d", "usr/bin"), ("f", "usr/bin/sh", 1000)]


@pytest.mark.parametrize("fmt", ["docker", "oci"])
@pytest.mark.parametrize("compress", [False, True])
def test_sizes_layers_and_instructions_in_both_formats(tmp_path, fmt, compress):
    layers = [BASE, [("d", "app"), ("f", "app/main.py", 50), ("l", "app/link", "main.py")]]
    tar = save_tar(tmp_path, layers, ["ADD rootfs / ", "ENV A=1", "COPY . /app", 'CMD ["x"]'], fmt, compress)
    stats = read_image_tar(tar)
    assert [layer.size for layer in stats.layers] == [1100, 50]
    assert [layer.files for layer in stats.layers] == [2, 2]
    # the ENV / CMD history entries made no layer and are skipped
    assert [layer.instruction for layer in stats.layers] == ["ADD rootfs /", "COPY . /app"]
    assert stats.size == 1150 and stats.wasted == 0 and stats.efficiency == 1.0
    assert stats.config["config"]["Cmd"] == ["sh"]


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_two_images_in_one_tar_are_picked_by_tag(tmp_path, fmt):
    after = ("dslim-verify-1:after", [BASE, [("f", "app/x", 10)]], ["ADD /", "COPY x"])
    tar = save_tar(tmp_path, [BASE, [("f", "app/x", 10), ("f", "tmp/junk", 990)]], ["ADD /", "COPY x"], fmt, more=[after])
    assert read_image_tar(tar).size == 2100
    assert read_image_tar(tar, tag="x:1").size == 2100
    assert read_image_tar(tar, tag="dslim-verify-1:after").size == 1110
    with pytest.raises(ImageTarError):
        read_image_tar(tar, tag="nope:1")


def test_deleted_in_later_layer_is_waste_of_the_layer_that_stored_it(tmp_path):
    layers = [
        BASE,
        [
            ("d", "var/lib/apt/lists"),
            ("f", "var/lib/apt/lists/a", 4000),
            ("f", "var/lib/apt/lists/b", 6000),
            ("f", "usr/bin/tool", 500),
        ],
        [("f", "var/lib/apt/lists/.wh.a", 0), ("f", "var/lib/apt/lists/.wh.b", 0)],
    ]
    stats = read_image_tar(save_tar(tmp_path, layers, ["ADD /", "RUN apt-get update", "RUN rm -rf lists"]))
    assert stats.wasted == 10000
    assert [layer.wasted for layer in stats.layers] == [0, 10000, 0]
    assert stats.layers[2].whiteouts == 2 and stats.layers[2].size == 0
    assert stats.size == 11600 and stats.visible == 1600
    assert stats.efficiency == pytest.approx(1600 / 11600)
    top = stats.wasted_paths[0]
    assert (top.path, top.size, top.layer, top.hidden_by, top.how) == ("var/lib/apt/lists/b", 6000, 1, 2, "deleted")


def test_whiteout_of_a_directory_hides_the_whole_subtree(tmp_path):
    layers = [
        BASE,
        [("d", "root/.cache/pip"), ("f", "root/.cache/pip/w1", 300), ("f", "root/.cache/pip/sub/w2", 700)],
        [("f", "root/.wh..cache", 0)],
    ]
    stats = read_image_tar(save_tar(tmp_path, layers, ["ADD /", "RUN pip install", "RUN rm -rf /root/.cache"]))
    assert stats.wasted == 1000
    assert stats.wasted_paths[0].path == "root/.cache" and stats.wasted_paths[0].how == "deleted"


def test_opaque_directory_hides_lower_content_but_not_its_own_layer(tmp_path):
    layers = [
        BASE,
        [("f", "opt/app/old1", 200), ("f", "opt/app/old2", 300)],
        # the marker may come after the new content in the tar: it still only hides lower layers
        [("f", "opt/app/new", 50), ("f", "opt/app/.wh..wh..opq", 0)],
    ]
    stats = read_image_tar(save_tar(tmp_path, layers, ["ADD /", "COPY old", "COPY new"]))
    assert stats.wasted == 500
    assert stats.layers[1].wasted == 500 and stats.layers[2].wasted == 0
    assert stats.visible == 1100 + 50


def test_overwrite_counts_the_old_copy_only(tmp_path):
    layers = [BASE, [("f", "app/data", 1000)], [("f", "app/data", 1000)]]  # COPY then chown -R
    stats = read_image_tar(save_tar(tmp_path, layers, ["ADD /", "COPY . /app", "RUN chown -R app /app"]))
    assert stats.wasted == 1000
    assert stats.wasted_paths[0].how == "overwritten" and stats.wasted_paths[0].hidden_by == 2
    assert stats.efficiency == pytest.approx(2100 / 3100)


def test_file_replaced_by_directory_and_back(tmp_path):
    layers = [
        [("f", "x", 10), ("f", "y/z", 20)],
        [("f", "x/inner", 5)],  # file x becomes a directory
        [("f", "y", 7)],  # directory y becomes a file
    ]
    stats = read_image_tar(save_tar(tmp_path, layers, ["A", "B", "C"]))
    assert stats.wasted == 30
    assert {(w.path, w.size) for w in stats.wasted_paths} == {("x", 10), ("y", 20)}


def test_whiteout_of_unknown_path_and_hard_links_are_harmless(tmp_path):
    layers = [BASE, [("f", "nothing/.wh.here", 0), ("h", "usr/bin/sh2", "usr/bin/sh")]]
    stats = read_image_tar(save_tar(tmp_path, layers, ["ADD /", "RUN ln"]))
    assert stats.wasted == 0 and stats.layers[1].size == 0 and stats.layers[1].files == 1


def test_history_shorter_than_layers_is_aligned_to_the_newest(tmp_path):
    tar = save_tar(tmp_path, [BASE, [("f", "a", 1)]], ["COPY a /"])
    stats = read_image_tar(tar)
    assert [layer.instruction for layer in stats.layers] == ["", "COPY a /"]


def test_json_report_shape(tmp_path):
    layers = [BASE, [("f", "tmp/big", 5000)], [("f", "tmp/.wh.big", 0)]]
    report = read_image_tar(save_tar(tmp_path, layers, ["ADD /", "RUN dl", "RUN rm"])).to_json()
    assert report["layers"] == 3 and report["wasted"] == 5000
    assert report["top_wasted"][0]["path"] == "tmp/big"
    json.dumps(report)


def test_not_an_image_tar(tmp_path):
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as t:
        _add(t, "hello.txt", b"hi")
    with pytest.raises(ImageTarError):
        read_image_tar(bad)
    with pytest.raises(ImageTarError):
        read_image_tar(tmp_path / "missing.tar")


@pytest.mark.parametrize(
    "created_by, expected",
    [
        ("RUN /bin/sh -c apt-get update # buildkit", "RUN /bin/sh -c apt-get update"),
        ('/bin/sh -c #(nop)  CMD ["bash"]', 'CMD ["bash"]'),
        ("/bin/sh -c apt-get install -y x", "RUN apt-get install -y x"),
        ("COPY . /app # buildkit", "COPY . /app"),
    ],
)
def test_clean_instruction(created_by, expected):
    assert clean_instruction(created_by) == expected


def test_human():
    assert human(999) == "999 B"
    assert human(1500) == "1.5 kB"
    assert human(123_400_000) == "123.4 MB"
