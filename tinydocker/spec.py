"""What a container should be: built by the CLI or a script, realised by the runtime.

A spec is plain data so that it can cross the pipe to the container's init unchanged.
"""

from dataclasses import asdict, dataclass, field
import os
import re

from .cgroups.limits import Limits
from .errors import TinydockerError
from .names import check_name

ENV_KEY_RE = re.compile(r"[^=\0]+")
HOSTNAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_IMAGE = "busybox"
DEFAULT_LOG_DRIVER = "json-file"  # docker's default, as `info` reports it


def check_image_ref(ref: str) -> str:
    from .image.reference import is_id_prefix, parse

    if not is_id_prefix(ref):
        parse(ref)  # raises, saying what is wrong
    return ref


@dataclass
class ContainerSpec:
    """A container as it will run: the user's options already merged with its image's
    config (image/config.py), so that `start` and `exec` need nothing else."""
    name: str
    argv: list[str] = field(default_factory=list)  # entrypoint + command
    image: str = DEFAULT_IMAGE                     # the reference as the user gave it
    image_id: str = ""                             # sha256:… of the image's config
    entrypoint: list[str] = field(default_factory=list)  # the part of argv that is the entrypoint
    env: list[str] = field(default_factory=list)   # KEY=VAL, already complete
    workdir: str = "/"
    user: str = ""                                 # USER[:GROUP], names or ids; "" is root
    stop_signal: str = ""                          # for `stop`; "" is SIGTERM
    stop_timeout: int = -1                         # --stop-timeout: seconds for `stop`; -1 is docker's 10
    labels: dict[str, str] = field(default_factory=dict)
    exposed_ports: list[str] = field(default_factory=list)
    hostname: str = ""
    interactive: bool = False
    stdin_once: bool = False                       # docker's StdinOnce: the input closes when the first attached client's does
    tty: bool = False
    remove: bool = False
    limits: Limits = field(default_factory=Limits)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)   # --device HOST[:CONTAINER[:rwm]]
    device_cgroup_rules: list[str] = field(default_factory=list)  # --device-cgroup-rule 'c 1:3 rwm'
    read_only: bool = False
    tmpfs: list[str] = field(default_factory=list)     # --tmpfs PATH[:OPTIONS]
    group_add: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    seccomp_profile: str = ""                          # a docker-format profile's JSON, as read at run
    mounts: list[dict] = field(default_factory=list)   # -v and --mount, as volume/mounts.py reads them
    network: str = "bridge"                            # bridge, none, host or a network's name
    ip: str = ""                                       # --ip: the address asked for
    aliases: list[str] = field(default_factory=list)   # --network-alias: more names on `network`
    ports: list[str] = field(default_factory=list)     # -p flags as given
    publish_all: bool = False                          # -P: the exposed ports on free host ports
    networks: list[dict] = field(default_factory=list) # `network connect`ed: {name, ip, aliases}, after `network`
    # the network (and its ports) a stopped container was disconnected from: connected to it
    # again, that is its network again, as docker's HostConfig keeps NetworkMode and PortBindings
    parked: dict = field(default_factory=dict)
    pid: str = ""                                      # --pid: "" its own, host, or container:NAME
    mac_address: str = ""                              # --mac-address: eth0's on the network it starts on
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)   # --dns-search: resolv.conf's search line
    dns_options: list[str] = field(default_factory=list)  # --dns-option: its options line
    add_hosts: list[str] = field(default_factory=list) # NAME:IP
    restart: str = "no"                                # --restart: no, always, unless-stopped, on-failure[:N]
    init: bool = False                                 # --init: a reaping, signal-forwarding PID 1 (catatonit)
    log_driver: str = DEFAULT_LOG_DRIVER               # json-file (the CRI file logs.py reads) or none
    log_opts: dict[str, str] = field(default_factory=dict)  # --log-opt max-size, max-file, labels, env
    runtime: str = ""                                  # --runtime: an OCI runtime's path; "" tinydocker's own
    healthcheck: dict = field(default_factory=dict)    # test, interval, timeout, start_period (ns), retries: container/health.py

    def __post_init__(self):
        check_name(self.name)
        check_image_ref(self.image)
        if not self.argv:
            raise TinydockerError("No command specified")
        if any("\0" in a for a in self.argv):
            raise TinydockerError("command arguments cannot contain NUL bytes")
        if self.joined_network() and self.hostname:
            raise TinydockerError("conflicting options: hostname and the network mode")
        if not self.hostname and not self.joined_network():  # joined: the other container's, at start
            self.hostname = self.name[:63]
        # letters, digits, '-', '.' (and '_', which container names allow): it goes into
        # peers' /etc/hosts, where a space or a newline would add names or lines
        if self.hostname and (len(self.hostname) > 64 or not HOSTNAME_RE.fullmatch(self.hostname)):
            raise TinydockerError(f"invalid hostname {self.hostname!r}: letters, digits, '-', '.' and '_' only")
        if not self.workdir.startswith("/"):
            raise TinydockerError(f"the working directory '{self.workdir}' is invalid, it needs to be an absolute path")
        self.env = [e for e in map(parse_env, self.env) if e is not None]
        self.confinement()  # the flags are checked now, not when the container starts
        self.tmpfs_mounts()
        from .volume.mounts import check_targets

        check_targets(self.mounts, self.tmpfs)
        self.network_checks()
        from .security import devices, sysctls

        for flag in self.devices:
            devices.parse_flag(flag)  # the host's node is looked at when the container starts
        for rule in self.device_cgroup_rules:
            devices.check_rule(rule)

        self.sysctls = sysctls.parse(f"{k}={v}" for k, v in self.sysctls.items())
        policy, _ = parse_restart(self.restart)
        if policy != "no" and self.remove:
            raise TinydockerError("Conflicting options: --restart and --rm")
        self.log_limits()
        if self.healthcheck:
            check_healthcheck(self.healthcheck)
        for group in self.group_add:
            if not group or ":" in group or "\0" in group:
                raise TinydockerError(f"invalid --group-add {group!r}: want a group name or id")

    def joined_network(self) -> str:
        """The container whose network namespace --network container:NAME joins, or ""."""
        return self.network[len("container:"):] if self.network.startswith("container:") else ""

    def joined_pid(self) -> str:
        """The container whose PID namespace --pid container:NAME joins, or ""."""
        return self.pid[len("container:"):] if self.pid.startswith("container:") else ""

    def network_checks(self) -> None:
        import socket

        from .network import ports

        if self.pid not in ("", "host") and not self.joined_pid():
            raise TinydockerError(f"invalid --pid {self.pid!r}: want host or container:NAME")
        if self.joined_pid():
            check_name(self.joined_pid())
        if self.joined_network():
            # docker's words: these belong to the container whose network is joined
            check_name(self.joined_network())
            for given, what in ((self.ports or self.publish_all, "port publishing and the container type network mode"),
                                (self.dns or self.dns_search or self.dns_options, "dns and the network mode"),
                                (self.add_hosts, "custom host-to-IP mapping and the network mode"),
                                (self.ip or self.networks, "ip and the network mode"),
                                (self.mac_address, "mac-address and the network mode")):
                if given:
                    raise TinydockerError(f"conflicting options: {what}")
        elif self.network not in ("bridge", "none", "host"):
            check_name(self.network)
        elif self.network == "none" and (self.ports or self.publish_all):
            # (with --network host they are discarded, as docker's: the caller warns)
            raise TinydockerError("cannot publish ports with --network none: the container has no network")
        elif self.network != "bridge" and self.ip:
            raise TinydockerError(f"--ip needs a bridge or user network, not --network {self.network}")
        if self.aliases and (self.network in ("bridge", "none", "host") or self.joined_network()):
            # docker's rule: names are told to peers on user networks only
            raise TinydockerError("network-scoped alias is supported only for containers in user defined networks")
        for address in [self.ip] * bool(self.ip) + self.dns + [h.partition(":")[2] for h in self.add_hosts]:
            try:
                socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)
            except OSError:
                raise TinydockerError(f"invalid IP address {address!r} (in --ip, --dns or --add-host)") from None
        for entry in self.add_hosts:
            name, colon, _ = entry.partition(":")
            if not colon or not name or any(c.isspace() for c in name):
                raise TinydockerError(f"invalid --add-host {entry!r}: want NAME:IP")
        for flag in self.ports:
            ports.parse(flag)
        for extra in self.networks:
            check_name(extra["name"])
        if self.mac_address and self.network == "host":
            raise TinydockerError("conflicting options: mac-address and the network mode")
        if self.mac_address:
            octets = self.mac_address.split(":")
            if len(octets) != 6 or not all(len(o) == 2 and all(c in "0123456789abcdefABCDEF" for c in o) for o in octets):
                raise TinydockerError(f"{self.mac_address} is not a valid mac address")
            if int(octets[0], 16) & 1:
                raise TinydockerError(f"{self.mac_address} is a multicast address, not one an interface can have")
            self.mac_address = self.mac_address.lower()
        for word in self.dns_search + self.dns_options:  # one word each on resolv.conf's line
            if not word or any(c.isspace() for c in word) or "\0" in word:
                raise TinydockerError(f"invalid --dns-search or --dns-option {word!r}: one word, no spaces")
        if self.network == "host" and any(key.startswith("net.") for key in self.sysctls):
            raise TinydockerError("sysctl net.* cannot be set with --network host: it would change the host's")
        if self.joined_network() and any(key.startswith("net.") for key in self.sysctls):
            raise TinydockerError("sysctl net.* cannot be set with --network container:NAME: "
                                  "they are that container's")

    def log_limits(self) -> tuple[int, int]:
        """(max-size in bytes, 0 for none; max-file) of --log-opt, checked as docker's json-file checks them."""
        if self.log_driver not in ("json-file", "k8s-file", "none"):
            raise TinydockerError(f"logging driver {self.log_driver!r} is not supported (json-file, k8s-file, none)")
        unknown = set(self.log_opts) - {"max-size", "max-file", "labels", "env"}
        if unknown:
            raise TinydockerError(f"unknown log opt '{sorted(unknown)[0]}' for {self.log_driver} log driver")
        if self.log_driver == "none" and self.log_opts:
            raise TinydockerError("the none log driver takes no --log-opt")
        from .cgroups.limits import parse_bytes

        size = parse_bytes(self.log_opts["max-size"], "--log-opt max-size") if "max-size" in self.log_opts else 0
        files = self.log_opts.get("max-file", "1")
        if not files.isdigit() or int(files) < 1:
            raise TinydockerError(f"invalid --log-opt max-file {files!r}: a number of files, 1 or more")
        if int(files) > 1 and not size:
            raise TinydockerError("--log-opt max-file needs max-size")
        return size, int(files)

    def log_details(self) -> bytes:
        """What `logs --details` puts before each line: the --log-opt labels= and env= values."""
        from urllib.parse import quote_plus as quote  # Go's url.QueryEscape, as docker writes them

        env = dict(e.split("=", 1) for e in self.env)
        attrs = {}
        for option, source in (("labels", self.labels), ("env", env)):
            for key in filter(None, self.log_opts.get(option, "").split(",")):
                if key in source:
                    attrs[key] = source[key]
        return ",".join(f"{quote(k)}={quote(v)}" for k, v in sorted(attrs.items())).encode()

    def host_devices(self) -> list[dict]:
        """The --device nodes, read from the host now (at every start, as their numbers may
        change); privileged, every node of the host's /dev first (docker's --privileged)."""
        from .security import devices

        every = devices.all_host_devices() if self.privileged else []
        return every + [devices.host_device(flag) for flag in self.devices]

    def tmpfs_mounts(self) -> list[dict]:
        from .volume import tmpfs

        return [tmpfs.parse(flag) for flag in self.tmpfs]

    def device_rules(self, host_devices: list[dict]) -> list[str] | None:
        """The device cgroup's allow-list with the --device nodes (host_devices()) and the
        --device-cgroup-rule lines; None (everything) when privileged."""
        from .security import devices

        if self.privileged:
            return None
        return list(devices.DEFAULT) + [d["rule"] for d in host_devices] + list(self.device_cgroup_rules)

    def confinement(self, privileged: bool = False) -> dict:
        """What the container's processes are held to (container/bundle.process); `privileged`
        is exec's own --privileged, on top of the container's."""
        from .security import capabilities

        privileged = privileged or self.privileged
        no_new_privileges, seccomp = False, not privileged
        for option in self.security_opt:
            key, value = security_option(option)
            if key == "no-new-privileges" and value in ("", "true", "false"):
                no_new_privileges = value != "false"
            elif key == "seccomp" and value == "unconfined":
                seccomp = False
            elif key == "seccomp" and value:
                pass  # a profile: read when the container was made, kept in seccomp_profile
            else:
                raise TinydockerError(f"invalid --security-opt {option!r}: tinydocker knows "
                                      "no-new-privileges[=true|false] and seccomp=unconfined|PROFILE.json")
        return {"caps": capabilities.effective(self.cap_add, self.cap_drop, privileged),
                "privileged": privileged, "no_new_privileges": no_new_privileges, "seccomp": seccomp,
                "seccomp_profile": self.seccomp_profile or None}

    def container_env(self) -> dict[str, str]:
        """The environment docker gives a container: defaults, then the image's Env and the
        user's -e values."""
        env = {"PATH": DEFAULT_PATH, "HOSTNAME": self.hostname}
        if self.tty:
            env["TERM"] = "xterm"
        for item in self.env:
            key, _, value = item.partition("=")
            env[key] = value
        return env  # HOME, unless set here, comes from the user's passwd entry (see init)

    @classmethod
    def from_dict(cls, data: dict) -> "ContainerSpec":
        """The spec a record keeps, for `start` and `exec`."""
        data = dict(data)
        data["limits"] = Limits(**data.get("limits", {}))
        return cls(**data)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["limits"] = {k: v for k, v in data["limits"].items() if v is not None}  # TOML has no null
        return data


