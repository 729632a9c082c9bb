"""What a default container may do, probed from inside it, and docker's flags that change it.

Every probe only observes (access(2), /proc/self/status, listing) or tries something that
could only touch the container's own namespaces (a mount, an ICMP echo to its loopback):
nothing here could change the host even if the confinement were broken.
"""

import ast
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import psutil
import pytest

from conftest import container_cgroups, wait_for
from tinydocker import cgroups
from tinydocker.security import capabilities
from tinydocker.security.masks import MASKED, READ_ONLY


def host_permitted() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("CapPrm:"):
            return int(line.split()[1], 16)
    raise AssertionError("no CapPrm")


def status(td, *args) -> dict:
    """The capability sets and flags of the container's process, from /proc/self/status."""
    out = td.out("run", "--rm", *args, "probe", "grep", "-E", "^(Cap|NoNewPrivs|Seccomp)", "/proc/self/status")
    rows = dict(line.split(":\t") for line in out.strip().splitlines())
    return {k: int(v, 16) if k.startswith("Cap") else int(v) for k, v in rows.items()}


DEFAULT = capabilities.mask(capabilities.DEFAULT)


def test_default_is_podmans_eleven_capabilities_and_nothing_inheritable(td):
    s = status(td)
    assert len(capabilities.DEFAULT) == 11
    assert (s["CapEff"], s["CapPrm"], s["CapBnd"]) == (DEFAULT, DEFAULT, DEFAULT)
    assert (s["CapInh"], s["CapAmb"]) == (0, 0)
    assert s["NoNewPrivs"] == 0


def test_a_non_root_user_holds_no_capability(td):
    s = status(td, "-u", "1000")
    assert (s["CapEff"], s["CapPrm"], s["CapInh"], s["CapAmb"]) == (0, 0, 0, 0)
    assert s["CapBnd"] == DEFAULT


@pytest.mark.parametrize("flags, expected", [
    (["--cap-drop", "ALL", "--cap-add", "net_admin"], ["NET_ADMIN"]),
    (["--cap-drop", "CAP_CHOWN", "--cap-drop", "Kill"], sorted(set(capabilities.DEFAULT) - {"CHOWN", "KILL"})),
    (["--cap-add", "SYS_TIME", "--cap-drop", "SYS_TIME"], capabilities.DEFAULT + ["SYS_TIME"]),
    (["--cap-add", "all", "--cap-drop", "sys_admin"], [n for n in capabilities.NAMES if n != "SYS_ADMIN"]),
])
def test_cap_add_and_drop_by_dockers_rules(td, flags, expected):
    want = capabilities.mask(expected) & host_permitted()
    s = status(td, *flags)
    assert (s["CapEff"], s["CapBnd"]) == (want, want)


def test_unknown_capability_and_security_opt_are_one_line_errors(td):
    for flags, needle in ((["--cap-add", "FLY"], b"unknown capability: 'FLY'"),
                          (["--security-opt", "apparmor=x"], b"invalid --security-opt 'apparmor=x'")):
        res = td("run", *flags, "bad", "true")
        assert res.returncode == 125 and res.stderr.count(b"\n") == 1 and needle in res.stderr, res.stderr
        assert td("inspect", "bad").returncode == 1  # nothing was made


def test_no_new_privileges(td):
    assert status(td, "--security-opt", "no-new-privileges")["NoNewPrivs"] == 1
    assert status(td, "--security-opt", "no-new-privileges=false")["NoNewPrivs"] == 0


def test_privileged_has_every_capability_and_sees_proc_and_sys_unmasked(td):
    s = status(td, "--privileged")
    assert s["CapEff"] == s["CapBnd"] == host_permitted()
    out = td.out("run", "--rm", "--privileged", "p", "cat", "/proc/self/mountinfo")
    options = {line.split()[4]: line.split()[5].split(",") for line in out.strip().splitlines()}
    assert "rw" in options["/sys"]
    assert not set(options) & set(MASKED + READ_ONLY)


