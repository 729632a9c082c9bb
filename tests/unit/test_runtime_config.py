"""The OCI runtime's config.json loader (tinydocker/runtime/config.py) on real configs and bad
ones, and the features document built from its tables: no root, no containers.

The good configs are the ones the ecosystem writes: `runc spec`, `runc spec --rootless` and
`crun spec` (both installed), and our own template. Each bad config is runc's template with
one thing wrong, and must be refused with one line naming the field.

Run on its own with  python -m pytest -q --confcutdir=tests/unit tests/unit/test_runtime_config.py
"""

import ast
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tinydocker.runtime import config, features, tables, template
from tinydocker.runtime.config import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _made_by(tool: str, tmp: Path, *args: str) -> dict:
    if not shutil.which(tool):
        pytest.fail(f"{tool} is not installed (Debian: apt-get install {tool})")
    subprocess.run([tool, "spec", *args], cwd=tmp, check=True)
    return json.loads((tmp / "config.json").read_text())


@pytest.fixture
def bundle(tmp_path) -> Path:
    (tmp_path / "rootfs").mkdir()
    return tmp_path


@pytest.fixture
def runc_spec(bundle) -> dict:
    doc = _made_by("runc", bundle)
    (bundle / "config.json").unlink()
    return doc


def load(doc: dict, bundle: Path) -> config.Config:
    (bundle / "config.json").write_text(json.dumps(doc))
    return config.load(bundle)


