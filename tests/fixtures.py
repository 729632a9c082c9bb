"""Real OCI images for the image tests, built offline from this machine's busybox.

Plain functions, no pytest: each takes a directory to write into and returns an `Image`
(or a few) naming what it wrote. Images are built with buildah in a throwaway
containers-storage inside that directory, with its own policy, registries and storage
configuration, so nothing reads or touches the host's containers storage or registries;
the storage is deleted before the function returns and only the artefacts stay:

- an OCI image layout directory (`oci:DIR:TAG`),
- a docker-archive tarball, as `docker save`/`skopeo copy docker-archive:` write it,
- an oci-archive tarball (the same layout, tarred).

`many_layers` is written by hand in Python instead: a hundred buildah commits take minutes.

Needs: buildah, skopeo (Debian packages of the same names) and /bin/busybox (busybox-static).
"""

from __future__ import annotations

import atexit
import functools
import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# the user and groups that `base` carries: tests of --user and of file ownership lean on them
APP_UID, APP_GID, EXTRA_GID = 1000, 1000, 2000
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nextra:x:2000:app\n"

# OCI media types, as the image spec names them
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


# the Debian package that brings each tool these fixtures and their tests run
PACKAGES = {
    "buildah": "buildah",
    "skopeo": "skopeo",
    "umoci": "umoci",
    "docker-registry": "docker-registry",
    "htpasswd": "apache2-utils",
    "openssl": "openssl",
    str(BUSYBOX): "busybox-static",
}


class ToolError(RuntimeError):
    """A build tool failed or is missing; the message says which, and what it printed."""


@dataclass(frozen=True)
class Image:
    """Where one built image was written.

    `layout` is an OCI image layout directory holding the image under `tag` (a layout may
    hold other tags too); `docker_archive` a docker-archive tarball whose RepoTags is
    `repo_tag`; `oci_archive` an oci-archive tarball holding it under `tag`. Either archive
    may be None where the function's docstring says so.
    """

    layout: Path
    tag: str
    docker_archive: Path | None = None
    oci_archive: Path | None = None

    @property
    def oci(self) -> str:
        """The containers-transport reference, for skopeo or buildah: oci:DIR:TAG."""
        return f"oci:{self.layout}:{self.tag}"

    @property
    def repo_tag(self) -> str:
        """The name given to docker_archive(); skopeo writes it qualified in manifest.json's
        RepoTags ("docker.io/library/base:latest", where `docker save` writes "base:latest")."""
        return f"{self.tag}:latest"

    def index(self) -> dict:
        return json.loads((self.layout / "index.json").read_text())

    def manifest(self) -> dict:
        """The manifest (or for a list, the index) that `tag` names in the layout."""
        for entry in self.index()["manifests"]:
            if entry.get("annotations", {}).get(REF_NAME) == self.tag:
                return json.loads(self.blob(entry["digest"]).read_bytes())
        raise KeyError(f"{self.tag} not in {self.layout}/index.json")

    def config(self) -> dict:
        return json.loads(self.blob(self.manifest()["config"]["digest"]).read_bytes())

    def blob(self, digest: str) -> Path:
        algorithm, hexdigest = digest.split(":", 1)
        return self.layout / "blobs" / algorithm / hexdigest

    def layer_digests(self) -> list[str]:
        return [layer["digest"] for layer in self.manifest()["layers"]]


def host_arch() -> str:
    """This machine's architecture in OCI's words (amd64, arm64), the one busybox runs on."""
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


# -- running the tools ----------------------------------------------------------------------


def _run(argv: list[str], env: dict | None = None, timeout: float = 300) -> str:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    except FileNotFoundError:
        package = PACKAGES.get(str(argv[0]), str(argv[0]))
        raise ToolError(f"{argv[0]} is not installed (apt-get install {package})") from None
    if res.returncode != 0:
        raise ToolError(f"{' '.join(map(str, argv))} exited {res.returncode}:\n{res.stderr}")
    return res.stdout


