"""docker's own CLI driving tinydocker's images through `system service`: list, inspect,
history, tag, rmi, pull and push against a throwaway registry, save | load, import, prune,
build (docker's classic builder's stream), login."""

import io
import json
import os
import re
import tarfile

import fixtures
from image_fixtures import auth_registry, registry  # noqa: F401 - the fixtures
from service_fixtures import service  # noqa: F401 - the fixture


def _id(service, ref: str) -> str:
    return service.td.out("image", "inspect", "-f", "{{.Id}}", ref).strip()


def test_images_inspect_history_tag_and_rmi_as_docker_s(service):  # noqa: F811
    image_id = _id(service, "busybox")
    listing = service.out("images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
    assert f"busybox:latest {image_id}" in listing.splitlines()
    assert service.out("image", "inspect", "-f", "{{.Id}} {{.RepoTags}} {{.Os}}", "busybox") == \
        f"{image_id} [busybox:latest] linux\n"
    history = service.out("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}", "busybox").splitlines()
    assert history[0].startswith(image_id + "|") and len(history) == len(service.td.out("history", "-q",
                                                                                         "busybox").split())
    assert service.out("tag", "busybox", "mine/box:1") == ""
    assert f"mine/box:1 {image_id}" in service.out("images", "--no-trunc", "--format",
                                                    "{{.Repository}}:{{.Tag}} {{.ID}}").splitlines()
    assert service.out("images", "--filter", "reference=mine/*", "--format", "{{.Repository}}") == "mine/box\n"
    assert service.out("rmi", "mine/box:1") == "Untagged: mine/box:1\n"
    # in use: docker's conflict, the image stays
    service.out("create", "--name", "user", "--network", "none", "busybox", "true")
    res = service.docker("rmi", "busybox")
    assert res.returncode == 1 and b"conflict: unable to remove repository reference" in res.stderr, res.stderr
    assert _id(service, "busybox") == image_id
    res = service.docker("rmi", "nosuch")
    assert res.returncode == 1 and b"No such image: nosuch" in res.stderr, res.stderr
    res = service.docker("image", "inspect", "nosuch")
    assert res.returncode == 1 and b"No such image: nosuch" in res.stderr, res.stderr
    # search is refused plainly: tinydocker keeps no index of registries
    res = service.docker("search", "busybox")
    assert res.returncode == 1 and b"search is not supported by tinydocker" in res.stderr, res.stderr


def test_push_and_pull_through_a_local_registry(service, registry):  # noqa: F811
    name = f"{registry}/svc/box:1"
    service.out("tag", "busybox", name)
    pushed = service.out("push", name)
    assert pushed.startswith(f"The push refers to repository [{registry}/svc/box]\n"), pushed
    assert "Pushed" in pushed and "1: digest: sha256:" in pushed, pushed
    service.out("rmi", name)
    pulled = service.out("pull", name).splitlines()
    assert pulled[0] == "1: Pulling from svc/box", pulled
    # each layer's last word, as dockerd's stream gives it (the service's terminal gets none)
    layers = pulled[1:-3]
    assert layers and all(re.fullmatch(r"[0-9a-f]{12}: (Already exists|Pull complete)", line) for line in layers), \
        pulled
    pulled = [pulled[0], *pulled[-3:]]
    assert pulled[1].startswith("Digest: sha256:"), pulled
    # busybox's blobs are still here: "Image is up to date", as tinydocker's own pull says it
    assert pulled[-2].startswith("Status: ") and pulled[-2].endswith(f" for {name}") and pulled[-1] == name, pulled
    assert _id(service, name) == _id(service, "busybox")
    assert service.out("pull", "-q", name) == name + "\n"
    digests = service.out("images", "--digests", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}")
    assert f"{registry}/svc/box:1 {pulled[1][len('Digest: '):]}" in digests.splitlines(), digests
    res = service.docker("pull", f"{registry}/svc/nosuch:1")
    assert res.returncode == 1, res.stderr
    assert res.stderr.startswith(b"Error response from daemon: manifest for ") and b"not found" in res.stderr, \
        res.stderr
    status, _ = service.request("POST", f"/images/create?fromImage={registry}/svc/nosuch&tag=1")
    assert status == 404
    service.out("rmi", name)


def test_login_checks_credentials_and_push_uses_the_client_s(service, auth_registry):  # noqa: F811
    res = service.docker("login", "-u", fixtures.AUTH_USER, "--password-stdin", auth_registry, input=b"wrong\n")
    assert res.returncode == 1 and b"unauthorized" in res.stderr, res.stderr
    status, body = service.request("POST", "/auth", body={"username": fixtures.AUTH_USER, "password": "wrong",
                                                          "serveraddress": auth_registry})
    assert status == 401 and "unauthorized" in json.loads(body)["message"]
    res = service.docker("login", "-u", fixtures.AUTH_USER, "--password-stdin", auth_registry,
                         input=fixtures.AUTH_PASSWORD.encode() + b"\n")
    assert res.returncode == 0 and b"Login Succeeded" in res.stdout, res.stderr
    # the credentials are the client's (X-Registry-Auth): tinydocker kept none of its own
    assert service.td("logout", auth_registry).returncode == 1
    name = f"{auth_registry}/private/box:1"
    service.out("tag", "busybox", name)
    assert "1: digest: sha256:" in service.out("push", name)
    service.out("rmi", name)
    service.out("pull", name)
    service.out("rmi", name)
    service.out("logout", auth_registry)
    res = service.docker("pull", name)
    assert res.returncode == 1 and b"unauthorized" in res.stderr, res.stderr


def test_save_load_import_and_prune(service, tmp_path):  # noqa: F811
    image_id = _id(service, "busybox")
    service.out("tag", "busybox", "saved:1")
    archive = tmp_path / "saved.tar"
    service.out("save", "-o", str(archive), "saved:1")
    with tarfile.open(archive) as tar:
        assert json.load(tar.extractfile("manifest.json"))[0]["RepoTags"] == ["saved:1"]
    service.out("rmi", "saved:1")
    assert service.out("load", "-i", str(archive)) == "Loaded image: saved:1\n"
    assert _id(service, "saved:1") == image_id
    piped = service.docker("save", "saved:1").stdout
    service.out("rmi", "saved:1")
    assert service.out("load", input=piped) == "Loaded image: saved:1\n"
    # two images in one archive (?names= twice), and one by its own path
    both = service.docker("save", "saved:1", "busybox").stdout
    with tarfile.open(fileobj=io.BytesIO(both)) as tar:
        assert sorted(t for m in json.load(tar.extractfile("manifest.json")) for t in m["RepoTags"]) == \
            ["busybox:latest", "saved:1"]
    status, one = service.request("GET", "/images/saved:1/get")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(one)) as tar:
        assert json.load(tar.extractfile("manifest.json"))[0]["RepoTags"] == ["saved:1"]
    res = service.docker("save", "nosuch:1")
    assert res.returncode == 1 and b"No such image: nosuch:1" in res.stderr, res.stderr
    service.out("rmi", "saved:1")
    # not an archive: docker's error, nothing loaded, and the service goes on
    res = service.docker("load", input=b"this is not a tar" * 100)
    assert (res.returncode, res.stderr) == (1, b"Error response from daemon: cannot read archive from stdin: "
                                                b"not a readable tar (neither a tar nor a compressed one)\n")
    assert service.out("images", "-q", "--no-trunc") == image_id + "\n"

    rootfs = io.BytesIO()
    with tarfile.open(fileobj=rootfs, mode="w") as tar:
        data = b"imported\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    imported = service.out("import", "-c", 'CMD ["/bin/cat", "/hello.txt"]', "-", "imp:1",
                           input=rootfs.getvalue()).strip()
    assert imported.startswith("sha256:")
    assert service.out("image", "inspect", "-f", "{{.Id}} {{.Config.Cmd}}", "imp:1") == \
        f"{imported} [/bin/cat /hello.txt]\n"
    # the body is the client's stdin, as the CLI's import - says it
    assert service.out("history", "--format", "{{.CreatedBy}}", "imp:1") == "imported from stdin\n"
    res = service.docker("import", "http://127.0.0.1:1/rootfs.tar")
    assert res.returncode == 1 and b"not supported by tinydocker" in res.stderr, res.stderr

    # nameless: what image prune removes; named ones stay
    dangling = service.out("import", "-", input=rootfs.getvalue()).strip()
    assert service.out("images", "-q", "--no-trunc", "--filter", "dangling=true") == dangling + "\n"
    pruned = service.out("image", "prune", "-f")
    assert f"deleted: {dangling}" in pruned and "Total reclaimed space:" in pruned, pruned
    assert service.out("images", "-q", "--filter", "dangling=true") == ""
    service.out("rmi", "imp:1")
    assert _id(service, "busybox") == image_id