# what --privileged is used for, tried in a privileged and in a default container: a loop
# device mounted, a namespaced sysctl written (the container's own domain name), a cgroup
# made below the container's own, a masked file read, the host's devices present
PRIVILEGED_PROBE = "; ".join([
    "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -d ':'",
    "test -c /dev/loop-control && echo loop-control yes || echo loop-control no",
    "test -b /dev/loop0 && echo loop0 yes || echo loop0 no",
    "dev=$(losetup -f 2>/dev/null) && losetup $dev /img/disk.img 2>/dev/null && echo losetup $dev || echo losetup no",
    "mkdir -p /tmp/m && mount -t ext2 $dev /tmp/m 2>/dev/null && cat /tmp/m/hello && umount /tmp/m || echo hello no",
    "test \"$dev\" && losetup -d $dev 2>/dev/null",
    "echo probe > /proc/sys/kernel/domainname 2>/dev/null; echo domainname $(cat /proc/sys/kernel/domainname)",
    # v1: a hierarchy's directory; v2: /sys/fs/cgroup itself. The child is left behind on
    # purpose: removing the container must remove it too
    "for d in /sys/fs/cgroup/pids /sys/fs/cgroup; do test -f $d/cgroup.procs || continue; "
    "mkdir $d/probe-child 2>/dev/null && test -f $d/probe-child/cgroup.procs && echo cgroup yes || echo cgroup no;"
    " break; done",
    "echo keys $(head -c 64 /proc/keys 2>/dev/null | wc -c) timer_list $(head -c 64 /proc/timer_list | wc -c)",
])


@pytest.mark.skipif(not (shutil.which("mke2fs") and os.path.exists("/dev/loop-control")),
                    reason="needs mke2fs and loop devices on the host")
def test_privileged_is_dockers_everything_and_the_default_none_of_it(td, tmp_path):
    """docker's --privileged: the host's devices (a loop device attached and mounted), the
    device cgroup open, /proc/sys and the cgroup hierarchies writable, nothing masked, every
    capability, no seccomp filter; a default container gets none of it."""
    image = tmp_path / "disk.img"
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext2", "-d", _one_file(tmp_path), str(image)], check=True,
                   capture_output=True)

    def probe(*flags) -> dict:
        out = td.out("run", *flags, "-v", f"{tmp_path}:/img", "p", "sh", "-c", PRIVILEGED_PROBE)
        record = td.record("p")
        td.out("rm", "p")
        # the cgroup the container made below its own went with it
        assert not [p for p in container_cgroups() if p.endswith("/" + record["id"])], "cgroup left behind"
        return dict(line.split(None, 1) for line in out.strip().splitlines())

    try:
        ours = probe("--privileged")
        assert int(ours["CapEff"], 16) == host_permitted()
        assert (ours["Seccomp"], ours["NoNewPrivs"]) == ("0", "0")
        assert (ours["loop-control"], ours["loop0"]) == ("yes", "yes")
        assert ours["losetup"].startswith("/dev/loop") and ours["hello"] == "yes", ours
        assert ours["domainname"] == "probe"
        assert ours["cgroup"] == "yes"
        assert ours["keys"] != "0 timer_list 0", ours  # neither masked
        default = probe()
        assert int(default["CapEff"], 16) == DEFAULT and default["Seccomp"] == "2"
        assert (default["loop-control"], default["loop0"], default["losetup"], default["hello"]) == ("no",) * 4
        assert default["domainname"] != "probe" and default["cgroup"] == "no"
        assert default["keys"] == "0 timer_list 0"
    finally:
        # a loop device left attached if the probe failed half-way, by its own name
        attached = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True).stdout
        for line in attached.splitlines():
            subprocess.run(["losetup", "-d", line.split(":")[0]], capture_output=True)
        assert not attached, f"loop device left attached: {attached}"


def _one_file(directory: Path) -> str:
    """A directory with /hello in it, for mke2fs -d."""
    tree = directory / "tree"
    tree.mkdir()
    (tree / "hello").write_text("hello yes\n")
    return str(tree)


def test_inspect_shows_the_settings_and_the_effective_capabilities(td):
    td.out("run", "--cap-drop", "ALL", "--cap-add", "KILL", "--security-opt", "no-new-privileges", "c1", "true")
    doc = json.loads(td.out("inspect", "c1"))[0]
    assert doc["HostConfig"]["CapAdd"] == ["KILL"] and doc["HostConfig"]["CapDrop"] == ["ALL"]
    assert doc["HostConfig"]["SecurityOpt"] == ["no-new-privileges"] and doc["HostConfig"]["Privileged"] is False
    assert doc["EffectiveCaps"] == ["CAP_KILL"]
    assert doc["HostConfig"]["PidsLimit"] == 2048


