"""The runtime-spec "features" document (`tinydocker-runtime features`): what a caller may
ask of this runtime. Built from the loader's own tables, so it lists exactly what a
config.json may contain and be accepted."""

from . import tables
from .config import apparmor_enabled
from ..version import __version__


def document() -> dict:
    return {
        "ociVersionMin": tables.OCI_VERSION_MIN,
        "ociVersionMax": tables.OCI_VERSION_MAX,
        "hooks": list(tables.HOOKS),
        "mountOptions": sorted([*tables.MOUNT_FLAGS, *tables.MOUNT_PROPAGATION, tables.MOUNT_COPY_UP]),
        "linux": {
            "namespaces": list(tables.NAMESPACES),
            "capabilities": list(tables.CAPABILITIES),
            "cgroup": dict(tables.CGROUP),
            "seccomp": {
                "enabled": True,
                "actions": list(tables.SECCOMP_ACTIONS),
                "operators": list(tables.SECCOMP_OPERATORS),
                "archs": list(tables.SECCOMP_ARCHES),
                "knownFlags": list(tables.SECCOMP_FLAGS),
                "supportedFlags": list(tables.SECCOMP_FLAGS),
            },
            "apparmor": {"enabled": apparmor_enabled()},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.tinydocker.runtime.version": __version__},
    }