def check_healthcheck(check: dict) -> None:
    """A health check's form (container/health.py), as docker refuses a bad one at create."""
    test = check.get("test") or []
    if test and (test[0] not in ("NONE", "CMD", "CMD-SHELL") or (test[0] == "CMD-SHELL" and len(test) != 2)
                 or (test[0] == "CMD" and len(test) < 2) or not all(isinstance(t, str) for t in test)):
        raise TinydockerError(f"invalid healthcheck test {test!r}: want [\"CMD\", ARG...], "
                              "[\"CMD-SHELL\", COMMAND] or [\"NONE\"]")
    for key, name in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod")):
        value = check.get(key) or 0  # docker's words
        if not isinstance(value, int) or (value and value < 1_000_000):
            raise TinydockerError(f"{name} in Healthcheck cannot be less than 1ms")
    if not isinstance(check.get("retries") or 0, int) or (check.get("retries") or 0) < 0:
        raise TinydockerError("Retries in Healthcheck cannot be negative")


def parse_restart(text: str) -> tuple[str, int]:
    """docker's --restart: (policy, most retries; 0 for no bound)."""
    name, colon, count = text.partition(":")
    if name in ("no", "always", "unless-stopped") and not colon:
        return name, 0
    if name == "on-failure" and (not colon or (count.isdigit() and int(count) >= 0)):
        return name, int(count or 0)
    if colon and name in ("no", "always", "unless-stopped"):
        raise TinydockerError(f"maximum retry count cannot be used with restart policy '{name}'")
    raise TinydockerError(f"invalid restart policy {text!r}: no, always, unless-stopped or on-failure[:N]")


