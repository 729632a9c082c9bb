"""docker-py (the `docker` package) driving tinydocker through `system service`, as scripts use
it: docker.DockerClient at the service's socket with docker-py's own default API version.

Traffic goes only between the test's own containers, to a throwaway registry on 127.0.0.1,
and to the service's socket."""

import datetime
import io
import socket
import tarfile

import docker
import pytest

from conftest import wait_for
from image_fixtures import registry  # noqa: F401 - the fixture
from service_fixtures import service  # noqa: F401 - the fixture

HTTPD = "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"


@pytest.fixture
def client(service):  # noqa: F811
    c = docker.DockerClient(base_url=f"unix://{service.sock}", timeout=120)
    try:
        yield c
    finally:
        c.close()


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_run_returns_the_output_raises_the_exit_code_and_an_unknown_image(client, registry):  # noqa: F811
    assert client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], network_mode="none",
                                 remove=True) == b"out\n"
    assert client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], network_mode="none",
                                 stdout=False, stderr=True, remove=True) == b"err\n"
    with pytest.raises(docker.errors.ContainerError) as failed:
        client.containers.run("busybox", ["sh", "-c", "echo why >&2; exit 3"], name="f1", network_mode="none")
    assert (failed.value.exit_status, failed.value.stderr) == (3, b"why\n")
    assert client.containers.get("f1").attrs["State"]["ExitCode"] == 3
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("nosuch:1", "true")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("nosuch:1")
    # not here, so run pulls it: the registry has no such repository (dockerd's 404 too)
    with pytest.raises(docker.errors.NotFound, match="not found"):
        client.containers.run(f"{registry}/nosuch:1", "true")
    with pytest.raises(docker.errors.NotFound, match="No such container: nosuch"):
        client.containers.get("nosuch")


def test_detached_run_wait_and_logs_stdout_and_stderr_apart(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo o1; echo e1 >&2; read x; echo o2; exit 5"],
                              detach=True, stdin_open=True, network_mode="none", name="d1")
    assert len(c.id) == 64 and c.name == "d1"
    c.reload()
    assert c.status == "running"
    wait_for(lambda: c.logs(stdout=False) == b"e1\n", what="the log")
    assert c.logs(stderr=False) == b"o1\n"
    assert c.logs() == b"o1\ne1\n"
    chunks = c.logs(stream=True, follow=True, stderr=False)
    assert next(chunks) == b"o1\n"
    sock = c.attach_socket(params={"stdin": 1, "stream": 1})
    sock._sock.sendall(b"go\n")
    sock.close()
    assert next(chunks) == b"o2\n"
    assert list(chunks) == []  # the stream ends with the container
    assert c.wait(timeout=60) == {"StatusCode": 5, "Error": None}
    c.reload()
    assert (c.status, c.attrs["State"]["ExitCode"]) == ("exited", 5)
    c.remove()
    assert client.containers.list(all=True) == []


def test_exec_run_exit_codes_demux_and_stream(client):
    c = client.containers.run("busybox", "sleep 600", detach=True, network_mode="none")
    try:
        assert tuple(c.exec_run(["sh", "-c", "echo out; exit 4"])) == (4, b"out\n")
        assert tuple(c.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)) == (0, (b"out\n", b"err\n"))
        assert tuple(c.exec_run(["sh", "-c", "echo out"], demux=True)) == (0, (b"out\n", None))
        res = c.exec_run(["sh", "-c", "echo $A $PWD $(id -u)"], environment={"A": "x"}, workdir="/tmp",
                         user="nobody")
        assert tuple(res) == (0, b"x /tmp 65534\n")
        sock = c.exec_run(["sh", "-c", "read x; echo got $x"], stdin=True, socket=True).output
        sock._sock.sendall(b"it\n")
        got = b""
        while b"got it\n" not in got:
            piece = sock._sock.recv(4096)
            assert piece, got
            got += piece
        sock.close()
        # docker-py reads what follows the headers from the raw socket: output sent with
        # them would be lost in its HTTP reader's buffer, now and then
        streamed = {b"".join(c.exec_run(["sh", "-c", "for i in 1 2 3; do echo $i; done"], stream=True).output)
                    for _ in range(20)}
        assert streamed == {b"1\n2\n3\n"}
        assert {c.exec_run(["echo", "t"], tty=True).output for _ in range(10)} == {b"t\r\n"}
        missing = c.exec_run(["/no/such/program"])
        assert missing.exit_code in (126, 127), missing
    finally:
        c.remove(force=True)


