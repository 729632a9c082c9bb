"""`tinydocker build`: real builds of Dockerfiles over the busybox image, their images run,
their output as docker's classic builder prints it, the cache, bad input, and a build
killed halfway."""

import io
import json
import os
import signal
import subprocess
import tarfile
import time

import pytest

from conftest import wait_for


def _context(tmp_path, dockerfile: str, files: dict | None = None, name: str = "Dockerfile"):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / name).write_text(dockerfile)
    for rel, content in (files or {}).items():
        path = ctx / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return ctx


def _config(td, ref: str) -> dict:
    return json.loads(td.out("image", "inspect", ref))[0]["Config"]


def _run(td, image: str, *command: str) -> str:
    """The output of a throwaway container of `image` (tinydocker's run takes NAME first)."""
    return td.out("run", "--rm", "--network", "none", "--image", image, "probe", *command)


def _leftovers(td) -> list[str]:
    """What a build may leave and must not: containers, private directories in the store."""
    left = [f"container {n}" for n in td.out("ps", "-a", "--format", "{{.Names}}").split()]
    images = td.root / "images"
    left += [f"store {p.name}" for p in images.glob(".*") if p.name not in (".lock", ".build.lock")]
    return left


DEMO = """\
FROM busybox
ARG GREETING=hello
ENV APP=/app \\
    MODE="two words"
WORKDIR $APP
COPY greeting.txt ./
RUN echo "$GREETING from $MODE" > made.txt && cat greeting.txt >> made.txt
LABEL org.example.kind=demo
EXPOSE 8080 53/udp
USER 1000:1000
CMD ["cat", "made.txt"]
"""


def test_a_build_runs_its_steps_as_docker_prints_them_and_the_image_runs(td, tmp_path):
    ctx = _context(tmp_path, DEMO, {"greeting.txt": "from the context\n"})
    res = td("build", "--network", "none", "-t", "demo:1", str(ctx), timeout=120)
    out = res.stdout.decode()
    assert res.returncode == 0, res.stderr.decode() + out
    lines = out.splitlines()
    assert lines[0] == "Step 1/10 : FROM busybox"
    assert "Step 6/10 : RUN echo \"$GREETING from $MODE\" > made.txt && cat greeting.txt >> made.txt" in lines
    assert any(line.startswith(" ---> Running in ") for line in lines)
    assert any(line.startswith("Removing intermediate container ") for line in lines)
    assert lines[-2].startswith("Successfully built ")
    assert lines[-1] == "Successfully tagged demo:1"
    # the image runs: its CMD, its user, its working directory, what its steps made
    assert _run(td, "demo:1") == "hello from two words\nfrom the context\n"
    assert _run(td, "demo:1", "id", "-u") == "1000\n"
    config = _config(td, "demo:1")
    assert config["WorkingDir"] == "/app"
    assert "APP=/app" in config["Env"] and "MODE=two words" in config["Env"]
    assert not any(e.startswith("GREETING=") for e in config["Env"])  # an ARG is not kept
    assert config["Labels"] == {"org.example.kind": "demo"}
    assert set(config["ExposedPorts"]) == {"8080/tcp", "53/udp"}
    assert config["User"] == "1000:1000" and config["Cmd"] == ["cat", "made.txt"]
    # a copied file belongs to root, whatever its owner in the context
    assert _run(td, "demo:1", "stat", "-c", "%u:%g %a",
                  "/app/greeting.txt").split()[0] == "0:0"
    # one history entry per instruction after FROM; layers only where files changed
    history = json.loads(td.out("image", "inspect", "demo:1"))[0]
    layers = len(history["RootFS"]["Layers"])
    base_layers = len(json.loads(td.out("image", "inspect", "busybox"))[0]["RootFS"]["Layers"])
    assert layers == base_layers + 3  # WORKDIR (made /app), COPY, RUN
    assert _leftovers(td) == []