@functools.cache
def _config_dir() -> Path:
    """Policy and registries configuration for buildah and skopeo, made once per process.

    The policy accepts any image unsigned (the host's may not), and the registries file
    names no search registry, so a short name can never be resolved against the network.
    """
    where = Path(tempfile.mkdtemp(prefix="tinydocker-imgtools-"))
    atexit.register(shutil.rmtree, where, True)
    (where / "policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}\n')
    (where / "registries.conf").write_text("unqualified-search-registries = []\n")
    (where / "containers.conf").write_text("")
    return where


def _tool_env(tmpdir: Path) -> dict:
    conf = _config_dir()
    env = dict(os.environ)
    env.update(
        CONTAINERS_REGISTRIES_CONF=str(conf / "registries.conf"),
        CONTAINERS_CONF=str(conf / "containers.conf"),
        # containers/image stages big blobs in $TMPDIR or /var/tmp: keep them with the build
        TMPDIR=str(tmpdir),
    )
    return env


def skopeo(*args: str, tmpdir: Path | None = None, timeout: float = 300) -> str:
    """skopeo with the isolated policy and registries; its temporary files go in `tmpdir`."""
    conf = _config_dir()
    tmpdir = tmpdir or conf
    return _run(["skopeo", "--policy", str(conf / "policy.json"), *args], env=_tool_env(tmpdir),
                timeout=timeout)


def skopeo_copy(src: str, dest: str, *extra: str, tmpdir: Path | None = None) -> None:
    skopeo("copy", "--quiet", *extra, src, dest, tmpdir=tmpdir)


class _Buildah:
    """buildah bound to a containers-storage of its own under `where`, deleted by close().

    `driver` is vfs unless the image needs what only overlay gives: vfs computes a layer by
    comparing two full copies of the tree, and so writes a directory that was removed and
    made again as a whiteout per old entry; overlay reads the upper directory, where the
    kernel marked it opaque, and writes the `.wh..wh..opq` marker.
    """

    def __init__(self, where: Path, driver: str = "vfs"):
        self.where = where
        self.driver = driver
        self.root, self.runroot, self.tmp = where / "root", where / "runroot", where / "tmp"
        for d in (self.root, self.runroot, self.tmp):
            d.mkdir(parents=True)
        self.storage_conf = where / "storage.conf"
        self.storage_conf.write_text(
            f'[storage]\ndriver = "{driver}"\ngraphroot = "{self.root}"\nrunroot = "{self.runroot}"\n')
        self.env = _tool_env(self.tmp) | {"CONTAINERS_STORAGE_CONF": str(self.storage_conf)}
        self.policy = str(_config_dir() / "policy.json")

    def __call__(self, *args: str) -> str:
        argv = ["buildah", "--root", str(self.root), "--runroot", str(self.runroot),
                "--storage-driver", self.driver, *args]
        return _run(argv, env=self.env).strip()

    def __enter__(self) -> _Buildah:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def change(self, image: str, what: str, edit, *config: str) -> str:
        """Commit one new layer on `image`: `edit(rootfs)` changes the mounted tree.

        `image` is "scratch" or an image id in this storage. `what` becomes the layer's
        history created_by (else buildah writes the image's Cmd there); `config` are more
        `buildah config` options. Returns the new image's id. A fresh container per step is
        what gives each step its own layer: a second commit of one container holds the
        changes of both.
        """
        container = self("from", "--quiet", "--pull-never", "--signature-policy", self.policy, image)
        try:
            rootfs = Path(self("mount", container))
            try:
                edit(rootfs)
            finally:
                self("umount", container)
            self("config", "--created-by", f"tinydocker test fixture: {what}", *config, container)
            return self("commit", "--quiet", "--signature-policy", self.policy, container)
        finally:
            self("rm", container)

    def push(self, image_id: str, dest: str) -> None:
        self("push", "--quiet", "--signature-policy", self.policy, image_id, dest)

    def close(self) -> None:
        try:
            self("rm", "--all")
        finally:
            # an overlay left mounted would let rmtree delete through it into the lower layers
            leftover = _mounts_under(self.where)
            for mountpoint in sorted(leftover, key=len, reverse=True):
                subprocess.run(["umount", "-l", mountpoint], capture_output=True)
            if _mounts_under(self.where):
                raise ToolError(f"buildah left mounts under {self.where}: {leftover}")
            shutil.rmtree(self.where)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def _storage(out: Path, name: str, driver: str = "vfs") -> _Buildah:
    return _Buildah(Path(tempfile.mkdtemp(prefix=f".buildah-{name}-", dir=out)), driver)


def _write_archives(image: Image) -> Image:
    """The same image as a docker-archive and an oci-archive beside its layout."""
    docker = image.layout.parent / f"{image.tag}.docker.tar"
    oci = image.layout.parent / f"{image.tag}.oci.tar"
    docker_archive(image.layout, image.tag, docker)
    skopeo_copy(image.oci, f"oci-archive:{oci}:{image.tag}")
    return Image(image.layout, image.tag, docker, oci)


def docker_archive(oci_dir: Path, tag: str, out: Path, repo_tag: str | None = None) -> Path:
    """Convert image `tag` of OCI layout `oci_dir` into docker-archive `out`; returns `out`.

    The archive is named `repo_tag`, by default "TAG:latest", which skopeo writes in
    manifest.json's RepoTags fully qualified ("docker.io/library/TAG:latest"). Its layers
    are uncompressed, each as <diff_id hex>.tar, the config as <config digest hex>.json,
    beside the legacy form's repositories file and <id>/{layer.tar (a symlink), json, VERSION}.
    """
    out = Path(out)
    out.unlink(missing_ok=True)  # skopeo refuses to add to an existing archive
    skopeo_copy(f"oci:{oci_dir}:{tag}", f"docker-archive:{out}:{repo_tag or tag + ':latest'}")
    return out


# -- the images -----------------------------------------------------------------------------


def _busybox_tree(rootfs: Path) -> None:
    """busybox with a symlink for each applet, and the users, groups and homes of `base`."""
    for d, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("home", 0o755), ("tmp", 0o1777)):
        (rootfs / d).mkdir()
        os.chmod(rootfs / d, mode)  # explicit: mkdir's mode goes through the umask
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in _run([str(BUSYBOX), "--list"]).split():
        if applet != "busybox":
            os.symlink("/bin/busybox", rootfs / "bin" / applet)
    (rootfs / "etc" / "passwd").write_text(PASSWD)
    (rootfs / "etc" / "group").write_text(GROUP)
    home = rootfs / "home" / "app"
    home.mkdir()
    os.chown(home, APP_UID, APP_GID)