def test_put_archive_and_get_archive_round_trip(client):
    c = client.containers.run("busybox", "sleep 600", detach=True, network_mode="none")
    try:
        assert c.put_archive("/tmp", tar_of({"f.txt": b"abc", "sub/g.txt": b"defg"}))
        assert c.exec_run(["cat", "/tmp/f.txt", "/tmp/sub/g.txt"]).output == b"abcdefg"
        bits, stat = c.get_archive("/tmp/sub")
        assert (stat["name"], stat["mode"] & 0o20000000000) == ("sub", 0o20000000000)  # os.ModeDir
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tar:
            assert tar.extractfile("sub/g.txt").read() == b"defg"
        with pytest.raises(docker.errors.NotFound):
            c.get_archive("/no/such/path")
        with pytest.raises(docker.errors.NotFound):
            c.put_archive("/no/such/dir", tar_of({"x": b""}))
    finally:
        c.remove(force=True)


def test_images_list_get_tag_history_remove_save_and_load(client):
    (image,) = client.images.list()
    assert image.tags == ["busybox:latest"]
    assert client.images.get("busybox").id == image.id
    assert image.tag("mybox", "v1") is True
    assert sorted(client.images.get("mybox:v1").tags) == ["busybox:latest", "mybox:v1"]
    assert [i.id for i in client.images.list(name="mybox")] == [image.id]
    history = image.history()
    assert history and history[0]["Id"] == image.id and "Created" in history[0]
    client.images.remove("mybox:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("mybox:v1")
    archive = b"".join(image.save(named=True))
    client.images.remove("busybox")
    assert client.images.list() == []
    (loaded,) = client.images.load(archive)
    assert (loaded.id, loaded.tags) == (image.id, ["busybox:latest"])
    assert client.containers.run("busybox", "echo back", network_mode="none", remove=True) == b"back\n"


def test_images_push_and_pull_through_a_local_registry(client, registry):  # noqa: F811
    name = f"{registry}/py/box"
    client.images.get("busybox").tag(name, "1")
    progress = list(client.images.push(name, tag="1", stream=True, decode=True))
    assert not [p for p in progress if "error" in p], progress
    assert progress[-1]["aux"]["Digest"].startswith("sha256:"), progress
    client.images.remove(f"{name}:1")
    pulled = client.images.pull(name, tag="1")
    assert sorted(pulled.tags) == sorted(["busybox:latest", f"{name}:1"])
    assert pulled.id == client.images.get("busybox").id
    with pytest.raises(docker.errors.NotFound):
        client.images.pull(f"{registry}/py/nosuch", tag="1")


def test_networks_create_connect_reach_by_name_disconnect_remove(client):
    net = client.networks.create("pynet", labels={"team": "a"})
    try:
        assert client.networks.get("pynet").id == net.id
        assert [n.name for n in client.networks.list(names=["pynet"])] == ["pynet"]
        web = client.containers.run("busybox", ["sh", "-c", HTTPD], name="web", detach=True, network="pynet")
        peer = client.containers.run("busybox", "sleep 600", name="peer", detach=True)
        net.connect(peer, aliases=["p"])
        net.reload()
        assert sorted(c.name for c in net.containers) == ["peer", "web"]
        fetch = ["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 web 80"]
        got = wait_for(lambda: peer.exec_run(fetch).output, timeout=60, what="web to answer peer by its name")
        assert got.endswith(b"\r\n\r\nhello-" + web.attrs["Config"]["Hostname"].encode() + b"\n"), got
        net.disconnect(peer)
        peer.reload()
        assert "pynet" not in peer.attrs["NetworkSettings"]["Networks"]
        assert b"hello-" not in peer.exec_run(fetch).output  # "bad address": web is not known there
        with pytest.raises(docker.errors.APIError) as busy:
            net.remove()
        assert busy.value.status_code == 403
        web.remove(force=True)
        peer.remove(force=True)
        net.remove()
        with pytest.raises(docker.errors.NotFound):
            client.networks.get("pynet")
    finally:
        for name in ("web", "peer"):
            try:
                client.containers.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass
        try:
            client.networks.get("pynet").remove()
        except docker.errors.NotFound:
            pass


def test_volumes_create_mount_list_remove_prune(client):
    vol = client.volumes.create("pyvol", labels={"keep": "yes"})
    assert (vol.name, vol.attrs["Driver"], vol.attrs["Labels"]) == ("pyvol", "local", {"keep": "yes"})
    client.containers.run("busybox", "sh -c 'echo kept > /data/f'", volumes={"pyvol": {"bind": "/data", "mode": "rw"}},
                          network_mode="none", remove=True)
    assert client.containers.run("busybox", "cat /data/f", volumes=["pyvol:/data:ro"], network_mode="none",
                                 remove=True) == b"kept\n"
    anon = client.containers.create("busybox", "true", volumes=["/scratch"], network_mode="none")
    names = [v.name for v in client.volumes.list()]
    assert "pyvol" in names and len(names) == 2
    assert [v.name for v in client.volumes.list(filters={"label": "keep=yes"})] == ["pyvol"]
    with pytest.raises(docker.errors.APIError) as busy:
        client.volumes.get(next(n for n in names if n != "pyvol")).remove()
    assert busy.value.status_code == 409
    anon.remove()
    pruned = client.volumes.prune()
    assert len(pruned["VolumesDeleted"]) == 1 and "pyvol" not in pruned["VolumesDeleted"]
    vol.remove()
    assert client.volumes.list() == []
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("pyvol")


def test_list_filters_stats_top_rename_pause_unpause(client):
    a = client.containers.run("busybox", "sleep 600", name="a1", labels={"role": "x"}, detach=True,
                              network_mode="none")
    b = client.containers.create("busybox", "true", name="b1", network_mode="none")
    try:
        assert [c.name for c in client.containers.list()] == ["a1"]
        assert sorted(c.name for c in client.containers.list(all=True)) == ["a1", "b1"]
        assert [c.name for c in client.containers.list(all=True, filters={"status": "created"})] == ["b1"]
        assert [c.name for c in client.containers.list(filters={"label": "role=x"})] == ["a1"]
        assert [c.name for c in client.containers.list(all=True, filters={"name": "b1"})] == ["b1"]
        assert [c.name for c in client.containers.list(all=True, filters={"id": b.id[:12]})] == ["b1"]
        stats = a.stats(stream=False)
        assert stats["name"] == "/a1" and stats["pids_stats"]["current"] >= 1
        assert stats["memory_stats"]["usage"] > 0 and stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0
        top = a.top()
        assert top["Titles"][-1] == "CMD" and [p[-1] for p in top["Processes"]] == ["sleep 600"]
        a.rename("a2")
        a.reload()
        assert a.name == "a2" and client.containers.get("a2").id == a.id
        a.pause()
        a.reload()
        assert a.status == "paused"
        a.unpause()
        a.reload()
        assert a.status == "running"
    finally:
        a.remove(force=True)
        b.remove(force=True)


def test_attach_stream_follows_a_running_container_to_its_end(client):
    c = client.containers.run("busybox", ["sh", "-c", "read x; echo out; echo err >&2"], detach=True,
                              stdin_open=True, network_mode="none")
    try:
        output = c.attach(stream=True, stdout=True, stderr=True)
        sock = c.attach_socket(params={"stdin": 1, "stream": 1})
        sock._sock.sendall(b"go\n")
        sock.close()
        assert b"".join(output) in (b"out\nerr\n", b"err\nout\n")
        demuxed = c.attach(stream=False, logs=True, demux=True)
        assert demuxed == (b"out\n", b"err\n")
    finally:
        c.remove(force=True)


def test_events_until_replays_and_df_counts(client):
    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    c = client.containers.run("busybox", "true", name="ev1", detach=True, network_mode="none")
    assert c.wait()["StatusCode"] == 0
    c.remove()
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
    events = list(client.events(since=since, until=until, filters={"container": "ev1"}, decode=True))
    assert [e["Action"] for e in events if e["Action"] in ("create", "start", "die", "destroy")] == \
        ["create", "start", "die", "destroy"]
    client.volumes.create("dfvol")
    client.containers.create("busybox", "true", name="dfc", volumes=["dfvol:/data"], network_mode="none")
    df = client.df()
    assert [i["RepoTags"] for i in df["Images"]] == [["busybox:latest"]]
    assert [c["Names"] for c in df["Containers"]] == [["/dfc"]]
    assert [(v["Name"], v["UsageData"]["RefCount"]) for v in df["Volumes"]] == [("dfvol", 1)]
    client.containers.get("dfc").remove()
    client.volumes.get("dfvol").remove()


def test_commit_makes_an_image_of_a_container_s_changes(client):
    c = client.containers.run("busybox", "sh -c 'echo made > /made'", detach=True, network_mode="none")
    try:
        assert c.wait()["StatusCode"] == 0
        image = c.commit("committed", "v1", message="a file", author="me")
        assert image.tags == ["committed:v1"] and image.attrs["Author"] == "me"
        assert client.containers.run("committed:v1", "cat /made", network_mode="none", remove=True) == b"made\n"
        with pytest.raises(docker.errors.APIError, match="--change is not supported"):
            c.commit("other", changes=["CMD [\"sh\"]"])
        with pytest.raises(docker.errors.NotFound, match="No such container: nosuch"):
            client.api.commit("nosuch")
    finally:
        c.remove(force=True)


def test_swarm_mode_is_refused_as_dockerd_outside_a_swarm(client):
    info = client.info()
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert (info["Debug"], info["ExperimentalBuild"]) == (False, False)  # read by scripts as dockerd's
    assert client.swarm.leave(force=True) is True  # docker-py takes dockerd's 503 as "not in one"
    for call in (client.services.list, client.nodes.list, client.secrets.list, client.configs.list):
        with pytest.raises(docker.errors.APIError, match="not a swarm manager") as refused:
            call()
        assert refused.value.status_code == 503
    with pytest.raises(docker.errors.APIError, match="no swarm mode"):
        client.swarm.init()


def test_mac_address_in_the_config_is_the_container_s(client):
    mac = "02:42:ac:11:00:0a"
    out = client.containers.run("busybox", "cat /sys/class/net/eth0/address", mac_address=mac, remove=True)
    assert out == mac.encode() + b"\n"



def test_wait_says_the_exit_code_of_an_auto_removed_container_gone_between_looks(client, service):  # noqa: F811
    for _ in range(5):
        c = client.containers.run("busybox", ["sh", "-c", "read x; exit 3"], auto_remove=True, stdin_open=True,
                                  detach=True, network_mode="none")
        with socket.socket(socket.AF_UNIX) as waiting:
            waiting.connect(service.sock)
            waiting.sendall(f"POST /v1.44/containers/{c.id}/wait HTTP/1.1\r\nHost: docker\r\n"
                            "Content-Length: 0\r\n\r\n".encode())
            answer = b""
            while b"\r\n\r\n" not in answer:  # the headers come at once: the wait has begun
                answer += waiting.recv(1)
            stdin = c.attach_socket(params={"stdin": 1, "stream": 1})
            stdin._sock.sendall(b"go\n")
            stdin.close()
            while not answer.endswith(b"0\r\n\r\n"):
                piece = waiting.recv(4096)
                assert piece, answer
                answer += piece
        assert b'{"StatusCode": 3, "Error": null}' in answer, answer
    assert client.containers.list(all=True) == []


def test_the_detach_keys_end_an_attach_to_a_terminal_and_leave_the_container_running(client):
    c = client.containers.run("busybox", "cat", detach=True, stdin_open=True, tty=True, network_mode="none")
    try:
        for keys, params in ((b"\x10\x11", {}), (b"\x18", {"detachKeys": "ctrl-x"})):
            sock = c.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1, **params})._sock
            sock.sendall(b"echoed\n")
            got = b""
            while b"echoed\r\n" not in got:  # cat's answer through the terminal: it is attached
                got += sock.recv(4096)
            sock.sendall(keys)
            while piece := sock.recv(4096):  # the end of the attach, not of the container
                got += piece
            sock.close()
            c.reload()
            assert c.status == "running"
        with pytest.raises(docker.errors.APIError, match="invalid detach key"):
            c.attach_socket(params={"stdin": 1, "stream": 1, "detachKeys": "ctrl-1"})
    finally:
        c.remove(force=True)