def test_a_second_build_takes_every_step_from_the_cache_and_a_changed_file_rebuilds_from_its_copy(td, tmp_path):
    ctx = _context(tmp_path, DEMO, {"greeting.txt": "one\n"})
    first = td("build", "-q", "--network", "none", str(ctx), timeout=120)
    assert first.returncode == 0, first.stderr.decode()
    image_id = first.stdout.decode().strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    again = td("build", "--network", "none", str(ctx), timeout=120).stdout.decode()
    assert again.count(" ---> Using cache") == 9
    assert f"Successfully built {image_id[7:19]}" in again
    # the same content under a newer time is the same file to the cache
    os.utime(ctx / "greeting.txt", (time.time() + 100, time.time() + 100))
    assert td("build", "--network", "none", str(ctx), timeout=120).stdout.decode().count(" ---> Using cache") == 9
    (ctx / "greeting.txt").write_text("two\n")
    changed = td("build", "--network", "none", "-t", "demo:2", str(ctx), timeout=120).stdout.decode()
    assert changed.count(" ---> Using cache") == 3  # ARG, ENV, WORKDIR: up to the COPY
    assert _run(td, "demo:2") == "hello from two words\ntwo\n"
    # --no-cache runs everything again
    assert "Using cache" not in td("build", "--no-cache", "--network", "none", str(ctx), timeout=120).stdout.decode()
    # a build-arg changes what RUN sees, so RUN runs again
    other = td("build", "--network", "none", "--build-arg", "GREETING=hi", "-t", "demo:3", str(ctx),
               timeout=120).stdout.decode()
    assert other.count(" ---> Using cache") == 4  # up to the RUN, which sees the ARG
    assert _run(td, "demo:3").startswith("hi from two words")
    # the steps are a cache, not images: `images` lists the built ones only (the two built
    # without a name as docker's dangling <none>)
    names = td.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert sorted(names) == ["<none>:<none>", "<none>:<none>", "busybox:latest", "demo:2", "demo:3"]
    steps = td.out("images", "-a", "--format", "{{.Repository}}").split()
    assert len(steps) > len(names) and set(steps) == {"<none>", "busybox", "demo"}
    # builder prune frees the steps no image needs; the images still run
    td.out("builder", "prune", "-f")
    assert _run(td, "demo:2") == "hello from two words\ntwo\n"
    rebuilt = td("build", "--network", "none", str(ctx), timeout=120).stdout.decode()
    assert "Using cache" in rebuilt  # demo:2's own steps keep their keys
    assert _leftovers(td) == []


def test_a_failing_run_names_its_command_and_code_and_leaves_nothing(td, tmp_path):
    ctx = _context(tmp_path, "FROM busybox\nRUN echo before\nRUN echo out; exit 3\nRUN echo never\n")
    res = td("build", "--network", "none", str(ctx), timeout=120)
    assert res.returncode == 1
    err = res.stderr.decode()
    assert err.strip().splitlines() == [
        "tinydocker: The command '/bin/sh -c echo out; exit 3' returned a non-zero code: 3"]
    assert "out\n" in res.stdout.decode() and "never" not in res.stdout.decode()
    assert _leftovers(td) == []


@pytest.mark.parametrize("dockerfile, files, said", [
    ("FROM busybox\nFORM busybox\n", {}, "unknown instruction"),
    ("FROM busybox\nCOPY missing.txt /\n", {}, "missing.txt"),
    ("FROM busybox\nCOPY ../outside /\n", {}, "outside"),
    ("FROM busybox\nCOPY --nope=1 a /\n", {"a": "x"}, "--nope"),
    ("FROM tinydocker-test/not-here:1\n", {}, "not-here"),
    ("FROM busybox\n\0\n", {}, "not text"),
])
def test_bad_input_is_one_line_and_exit_1_and_leaves_nothing(td, tmp_path, dockerfile, files, said):
    ctx = _context(tmp_path, "", files)
    (ctx / "Dockerfile").write_bytes(dockerfile.encode())
    res = td("build", "--pull", "never", "--network", "none", str(ctx), timeout=120)
    err = res.stderr.decode()
    assert res.returncode == 1, err
    assert len(err.strip().splitlines()) == 1 and said in err and "Traceback" not in err
    assert _leftovers(td) == []