def _base_into(b: _Buildah) -> str:
    return b.change("scratch", "busybox, users, groups", _busybox_tree, "--env", PATH_ENV, "--cmd", '["/bin/sh"]')


def base(out: Path) -> Image:
    """One layer: busybox, a symlink in /bin per applet, /etc/passwd and /etc/group.

    Users: root (0) and app (1000:1000, home /home/app owned 1000:1000); groups: root,
    app (1000) and extra (2000, app a member). /tmp is 1777, /root 0700. Config: Env PATH,
    Cmd ["/bin/sh"]. Written to OUT/base (tag "base"), OUT/base.docker.tar (base:latest,
    see docker_archive) and OUT/base.oci.tar.
    """
    out = Path(out)
    with _storage(out, "base") as b:
        image = Image(out / "base", "base")
        b.push(_base_into(b), image.oci)
    return _write_archives(image)


def _pull_base(b: _Buildah, base_image: Image | None) -> str:
    """The id of `base_image` pulled into b's storage, or of a base built there."""
    if base_image is None:
        return _base_into(b)
    return b("pull", "--quiet", "--signature-policy", b.policy, base_image.oci)


def _writer(name: str, text: str):
    """An edit for _Buildah.change that writes one file at the root."""
    return lambda rootfs: (rootfs / name).write_text(text)