def refusal(doc: dict, bundle: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load(doc, bundle)
    message = str(caught.value)
    assert "\n" not in message and caught.value.code == 1
    return message


# -- the configs others write ---------------------------------------------------------------

@pytest.mark.parametrize("tool, args", [("runc", ()), ("runc", ("--rootless",)), ("crun", ())])
def test_the_configs_runc_and_crun_write_are_read(bundle, tool, args):
    doc = _made_by(tool, bundle, *args)
    c = config.load(bundle)
    assert c.root.path == bundle / "rootfs" and c.root.readonly
    assert c.process.args == ("sh",) and c.process.cwd == "/" and c.process.terminal
    assert c.process.rlimits == (config.Rlimit("RLIMIT_NOFILE", 1024, 1024),)
    assert set(c.process.capabilities.bounding) == set(doc["process"]["capabilities"]["bounding"])
    assert [ns.type for ns in c.linux.namespaces] == [ns["type"] for ns in doc["linux"]["namespaces"]]
    assert [m.destination for m in c.mounts] == [m["destination"] for m in doc["mounts"]]
    assert c.linux.masked_paths == tuple(doc["linux"]["maskedPaths"])
    assert c.ignored == ()
    if "--rootless" in args:
        assert c.linux.namespace("user") and c.linux.uid_mappings and not c.linux.namespace("network")
        assert next(m for m in c.mounts if m.destination == "/sys").bind


@pytest.mark.parametrize("rootless", [False, True])
def test_our_template_is_read_and_says_what_runc_says(bundle, rootless):
    ours = load(template.default(rootless=rootless), bundle)
    (bundle / "config.json").unlink()
    runc = _made_by("runc", bundle, *(["--rootless"] if rootless else []))
    theirs = config.load(bundle)
    assert ours.process.args == theirs.process.args and ours.process.env == theirs.process.env
    assert ours.process.capabilities == theirs.process.capabilities
    assert sorted(n.type for n in ours.linux.namespaces) == sorted(n.type for n in theirs.linux.namespaces)
    assert sorted(m.destination for m in ours.mounts) == sorted(m.destination for m in theirs.mounts)
    assert set(ours.linux.masked_paths) == set(theirs.linux.masked_paths)
    assert ours.linux.uid_mappings == theirs.linux.uid_mappings
    assert (ours.linux.resources is None) == ("resources" not in runc["linux"])


def test_the_model_resolves_paths_and_sorts_mount_options(bundle, runc_spec, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("root")
    (bundle / "link").symlink_to(elsewhere)
    runc_spec["root"]["path"] = "link"  # read through the link: the model holds the real path
    runc_spec["mounts"].append({"destination": "/data", "type": "bind", "source": "data", "options": ["rbind", "ro", "rprivate"]})
    c = load(runc_spec, bundle)
    assert c.root.path == elsewhere
    data = c.mounts[-1]
    assert data.bind and data.recursive and data.source == str(bundle / "data")
    assert data.flags == tables.MOUNT_FLAGS["rbind"][1] | tables.MOUNT_FLAGS["ro"][1]
    assert data.propagation == (tables.MOUNT_PROPAGATION["rprivate"],)
    dev = next(m for m in c.mounts if m.destination == "/dev")
    assert dev.data == "mode=755,size=65536k" and dev.type == "tmpfs" and not dev.copy_up
    runc_spec["mounts"].append({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                                "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]})  # podman's --tmpfs
    assert load(runc_spec, bundle).mounts[-1].copy_up
    runc_spec["mounts"].pop()
    # an option that clears a flag set before it wins, as in mount(8)
    runc_spec["mounts"][-1]["options"] = ["rbind", "ro", "rw"]
    assert load(runc_spec, bundle).mounts[-1].flags == tables.MOUNT_FLAGS["rbind"][1]


def test_what_the_spec_does_not_define_is_ignored_and_named(bundle, runc_spec):
    runc_spec["org.example.vendor"] = {"x": 1}
    runc_spec["linux"]["someFutureThing"] = True
    runc_spec["process"]["user"]["nickname"] = "root"
    c = load(runc_spec, bundle)
    assert c.ignored == ("org.example.vendor", "linux.someFutureThing", "process.user.nickname")


def test_unsupported_fields_given_empty_ask_for_nothing(bundle, runc_spec):
    runc_spec["linux"]["intelRdt"] = None
    runc_spec["linux"]["resources"].update(hugepageLimits=[], unified={}, memory={"limit": 1 << 30, "kernel": 0})
    runc_spec["process"]["selinuxLabel"] = ""
    runc_spec["windows"] = None
    c = load(runc_spec, bundle)
    assert c.linux.resources.memory.limit == 1 << 30


def test_kernel_memory_is_accepted_with_a_warning_as_runc_does(bundle, runc_spec):
    """memory.kernel and kernelTCP are deprecated by the runtime-spec; runc 1.1 warns and ignores
    them, and Linux 6.x's v1 memory.kmem.limit_in_bytes takes a write and ignores it too."""
    runc_spec["linux"]["resources"]["memory"] = {"limit": 1 << 30, "kernel": 1 << 20, "kernelTCP": 1 << 20}
    c = load(runc_spec, bundle)
    assert c.linux.resources.memory.limit == 1 << 30
    assert c.warnings == ("config.json: linux.resources.memory.kernel is deprecated and ignored",
                          "config.json: linux.resources.memory.kernelTCP is deprecated and ignored")
    runc_spec["linux"]["resources"]["memory"] = {"kernel": "lots"}
    assert "linux.resources.memory.kernel must be an integer" in refusal(runc_spec, bundle)


def test_data_options_on_a_bind_mount_are_dropped_with_a_warning_as_runc_ignores_them(bundle, runc_spec):
    runc_spec["mounts"][0] = {"destination": "/x", "type": "none", "source": "/tmp",
                              "options": ["bind", "mode=755", "uid=0", "ro"]}
    c = load(runc_spec, bundle)
    assert c.mounts[0].type == "bind" and c.mounts[0].data == "" and c.mounts[0].flags & tables.MOUNT_FLAGS["ro"][1]
    assert c.warnings == ("config.json: mounts[0].options 'mode=755', 'uid=0': no effect on a bind mount, ignored",)
    runc_spec["mounts"][0]["options"] = ["bind", "sideways"]
    assert "mounts[0].options 'sideways' is not a mount option this runtime knows" in refusal(runc_spec, bundle)


def test_a_config_without_process_is_read_the_process_being_needed_at_start_only(bundle, runc_spec):
    del runc_spec["process"]
    assert load(runc_spec, bundle).process is None
    runc_spec["process"] = None  # engines write null too
    assert load(runc_spec, bundle).process is None


def test_everything_the_issue_lists_is_read(bundle, runc_spec):
    ns = "/proc/self/ns/net"
    runc_spec.update(domainname="example.org", annotations={"a": "b"}, hooks={
        point: [{"path": "/bin/true", "args": ["true"], "env": ["A=1"], "timeout": 5}] for point in tables.HOOKS})
    p = runc_spec["process"]
    p.update(consoleSize={"height": 24, "width": 80}, oomScoreAdj=-500,
             user={"uid": 1000, "gid": 1000, "umask": 0o22, "additionalGids": [5, 6]})
    p["capabilities"]["inheritable"] = ["CAP_CHOWN"]
    linux = runc_spec["linux"]
    linux["namespaces"] = [{"type": "network", "path": ns}] + [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup")]
    linux.update(
        devices=[{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0}],
        cgroupsPath="/tinydocker/c1", sysctl={"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000", "fs.mqueue.msg_max": "9"},
        rootfsPropagation="rslave",
        seccomp={"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
                 "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                 "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                              {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                               "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]})
    linux["resources"].update(
        memory={"limit": 1 << 28, "reservation": 1 << 27, "swap": -1, "swappiness": 10, "disableOOMKiller": False},
        cpu={"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"}, pids={"limit": 64},
        blockIO={"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
                 "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1 << 20}]})
    linux["resources"]["devices"].append({"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
    c = load(runc_spec, bundle)
    assert c.domainname == "example.org" and c.annotations == {"a": "b"}
    assert all(len(getattr(c.hooks, point)) == 1 for point in tables.HOOKS)
    assert c.hooks.poststop[0] == config.Hook("/bin/true", ("true",), ("A=1",), 5)
    assert c.process.user == config.User(1000, 1000, 0o22, (5, 6)) and c.process.console_size == (24, 80)
    assert c.process.oom_score_adj == -500 and c.process.capabilities.inheritable == ("CAP_CHOWN",)
    assert c.linux.namespace("network") == config.Namespace("network", ns)
    assert c.linux.devices[0].major == 10 and c.linux.cgroups_path == "/tinydocker/c1"
    assert c.linux.resources.pids_limit == 64 and c.linux.resources.cpu.cpus == "0-1"
    assert c.linux.resources.devices[-1] == config.DeviceRule(True, "c", 1, 3, "rwm")
    assert c.linux.resources.devices[0] == config.DeviceRule(False, "a", None, None, "rwm")
    assert c.linux.resources.block_io.throttle_read_bps_device[0].rate == 1 << 20
    assert c.linux.seccomp.syscalls[1].args[0] == config.SyscallArg(0, 8, 0, "SCMP_CMP_EQ")
    assert c.linux.rootfs_propagation == "rslave"


# -- what is refused, each naming its field ------------------------------------------------

def _set(path: str, value):
    """A change to runc's template: set (or, with value DELETE, remove) the dotted path."""
    def change(doc):
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if value is DELETE:
            del node[int(last) if isinstance(node, list) else last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return change


DELETE = object()


def _ns(*kinds, **paths):
    return _set("linux.namespaces", [{"type": k} for k in kinds] + [{"type": k, "path": p} for k, p in paths.items()])


def _rootless(doc):
    """runc's template made rootless: root in a user namespace of one id."""
    doc["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "user")]
    doc["linux"]["uidMappings"] = doc["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    return doc


SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW"}
BAD = [
    # (what, change, the words the message must hold)
    ("no ociVersion", _set("ociVersion", DELETE), "config.json: ociVersion must be given"),
    ("ociVersion 2", _set("ociVersion", "2.0.0"), "ociVersion 2.0.0 is not supported"),
    ("ociVersion not semver", _set("ociVersion", "one"), "ociVersion 'one' is not a version"),
    ("no root", _set("root", DELETE), "config.json: root must be given"),
    ("missing rootfs", _set("root.path", "nowhere"), "root.path"),
    ("empty args", _set("process.args", []), "config.json: process.args must not be empty"),
    ("args not strings", _set("process.args", ["sh", 1]), "process.args[1] must be a string"),
    ("relative cwd", _set("process.cwd", "tmp"), "process.cwd 'tmp' must be an absolute path"),
    ("no cwd", _set("process.cwd", DELETE), "process.cwd must be given"),
    ("env without =", _set("process.env", ["PATH=/bin", "JUNK"]), "process.env[1] 'JUNK' is not KEY=value"),
    ("terminal not bool", _set("process.terminal", "yes"), "process.terminal must be true or false"),
    ("negative uid", _set("process.user.uid", -1), "process.user.uid -1 is out of range"),
    ("umask too big", _set("process.user.umask", 0o1000), "process.user.umask"),
    ("gid as text", _set("process.user.additionalGids", ["5"]), "process.user.additionalGids[0] must be an integer"),
    ("windows username", _set("process.user.username", "bob"), "process.user.username is not supported"),
    ("unknown capability", _set("process.capabilities.bounding", ["CAP_KILL", "CAP_FLY"]),
     "process.capabilities.bounding 'CAP_FLY' is not a capability"),
    ("capability without CAP_", _set("process.capabilities.effective", ["KILL"]), "process.capabilities.effective 'KILL'"),
    ("rlimit name", _set("process.rlimits", [{"type": "NOFILE", "soft": 1, "hard": 1}]),
     "process.rlimits[0].type 'NOFILE' is not an RLIMIT_* resource"),
    ("rlimit twice", _set("process.rlimits", [{"type": "RLIMIT_CORE", "soft": 1, "hard": 1}] * 2),
     "process.rlimits[1].type RLIMIT_CORE is given twice"),
    ("rlimit soft above hard", _set("process.rlimits", [{"type": "RLIMIT_CORE", "soft": 2, "hard": 1}]),
     "process.rlimits[0] soft limit 2 is above the hard limit 1"),
    ("rlimit without hard", _set("process.rlimits", [{"type": "RLIMIT_CORE", "soft": 2}]), "process.rlimits[0].hard must be given"),
    ("oomScoreAdj", _set("process.oomScoreAdj", 1001), "process.oomScoreAdj 1001 is out of range"),
    ("selinuxLabel", _set("process.selinuxLabel", "system_u:system_r:container_t:s0"), "process.selinuxLabel is not supported"),
    ("ioPriority", _set("process.ioPriority", {"class": "IOPRIO_CLASS_IDLE"}), "config.json: process.ioPriority is not supported"),
    ("intelRdt", _set("linux.intelRdt", {"closID": "guaranteed"}), "config.json: linux.intelRdt is not supported"),
    ("personality", _set("linux.personality", {"domain": "LINUX32"}), "linux.personality is not supported"),
    ("timeOffsets", _set("linux.timeOffsets", {"monotonic": {"secs": 1}}), "linux.timeOffsets is not supported"),
    ("windows", _set("windows", {"layerFolders": ["c:"]}), "config.json: windows is not supported"),
    ("mountLabel", _set("linux.mountLabel", "system_u:object_r:container_file_t:s0"), "linux.mountLabel is not supported"),
    ("unknown namespace", _ns("mount", "pid", "spaceship"), "linux.namespaces[2].type 'spaceship' is not a namespace type"),
    ("namespace twice", _ns("mount", "pid", "pid"), "linux.namespaces[2].type pid is given twice"),
    ("time namespace", _ns("mount", "time"), "linux.namespaces[1].type time namespaces are not supported"),
    ("no mount namespace", _ns("pid"), "linux.namespaces must include a mount namespace"),
    ("relative namespace path", _ns("mount", network="proc/1/ns/net"), "linux.namespaces[1].path 'proc/1/ns/net' must be an absolute path"),
    ("missing namespace path", _ns("mount", network="/proc/0/ns/net"), "linux.namespaces[1].path /proc/0/ns/net does not exist"),
    ("mappings without user ns", _set("linux.uidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}]),
     "linux.uidMappings needs a user namespace"),
    ("user ns without mappings", _ns("mount", "user"), "linux.uidMappings must be given for a new user namespace"),
    ("uid not mapped", lambda d: (_set("process.user.uid", 1000)(_rootless(d))), "process.user.uid 1000 is not mapped in the user namespace (linux.uidMappings)"),
    ("extra gid not mapped", lambda d: (_set("process.user.additionalGids", [0, 5])(_rootless(d))),
     "process.user.additionalGids 5 is not mapped in the user namespace (linux.gidMappings)"),
    ("mapping size 0", _set("linux.uidMappings", [{"containerID": 0, "hostID": 1000, "size": 0}]), "linux.uidMappings[0].size 0 is out of range"),
    ("hostname without uts", lambda d: (_ns("mount", "pid")(d), d.update(hostname="h")), "hostname cannot be set without a UTS namespace"),
    ("relative mount destination", _set("mounts.0.destination", "proc"), "mounts[0].destination 'proc' must be an absolute path"),
    ("unknown mount option", _set("mounts.1.options", ["nosuid", "sparkly"]), "mounts[1].options 'sparkly' is not a mount option"),
    ("tmpcopyup off tmpfs", _set("mounts.0.options", ["tmpcopyup"]), "mounts[0].options 'tmpcopyup' is for tmpfs mounts only"),
    ("unsupported fs type", _set("mounts.0.type", "ext4"), "mounts[0].type 'ext4' is not supported"),
    ("no type, no bind", _set("mounts.0.type", DELETE), "mounts[0].type must be given"),
    ("bind without source", _set("mounts.0", {"destination": "/x", "type": "bind", "options": ["rbind"]}), "mounts[0].source must be given"),
    ("idmapped mount", _set("mounts.0.uidMappings", [{"containerID": 0, "hostID": 1, "size": 1}]), "mounts[0].uidMappings is not supported"),
    ("hook path", _set("hooks", {"prestart": [{"path": "true"}]}), "hooks.prestart[0].path 'true' must be an absolute path"),
    ("hook timeout", _set("hooks", {"poststop": [{"path": "/bin/true", "timeout": 0}]}), "hooks.poststop[0].timeout"),
    ("hooks not a list", _set("hooks", {"createRuntime": {"path": "/bin/true"}}), "hooks.createRuntime must be an array"),
    ("hook env", _set("hooks", {"poststart": [{"path": "/bin/true", "env": ["X"]}]}), "hooks.poststart[0].env[0] 'X' is not KEY=value"),
    ("annotation not a string", _set("annotations", {"a": 1}), "annotations.a must be a string"),
    ("seccomp action", _set("linux.seccomp", {"defaultAction": "SCMP_ACT_MAYBE"}), "linux.seccomp.defaultAction 'SCMP_ACT_MAYBE' is not a seccomp action"),
    ("seccomp notify", _set("linux.seccomp", {"defaultAction": "SCMP_ACT_NOTIFY"}), "linux.seccomp.defaultAction SCMP_ACT_NOTIFY is not supported"),
    ("seccomp listener", _set("linux.seccomp", {**SECCOMP, "listenerPath": "/run/l.sock"}), "linux.seccomp.listenerPath is not supported"),
    ("seccomp arch", _set("linux.seccomp", {**SECCOMP, "architectures": ["SCMP_ARCH_MIPS"]}),
     "linux.seccomp.architectures 'SCMP_ARCH_MIPS' is not supported"),
    ("seccomp flag", _set("linux.seccomp", {**SECCOMP, "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}), "linux.seccomp.flags"),
    ("seccomp no names", _set("linux.seccomp", {**SECCOMP, "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}),
     "linux.seccomp.syscalls[0].names must name at least one system call"),
    ("seccomp op", _set("linux.seccomp", {**SECCOMP, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                                      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}),
     "linux.seccomp.syscalls[0].args[0].op 'SCMP_CMP_ABOUT'"),
    ("seccomp arg index", _set("linux.seccomp", {**SECCOMP, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                                             "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
     "linux.seccomp.syscalls[0].args[0].index 6 is out of range"),
    ("hugepages", _set("linux.resources.hugepageLimits", [{"pageSize": "2MB", "limit": 1 << 21}]),
     "config.json: linux.resources.hugepageLimits is not supported"),
    ("net cgroup", _set("linux.resources.network", {"classID": 1}), "linux.resources.network is not supported"),
    ("unified", _set("linux.resources.unified", {"memory.high": "1"}), "linux.resources.unified is not supported"),
    ("realtime cpu", _set("linux.resources.cpu", {"realtimeRuntime": 1000}), "linux.resources.cpu.realtimeRuntime is not supported"),
    ("cpuset", _set("linux.resources.cpu", {"cpus": "one"}), "linux.resources.cpu.cpus 'one' is not a list"),
    ("pids without limit", _set("linux.resources.pids", {}), "linux.resources.pids.limit must be given"),
    ("swappiness", _set("linux.resources.memory", {"swappiness": 101}), "linux.resources.memory.swappiness 101 is out of range"),
    ("blkio weight", _set("linux.resources.blockIO", {"weight": 5}), "linux.resources.blockIO.weight 5 is out of range"),
    ("blkio leafWeight", _set("linux.resources.blockIO", {"leafWeight": 500}), "linux.resources.blockIO.leafWeight is not supported"),
    ("device rule access", _set("linux.resources.devices", [{"allow": True, "access": "rwx"}]),
     "linux.resources.devices[0].access 'rwx' is not made of r, w and m"),
    ("device rule allow", _set("linux.resources.devices", [{"access": "r"}]), "linux.resources.devices[0].allow must be true or false"),
    ("device type", _set("linux.devices", [{"type": "x", "path": "/dev/x"}]), "linux.devices[0].type 'x' is not a device type"),
    ("device without major", _set("linux.devices", [{"type": "c", "path": "/dev/x", "minor": 1}]), "linux.devices[0].major must be given"),
    ("device relative path", _set("linux.devices", [{"type": "p", "path": "dev/x"}]), "linux.devices[0].path 'dev/x' must be an absolute path"),
    ("host sysctl", _set("linux.sysctl", {"vm.swappiness": "1"}), "linux.sysctl.vm.swappiness is not in a namespace of the container"),
    ("net sysctl without netns", lambda d: (_ns("mount", "ipc", "uts")(d), d["linux"].update(sysctl={"net.ipv4.ip_forward": "1"})),
     "linux.sysctl.net.ipv4.ip_forward needs a network namespace"),
    ("systemd cgroupsPath", _set("linux.cgroupsPath", "system.slice:td:c1"), "linux.cgroupsPath 'system.slice:td:c1' is systemd's"),
    ("cgroupsPath with ..", _set("linux.cgroupsPath", "/a/../../b"), "linux.cgroupsPath '/a/../../b' must not contain '..'"),
    ("relative maskedPaths", _set("linux.maskedPaths", ["proc/kcore"]), "linux.maskedPaths[0] 'proc/kcore' must be an absolute path"),
    ("rootfsPropagation", _set("linux.rootfsPropagation", "sideways"), "linux.rootfsPropagation 'sideways' is not a propagation type"),
    ("linux not an object", _set("linux", ["namespaces"]), "linux must be an object"),
]


@pytest.mark.parametrize("change, words", [pytest.param(c, w, id=what) for what, c, w in BAD])
def test_a_bad_config_is_refused_naming_its_field(bundle, runc_spec, change, words):
    change(runc_spec)
    assert words in refusal(runc_spec, bundle)


def test_an_apparmor_profile_needs_apparmor(bundle, runc_spec):
    runc_spec["process"]["apparmorProfile"] = "tinydocker-default"
    if config.apparmor_enabled():
        assert load(runc_spec, bundle).process.apparmor_profile == "tinydocker-default"
    else:
        assert "process.apparmorProfile is set but AppArmor is not enabled" in refusal(runc_spec, bundle)


def test_a_missing_bundle_file_or_rootfs_and_bad_json_are_one_line_each(tmp_path):
    with pytest.raises(ConfigError, match=r"^bundle .*/nowhere does not exist$"):
        config.load(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"^JSON specification file .*/config.json does not exist$"):
        config.load(tmp_path)
    (tmp_path / "config.json").write_text('{"ociVersion": "1.0.2",\n "process": [}')
    with pytest.raises(ConfigError, match=r"^config.json: not valid JSON at line 2 column 14: "):
        config.load(tmp_path)
    (tmp_path / "config.json").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"^config.json: not valid JSON"):
        config.load(tmp_path)
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(ConfigError, match=r"^config.json: the document must be an object$"):
        config.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(template.default()))
    with pytest.raises(ConfigError, match=r"^config.json: root.path .*/rootfs does not exist$"):
        config.load(tmp_path)


# -- features, from the loader's own tables --------------------------------------------------

def _with_each(runc_spec, bundle, key_path, values, build):
    for value in values:
        doc = copy.deepcopy(runc_spec)
        build(doc, value)
        load(doc, bundle)  # raises if the loader refuses what features lists


def test_everything_features_lists_is_accepted(bundle, runc_spec):
    doc = features.document()
    linux = doc["linux"]

    def namespace(d, kind):
        d["linux"]["namespaces"] = [{"type": "mount"}] + ([{"type": kind}] if kind != "mount" else [])
        d.pop("hostname")
        if kind == "user":
            d["linux"]["uidMappings"] = d["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]

    _with_each(runc_spec, bundle, "", linux["namespaces"], namespace)
    _with_each(runc_spec, bundle, "", [linux["capabilities"]],
               lambda d, caps: d["process"]["capabilities"].update(bounding=caps))
    _with_each(runc_spec, bundle, "", doc["mountOptions"],
               lambda d, option: d["mounts"].append({"destination": "/x", "type": "tmpfs", "source": "tmpfs",
                                                     "options": [option]}) if option not in ("bind", "rbind")
               else d["mounts"].append({"destination": "/x", "type": "none", "source": "/tmp", "options": [option]}))
    _with_each(runc_spec, bundle, "", doc["hooks"],
               lambda d, point: d.update(hooks={point: [{"path": "/bin/true"}]}))
    seccomp = linux["seccomp"]
    _with_each(runc_spec, bundle, "", seccomp["actions"],
               lambda d, action: d["linux"].update(seccomp={"defaultAction": action, "architectures": seccomp["archs"],
                                                            "flags": seccomp["supportedFlags"]}))
    _with_each(runc_spec, bundle, "", seccomp["operators"],
               lambda d, op: d["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                   {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": op}]}]}))
    assert doc["ociVersionMax"] == json.loads(json.dumps(template.default()))["ociVersion"]
    assert linux["selinux"] == {"enabled": False} and linux["cgroup"]["systemd"] is False


def test_what_runc_offers_beyond_features_is_refused(bundle, runc_spec):
    """Features lists a subset of runc's; whatever of runc's it leaves out, the loader refuses."""
    runc = json.loads(subprocess.run(["runc", "features"], capture_output=True, check=True).stdout)
    ours = features.document()
    assert set(ours["mountOptions"]) <= set(runc["mountOptions"])
    assert set(ours["linux"]["namespaces"]) == set(runc["linux"]["namespaces"])
    assert ours["linux"]["capabilities"] == runc["linux"]["capabilities"]
    for key in ("actions", "operators", "archs"):
        assert set(ours["linux"]["seccomp"][key]) <= set(runc["linux"]["seccomp"][key])
    for action in set(runc["linux"]["seccomp"]["actions"]) - set(ours["linux"]["seccomp"]["actions"]):
        doc = copy.deepcopy(runc_spec)
        doc["linux"]["seccomp"] = {"defaultAction": action}
        assert "linux.seccomp.defaultAction" in refusal(doc, bundle)
    for arch in set(runc["linux"]["seccomp"]["archs"]) - set(ours["linux"]["seccomp"]["archs"]):
        doc = copy.deepcopy(runc_spec)
        doc["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch]}
        assert f"'{arch}' is not supported" in refusal(doc, bundle)
    for option in set(runc["mountOptions"]) - set(ours["mountOptions"]):
        doc = copy.deepcopy(runc_spec)
        doc["mounts"][1]["options"] = [option]
        assert f"'{option}' is not a mount option" in refusal(doc, bundle)


def test_the_rlimit_numbers_are_the_hosts():
    import resource

    assert all(getattr(resource, name, number) == number for name, number in tables.RLIMITS.items())


# -- the runtime sits below the engine -------------------------------------------------------

def test_the_runtime_imports_nothing_of_the_engine():
    allowed = {"runtime", "linux", "errors", "version", "security", "cgroups", "plain"}  # below the runtime
    for path in (REPO / "tinydocker" / "runtime").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                parts = (node.module or "").split(".")
                part = "runtime" if node.level == 1 else parts[0]
                assert part in allowed, f"{path.name} imports {'.' * node.level}{node.module}"
            elif isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(n and n.startswith("tinydocker") for n in names), f"{path.name}: absolute import {names}"


def test_the_command_line_adds_no_heavy_import():
    """The runtime's command line starts without the engine: the tinydocker package imports
    its API only when it is first used, and nothing brings typer/click, psutil or filelock."""
    probe = "import sys, tinydocker.runtime.cli; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO).stdout.split()
    heavy = {m for m in loaded if m.split(".")[0] in ("typer", "click", "psutil", "filelock", "asyncio", "rich")}
    assert not heavy, heavy
    assert {m for m in loaded if m.startswith("tinydocker")} == {
        "tinydocker", "tinydocker.errors", "tinydocker.version",
        "tinydocker.runtime", "tinydocker.runtime.cli", "tinydocker.runtime.log"}


def test_the_verbs_import_no_dataclasses():
    """dataclasses (with inspect) and its per-class code generation were a third of a verb's
    start: the model is plain.py's, and the engine's cgroup back-ends stay out."""
    probe = ("import sys, tinydocker.runtime.cli, tinydocker.runtime.create, tinydocker.runtime.start, "
             "tinydocker.runtime.exec, tinydocker.runtime.delete, tinydocker.runtime.update, tinydocker.runtime.pause; "
             "print(' '.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO).stdout.split()
    assert not {"dataclasses", "inspect", "tinydocker.cgroups.limits", "tinydocker.cgroups.v1"} & set(loaded)


def test_the_package_still_offers_the_api():
    probe = ("import sys, tinydocker; assert 'tinydocker.api' not in sys.modules; "
             "from tinydocker import *; print(run.__module__, TinydockerError.__name__, len(tinydocker.__all__) > 40)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out == "tinydocker.api.create TinydockerError True\n"
