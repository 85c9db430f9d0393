"""Images for the node without a registry: the pause image and CoreDNS made here as OCI
archives from one static binary each, and the service images moved over from Podman
(``podman save`` -> ``ctr images import``). Pods use them with ``imagePullPolicy: Never``."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from devstack.kube.layout import COREDNS_IMAGE, PAUSE_IMAGE, NodeLayout
from devstack.procs import StackError

PODMAN = ("podman", "--runtime", "runc", "--cgroup-manager=cgroupfs")
SERVICES = ("publisher", "ingestor", "query-api", "web")
PAUSE_SOURCE = Path(__file__).resolve().parents[3] / "kube" / "pause.c"


def _blob(data: bytes) -> tuple[str, int]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)


def _tar_bytes(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A tar of ``path -> (content, mode)``, owned by root, reproducible (mtime 0)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, (content, mode) in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(content), mode, 0
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def oci_archive(name: str, binary: bytes, config: dict[str, Any]) -> bytes:
    """An OCI image layout (as a tar) of one layer holding ``binary`` at ``/<basename>``, with
    the image ``config`` (Entrypoint, User, ...), named ``name`` for ``ctr images import``."""
    entry = config["Entrypoint"][0].lstrip("/")
    layer = _tar_bytes({entry: (binary, 0o755)})
    layer_digest, layer_size = _blob(layer)
    image_config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    ).encode()
    config_digest, config_size = _blob(image_config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest, "size": layer_size}],
        }
    ).encode()  # fmt: skip
    manifest_digest, manifest_size = _blob(manifest)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": manifest_size,
                    "annotations": {
                        "io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rpartition(":")[2],
                    },
                }
            ],
        }
    ).encode()
    files = {"oci-layout": (b'{"imageLayoutVersion": "1.0.0"}', 0o644),
             "index.json": (index, 0o644)}  # fmt: skip
    for blob in (layer, image_config, manifest):
        files[f"blobs/sha256/{_blob(blob)[0].split(':')[1]}"] = (blob, 0o644)
    return _tar_bytes(files)


class ImageStore:
    """containerd's k8s.io namespace, the one the kubelet uses."""

    def __init__(self, layout: NodeLayout):
        self.layout = layout
        self.ctr = ("ctr", "--address", str(layout.containerd_socket), "--namespace", "k8s.io")

    def names(self) -> set[str]:
        out = subprocess.run(
            [*self.ctr, "images", "ls", "-q"], capture_output=True, text=True, check=True
        ).stdout
        return set(out.split())

    def import_archive(self, archive: Path) -> None:
        result = subprocess.run(
            [*self.ctr, "images", "import", str(archive)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise StackError(f"ctr images import {archive.name}: {result.stderr.strip()[-300:]}")

    def import_bytes(self, name: str, data: bytes) -> None:
        archive = self.layout.state / "images" / (name.replace("/", "_").replace(":", "_") + ".tar")
        archive.parent.mkdir(parents=True, exist_ok=True)
        archive.write_bytes(data)
        self.import_archive(archive)
        archive.unlink()


def pause_binary(layout: NodeLayout) -> bytes:
    out = layout.state / "images" / "pause"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["gcc", "-Os", "-static", "-o", str(out), str(PAUSE_SOURCE)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise StackError(f"building the pause binary failed: {result.stderr.strip()[-300:]}")
    return out.read_bytes()


def load_node_images(layout: NodeLayout, store: ImageStore) -> None:
    """The pause and CoreDNS images, when containerd does not have them yet."""
    have = store.names()
    if PAUSE_IMAGE not in have:
        store.import_bytes(
            PAUSE_IMAGE, oci_archive(PAUSE_IMAGE, pause_binary(layout), {"Entrypoint": ["/pause"]})
        )
    if COREDNS_IMAGE not in have:
        if not layout.coredns.is_file():
            raise StackError(f"{layout.coredns} is missing: run `make kube-binaries`")
        store.import_bytes(
            COREDNS_IMAGE,
            oci_archive(
                COREDNS_IMAGE,
                layout.coredns.read_bytes(),
                {"Entrypoint": ["/coredns"], "User": "65534:65534"},
            ),
        )


def podman_image_id(image: str) -> str | None:
    result = subprocess.run(
        [*PODMAN, "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.stdout.strip() or None if result.returncode == 0 else None


def load_service_images(layout: NodeLayout, store: ImageStore, tag: str) -> list[str]:
    """The four images built by `make images` (Podman names them localhost/streamsuite/...),
    moved into containerd when they changed since the last time; returns their names."""
    names = [f"localhost/streamsuite/{service}:{tag}" for service in SERVICES]
    ids = {}
    for name in names:
        ids[name] = podman_image_id(name)
        if ids[name] is None:
            raise StackError(f"no image {name} in Podman: run `make images`")
    marker = layout.state / "images" / f"service-images-{tag}.json"
    if marker.is_file() and json.loads(marker.read_text()) == ids and set(names) <= store.names():
        return names
    archive = layout.state / "images" / f"service-images-{tag}.tar"
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.unlink(missing_ok=True)
    result = subprocess.run(
        [*PODMAN, "save", "--multi-image-archive", "--format", "docker-archive",
         "-o", str(archive), *names],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise StackError(f"podman save: {result.stderr.strip()[-300:]}")
    try:
        store.import_archive(archive)
    finally:
        archive.unlink(missing_ok=True)
    marker.write_text(json.dumps(ids))
    return names
