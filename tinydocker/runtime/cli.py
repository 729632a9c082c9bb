"""`tinydocker-runtime`: an OCI runtime with runc's command line, so that podman, containerd
and tinydocker's own engine drive it as they drive runc.

    tinydocker-runtime [global options] COMMAND [command options] [arguments...]

Written with argparse, not typer like `tinydocker`: engines call a runtime several times per
container (create, start, state, kill, delete), so its start-up is paid again and again, and
importing typer costs ~90 ms here against ~12 ms for argparse; runc's shape (global options
only before the verb, exit status 1 for every failure, usage errors included) is also plain
argparse. Only what a verb needs is imported when it runs.
"""

import argparse
import os
import sys

from .log import PROGRAM, Log

DEFAULT_ROOT = "/run/tinydocker-runtime"

# runc's verbs, in runc's order
_COMMANDS = {
    "create": "create a container",
    "delete": "delete any resources held by the container",
    "exec": "execute a new process inside the container",
    "features": "show the enabled features",
    "kill": "send a signal (default: SIGTERM) to the container's init process",
    "list": "list containers started with the given root",
    "pause": "suspend all processes inside the container",
    "ps": "display the processes running inside a container",
    "resume": "resume all processes that have been previously paused",
    "run": "create and run a container",
    "spec": "create a new specification file",
    "start": "execute the user defined process in a created container",
    "state": "output the state of a container",
    "update": "update container resource constraints",
}


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting 2: runc exits 1 for a usage error, and the
    error must reach the log like any other."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _version() -> str:
    from ..version import __version__
    from .tables import OCI_VERSION_MAX

    return (f"{PROGRAM} version {__version__}\nspec: {OCI_VERSION_MAX}\n"
            f"python: {'.'.join(map(str, sys.version_info[:3]))}\n")


