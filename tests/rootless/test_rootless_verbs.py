"""The rest of docker's verbs for an ordinary user (issue 23): create, start -a, attach, kill,
wait, restart, rename, exec -d, events, top, the prunes, system df and reset, and the Python
API a script imports, each as for root."""

from rootless_fixtures import user, user_python  # noqa: F401 - the fixtures

SCRIPT = """
import tinydocker
done = tinydocker.run("api1", ["sh", "-c", "id -u; echo hi"], capture_output=True, remove=True, network="none")
print(done.exit_code, done.stdout.decode().split())
tinydocker.run("api2", ["sleep", "600"], detach=True, network="none")
print([c.name for c in tinydocker.ps(all=True)])
print(tinydocker.exec("api2", ["cat", "/proc/self/uid_map"], capture_output=True).stdout.split()[:2])
tinydocker.stop("api2", timeout=0)
print(tinydocker.wait("api2"))
tinydocker.remove("api2")
try:
    tinydocker.run("api3", ["true"], network="none", memory="64m")
except tinydocker.TinydockerError as e:
    print(e.code, "cgroup" in str(e))
"""


def test_the_other_verbs_and_the_python_api(user):  # noqa: F811
    u = user
    assert u.td("image", "build", "busybox").returncode == 0
    res = u.td("create", "--network", "none", "v1", "sh", "-c", "echo out; exit 3")
    assert res.returncode == 0, res.stderr
    res = u.td("start", "-a", "v1")
    assert (res.returncode, res.stdout) == (3, b"out\n"), res.stderr
    assert u.td("wait", "v1").stdout == b"3\n"
    assert u.td("rename", "v1", "v2").returncode == 0

    res = u.td("run", "-d", "--network", "none", "v3", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done")
    assert res.returncode == 0, res.stderr
    top = u.td("top", "v3")
    assert top.returncode == 0 and b"sleep" in top.stdout, top.stderr
    assert u.td("restart", "-t", "5", "v3").returncode == 0
    assert u.td("kill", "-s", "KILL", "v3").returncode == 0
    assert u.td("wait", "v3").stdout == b"137\n"

    res = u.td("run", "-d", "--network", "none", "v4", "sh", "-c",
               "while [ ! -e /go ]; do echo tick; sleep 0.2; done; echo late; exit 4")
    assert res.returncode == 0, res.stderr
    attached = u.popen("-m", "tinydocker", "attach", "--no-stdin", "v4")
    assert attached.stdout.readline() == b"tick\n"  # attached: what follows reaches it
    assert u.td("exec", "-d", "v4", "touch", "/go").returncode == 0
    rest, err = attached.communicate(timeout=60)
    assert attached.returncode == 4 and rest.endswith(b"late\n"), err

    res = u.td("events", "--since", "0", "--until", "0s", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
    assert res.returncode == 0, res.stderr
    seen = res.stdout.decode().split("\n")
    assert {"create v1", "start v1", "die v1", "rename v2", "kill v3", "die v3"} <= set(seen), seen

    assert u.td("system", "df").returncode == 0
    res = u.td("container", "prune", "-f")
    assert res.returncode == 0 and u.td("ps", "-aq").stdout == b"", res.stderr
    assert u.td("image", "prune", "-a", "-f").returncode == 0
    assert u.td("images", "-q").stdout == b""

    assert u.td("image", "build", "busybox").returncode == 0
    res = u(u.python[0], "-c", SCRIPT, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().split("\n")
    assert lines[0] == "0 ['0', 'hi']"
    assert lines[1] == "['api2']"
    assert lines[2] == f"[b'0', b'{u.uid}']"
    assert lines[3] == "137"
    assert lines[4] == "125 True"

    res = u.td("system", "reset", "-f")
    assert res.returncode == 0, res.stderr
    assert u.td("images", "-q").stdout == b"" and u.td("ps", "-aq").stdout == b""