def test_exec_start_frames_the_output_unless_the_start_asks_for_a_terminal(client):
    api = client.api
    c = client.containers.run("busybox", "sleep 600", detach=True, network_mode="none")
    try:
        script = ["sh", "-c", "echo out; echo err >&2"]
        # an instance with a terminal, started without (docker-py's exec_start default):
        # its terminal's output comes as stdout frames, as dockerd sends it
        with_tty = api.exec_create(c.id, script, tty=True)
        assert api.exec_start(with_tty, demux=True) == (b"out\r\nerr\r\n", None)
        assert api.exec_start(api.exec_create(c.id, script, tty=True), tty=True) == b"out\r\nerr\r\n"
        # one without, started with Tty: the raw output, unframed
        raw = api.exec_start(api.exec_create(c.id, ["echo", "plain"]), tty=True)
        assert raw == b"plain\n"
    finally:
        c.remove(force=True)


def test_kill_returns_once_the_container_has_stopped(client):
    for _ in range(5):
        c = client.containers.run("busybox", "sleep 600", detach=True, network_mode="none")
        c.kill()
        c.reload()  # at once: dockerd's SIGKILL waits for the end
        assert (c.status, c.attrs["State"]["ExitCode"]) == ("exited", 137)
        c.remove()


@pytest.fixture
def service_secret(monkeypatch):
    """A variable in the environment the service is started with (requested before client)."""
    monkeypatch.setenv("TINYDOCKER_TEST_SECRET", "the-service-s")