def test_exec_is_held_as_the_container_is(td):
    td.out("run", "-d", "--cap-drop", "ALL", "--cap-add", "KILL", "c1", "sleep", "600")
    try:
        line = td.out("exec", "c1", "grep", "CapEff", "/proc/self/status")
        assert int(line.split()[1], 16) == capabilities.mask(["KILL"])
        line = td.out("exec", "--privileged", "c1", "grep", "CapEff", "/proc/self/status")
        assert int(line.split()[1], 16) == host_permitted()
        # non-dumpable while it joined; execve made the command dumpable again
        assert td.out("exec", "c1", "grep", "-c", "NoNewPrivs:.0", "/proc/self/status").strip() == "1"
    finally:
        td.out("rm", "-f", "c1")


def test_proc_and_sys_are_masked_and_read_only(td):
    masked = [p for p in MASKED if os.path.exists(p)]
    read_only = [p for p in READ_ONLY if os.path.exists(p)]
    assert masked and read_only
    # (busybox's test -w says yes to root whatever the mount: the mount table is asked instead)
    script = "; ".join(
        [f"echo {p} $(test -d {p} && ls -A {p} | wc -l || echo 0) $(test -f {p} && head -c 16 {p} | wc -c || echo 0)"
         for p in masked] +
        ["cat /proc/self/mountinfo"])
    out = td.out("run", "--rm", "m", "sh", "-c", script)
    lines = out.strip().splitlines()
    for path, entries, data in (line.split() for line in lines[:len(masked)]):
        assert (entries, data) == ("0", "0"), f"{path} shows {entries} entries, {data} bytes"
    options = {line.split()[4]: line.split()[5].split(",") for line in lines[len(masked):]}
    for path in read_only + ["/sys"] + [p for p in masked if os.path.isdir(p)]:
        assert "ro" in options[path], (path, options.get(path))
    # and nothing of it can be undone from inside: no CAP_SYS_ADMIN, no mount
    res = td("run", "--rm", "m", "sh", "-c",
             "mount -o remount,rw /sys || mount -o remount,rw /proc/sys || umount /proc/acpi || "
             "mount -t tmpfs none /mnt || mount -t cgroup -o devices none /mnt || echo refused")
    assert res.stdout.strip().endswith(b"refused"), res


def test_dev_is_nosuid_noexec_and_pids_are_limited_by_default(td):
    out = td.out("run", "--rm", "d", "sh", "-c", "grep ' /dev ' /proc/mounts; cat /sys/fs/cgroup/pids.max "
                 "/sys/fs/cgroup/pids/pids.max 2>/dev/null; true")
    mount, pids = out.strip().splitlines()
    options = mount.split()[3].split(",")
    assert "nosuid" in options and "noexec" in options
    assert pids == "2048"
    out = td.out("run", "--rm", "--pids-limit", "-1", "d", "sh", "-c",
                 "cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null; true")
    assert out.strip() == "max"


def test_unprivileged_icmp_echo_works_without_net_raw(td):
    """ping_group_range in the container's own network namespace: an ICMP echo socket
    needs no CAP_NET_RAW (busybox's ping only tries raw sockets, so the test talks ICMP
    itself, as uid 1000, inside the container's network namespace, to its loopback)."""
    assert not status(td)["CapEff"] & capabilities.mask(["NET_RAW"])
    td.out("run", "-d", "c1", "sleep", "30")
    try:
        pid = json.loads(td.out("inspect", "c1"))[0]["State"]["Pid"]
        assert td.out("exec", "c1", "cat", "/proc/sys/net/ipv4/ping_group_range").split() == ["0", "2147483647"]
        probe = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP); "
                 "s.settimeout(5); s.sendto(bytes([8, 0, 0, 0, 0, 1, 0, 1]), ('127.0.0.1', 0)); "
                 "print(s.recvfrom(64)[0][0])")
        res = subprocess.run(["nsenter", "-n", "-t", str(pid), "setpriv", "--reuid", "1000", "--regid", "1000",
                              "--clear-groups", "/usr/bin/python3", "-c", probe], capture_output=True, timeout=30)
        assert res.stdout.strip() == b"0", res  # type 0: an echo reply
    finally:
        td.out("rm", "-f", "c1")