def _layer_two(rootfs: Path) -> None:
    data = rootfs / "data"
    data.mkdir()
    (data / "a").write_text("a\n")
    (data / "b").write_text("b\n")
    os.link(data / "b", data / "h")
    (data / "dir" / "sub").mkdir(parents=True)
    (data / "dir" / "x").write_text("x\n")
    (data / "dir" / "sub" / "z").write_text("z\n")
    os.symlink("b", data / "link")
    (data / "suid").write_text("suid\n")
    os.chmod(data / "suid", 0o4755)
    (data / "sticky").mkdir()
    os.chmod(data / "sticky", 0o1777)
    (data / "owned").write_text("owned\n")
    os.chown(data / "owned", APP_UID, EXTRA_GID)
    # containers-storage keeps user.* in the layer (as a SCHILY.xattr. PAX header) and drops
    # trusted.*: the trusted one is set so that a test can see it is absent
    (data / "xattr").write_text("xattr\n")
    os.setxattr(data / "xattr", "user.tinydocker", b"kept")
    os.setxattr(data / "xattr", "trusted.tinydocker", b"dropped")
    os.mknod(data / "null", 0o666 | 0o020000, os.makedev(1, 3))
    os.chmod(data / "null", 0o666)  # mknod's mode goes through the umask
    os.mkfifo(data / "fifo", 0o644)


def _layer_three(rootfs: Path) -> None:
    data = rootfs / "data"
    (data / "a").unlink()
    shutil.rmtree(data / "dir")
    (data / "dir").mkdir()
    (data / "dir" / "y").write_text("y\n")


LAYERED_CONFIG = (
    "--user", "app",
    "--entrypoint", '["/bin/sh", "-c"]',
    "--cmd", '["echo hello from cmd; id"]',
    "--env", "FOO=bar", "--env", PATH_ENV,
    "--workingdir", "/data",
    "--stop-signal", "SIGUSR1",
    "--port", "8080/tcp",
    "--label", "a=b",
)


def layered(out: Path, base_image: Image | None = None) -> Image:
    """Three layers: base, then /data, then a deletion and a replaced directory.

    Layer 1 is `base_image`'s layer (its blob digest the same when the base came from
    `base`), or a fresh base. Layer 2 adds under /data: files a and b, h a hard link of b,
    dir/x, dir/sub/z, symlink link -> b, suid (4755), sticky/ (1777), owned (1000:2000),
    xattr (user.tinydocker=kept; trusted.tinydocker set too, and dropped from the layer),
    null (char device 1:3, 0666) and fifo (0644). Layer 3 deletes /data/a (whiteout
    data/.wh.a) and replaces /data/dir by a directory holding only y (data/dir/.wh..wh..opq
    and data/dir/y). Config: User app, Entrypoint ["/bin/sh","-c"], Cmd ["echo hello from
    cmd; id"], Env PATH and FOO=bar, WorkingDir /data, StopSignal SIGUSR1, ExposedPorts
    8080/tcp, Labels a=b.

    Written to OUT/layered (tag "layered"), OUT/layered.docker.tar (layered:latest) and
    OUT/layered.oci.tar. Built on overlay storage, for the opaque marker (see _Buildah).
    """
    out = Path(out)
    with _storage(out, "layered", driver="overlay") as b:
        first = _pull_base(b, base_image)
        second = b.change(first, "/data", _layer_two)
        third = b.change(second, "rm /data/a; replace /data/dir", _layer_three, *LAYERED_CONFIG)
        image = Image(out / "layered", "layered")
        b.push(third, image.oci)
    return _write_archives(image)


def shared(out: Path, base_image: Image | None = None) -> tuple[Image, Image]:
    """Two images on one base layer: shared-one adds /one ("one"), shared-two /two ("two").

    Both are in the one layout OUT/shared (tags "shared-one", "shared-two"; the base blob
    is stored once), each with its docker-archive OUT/shared-one.docker.tar and
    OUT/shared-two.docker.tar, and its oci-archive. Their first layer digests are equal.
    """
    out = Path(out)
    images = []
    with _storage(out, "shared") as b:
        first = _pull_base(b, base_image)
        for name in ("one", "two"):
            image_id = b.change(first, f"/{name}", _writer(name, name + "\n"))
            image = Image(out / "shared", f"shared-{name}")
            b.push(image_id, image.oci)
            images.append(image)
    one, two = (_write_archives(image) for image in images)
    return one, two