def _parser(only: str | None = None) -> _Parser:
    """The command line; `only`: build that verb's options alone (each verb's parser costs its
    start-up time, paid at every call an engine makes)."""
    def wanted(name: str) -> bool:
        return only is None or only == name

    listing = "\n".join(f"   {name:<10}  {text}" for name, text in _COMMANDS.items())
    parser = _Parser(prog=PROGRAM, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
                     usage=f"{PROGRAM} [global options] COMMAND [command options] [arguments...]",
                     description="An OCI runtime: runs containers from bundles (a config.json and a root "
                                 "filesystem), with runc's command line.",
                     epilog=f"commands:\n{listing}\n\nRun '{PROGRAM} COMMAND --help' for a command's options.")
    parser.add_argument("--root", default=DEFAULT_ROOT, metavar="DIR",
                        help=f"root directory for the containers' state, on a tmpfs (default: {DEFAULT_ROOT})")
    parser.add_argument("--log", metavar="FILE", help="write the runtime's log to FILE (default: stderr)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="the log's format: text (default) or json")
    parser.add_argument("--debug", action="store_true", help="log debugging lines too")
    parser.add_argument("--systemd-cgroup", action="store_true",
                        help="systemd's cgroup driver (not supported: cgroupfs only)")
    parser.add_argument("--rootless", choices=("true", "false", "auto"), default="auto",
                        help="whether to expect to run without root's privileges (default: auto)")
    parser.add_argument("-v", "--version", action="store_true", help="print the version")
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=_Parser)

    if wanted("spec"):
        spec = verbs.add_parser("spec", description=_COMMANDS["spec"] + ": config.json in the bundle, "
                                "to edit (it is never overwritten)", allow_abbrev=False)
        spec.add_argument("-b", "--bundle", default="", metavar="DIR", help="the bundle's directory (default: .)")
        spec.add_argument("--rootless", action="store_true", help="a template an unprivileged user can run")

    if wanted("features"):
        features = verbs.add_parser("features", description=_COMMANDS["features"] + " (the runtime-spec's "
                                    "features document, JSON)", allow_abbrev=False)
        features.set_defaults()

    # hidden (not in the listing): read and check a bundle's config.json, print nothing if it is good
    if wanted("check"):
        check = verbs.add_parser("check", description="check a bundle's config.json as create would, "
                                 "printing nothing when it is good", allow_abbrev=False)
        check.add_argument("-b", "--bundle", default="", metavar="DIR", help="the bundle's directory (default: .)")

    if wanted("create") or wanted("run"):
        create = verbs.add_parser("create", description=_COMMANDS["create"], allow_abbrev=False)
        run = verbs.add_parser("run", description=_COMMANDS["run"], allow_abbrev=False)
        for p in (create, run):
            p.add_argument("-b", "--bundle", default="", metavar="DIR", help="the bundle's directory (default: .)")
            p.add_argument("--pid-file", metavar="FILE", help="write the init's pid to FILE")
            p.add_argument("--console-socket", metavar="SOCKET",
                           help="a unix socket to send the terminal's master to (process.terminal)")
            p.add_argument("--no-pivot", action="store_true", help="chroot instead of pivot_root")
            p.add_argument("--no-new-keyring", action="store_true", help="keep the caller's session keyring")
            p.add_argument("--preserve-fds", type=int, default=0, metavar="N",
                           help="pass N more descriptors, from 3 up, to the container's process")
            p.add_argument("id", nargs="?", default=None)
        run.add_argument("-d", "--detach", action="store_true", help="return once the container runs")
        run.add_argument("--keep", action="store_true", help="do not delete the container once it exits")
    if wanted("start") or wanted("state"):
        for name in ("start", "state"):
            verbs.add_parser(name, description=_COMMANDS[name], allow_abbrev=False).add_argument("id", nargs="?")
    if wanted("kill"):
        kill = verbs.add_parser("kill", description=_COMMANDS["kill"], allow_abbrev=False)
        kill.add_argument("-a", "--all", action="store_true", help="send the signal to every process of the container")
        kill.add_argument("id", nargs="?")
        kill.add_argument("signal", nargs="?", default="TERM")
    if wanted("delete"):
        delete = verbs.add_parser("delete", description=_COMMANDS["delete"], allow_abbrev=False)
        delete.add_argument("-f", "--force", action="store_true", help="kill a created or running container first")
        delete.add_argument("id", nargs="?")
    if wanted("update"):
        update = verbs.add_parser("update", description=_COMMANDS["update"] + ": the runtime-spec's LinuxResources "
                                  "from a file (or - for stdin), or runc's flags one by one", allow_abbrev=False)
        update.add_argument("-r", "--resources", metavar="FILE",
                            help="the resources to set, JSON (- reads stdin); the other options are then ignored")
        for flag, text in (("memory", "memory limit (bytes, or 64m, 1g...; -1: none)"),
                           ("memory-reservation", "memory soft limit"), ("memory-swap", "memory+swap limit (-1: none)"),
                           ("cpu-share", "CPU shares (relative weight)"), ("cpu-period", "CPU CFS period (µs)"),
                           ("cpu-quota", "CPU CFS quota (µs per period; -1: none)"),
                           ("cpu-rt-period", "realtime period (not supported)"),
                           ("cpu-rt-runtime", "realtime runtime (not supported)"), ("cpuset-cpus", "CPUs to use (0-2,4)"),
                           ("cpuset-mems", "memory nodes to use"), ("pids-limit", "maximum number of processes (-1: none)"),
                           ("blkio-weight", "block IO weight (10 to 1000)"),
                           ("kernel-memory", argparse.SUPPRESS), ("kernel-memory-tcp", argparse.SUPPRESS),
                           ("l3-cache-schema", "Intel RDT (not supported)"), ("mem-bw-schema", "Intel RDT (not supported)")):
            update.add_argument(f"--{flag}", *(["--cpu-shares"] if flag == "cpu-share" else []), metavar="VALUE",
                                dest=flag.replace("-", "_"), help=text)
        update.add_argument("id", nargs="?")
    if wanted("pause") or wanted("resume"):
        for name in ("pause", "resume"):
            verbs.add_parser(name, description=_COMMANDS[name], allow_abbrev=False).add_argument("id", nargs="?")
    if wanted("list"):
        listing_ = verbs.add_parser("list", description=_COMMANDS["list"], allow_abbrev=False)
        listing_.add_argument("-f", "--format", choices=("table", "json"), default="table")
        listing_.add_argument("-q", "--quiet", action="store_true", help="the ids only")

    if wanted("exec"):
        _exec_parser(verbs)
    if wanted("ps"):
        ps = verbs.add_parser("ps", description=_COMMANDS["ps"] + " (host pids; table: the host's ps(1) output "
                              "for them)", allow_abbrev=False)
        ps.add_argument("-f", "--format", choices=("table", "json"), default="table")
        ps.add_argument("id", nargs="?")
        ps.add_argument("ps_options", nargs=argparse.REMAINDER, help="options for ps(1) (default: -ef)")

    return parser