# -- seccomp ---------------------------------------------------------------------------------

def test_the_seccomp_filter_is_on_for_run_and_exec_and_off_when_asked(td):
    assert status(td)["Seccomp"] == 2  # filter mode
    assert status(td, "--security-opt", "seccomp=unconfined")["Seccomp"] == 0
    assert status(td, "--privileged")["Seccomp"] == 0
    s = status(td, "--security-opt", "no-new-privileges", "-u", "1000")  # loaded last, after the switch
    assert (s["Seccomp"], s["NoNewPrivs"], s["CapEff"]) == (2, 1, 0)
    td.out("run", "-d", "c1", "sleep", "30")
    try:
        assert td.out("exec", "c1", "grep", "Seccomp:", "/proc/self/status").split()[1] == "2"
    finally:
        td.out("rm", "-f", "c1")
    # compiled once for the default set (a user's capabilities do not change the rules), then read
    assert len(os.listdir(td.root / "state" / "seccomp")) == 1


def test_the_filter_denies_what_no_capability_would(td):
    """A user namespace needs no capability at all: only the filter stands in its way."""
    res = td("run", "--rm", "u", "unshare", "-U", "true")
    assert res.returncode != 0 and b"Operation not permitted" in res.stderr, res
    assert td("run", "--rm", "--security-opt", "seccomp=unconfined", "u", "unshare", "-U", "true").returncode == 0


PROBE = r"""
import ctypes, errno, os, sys
from tinydocker.linux import syscalls as sc
from tinydocker.security import seccomp
libc = ctypes.CDLL(None, use_errno=True)
sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
sc.load_seccomp_filter(bytes.fromhex(sys.argv[1]))

def call(number, *args):
    ret = libc.syscall(ctypes.c_long(number), *[ctypes.c_ulong(a) for a in args])
    return 0 if ret >= 0 else errno.errorcode[ctypes.get_errno()]

SYS = dict(keyctl=250, add_key=248, personality=135, unshare=272, clone3=435, userfaultfd=323, bpf=321,
           open_by_handle_at=304, kexec_load=246, init_module=175, reboot=169, swapon=167, clock_settime=227,
           getpid=39)
def int80(number, a=0, b=0):
    # a call through the 32-bit x86 ABI (int 0x80), which a 64-bit process can enter too
    import mmap
    code = (bytes([0xB8]) + number.to_bytes(4, "little") + bytes([0xBB]) + a.to_bytes(4, "little") +
            bytes([0xB9]) + b.to_bytes(4, "little") + bytes([0xCD, 0x80, 0xC3]))  # mov eax/ebx/ecx; int 0x80; ret
    page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    ret = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))()
    return 0 if ret >= 0 else errno.errorcode[-ret]

results = {
    "i386_keyctl": int80(288),                               # keyctl, i386 numbering
    "i386_unshare_user": int80(310, 0x10000000),             # unshare(CLONE_NEWUSER)
    "i386_getpid": int80(20),
    "keyctl": call(SYS["keyctl"], 0, 0),                     # KEYCTL_GET_KEYRING_ID of nothing
    "add_key": call(SYS["add_key"], 0, 0, 0, 0, 0),
    "userfaultfd": call(SYS["userfaultfd"], 0),
    "bpf": call(SYS["bpf"], 0, 0, 0),
    "open_by_handle_at": call(SYS["open_by_handle_at"], 0, 0, 0),
    "kexec_load": call(SYS["kexec_load"], 0, 0, 0, 0),
    "init_module": call(SYS["init_module"], 0, 0, 0),
    "reboot": call(SYS["reboot"], 0, 0, 0, 0),               # bad magic: EINVAL if it got through
    "swapon": call(SYS["swapon"], 0, 0),
    "clock_settime": call(SYS["clock_settime"], 99, 0),      # a clock that does not exist
    "unshare_user": call(SYS["unshare"], 0x10000000),
    "clone3": call(SYS["clone3"], 0, 0),
    "personality_query": call(SYS["personality"], 0xFFFFFFFF),
    "personality_no_aslr": call(SYS["personality"], 0x0040000),
    "personality_high_bit": call(SYS["personality"], 0x80040000),
    "getpid": call(SYS["getpid"]),
}
print(results)
"""