def compressed_variants(out: Path, image: Image) -> dict[str, Image]:
    """`image` re-written three ways: {"gzip": ..., "zstd": ..., "none": ...}.

    Each is an OCI layout OUT/<tag>-<kind> (same tag, no archives) whose layers are
    tar+gzip, tar+zstd or plain tar (mediaType ...layer.v1.tar). The diff_ids in the
    config are the same in all three; the gzip one reuses `image`'s own gzip blobs, and a
    plain layer's digest is its diff_id.
    """
    out = Path(out)
    variants = {kind: Image(out / f"{image.tag}-{kind}", image.tag) for kind in ("gzip", "zstd", "none")}
    skopeo_copy(image.oci, variants["gzip"].oci, "--dest-compress-format", "gzip")
    skopeo_copy(image.oci, variants["zstd"].oci, "--dest-compress-format", "zstd")
    # skopeo decompresses only into a dir: destination, and compresses anything it writes
    # to an oci: one unless told not to; so the plain-tar layout goes through a dir: copy
    staging = Path(tempfile.mkdtemp(prefix=".plain-", dir=out))
    try:
        skopeo_copy(image.oci, f"dir:{staging / 'image'}", "--dest-decompress", tmpdir=staging)
        skopeo_copy(f"dir:{staging / 'image'}", variants["none"].oci, "--dest-oci-accept-uncompressed-layers",
                    tmpdir=staging)
    finally:
        shutil.rmtree(staging)
    return variants


def manifest_list(out: Path, base_image: Image | None = None) -> Image:
    """An OCI image index of two images: linux/amd64 and linux/arm64.

    Each image's /arch holds its architecture's name ("amd64\\n" or "arm64\\n"). The one for
    this machine's architecture (`host_arch()`) is built on the base, so it runs busybox;
    the other is a single layer holding only /arch. Written to the layout OUT/multiarch,
    tag "multiarch", which names the index; the index's two manifests are in the layout
    as blobs. No archives: a docker-archive cannot hold a list.
    """
    out = Path(out)
    image = Image(out / "multiarch", "multiarch")
    with _storage(out, "multiarch") as b:
        first = _pull_base(b, base_image)
        b("manifest", "create", "tinydocker-multiarch")
        for arch in ("amd64", "arm64"):
            write_arch = _writer("arch", arch + "\n")
            if arch == host_arch():
                image_id = b.change(first, "/arch", write_arch, "--arch", arch, "--os", "linux")
            else:
                image_id = b.change("scratch", "/arch", write_arch, "--arch", arch, "--os", "linux")
            b("manifest", "add", "tinydocker-multiarch", image_id)
        b("manifest", "push", "--quiet", "--all", "--format", "oci", "--signature-policy", b.policy,
          "tinydocker-multiarch", image.oci)
    return image


# -- many layers, by hand -------------------------------------------------------------------

# A fixed time for every entry and every history record: the same n gives the same digests.
_EPOCH = 1_700_000_000
_CREATED = "2023-11-14T22:13:20Z"