def _exec_parser(verbs) -> None:
    p = verbs.add_parser("exec", description=_COMMANDS["exec"] + ": COMMAND, or the process object of "
                         "--process, in the container's namespaces, cgroup, root and confinement",
                         usage=f"{PROGRAM} exec [options] ID COMMAND [ARGS...] | --process FILE [options] ID",
                         allow_abbrev=False)
    p.add_argument("-p", "--process", metavar="FILE", help="a runtime-spec process object (JSON) to run")
    p.add_argument("-d", "--detach", action="store_true", help="return once the process runs")
    p.add_argument("--pid-file", metavar="FILE", help="write the process's pid to FILE")
    p.add_argument("-t", "--tty", action="store_true", default=None, help="a terminal (needs --console-socket)")
    p.add_argument("--console-socket", metavar="SOCKET", help="a unix socket to send the terminal's master to")
    p.add_argument("--cwd", metavar="DIR", help="the working directory in the container")
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE", help="add to the environment")
    p.add_argument("-u", "--user", metavar="UID[:GID]", help="the user (numeric ids)")
    p.add_argument("-g", "--additional-gids", action="append", type=int, default=[], metavar="GID",
                   help="add a supplementary group")
    p.add_argument("-c", "--cap", action="append", default=[], metavar="CAP", help="add a capability")
    p.add_argument("--no-new-privs", action="store_true", default=None, help="set noNewPrivileges")
    p.add_argument("--preserve-fds", type=int, default=0, metavar="N",
                   help="pass N more descriptors, from 3 up, to the process")
    p.add_argument("--ignore-paused", action="store_true", help="exec in a paused container too")
    p.add_argument("--cgroup", action="append", default=[], metavar="[CONTROLLER:]PATH",
                   help="join this existing sub-cgroup of the container's")
    p.add_argument("--apparmor", default="", metavar="PROFILE", help="(not supported: refused unless empty)")
    p.add_argument("--process-label", default="", metavar="LABEL", help="(not supported: refused unless empty)")
    p.add_argument("id", nargs="?")
    p.add_argument("command", nargs=argparse.REMAINDER)


def _spec(args, log: Log) -> int:
    import json

    from .template import default

    path = os.path.join(args.bundle or ".", "config.json")
    text = json.dumps(default(rootless=args.rootless), indent="\t") + "\n"
    try:
        # never over an existing file (nor through a planted symlink): runc refuses the same
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except FileExistsError:
        log.error(f"{path} exists already: remove it first")
        return 1
    except OSError as e:
        log.error(f"cannot write {path}: {e.strerror}")
        return 1
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return 0


def _features(args, log: Log) -> int:
    import json

    from .features import document

    sys.stdout.write(json.dumps(document(), indent=4) + "\n")
    return 0


def _check(args, log: Log) -> int:
    from .config import load

    config = load(args.bundle or ".")
    for name in config.ignored:
        log.debug(f"config.json: {name} is not a property of the runtime-spec: ignored")
    return 0


def _id(args) -> str:
    from .state import check_id

    if args.id is None:
        raise UsageError(f'"{args.verb}" requires exactly 1 argument(s)')
    return check_id(args.id)


def _store(args):
    from .state import Store

    return Store(args.root)


def _create_from(args, log: Log):
    from .config import load
    from .create import create

    container_id = _id(args)
    if args.preserve_fds < 0:
        raise UsageError("--preserve-fds must not be negative")
    bundle = args.bundle or "."
    config = load(bundle)
    for text in config.warnings:
        log.warning(text)
    return create(config, _store(args), container_id, pid_file=args.pid_file, console_socket=args.console_socket,
                  no_pivot=args.no_pivot, no_new_keyring=args.no_new_keyring, preserve_fds=args.preserve_fds)


def _create(args, log: Log) -> int:
    _create_from(args, log)
    return 0


def _start(args, log: Log) -> int:
    from .start import start

    start(_store(args), _id(args), warn=log.warning)
    return 0


def _state(args, log: Log) -> int:
    import json

    from .state import NotExist, document, read_state

    store = _store(args)
    path = store.dir(_id(args))
    if not os.path.isdir(path):
        raise NotExist()
    sys.stdout.write(json.dumps(document(args.id, path, read_state(path)), indent=2) + "\n")
    return 0


def _kill(args, log: Log) -> int:
    from .kill import kill, parse_signal

    container_id = _id(args)
    kill(_store(args), container_id, parse_signal(args.signal), everything=args.all)
    return 0


def _delete(args, log: Log) -> int:
    from .delete import delete

    delete(_store(args), _id(args), force=args.force, warn=log.warning)
    return 0


def _pause(args, log: Log) -> int:
    from .pause import pause, resume

    (pause if args.verb == "pause" else resume)(_store(args), _id(args))
    return 0


def _update(args, log: Log) -> int:
    from .update import document_from, document_from_flags, resources, update

    container_id = _id(args)
    if args.resources:
        document = document_from(args.resources, sys.stdin)
    else:
        document = document_from_flags({k.replace("_", "-"): v for k, v in vars(args).items()})
    update(_store(args), container_id, resources(document, warn=log.warning))
    return 0


