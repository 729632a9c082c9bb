"""The commands for the data root and the machine: system prune, info."""

from typing import List, Optional

import typer

from .. import api
from .app import app, confirm, options, system_app


@system_app.command("prune")
def system_prune(force: bool = typer.Option(False, "-f", "--force", help="Do not ask for confirmation.")):
    """Remove all stopped containers and what killed tinydocker processes left behind
    (half-removed containers and images, empty container cgroups, and the bridges and
    rules of data roots deleted meanwhile)."""
    from . import display

    if not force and not confirm("WARNING! This will remove:\n  - all stopped containers\n"
                                 "  - leftovers of interrupted removals and image builds\n"
                                 "  - container cgroups that no process uses any more\n"
                                 "  - bridges and rules of data roots that were deleted"):
        raise typer.Exit(1)
    done = api.prune(root=options.root)
    if done["containers"]:
        print("Deleted Containers:\n" + "\n".join(done["containers"]) + "\n")
    if done["cgroups"]:
        print("Deleted cgroups:\n" + "\n".join(f"tinydocker/{cid}" for cid in done["cgroups"]) + "\n")
    if done["bridges"]:
        print("Deleted bridges of removed data roots:\n" + "\n".join(done["bridges"]) + "\n")
    print(f"Total reclaimed space: {display.bytes_binary(done['reclaimed'])}")


@system_app.command("reset")
def system_reset(force: bool = typer.Option(False, "-f", "--force", help="Do not ask for confirmation.")):
    """Remove everything of the data root: every container (running ones are killed), image,
    volume and network (their bridges and rules with them), then the root's own files."""
    from ..state.root import resolve

    if not force and not confirm(f"WARNING! This will remove, in the data root {resolve(options.root).root}:\n"
                                 "  - all containers\n  - all images\n  - all volumes\n"
                                 "  - all networks, their bridges and firewall rules\n  - the data root's own files"):
        raise typer.Exit(1)
    api.reset(root=options.root)


@app.command()
def info(format: Optional[str] = typer.Option(None, "-f", "--format",
                                             help="json, or a Go template such as '{{.cgroup_version}}'.")):
    """Show the data root, the kernel features found and the cgroup version."""
    from .app import check_format, show_object

    check_format(format)  # before the machine is probed
    data = api.info(root=options.root)
    if format:
        return show_object(data, format)
    print(f"Data root:      {data['root']}")
    print(f"Kernel:         {data['kernel']}")
    print(f"Namespaces:     {' '.join(data['namespaces'])}")
    print(f"Overlayfs:      {'yes' if data['overlayfs'] else 'no'}")
    print(f"Devpts:         {'yes' if data['devpts'] else 'no'}")
    if data["cgroup_backend"] == "none":
        print(f"Cgroup version: {data['cgroup_version']} (none delegated to this user: no limits, pause or stats)")
    else:
        print(f"Cgroup version: {data['cgroup_version']} (limits through the {data['cgroup_backend']} back-end)")
    print(f"Busybox static: {'yes' if data['busybox_static'] else 'no (apt-get install busybox-static)'}")
    print(f"Logging driver: {data['LoggingDriver']}")
    print(f"Rootless:       {'yes' if data['rootless'] else 'no'}")
    for kind in ("uidmap", "gidmap") if data["rootless"] else ():
        ranges = ", ".join(f"{r['container_id']}->{r['host_id']} ({r['size']})" for r in data["id_mappings"][kind])
        print(f"{kind[:3].upper()}s mapped:    {ranges} (inside->outside (count))")


@app.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
def unshare(command: Optional[List[str]] = typer.Argument(None, metavar="[COMMAND [ARG...]]")):
    """Run a command (default: your shell) as root of your user namespace, where your containers'
    files have the owners they have inside (to remove what they left, say). For users who are not root."""
    raise typer.Exit(api.unshare(command or None))


@app.command()
def version(format: Optional[str] = typer.Option(None, "-f", "--format", help="json, or a Go template such as "
                                                 "'{{.Version}}'.")):
    """Show tinydocker's version and what it runs on."""
    from .app import show_object

    data = api.version()
    if format:
        return show_object(data, format)
    print("Client: tinydocker")
    print(f" Version:        {data['Version']}")
    print(f" Python version: {data['PythonVersion']}")
    print(f" OS/Arch:        {data['Os']}/{data['Arch']}")
    print(f" Kernel:         {data['KernelVersion']}")
    print(f" Cgroup version: {data['CgroupVersion']}")


@system_app.command("df")
def system_df(format: Optional[str] = typer.Option(None, "--format", help="table, json, or a Go template "
                                                   "such as '{{.Type}} {{.Size}}'.")):
    """Show the space used by images, containers and volumes, and what pruning would give back."""
    from . import display
    from .app import check_format, show_listing

    check_format(format)
    usage = api.disk_usage(root=options.root)
    rows = [{**u, "Size": display.size_text(u["Size"]),
             "Reclaimable": f"{display.size_text(u['Reclaimable'])} "
                            f"({u['Reclaimable'] * 100 // u['Size'] if u['Size'] else 0}%)"} for u in usage]
    table = [[r["Type"], str(r["TotalCount"]), str(r["Active"]), r["Size"], r["Reclaimable"]] for r in rows]
    show_listing(format, rows, lambda: display.table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], table),
                 titles={"TotalCount": "TOTAL"})


@system_app.command("service")
def system_service(
    address: Optional[str] = typer.Argument(None, metavar="[unix:///PATH | tcp://127.0.0.1:PORT]",
                                            help="Where to listen (default unix:///run/tinydocker/docker.sock, for a user who "
                                                 "is not root unix://$XDG_RUNTIME_DIR/tinydocker/docker.sock; "
                                                 "a socket systemd passes, LISTEN_FDS, is taken as it is)."),
    time: float = typer.Option(5.0, "-t", "--time", metavar="SECONDS",
                               help="Leave after this many seconds without a request; 0: never."),
    group: Optional[str] = typer.Option(None, "--group", metavar="GROUP",
                                        help="The unix socket's group (0660: root and this group, as docker's)."),
    insecure_tcp: bool = typer.Option(False, "--tcp-any-address",
                                      help="Let tcp:// listen on an address other than loopback (anyone who "
                                           "reaches it is root on this machine)."),
):
    """Serve the Docker Engine API, so that docker's own clients, docker-py and compose drive
    tinydocker; access to the socket is root on this machine."""
    from ..service import run

    run(address, idle=time, group=group, any_address=insecure_tcp, root=options.root)