def test_stages_only_the_target_needs_are_built_and_copy_from_takes_a_stage_s_files(td, tmp_path):
    dockerfile = """\
FROM busybox AS tools
RUN mkdir -p /out && echo built > /out/tool && chown 7:8 /out/tool && chmod 750 /out/tool

FROM busybox AS broken
RUN exit 9

FROM busybox
COPY --from=tools /out/tool /usr/local/bin/
COPY --from=tools --chown=1:2 /out /copied
RUN ls -ln /usr/local/bin/tool /copied/tool > /listing

FROM busybox AS after
RUN exit 8
"""
    ctx = _context(tmp_path, dockerfile)
    res = td("build", "--network", "none", "--target", "2", "-t", "multi", str(ctx), timeout=180)
    # --target takes a stage's name; an index is not one
    assert res.returncode == 1 and "target 2" in res.stderr.decode()
    dockerfile = dockerfile.replace("FROM busybox\nCOPY", "FROM busybox AS final\nCOPY")
    (ctx / "Dockerfile").write_text(dockerfile)
    res = td("build", "--network", "none", "--target", "final", "-t", "multi", str(ctx), timeout=180)
    assert res.returncode == 0, res.stderr.decode() + res.stdout.decode()
    assert "exit 9" not in res.stdout.decode() and "exit 8" not in res.stdout.decode()
    listing = {line.split()[-1]: line.split() for line in _run(td, "multi", "cat", "/listing").splitlines()}
    tool, copied = listing["/usr/local/bin/tool"], listing["/copied/tool"]
    assert tool[0] == "-rwxr-x---" and tool[2:4] == ["7", "8"]  # owner and mode kept from the stage
    assert copied[0] == "-rwxr-x---" and copied[2:4] == ["1", "2"]  # --chown
    assert _leftovers(td) == []


def test_quiet_iidfile_labels_and_a_dockerfile_on_stdin(td, tmp_path):
    iid = tmp_path / "iid"
    res = td("build", "-q", "--iidfile", str(iid), "--label", "built.by=test", "-", timeout=120,
             input=b"FROM busybox\nENV X=1\n")
    assert res.returncode == 0, res.stderr.decode()
    image_id = res.stdout.decode().strip()
    assert res.stdout.decode().splitlines() == [image_id] and iid.read_text() == image_id
    config = _config(td, image_id)
    assert config["Labels"] == {"built.by": "test"} and "X=1" in config["Env"]


def test_a_tar_context_on_stdin_with_its_dockerignore_and_an_add_of_an_archive(td, tmp_path):
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        data = b"unpacked\n"
        info = tarfile.TarInfo("pkg/file.txt")
        info.size, info.uid, info.gid, info.mode = len(data), 5, 6, 0o640
        tar.addfile(info, io.BytesIO(data))
    files = {
        "Containerfile": "FROM busybox\nCOPY . /ctx/\nADD pkg.tgz /opt/\nRUN ls /ctx | sort > /ctx.list\n",
        ".dockerignore": "*.log\n!keep.log\nsecret/\n",
        "a.txt": "a\n", "debug.log": "no\n", "keep.log": "yes\n", "secret/key": "k\n", "suid": "#!/bin/sh\n",
    }
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode="w") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            info.mode = 0o4755 if name == "suid" else 0o644
            tar.addfile(info, io.BytesIO(text.encode()))
        info = tarfile.TarInfo("pkg.tgz")
        info.size = len(inner.getvalue())
        tar.addfile(info, io.BytesIO(inner.getvalue()))
    res = td("build", "--network", "none", "-t", "fromtar", "-", input=outer.getvalue(), timeout=120)
    assert res.returncode == 0, res.stderr.decode() + res.stdout.decode()
    listed = _run(td, "fromtar", "cat", "/ctx.list").split()
    assert "a.txt" in listed and "keep.log" in listed
    assert "debug.log" not in listed and "secret" not in listed
    assert _run(td, "fromtar", "stat", "-c", "%a", "/ctx/suid") == "4755\n"  # as docker keeps it
    assert _run(td, "fromtar", "stat", "-c", "%u:%g %a %n",
                  "/opt/pkg/file.txt") == "5:6 640 /opt/pkg/file.txt\n"