def _context(files: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_build_streams_docker_s_classic_output_and_the_image_runs(service, tmp_path, monkeypatch):  # noqa: F811
    # docker's classic builder: without it docker's CLI asks for BuildKit's session endpoints
    monkeypatch.setitem(service.td.env, "DOCKER_BUILDKIT", "0")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "greeting").write_text("hello from the context\n")
    (tmp_path / "ctx" / "Dockerfile").write_text(
        "FROM busybox\n"
        "ARG WHO=nobody\n"
        "COPY greeting /greeting\n"
        "RUN echo \"built for $WHO\" && echo to-stderr >&2\n"
        "CMD [\"cat\", \"/greeting\"]\n")
    env_build = ["--network", "none", "--build-arg", "WHO=svc", "--label", "k=v"]
    res = service.docker("build", *env_build, "-t", "built:1", str(tmp_path / "ctx"))
    out = res.stdout.decode()
    assert res.returncode == 0, res.stderr
    assert "Step 1/5 : FROM busybox" in out and "Step 5/5 : CMD" in out, out
    assert "built for svc" in out and "to-stderr" in out, out  # the RUN step's own output, both streams
    image_id = _id(service, "built:1")
    assert f"Successfully built {image_id[7:19]}" in out and "Successfully tagged built:1" in out, out
    assert service.out("image", "inspect", "-f", "{{.Config.Labels.k}}", "built:1") == "v\n"
    run = service.docker("run", "--rm", "--network", "none", "built:1")
    assert (run.returncode, run.stdout) == (0, b"hello from the context\n"), run.stderr
    # -q: the id alone, from the stream's aux message (the steps are the cache's now)
    quiet = service.docker("build", "-q", *env_build, str(tmp_path / "ctx"))
    assert (quiet.returncode, quiet.stdout.decode().strip()) == (0, image_id), quiet.stderr
    # a context on stdin, compressed, naming its Dockerfile
    import gzip

    context = gzip.compress(_context({"other.Dockerfile": "FROM busybox\nRUN echo piped\n"}))
    piped = service.docker("build", *env_build, "-f", "other.Dockerfile", "-", input=context)
    assert piped.returncode == 0 and b"piped" in piped.stdout, piped.stderr
    # a failing step: docker's error and exit status, nothing tagged
    failing = _context({"Dockerfile": "FROM busybox\nRUN echo failing; exit 3\n"})
    res = service.docker("build", *env_build, "-t", "broken:1", "-", input=failing)
    # the RUN step's status is docker's exit status, as dockerd's classic builder gives it
    assert res.returncode == 3 and b"failing" in res.stdout, (res.stdout, res.stderr)
    assert b"returned a non-zero code: 3" in res.stderr, res.stderr
    assert service.docker("image", "inspect", "broken:1").returncode == 1
    # a bad Dockerfile fails before anything is built: dockerd's HTTP error
    res = service.docker("build", "-", input=_context({"Dockerfile": "FROM busybox\nFROBNICATE now\n"}))
    assert res.returncode == 1 and b"Error response from daemon:" in res.stderr, res.stderr
    assert b"FROBNICATE" in res.stderr.upper(), res.stderr
    service.out("rmi", "built:1")
    assert "Total reclaimed space:" in service.out("builder", "prune", "-f")


def _running(argv: list[str]) -> bool:
    wanted = "\0".join(argv).encode() + b"\0"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() == wanted:
                    return True
        except OSError:
            pass
    return False


def test_a_client_gone_mid_build_ends_the_build_and_leaves_nothing(service):  # noqa: F811
    import socket

    from conftest import wait_for

    marker = ["sleep", "7213"]  # a number of its own: the RUN step's process, found in /proc
    context = _context({"Dockerfile": f"FROM busybox\nRUN echo started; exec {' '.join(marker)}\n"})
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(service.sock)
    sock.sendall(b"POST /v1.43/build?networkmode=none HTTP/1.1\r\nHost: docker\r\n"
                 b"Content-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n%s" % (len(context), context))
    seen = b""
    while b"started" not in seen:
        data = sock.recv(65536)
        assert data, seen
        seen += data
    assert b'{"stream": "Step 1/2 : FROM busybox' in seen
    wait_for(lambda: _running(marker), what="the RUN step")
    sock.close()
    wait_for(lambda: not _running(marker), timeout=60, what="the build to end with its client")
    # the service serves on, and the build left no image and no step behind
    assert service.out("images", "-a", "-q") == service.out("images", "-q")
    assert service.request("GET", "/_ping")[0] == 200