def _tar_layer(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            info.mtime, info.uname, info.gname = _EPOCH, "", ""
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return raw.getvalue()


def _dir(name: str, mode: int = 0o755) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    return info, None


def _file(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def _symlink(name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    return info, None


class _Layout:
    """Writes blobs into an OCI image layout directory, by the image spec."""

    def __init__(self, path: Path):
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def blob(self, data: bytes, media_type: str) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (self.path / "blobs" / "sha256" / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    def json_blob(self, doc: dict, media_type: str) -> dict:
        return self.blob(json.dumps(doc, separators=(",", ":")).encode(), media_type)

    def write_index(self, tagged: list[tuple[dict, str]]) -> None:
        manifests = [dict(desc, annotations={REF_NAME: tag}) for desc, tag in tagged]
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        (self.path / "index.json").write_text(json.dumps(index))


def many_layers(out: Path, n: int = 100) -> Image:
    """n layers; layer i (1..n) adds /layers/i holding "i" (no newline).

    Layer 1 also holds busybox with its applet symlinks in /bin, so `cat /layers/57` runs;
    every layer carries the /layers directory entry. gzip layers, Cmd ["/bin/sh"], one
    history entry per layer. Written by hand (a hundred buildah commits take minutes),
    reproducibly: the same n gives the same digests. OCI layout OUT/many-N (tag "many-N"),
    with OUT/many-N.docker.tar (many-N:latest) and OUT/many-N.oci.tar.
    """
    if n < 1:
        raise ValueError("an image has at least one layer")
    out = Path(out)
    image = Image(out / f"many-{n}", f"many-{n}")
    layout = _Layout(image.layout)
    busybox = [_dir("bin"), _file("bin/busybox", BUSYBOX.read_bytes(), 0o755)]
    busybox += [_symlink(f"bin/{applet}", "/bin/busybox")
                for applet in _run([str(BUSYBOX), "--list"]).split() if applet != "busybox"]
    layers, diff_ids, history = [], [], []
    for i in range(1, n + 1):
        entries = (busybox if i == 1 else []) + [_dir("layers"), _file(f"layers/{i}", str(i).encode())]
        tar = _tar_layer(entries)
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        # mtime=0 keeps the gzip header, and so the blob digest, the same from run to run
        layers.append(layout.blob(gzip.compress(tar, mtime=0), OCI_LAYER_GZIP))
        history.append({"created": _CREATED, "created_by": f"tinydocker test fixture: layer {i}"})
    config = {
        "created": _CREATED,
        "architecture": host_arch(),
        "os": "linux",
        "config": {"Env": [PATH_ENV], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": layout.json_blob(config, OCI_CONFIG), "layers": layers}
    layout.write_index([(layout.json_blob(manifest, OCI_MANIFEST), image.tag)])
    return _write_archives(image)


# -- registries -----------------------------------------------------------------------------

AUTH_USER, AUTH_PASSWORD = "tester", "secret"


def push_to_registry(registry: str, image: Image | str, name_tag: str, *, creds: str | None = None,
                     all_platforms: bool = False, manifest_format: str | None = None) -> str:
    """Copy `image` (an Image, or a transport reference such as oci:DIR:TAG) to a plain-HTTP
    registry at `registry` (host:port) as `name_tag`; returns "host:port/name_tag".

    `creds` is "user:password"; `all_platforms` copies every image of a list, not only this
    machine's; `manifest_format` ("oci", "v2s2") converts on the way, as a push with docker does.
    """
    source = image.oci if isinstance(image, Image) else image
    dest = f"{registry}/{name_tag}"
    extra = ["--dest-tls-verify=false"]
    if creds:
        extra += ["--dest-creds", creds]
    if all_platforms:
        extra.append("--all")
    if manifest_format:
        extra += ["--format", manifest_format]
    skopeo_copy(source, f"docker://{dest}", *extra)
    return dest


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", data: bytes = b"x"):
    """One (TarInfo, data) pair for hand-made hostile or odd tars in the tests."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    return info, None


# -- a layer listed twice, and indexes without a platform -------------------------------------

# docker's empty layer: the tar of no file (two zero blocks and the rest of a 10 KiB record
# trimmed to 1024 bytes), which builders emit for steps that change no file
EMPTY_TAR = bytes(1024)
EMPTY_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def _whiteout(name: str) -> tuple[tarfile.TarInfo, bytes]:
    return _file(name, b"", 0o644)


def repeated_layers(out: Path) -> Image:
    """Six layers, two of them listed twice, bottom first:

        1 busybox, /data/a "one"
        2 docker's empty layer (EMPTY_TAR, uncompressed)
        3 /data/a "two", /data/b "b"
        4 docker's empty layer again (the same blob)
        5 /data/a "three", /data/c "c", and a whiteout of /data/b
        6 layer 3 again (the same blob)

    so the image's /data holds a "two", b "b" (layer 6 brings it back) and c "c"; keeping
    the lower copy of layer 3 instead would show a "three" and no b. OCI layout OUT/repeated
    (tag "repeated"), with OUT/repeated.docker.tar (repeated:latest) and OUT/repeated.oci.tar.
    The layout also holds, as tag "shares", an image of layers 1 and 2 only.
    """
    out = Path(out)
    image = Image(out / "repeated", "repeated")
    layout = _Layout(image.layout)
    busybox = [_dir("bin"), _file("bin/busybox", BUSYBOX.read_bytes(), 0o755)]
    busybox += [_symlink(f"bin/{applet}", "/bin/busybox")
                for applet in _run([str(BUSYBOX), "--list"]).split() if applet != "busybox"]
    one = _tar_layer(busybox + [_dir("data"), _file("data/a", b"one\n")])
    three = _tar_layer([_dir("data"), _file("data/a", b"two\n"), _file("data/b", b"b\n")])
    five = _tar_layer([_dir("data"), _file("data/a", b"three\n"), _file("data/c", b"c\n"), _whiteout("data/.wh.b")])
    tars = [one, EMPTY_TAR, three, EMPTY_TAR, five, three]
    layers = [layout.blob(gzip.compress(t, mtime=0), OCI_LAYER_GZIP) if t is not EMPTY_TAR
              else layout.blob(t, OCI_LAYER) for t in tars]
    diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars]
    assert diff_ids[1] == EMPTY_DIFF_ID

    def image_of(count: int) -> dict:
        config = {
            "created": _CREATED, "architecture": host_arch(), "os": "linux",
            "config": {"Env": [PATH_ENV], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids[:count]},
            "history": [{"created": _CREATED, "created_by": f"tinydocker test fixture: layer {i + 1}"}
                        for i in range(count)],
        }
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": layout.json_blob(config, OCI_CONFIG), "layers": layers[:count]}
        return layout.json_blob(manifest, OCI_MANIFEST)

    layout.write_index([(image_of(6), image.tag), (image_of(2), "shares")])
    return _write_archives(image)


def platformless_indexes(out: Path, image: Image) -> Image:
    """Image `image` (a single-manifest image of an OCI layout) behind indexes, in the OCI
    layout OUT/indexes under three tags:

        single   an index of one entry that names no platform
        loose    an index of an entry for another architecture, then one naming no platform
        nested   an index whose entry (for this platform) is an index of one platformless entry

    Returned with tag "single"; no archives.
    """
    out = Path(out) / "indexes"
    layout = _Layout(out)
    shutil.copytree(image.layout / "blobs", out / "blobs", dirs_exist_ok=True)
    top = next(e for e in image.index()["manifests"] if e.get("annotations", {}).get(REF_NAME) == image.tag)
    manifest = {k: top[k] for k in ("mediaType", "digest", "size")}
    other = "arm64" if host_arch() != "arm64" else "amd64"

    def index_of(*entries: dict) -> dict:
        return layout.json_blob({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(entries)}, OCI_INDEX)

    # the other architecture's entry points at a blob that is not an image: taking it would fail
    bogus = layout.json_blob({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []},
                             OCI_MANIFEST)
    single = index_of(manifest)
    loose = index_of(dict(bogus, platform={"os": "linux", "architecture": other}), manifest)
    nested = index_of(dict(index_of(manifest), platform={"os": "linux", "architecture": host_arch()}))
    layout.write_index([(single, "single"), (loose, "loose"), (nested, "nested")])
    return Image(out, "single")


def upload_layout(registry: str, layout: Path, name: str, tag: str, descriptor: dict) -> str:
    """Put the manifest or index `descriptor` of OCI layout `layout`, and everything it names,
    into the plain-HTTP registry at `registry` as name:tag, by the distribution API itself
    (skopeo would rewrite indexes it does not like). Returns "host:port/name:tag"."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    base = f"http://{registry}/v2/{name}"

    def send(method: str, url: str, data: bytes, content_type: str):
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
        return opener.open(request, timeout=30)

    def blob(digest: str) -> bytes:
        return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()

    def put(desc: dict, reference: str) -> None:
        data = blob(desc["digest"])
        document = json.loads(data)
        for child in document.get("manifests", []):
            put(child, child["digest"])
        for child in [document["config"]] + document["layers"] if "config" in document else []:
            with send("POST", f"{base}/blobs/uploads/", b"", "application/octet-stream") as r:
                location = r.headers["Location"]
            location = location if location.startswith("http") else f"http://{registry}{location}"
            joiner = "&" if "?" in location else "?"
            send("PUT", f"{location}{joiner}digest={child['digest']}", blob(child["digest"]),
                 "application/octet-stream").close()
        send("PUT", f"{base}/manifests/{reference}", data, desc["mediaType"]).close()

    put(descriptor, tag)
    return f"{registry}/{name}:{tag}"