def test_heredocs_shell_entrypoint_and_healthcheck(td, tmp_path):
    dockerfile = """\
FROM busybox
COPY <<EOF /etc/motd
welcome $HOSTNAME_UNSET!
EOF
RUN <<EOF
echo one > /one
echo two > /two
EOF
RUN cat <<'END' > /quoted
$NOT_EXPANDED
END
SHELL ["/bin/sh", "-ec"]
HEALTHCHECK --interval=30s --retries=2 CMD wget -q localhost || exit 1
ENTRYPOINT echo entry
STOPSIGNAL SIGINT
VOLUME /data
ONBUILD RUN echo child
"""
    ctx = _context(tmp_path, dockerfile)
    res = td("build", "--network", "none", "-t", "heredoc", str(ctx), timeout=120)
    assert res.returncode == 0, res.stderr.decode() + res.stdout.decode()
    run = ["run", "--rm", "--network", "none", "--entrypoint", "cat", "--image", "heredoc", "probe"]
    assert td.out(*run, "/etc/motd") == "welcome !\n"
    assert td.out(*run, "/one", "/two") == "one\ntwo\n"
    assert td.out(*run, "/quoted") == "$NOT_EXPANDED\n"
    config = _config(td, "heredoc")
    assert config["Entrypoint"] == ["/bin/sh", "-ec", "echo entry"]
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q localhost || exit 1"],
                                     "Interval": 30_000_000_000, "Retries": 2}
    assert config["StopSignal"] == "SIGINT" and config["Volumes"] == {"/data": {}}
    assert config["OnBuild"] == ["RUN echo child"]
    # the trigger runs in a child build, and is not inherited further
    (tmp_path / "child").mkdir()
    child = _context(tmp_path / "child", "FROM heredoc\nENV Y=2\n")
    out = td("build", "--network", "none", "-t", "child", str(child), timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    assert "Executing 1 build trigger" in out.stdout.decode() and "child\n" in out.stdout.decode()
    assert not _config(td, "child").get("OnBuild")


def test_a_build_killed_in_a_run_leaves_nothing_once_the_next_command_sweeps(td, tmp_path):
    ctx = _context(tmp_path, "FROM busybox\nRUN echo started && sleep 600\n")
    build = td.popen("build", "--network", "none", str(ctx), stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    wait_for(lambda: td.out("ps", "--format", "{{.Names}}").startswith("build-"), timeout=60,
             what="the RUN step's container to run")
    build.send_signal(signal.SIGKILL)
    build.wait()
    assert td.out("ps", "--format", "{{.Names}}").startswith("build-")
    # its RUN's container is still there for a moment; the next build sweeps it away
    td.out("builder", "prune", "-f")
    assert _leftovers(td) == []


def test_from_scratch_an_entrypoint_over_an_inherited_cmd_and_a_dockerfile_from_stdin(td, tmp_path):
    ctx = _context(tmp_path, "", {"hello.txt": "hello\n", "Containerfile.dockerignore": "skip.txt\n",
                                  "skip.txt": "no\n"})
    (ctx / "Dockerfile").unlink()
    (ctx / "Containerfile").write_text("FROM scratch\nCOPY *.txt /files/\nCMD [\"x\"]\n")
    res = td("build", "-t", "scratchy", str(ctx), timeout=120)
    assert res.returncode == 0, res.stderr.decode() + res.stdout.decode()
    td.out("create", "--image", "scratchy", "s1")
    names = tarfile.open(fileobj=io.BytesIO(td("export", "s1", check=True).stdout)).getnames()
    td.out("rm", "s1")
    # the Containerfile's own ignore file kept skip.txt out
    assert sorted(n.strip("./") for n in names if n.strip("./")) == ["files", "files/hello.txt"]
    # ENTRYPOINT drops the CMD the base image had (busybox's sh), not one set in this stage
    dockerfile = "FROM busybox\nENTRYPOINT [\"echo\", \"entry\"]\n"
    res = td("build", "--network", "none", "-t", "entry", "-f", "-", str(ctx), input=dockerfile.encode(),
             timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    config = _config(td, "entry")
    assert config["Entrypoint"] == ["echo", "entry"] and not config.get("Cmd")
    assert _run(td, "entry") == "entry\n"
    res = td("build", "--network", "none", "-t", "entry2", "-f", "-", str(ctx), timeout=120,
             input=b"FROM busybox\nCMD [\"a\"]\nENTRYPOINT [\"echo\"]\n")
    assert _config(td, "entry2")["Cmd"] == ["a"] and _run(td, "entry2") == "a\n"


def test_add_fetches_a_url_and_checks_its_checksum(td, tmp_path):
    import hashlib
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "data.bin").write_bytes(b"remote bytes\n")
    digest = "sha256:" + hashlib.sha256(b"remote bytes\n").hexdigest()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/data.bin"
        ctx = _context(tmp_path, f"FROM busybox\nADD --checksum={digest} {url} /fetched/\n")
        res = td("build", "--network", "none", "-t", "fetched", str(ctx), timeout=120)
        assert res.returncode == 0, res.stderr.decode()
        assert _run(td, "fetched", "cat", "/fetched/data.bin") == "remote bytes\n"
        assert _run(td, "fetched", "stat", "-c", "%a", "/fetched/data.bin") == "600\n"
        (ctx / "Dockerfile").write_text(f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {url} /f\n")
        res = td("build", "--network", "none", str(ctx), timeout=120)
        assert res.returncode == 1 and "checksum" in res.stderr.decode()
        (ctx / "Dockerfile").write_text(f"FROM busybox\nADD {url}.missing /f\n")
        res = td("build", "--network", "none", str(ctx), timeout=120)
        assert res.returncode == 1 and len(res.stderr.decode().strip().splitlines()) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert _leftovers(td) == []


def test_image_build_keeps_its_recipes_and_bad_options_are_refused(td, tmp_path):
    assert td.out("image", "build", "busybox").startswith("sha256:")
    ctx = _context(tmp_path, "FROM busybox\nENV A=1\n")
    res = td("image", "build", "-q", str(ctx), timeout=120)
    assert res.returncode == 0 and res.stdout.decode().startswith("sha256:")
    res = td("build", "--platform", "linux/s390x", str(ctx), timeout=60)
    assert res.returncode == 1 and "s390x" in res.stderr.decode()
    res = td("build", "--pull", "sometimes", str(ctx), timeout=60)
    assert res.returncode == 125 and "pull" in res.stderr.decode()
    res = td("build", str(tmp_path / "nowhere"), timeout=60)
    assert res.returncode == 1 and "nowhere" in res.stderr.decode()
    res = td("build", "-t", "Bad:Name", str(ctx), timeout=60)
    assert res.returncode == 125 and "Bad:Name" in res.stderr.decode()


def test_args_before_the_first_from_are_steps_as_the_classic_builder_counts_them(td, tmp_path):
    ctx = _context(tmp_path, "ARG BASE=busybox\nARG UNUSED\nFROM ${BASE}\nRUN true\n")
    out = td("build", "--network", "none", str(ctx), timeout=120).stdout.decode().splitlines()
    assert out[:3] == ["Step 1/4 : ARG BASE=busybox", "Step 2/4 : ARG UNUSED", "Step 3/4 : FROM ${BASE}"]


def test_expose_splits_a_variable_s_value_into_ports_as_docker_does(td, tmp_path):
    ctx = _context(tmp_path, 'FROM busybox\nARG PORTS="80 443/tcp"\nENV MORE=9000\n'
                             "EXPOSE $PORTS ${MORE}/udp $NOTHING\n")
    res = td("build", "--network", "none", "-t", "ports:1", str(ctx), timeout=120)
    assert res.returncode == 0, res.stderr
    assert set(_config(td, "ports:1")["ExposedPorts"]) == {"80/tcp", "443/tcp", "9000/udp"}


def test_a_built_image_saves_loads_and_keeps_its_maintainer_and_history(td, tmp_path):
    ctx = _context(tmp_path, "FROM busybox\nMAINTAINER someone <a@b.c>\nRUN echo made > /made\nENV X=1\n")
    td.out("build", "--network", "none", "-t", "kept:1", str(ctx), timeout=120)
    doc = json.loads(td.out("image", "inspect", "kept:1"))[0]
    assert doc["Author"] == "someone <a@b.c>"
    history = td.out("history", "--no-trunc", "kept:1")
    assert "MAINTAINER someone" in history and "echo made > /made" in history
    archive = tmp_path / "kept.tar"
    td.out("save", "-o", str(archive), "kept:1")
    td.out("rmi", "kept:1")
    td.out("builder", "prune", "-a", "-f")
    assert "kept:1" in td.out("load", "-i", str(archive))
    assert _run(td, "kept:1", "cat", "/made") == "made\n"
    assert json.loads(td.out("image", "inspect", "kept:1"))[0]["Id"] == doc["Id"]


def test_a_run_step_killed_before_its_record_leaves_a_directory_the_sweep_takes(td, tmp_path):
    # what a build SIGKILLed inside the store's create leaves: the container's directory
    # without its record (the fault-injection test met it at random)
    td.out("image", "build", "busybox")
    half = td.containers / "build-0123456789ab"
    (half / "upper").mkdir(parents=True)
    td.out("builder", "prune", "-f")
    assert not half.exists() and _leftovers(td) == []