def _owner(path: str) -> str:
    import pwd

    try:
        uid = os.stat(path).st_uid
    except OSError:
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def _list(args, log: Log) -> int:
    import json

    from .state import document, read_state

    store = _store(args)
    docs = []
    for container_id in store.ids():
        path = store.dir(container_id)
        doc = document(container_id, path, read_state(path))
        # as runc's list (its state leaves owner empty): who owns the state directory
        doc["owner"] = _owner(path)
        docs.append(doc)
    if args.quiet:
        sys.stdout.write("".join(d["id"] + "\n" for d in docs))
    elif args.format == "json":
        sys.stdout.write(json.dumps(docs) + "\n")
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(d["id"], str(d["pid"]), d["status"], d["bundle"], d["created"], d["owner"]) for d in docs]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for r in rows:
            sys.stdout.write("   ".join(c.ljust(w) for c, w in zip(r, widths)) + "   " + r[5] + "\n")
    return 0


def _exec(args, log: Log) -> int:
    from .exec import Request, execute
    from .state import RuntimeError_

    if args.id is None:
        raise UsageError('"exec" requires a minimum of 1 argument(s)')
    if args.preserve_fds < 0:
        raise UsageError("--preserve-fds must not be negative")
    if any(gid < 0 for gid in args.additional_gids):
        raise UsageError("--additional-gids must not be negative")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    request = Request(container_id=_id(args), command=command, process_file=args.process, detach=args.detach,
                      pid_file=args.pid_file, tty=args.tty, console_socket=args.console_socket, cwd=args.cwd,
                      env=args.env, user=args.user, additional_gids=args.additional_gids, caps=args.cap,
                      no_new_privs=args.no_new_privs, preserve_fds=args.preserve_fds,
                      ignore_paused=args.ignore_paused, cgroups=args.cgroup, apparmor=args.apparmor,
                      process_label=args.process_label)
    try:
        return execute(_store(args), request)
    except RuntimeError_ as e:
        if e.code == 1:
            raise
        log.error(str(e))  # the program could not be executed: 126 or 127, as docker's
        return e.code


def _ps(args, log: Log) -> int:
    from .ps import as_json, pids, table

    if args.id is None:
        raise UsageError('"ps" requires a minimum of 1 argument(s)')
    found = pids(_store(args), _id(args))
    options = args.ps_options[1:] if args.ps_options[:1] == ["--"] else args.ps_options
    if args.format == "json":
        sys.stdout.write(as_json(found))
    else:
        sys.stdout.write(table(found, options))
    return 0


def _run(args, log: Log) -> int:
    import signal

    from .delete import delete
    from .start import start

    from ..linux import syscalls
    from ..linux.proc import wait_exit

    # the init of a user namespace is forked by a first stage that exits: as a subreaper
    # we get it back as our child, to wait for
    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    pid = _create_from(args, log)
    store = _store(args)
    try:
        start(store, args.id, warn=log.warning)
    except BaseException:
        delete(store, args.id, force=True, warn=log.warning)
        raise
    if args.detach:
        return 0
    # the caller's signals go on to the container's init, as runc's run passes them
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, lambda s, _f: os.kill(pid, s))
    code = wait_exit(pid)
    if not args.keep:
        delete(store, args.id, force=True, warn=log.warning)
    return code


_VERBS = {"spec": _spec, "features": _features, "check": _check, "create": _create, "start": _start,
          "state": _state, "kill": _kill, "delete": _delete, "list": _list, "run": _run, "exec": _exec,
          "ps": _ps, "pause": _pause, "resume": _pause, "update": _update}


_VALUED = ("--root", "--log", "--log-format", "--rootless")  # global options that take a value


def _verb_in(argv: list[str]) -> str | None:
    """The verb the command line names (global options come first, as runc has them), or None."""
    it = iter(argv)
    for word in it:
        if word in _VALUED:
            next(it, None)
        elif not word.startswith("-"):
            return word if word in _COMMANDS or word == "check" else None
    return None


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    log = Log()
    try:
        args, extra = _parser(_verb_in(argv)).parse_known_args(argv)
        log = Log(args.log, args.log_format, args.debug)
        args.root = os.path.abspath(args.root)
        if args.version:
            sys.stdout.write(_version())
            sys.exit(0)
        if args.systemd_cgroup:
            log.error("--systemd-cgroup is not supported: this runtime drives cgroupfs only (podman: "
                      "cgroup_manager = \"cgroupfs\"; containerd: SystemdCgroup = false)")
            sys.exit(1)
        if args.verb is None:
            _parser().print_help()
            sys.exit(0)
        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)} (see '{PROGRAM} {args.verb} --help')")
        sys.exit(_VERBS[args.verb](args, log))
    except UsageError as e:
        log.error(str(e))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # one line, as every failure; TINYDOCKER_DEBUG=1 keeps the traceback
        from ..errors import TinydockerError

        if isinstance(e, TinydockerError):
            log.error(str(e))
        elif os.environ.get("TINYDOCKER_DEBUG"):
            raise
        else:
            log.error(f"unexpected error (a bug in {PROGRAM}, please report it): {type(e).__name__}: {e}")
        sys.exit(1)