def test_a_bare_environment_name_never_takes_the_service_s_value(service_secret, client):
    out = client.containers.run("busybox", ["sh", "-c", "echo ${TINYDOCKER_TEST_SECRET-unset} $A"],
                                environment={"TINYDOCKER_TEST_SECRET": None, "A": "1"}, network_mode="none",
                                remove=True)
    assert out == b"unset 1\n"
    c = client.containers.run("busybox", "sleep 600", detach=True, network_mode="none")
    try:
        res = c.exec_run(["sh", "-c", "echo ${TINYDOCKER_TEST_SECRET-unset}"],
                         environment={"TINYDOCKER_TEST_SECRET": None})
        assert tuple(res) == (0, b"unset\n")
    finally:
        c.remove(force=True)


def test_several_networks_at_create_as_api_1_44_allows(client, service):  # noqa: F811
    client.networks.create("pya")
    client.networks.create("pyb")
    api = client.api
    try:
        config = api.create_networking_config({"pya": api.create_endpoint_config(),
                                               "pyb": api.create_endpoint_config(aliases=["bee"])})
        c = api.create_container("busybox", "sleep 600", host_config=api.create_host_config(network_mode="pya"),
                                 networking_config=config)
        api.start(c)
        networks = api.inspect_container(c)["NetworkSettings"]["Networks"]
        assert sorted(networks) == ["pya", "pyb"] and "bee" in networks["pyb"]["Aliases"]
        api.remove_container(c, force=True)
        # one of them missing: nothing is left of the create
        config = api.create_networking_config({"pya": api.create_endpoint_config(),
                                               "nosuch": api.create_endpoint_config()})
        with pytest.raises(docker.errors.APIError, match="nosuch"):
            api.create_container("busybox", "true", host_config=api.create_host_config(network_mode="pya"),
                                 networking_config=config)
        assert client.containers.list(all=True) == []
        # docker's CLI at API 1.44 sends them all at create too
        out = service.out("run", "--rm", "--network", "pya", "--network", "pyb", "busybox",
                          "sh", "-c", "ls /sys/class/net | grep -c eth")
        assert out == "2\n"
    finally:
        for c in client.containers.list(all=True):
            c.remove(force=True)
        for name in ("pya", "pyb"):
            client.networks.get(name).remove()


def test_images_build_finds_its_image_in_the_stream(client):
    dockerfile = io.BytesIO(b"FROM busybox\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n")
    image, logs = client.images.build(fileobj=dockerfile, tag="pybuilt:1", network_mode="none", rm=True)
    logs = list(logs)
    # dockerd's order: the image's id, then what the classic builder says last
    assert logs[-3:] == [{"aux": {"ID": image.id}}, {"stream": f"Successfully built {image.short_id[7:]}\n"},
                         {"stream": "Successfully tagged pybuilt:1\n"}], logs
    assert image.tags == ["pybuilt:1"]
    assert client.containers.run("pybuilt:1", network_mode="none", remove=True) == b"built\n"
