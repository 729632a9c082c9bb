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

# runc's verbs, in runc's order; the engine's side of each lands with the lifecycle work
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
_NOT_YET = ("create", "delete", "exec", "kill", "list", "pause", "ps", "resume", "run", "start", "state", "update")


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


def _parser() -> _Parser:
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

    spec = verbs.add_parser("spec", description=_COMMANDS["spec"] + ": config.json in the bundle, "
                            "to edit (it is never overwritten)", allow_abbrev=False)
    spec.add_argument("-b", "--bundle", default="", metavar="DIR", help="the bundle's directory (default: .)")
    spec.add_argument("--rootless", action="store_true", help="a template an unprivileged user can run")

    features = verbs.add_parser("features", description=_COMMANDS["features"] + " (the runtime-spec's "
                                "features document, JSON)", allow_abbrev=False)
    features.set_defaults()

    # hidden (not in the listing): read and check a bundle's config.json, print nothing if it is good
    check = verbs.add_parser("check", description="check a bundle's config.json as create would, "
                             "printing nothing when it is good", allow_abbrev=False)
    check.add_argument("-b", "--bundle", default="", metavar="DIR", help="the bundle's directory (default: .)")

    for name in _NOT_YET:
        verbs.add_parser(name, description=_COMMANDS[name] + " (not implemented yet)", allow_abbrev=False)
    return parser


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


_VERBS = {"spec": _spec, "features": _features, "check": _check}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    log = Log()
    try:
        args, extra = _parser().parse_known_args(argv)
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
        if args.verb in _NOT_YET:  # whatever its options: the verb itself is what is missing
            log.error(f"{args.verb} is not implemented yet")
            sys.exit(1)
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
