"""What runc accepts of a config.json and tinydocker-runtime once refused (found by the OCI
runtime-tools validation suite), each decided against runc 1.1.5's behaviour and the
runtime-spec: memory.kernel is accepted with a warning, a `mode=` on a bind mount is accepted
and ignored with a warning, a config without `process` is created and refused at start, and
a container without a mount namespace is still refused. Found by podman's system tests: a
device's fileMode with its node's type bits (podman --privileged) is accepted, and /dev/ptmx
among the devices leaves the link to the container's devpts, as runc does.
"""

import json
import subprocess

from conftest import host_mounts_under
from test_runtime_lifecycle import one_line, rt  # noqa: F401 - rt: the fixture


def test_kernel_memory_is_created_with_a_warning_in_the_log(rt, tmp_path):
    bundle = rt.bundle("b", ["true"])
    rt.edit(bundle, lambda d: d["linux"].update(resources={"memory": {"limit": 64 << 20, "kernel": 32 << 20,
                                                                      "kernelTCP": 0}}))
    cid = rt.new_id()
    log = tmp_path / "log.json"
    done = rt.create(bundle, cid, "--pid-file", tmp_path / "pid")  # stderr: the text log
    assert done.returncode == 0
    assert one_line(done.stderr) == ("tinydocker-runtime: warning: config.json: linux.resources.memory.kernel is "
                                     "deprecated and ignored")
    assert rt("delete", "--force", cid).returncode == 0
    done = rt("--log", log, "--log-format", "json", "run", "--bundle", bundle, rt.new_id())
    assert (done.returncode, done.stderr) == (0, "")
    [line] = [json.loads(text) for text in log.read_text().splitlines()]
    assert (line["level"], line["msg"]) == ("warning", "config.json: linux.resources.memory.kernel is deprecated "
                                                       "and ignored")