def test_the_default_filter_denies_dockers_list_with_eperm(tmp_path):
    """The very filter a container gets, loaded in a child of the test: every call is made with
    arguments that would fail harmlessly (EINVAL, EFAULT) if the filter let it through."""
    from tinydocker.security import capabilities, seccomp

    # the profile a bundle gives the runtime, compiled as the runtime compiles it
    program = seccomp.compile_profile(seccomp.default_profile(seccomp.rules(capabilities.DEFAULT)), [])
    res = subprocess.run([os.sys.executable, "-c", PROBE, program.hex()], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    results = ast.literal_eval(res.stdout)  # str -> 0 or an errno name
    denied = {k for k, v in results.items() if v == "EPERM"}
    assert denied == {"keyctl", "add_key", "userfaultfd", "bpf", "open_by_handle_at", "kexec_load", "init_module",
                      "reboot", "swapon", "clock_settime", "unshare_user", "personality_no_aslr",
                      "personality_high_bit", "i386_keyctl", "i386_unshare_user"}, results
    assert results["i386_getpid"] == 0  # the 32-bit ABI itself still works
    assert results["clone3"] == "ENOSYS"  # so that libc falls back to clone, whose flags the filter sees
    assert results["personality_query"] == 0 and results["getpid"] == 0


def test_a_capability_lifts_its_calls_from_the_filter(tmp_path):
    from tinydocker.security import seccomp

    default = seccomp.rules(["CHOWN"])
    with_time = seccomp.rules(["CHOWN", "SYS_TIME", "SYS_ADMIN"])
    assert "clock_settime" in default["deny"] and "clock_settime" not in with_time["deny"]
    assert "mount" in default["deny"] and "mount" not in with_time["deny"]
    assert default["clone_namespaces"] and not with_time["clone_namespaces"]
    assert "keyctl" in with_time["deny"]  # no capability lifts these


# -- devices and the cgroup hierarchies ------------------------------------------------------------

def test_only_the_default_devices_can_be_made_or_opened(td):
    """Even with CAP_MKNOD added, the device cgroup refuses a node outside the list: the
    kernel's log (c 1:11) and a disk (b 8:0) are neither made nor opened."""
    out = td.out("run", "--rm", "--cap-add", "MKNOD", "d", "sh", "-c",
                 "mknod /tmp/kmsg c 1 11 2>&1; mknod /tmp/sda b 8 0 2>&1; mknod /tmp/null c 1 3 && echo made-null; "
                 "echo x > /tmp/null && echo wrote-null; head -c 8 /dev/urandom | wc -c")
    assert out.count("Operation not permitted") == 2, out
    assert "made-null" in out and "wrote-null" in out and out.split()[-1] == "8"


def test_no_release_agent_is_reachable(td):
    """CVE-2022-0492: a container that may mount (here given CAP_SYS_ADMIN) sees, in every
    v1 hierarchy of the host, its own cgroup as the root, and no release_agent; a default
    container cannot mount a cgroup filesystem at all."""
    res = td("run", "--rm", "m", "sh", "-c", "mkdir /tmp/h && mount -t cgroup -o memory none /tmp/h")
    assert res.returncode != 0 and (b"denied" in res.stderr or b"not permitted" in res.stderr), res
    hierarchies = sorted(set(cgroups.layout().v1_options.values()))
    if not hierarchies:
        pytest.skip("no cgroup v1 hierarchy on this machine")
    script = "; ".join(f"mkdir -p /tmp/{i} && mount -t cgroup -o {o} none /tmp/{i} && "
                       f"echo {o} $(ls /tmp/{i} | grep -c release_agent)" for i, o in enumerate(hierarchies))
    out = td.out("run", "--rm", "--cap-add", "SYS_ADMIN", "m", "sh", "-c", script)
    rows = dict(line.split() for line in out.strip().splitlines())
    assert rows == {o: "0" for o in hierarchies}, out


# -- docker's other confinement flags -------------------------------------------------------------

# device nodes that opening (and closing) changes nothing behind
HARMLESS_DEVICES = [p for p in ("/dev/fuse", "/dev/loop-control") if os.path.exists(p)]


@pytest.mark.skipif(not HARMLESS_DEVICES, reason="no /dev/fuse or /dev/loop-control on this machine")
def test_device_flag_gives_one_node_with_its_access(td):
    """--device HOST:/dev/dev0:r: the node is made with the host's numbers, may be opened for
    reading and not for writing (`exec 3>` only opens: nothing is written)."""
    host = HARMLESS_DEVICES[0]
    st = os.stat(host)
    out = td.out("run", "--rm", "--device", f"{host}:/dev/dev0:r", "d", "sh", "-c",
                 "ls -l /dev/dev0; exec 3</dev/dev0 && echo read-open; (exec 3>/dev/dev0) 2>&1; "
                 f"ls {host} 2>&1; true")
    lines = out.strip().splitlines()
    assert lines[0].startswith("crw") and f"{os.major(st.st_rdev)}, {os.minor(st.st_rdev):3d}" in lines[0], out
    assert lines[1] == "read-open" and "Operation not permitted" in lines[2], out
    assert "No such file" in lines[3]  # only where it was asked for
    out = td.out("run", "--rm", "--device", host, "d", "sh", "-c", f"exec 3<>{host} && echo rw-open")
    assert out.strip() == "rw-open"  # rwm by default
    res = td("run", "--rm", "--device", "/etc/passwd", "d", "true")
    assert res.returncode == 125 and b"not a device node" in res.stderr and res.stderr.count(b"\n") == 1


@pytest.mark.skipif(not os.path.exists("/dev/fuse"), reason="no /dev/fuse on this machine")
def test_device_cgroup_rule_allows_a_node_without_making_it(td):
    """--device-cgroup-rule adds to the allow-list and makes no node: the container makes it
    (given CAP_MKNOD) and may open it as the rule says; any other node stays refused.
    Opening /dev/fuse (10:229) or /dev/loop-control (10:237) and closing it changes nothing."""
    script = ("ls /dev/fuse 2>/dev/null || echo no-node; mknod /tmp/fuse c 10 229 && echo made; "
              "(exec 3</tmp/fuse) && echo read-open; (exec 3>/tmp/fuse) 2>/dev/null || echo write-refused; "
              "mknod /tmp/lc c 10 237 2>/dev/null || echo other-refused; true")
    out = td.out("run", "--rm", "--cap-add", "MKNOD", "--device-cgroup-rule", "c 10:229 rm", "d", "sh", "-c", script)
    assert out.split() == ["no-node", "made", "read-open", "write-refused", "other-refused"], out
    # repeatable, with a wildcard
    out = td.out("run", "--rm", "--cap-add", "MKNOD", "--device-cgroup-rule", "b 7:0 r",
                 "--device-cgroup-rule", "c 10:* rwm", "d", "sh", "-c",
                 "mknod /tmp/lc c 10 237 && (exec 3<>/tmp/lc) && echo lc-open")
    assert out.strip() == "lc-open"
    # and without a rule, the node cannot even be made
    res = td("run", "--rm", "--cap-add", "MKNOD", "d", "mknod", "/tmp/fuse", "c", "10", "229")
    assert res.returncode != 0 and b"Operation not permitted" in res.stderr
    td.out("create", "--device-cgroup-rule", "c 10:229 rm", "c1", "true")
    assert json.loads(td.out("inspect", "c1"))[0]["HostConfig"]["DeviceCgroupRules"] == ["c 10:229 rm"]
    td.out("rm", "c1")
    for rule in ("c 10:229", "x 1:3 rwm", "c 1:3 rwx", "c a:3 r"):
        res = td("run", "--device-cgroup-rule", rule, "bad", "true")
        assert res.returncode == 125 and res.stderr == f"tinydocker: invalid device cgroup format '{rule}'\n".encode()
        assert td("inspect", "bad").returncode == 1


def test_read_only_root_with_a_tmpfs(td):
    out = td.out("run", "--rm", "--read-only", "--tmpfs", "/run:size=1m,mode=1777", "-w", "/work", "r", "sh", "-c",
                 "touch /x 2>&1; touch /run/y && echo run-ok; echo > /dev/shm/z && echo shm-ok; "
                 "grep ' /run ' /proc/mounts; pwd")
    lines = out.strip().splitlines()
    assert "Read-only file system" in lines[0] and lines[1:3] == ["run-ok", "shm-ok"], out
    options = lines[3].split()[3].split(",")
    assert {"rw", "nosuid", "nodev", "noexec", "size=1024k"} <= set(options), lines[3]
    assert lines[4] == "/work"  # -w made before the root went read-only
    res = td("run", "--rm", "--tmpfs", "relative", "r", "true")
    assert res.returncode == 125 and b"invalid --tmpfs" in res.stderr


def test_group_add_and_namespaced_sysctls(td):
    host_forward = open("/proc/sys/net/ipv4/ip_forward").read()
    out = td.out("run", "--rm", "--group-add", "tty", "--group-add", "4242", "--sysctl", "net.ipv4.ip_forward=1",
                 "--sysctl", "kernel.shmmni=1024", "-u", "65534", "g", "sh", "-c",
                 "id -G; cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni")
    groups, forward, shmmni = out.split("\n")[:3]
    assert set(groups.split()) == {"65534", "5", "4242"}, out
    assert (forward, shmmni) == ("1", "1024")
    assert open("/proc/sys/net/ipv4/ip_forward").read() == host_forward  # the container's own
    for bad in ("vm.swappiness=1", "kernel.hostname=x", "net.ipv4.ip_forward"):
        res = td("run", "--rm", "--sysctl", bad, "g", "true")
        assert res.returncode == 125 and res.stderr.count(b"\n") == 1, res
    res = td("run", "--rm", "--group-add", "nosuchgroup", "g", "true")
    assert res.returncode == 125 and b"unable to find group nosuchgroup" in res.stderr


# -- known escapes, as regressions ----------------------------------------------------------------

JOINING_EXEC = """
import sys, time
import tinydocker
from tinydocker.runtime import process
# JOINING-EXEC-MARK
original = process.execute

def paused(p):
    time.sleep(600)  # inside the container, holding its capabilities, just before execve (killed)
    original(p)

process.execute = paused
tinydocker.exec(sys.argv[2], ["true"], root=sys.argv[1])
"""

PROBE_EXE = ("for p in /proc/[0-9]*; do if grep -q 'JOINING-EXEC-MAR[K]' $p/cmdline 2>/dev/null; then "
             "echo found; readlink $p/exe 2>/dev/null; head -c 4 $p/exe 2>/dev/null | wc -c; fi; done")


def _probe_a_joining_exec(td, name: str) -> list[str]:
    """What a process of the container sees of a joining exec, probed while the host sees it
    inside the container's PID namespace, paused before its execve."""
    joining = subprocess.Popen([sys.executable, "-c", JOINING_EXEC, str(td.root), name], env=td.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: _joined(joining.pid), what="the joining exec inside the container")
        return td.out("exec", name, "sh", "-c", PROBE_EXE).split()
    finally:
        joining.kill()
        joining.wait()


def _joined(parent: int) -> bool:
    """A child of `parent` in a PID namespace below ours (two numbers on its NSpid line)."""
    for task in psutil.Process(parent).children():
        try:
            with open(f"/proc/{task.pid}/status") as f:
                if any(line.startswith("NSpid:") and len(line.split()) == 3 for line in f):
                    return True
        except OSError:
            continue
    return False


def test_cve_2019_5736_a_joining_exec_does_not_show_the_host_binary(td):
    """While `exec` joins a container it runs the host's interpreter; a container process
    must not open it through /proc/PID/exe (and overwrite it). It is made non-dumpable
    first thing (and the kernel keeps it so once its capabilities drop), so only a
    container given CAP_SYS_PTRACE reaches it: that one is the probe's control."""
    td.out("run", "-d", "c1", "sleep", "120")
    td.out("run", "-d", "--cap-add", "SYS_PTRACE", "c2", "sleep", "120")
    try:
        assert _probe_a_joining_exec(td, "c1") == ["found", "0"]
        control = _probe_a_joining_exec(td, "c2")
        assert control[0] == "found" and control[-1] == "4" and "python" in control[1], control
    finally:
        td.out("rm", "-f", "c1", "c2")


def test_cve_2024_21626_no_host_descriptor_or_directory_reaches_the_container(td):
    """Only stdio is open in the container's command (no cgroupfs, data-root or caller's
    descriptor), and its working directory is inside its root, in run and in exec."""
    opened = os.open(str(td.root), os.O_RDONLY)  # a descriptor of the caller's, without O_CLOEXEC
    extra = os.dup2(opened, 50)  # well clear of 3, which ls itself uses
    os.close(opened)
    try:
        script = "ls /proc/self/fd; readlink /proc/self/cwd; readlink /proc/self/root"
        out = subprocess.run(td.cmd + ["run", "-w", "/tmp", "c1", "sh", "-c", script], env=td.env, cwd=str(td.root),
                             capture_output=True, text=True, pass_fds=(extra,), timeout=60)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.strip().splitlines()
        assert set(lines[:-2]) <= {"0", "1", "2", "3"}, lines  # 3: ls's own directory
        assert lines[-2:] == ["/tmp", "/"]
        td.out("run", "-d", "c2", "sleep", "60")
        out = subprocess.run(td.cmd + ["exec", "c2", "sh", "-c", script], env=td.env, cwd=str(td.root),
                             capture_output=True, text=True, pass_fds=(extra,), timeout=60)
        lines = out.stdout.strip().splitlines()
        assert set(lines[:-2]) <= {"0", "1", "2", "3"} and lines[-2:] == ["/", "/"], out
    finally:
        os.close(extra)
        td("rm", "-f", "c2")


def test_a_docker_format_seccomp_profile(td, tmp_path):
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_TIME"]}}]}))
    res = td("run", "--rm", "--security-opt", f"seccomp={profile}", "p", "sh", "-c", "/bin/pwd; mkdir /x && echo made")
    assert b"Permission denied" in res.stderr and res.stdout == b"made\n", res  # EACCES, as the profile says
    res = td("run", "--rm", "--cap-add", "SYS_TIME", "--security-opt", f"seccomp={profile}", "p", "mkdir", "/x")
    assert res.returncode == 1 and b"Operation not permitted" in res.stderr  # the rule its capability includes
    # the profile is read when the container is made, as docker does: it may go afterwards
    td.out("run", "--security-opt", f"seccomp={profile}", "kept", "true")
    profile.unlink()
    assert td("start", "-a", "kept").returncode == 0
    # podman's own default profile, an allow-list, runs a shell
    shipped = "/usr/share/containers/seccomp.json"
    if os.path.exists(shipped):
        assert td.out("run", "--rm", "--security-opt", f"seccomp={shipped}", "p", "sh", "-c",
                      "grep Seccomp: /proc/self/status; ls / > /dev/null && echo ok").split() == ["Seccomp:", "2", "ok"]
    for text, needle in (("{", b"invalid seccomp profile"), ('{"defaultAction": "SCMP_ACT_NOPE"}', b"unsupported action")):
        profile.write_text(text)
        res = td("run", "--security-opt", f"seccomp={profile}", "bad", "true")
        assert res.returncode == 125 and needle in res.stderr and res.stderr.count(b"\n") == 1, res
    res = td("run", "--security-opt", f"seccomp={tmp_path}/missing.json", "bad", "true")
    assert res.returncode == 125 and b"opening seccomp profile" in res.stderr
    assert td("inspect", "bad").returncode == 1  # nothing made


def test_a_device_gone_from_the_host_stops_only_the_start(td, tmp_path):
    """The host's node is looked at when the container starts: once it is gone, inspect and
    ps still work and start says why it cannot, in one line (docker's 125)."""
    node = tmp_path / "mynull"
    os.mknod(node, 0o666 | 0o020000, os.makedev(1, 3))  # /dev/null's numbers, in the test's own directory
    td.out("run", "--device", f"{node}:/dev/mynull", "d", "sh", "-c", "echo x > /dev/mynull")
    node.unlink()
    assert json.loads(td.out("inspect", "d"))[0]["HostConfig"]["Devices"][0]["PathOnHost"] == str(node)
    assert "d" in td.out("ps", "-a")
    res = td("start", "-a", "d")
    assert res.returncode == 125 and b"error gathering device information" in res.stderr, res
    assert res.stderr.count(b"\n") == 1