def security_option(option: str) -> tuple[str, str]:
    """A --security-opt as (key, value): docker takes KEY=VALUE and the older KEY:VALUE."""
    key, _, value = option.replace(":", "=", 1).partition("=")
    return key, value


def env_file_lines(path: str) -> list[str]:
    """docker's --env-file: KEY=VAL or KEY per line; blank lines and # comments skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise TinydockerError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    except UnicodeDecodeError:
        raise TinydockerError(f"env file {path} is not UTF-8 text") from None
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key = line.partition("=")[0]
        if not key or any(c.isspace() for c in key):
            raise TinydockerError(f"invalid line {number} in env file {path}: variable {key!r} contains whitespaces")
        lines.append(line)
    return lines


def parse_labels(items) -> dict[str, str]:
    """--label KEY=VALUE (a bare KEY is an empty value, as docker takes it)."""
    labels = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key or "\0" in item:
            raise TinydockerError(f"invalid label {item!r}: want KEY=VALUE")
        labels[key] = value
    return labels


def parse_env(item: str) -> str | None:
    """KEY=VAL stays; a bare KEY takes the caller's value, as `docker run -e KEY` does."""
    key, eq, _ = item.partition("=")
    if not ENV_KEY_RE.fullmatch(key) or "\0" in item:
        raise TinydockerError(f"invalid environment variable: {item!r}")
    if eq:
        return item
    value = os.environ.get(key)
    return None if value is None else f"{key}={value}"  # docker drops an unset bare KEY