def test_a_mode_on_a_bind_mount_is_ignored_with_a_warning_as_runc_and_the_kernel_do(rt, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    (shared / "file").write_text("from the host\n")
    bundle = rt.bundle("b", ["sh", "-c", "cat /x/file; ls -ld /x | cut -c1-10"])
    rt.edit(bundle, lambda d: d["mounts"].append({"destination": "/x", "type": "bind", "source": str(shared),
                                                   "options": ["rbind", "mode=755", "ro"]}))
    at = len(json.loads((bundle / "config.json").read_text())["mounts"]) - 1
    done = rt("run", "--bundle", bundle, rt.new_id())
    assert done.returncode == 0, done.stderr
    assert done.stdout == "from the host\ndrwx------\n"  # the host directory's own mode, untouched
    assert one_line(done.stderr) == (f"tinydocker-runtime: warning: config.json: mounts[{at}].options 'mode=755': "
                                     "no effect on a bind mount, ignored")
    assert oct(shared.stat().st_mode & 0o777) == "0o700"
    # runc: the same, silently
    cid = rt.new_id()
    try:
        theirs = subprocess.run(["runc", "--root", str(tmp_path / "runc-root"), "run", "--bundle", str(bundle), cid],
                                capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    finally:
        subprocess.run(["runc", "--root", str(tmp_path / "runc-root"), "delete", "--force", cid], capture_output=True)
    assert (theirs.returncode, theirs.stdout, theirs.stderr) == (0, done.stdout, "")


def test_a_config_without_process_is_created_and_start_refuses_it_in_one_line(rt, tmp_path):
    """The runtime-spec: process is REQUIRED only when start is called (runc 1.1.5 refuses it
    at create already: "process property must not be empty")."""
    bundle = rt.bundle("b", ["true"])
    rt.edit(bundle, lambda d: d.pop("process"))
    cid = rt.new_id()
    done = rt.create(bundle, cid, "--pid-file", tmp_path / "pid")
    assert (done.returncode, done.stderr) == (0, "")
    state = rt.state(cid)
    assert state["status"] == "created" and (tmp_path / "pid").read_text() == str(state["pid"])
    done = rt("start", cid)
    assert done.returncode == 1
    assert one_line(done.stderr) == ("tinydocker-runtime: cannot start a container without a process (its "
                                     "config.json has none)")
    # its init could never run anything: it is ended, and the container is stopped for delete
    rt.wait_status(cid, "stopped")
    done = rt("start", cid)
    assert one_line(done.stderr) == "tinydocker-runtime: cannot start a container that has stopped"
    assert rt("delete", cid).returncode == 0
    done = rt("run", "--bundle", bundle, rt.new_id())  # create and start: the same line, nothing left
    assert done.returncode == 1 and one_line(done.stderr).endswith("without a process (its config.json has none)")
    done = rt.create(bundle, rt.new_id(), "--console-socket", tmp_path / "nobody")
    assert done.returncode == 1
    assert one_line(done.stderr) == "tinydocker-runtime: --console-socket was given but config.json has no process"


def test_no_mount_namespace_is_still_refused_as_runc_refuses_its_template_so(rt, tmp_path):
    bundle = rt.bundle("b", ["true"])
    rt.edit(bundle, lambda d: d["linux"].update(namespaces=[n for n in d["linux"]["namespaces"]
                                                            if n["type"] != "mount"]))
    cid = rt.new_id()
    done = rt.create(bundle, cid)
    assert done.returncode == 1
    assert one_line(done.stderr) == ("tinydocker-runtime: config.json: linux.namespaces must include a mount "
                                     "namespace (the root filesystem's mounts would otherwise be made on the host)")
    assert not (rt.root / cid).exists() and not host_mounts_under(bundle)
    # runc, with the same config (maskedPaths and readonlyPaths given, as its template has):
    # refused before anything is mounted
    done = subprocess.run(["runc", "--root", str(tmp_path / "runc-root"), "create", "--bundle", str(bundle), cid],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 1 and "unable to restrict sys entries without a private MNT namespace" in done.stderr
    assert not host_mounts_under(bundle)


def test_a_device_file_mode_with_its_nodes_type_bits_is_accepted_as_runc_does(rt):
    """podman --privileged gives each host device's whole st_mode (0o20600 for a character
    device); runc ORs the type into it anyway. Type bits of another kind stay refused."""
    bundle = rt.bundle("b", ["ls", "-l", "/dev/mynull"])
    rt.edit(bundle, lambda d: d["linux"].update(devices=[
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o20640, "uid": 0, "gid": 0}]))
    done = rt("run", "--bundle", bundle, rt.new_id())
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("crw-r-----"), done.stdout
    rt.edit(bundle, lambda d: d["linux"]["devices"][0].update(fileMode=0o60640))  # a block device's bits
    cid = rt.new_id()
    done = rt.create(bundle, cid)
    assert done.returncode == 1
    assert one_line(done.stderr) == ("tinydocker-runtime: config.json: linux.devices[0].fileMode 0o60640 has file "
                                     "type bits that are not those of a 'c' device")
    assert not (rt.root / cid).exists()


def test_dev_ptmx_among_the_devices_stays_the_link_to_the_containers_devpts_as_runc_keeps_it(rt):
    """podman --privileged lists the host's /dev/ptmx (c 5:2) with the other devices; runc
    skips it (its setupPtmx makes the link), and a new node there was refused here (EPERM)."""
    bundle = rt.bundle("b", ["sh", "-c", "readlink /dev/ptmx; test -c /dev/pts/ptmx && echo pts"])
    rt.edit(bundle, lambda d: d["linux"].update(devices=[
        {"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2, "fileMode": 0o20666, "uid": 0, "gid": 0}]))
    done = rt("run", "--bundle", bundle, rt.new_id())
    assert (done.returncode, done.stdout, done.stderr) == (0, "pts/ptmx\npts\n", "")
