"""Where the cgroup filesystems are mounted, read from /proc/self/mountinfo at run time."""

from ..plain import factory, plain

V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids")  # those limits are written to
# a v1 mount's super options that are not controllers
_NOT_CONTROLLERS = {"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "favordynmods"}


@plain
class Layout:
    """Where the cgroup filesystems are mounted: v1 controller -> mount point, and cgroup2's."""
    v1: dict
    v2: str | None
    v1_options: dict = factory(dict)  # v1 mount point -> its controllers, "cpu,cpuacct"

    @property
    def version(self) -> str:
        limits_in_v1 = any(c in self.v1 for c in V1_CONTROLLERS)
        if limits_in_v1 and self.v2:
            return "hybrid"
        return "v1" if limits_in_v1 else "v2" if self.v2 else "none"

    @property
    def backend(self) -> str:
        """Which back-end realises limits here: v1 wherever v1 hierarchies hold the controllers."""
        return "v1" if any(c in self.v1 for c in V1_CONTROLLERS) else "v2" if self.v2 else "none"


def layout(mountinfo: str | None = None) -> Layout:
    if mountinfo is None:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    v1, v2, v1_options = {}, None, {}
    for line in mountinfo.splitlines():
        before, _, after = line.partition(" - ")
        if not after:
            continue
        fstype, _source, options = (after.split() + ["", ""])[:3]
        mount_point = _unescape(before.split()[4])
        if fstype == "cgroup":
            # every v1 hierarchy, not only those with a controller tinydocker limits: a
            # container gets its own cgroup in each, so that one it could mount (given
            # CAP_SYS_ADMIN) never shows it the hierarchy's root and its release_agent
            # (CVE-2022-0492). name=systemd counts as a controller here.
            controllers = [o for o in options.split(",")
                           if o not in _NOT_CONTROLLERS and ("=" not in o or o.startswith("name="))]
            for controller in controllers:
                v1.setdefault(controller, mount_point)
            if controllers:
                v1_options.setdefault(mount_point, ",".join(controllers))
        elif fstype == "cgroup2" and v2 is None:
            v2 = mount_point
    return Layout(v1, v2, v1_options)


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes
    return field.encode().decode("unicode_escape") if "\\" in field else field
