"""`tinydocker network`: create, ls, inspect, rm, prune; and `port`."""

from typing import List, Optional

import typer

from .. import api
from .app import FORMAT_HELP, INSPECT_FORMAT_HELP, app, check_format, confirm, each, fail, inspect_each, options, show_listing

network_app = typer.Typer(help="Manage networks.", no_args_is_help=True, suggest_commands=False)
app.add_typer(network_app, name="network")


@network_app.command("create")
def create(
    name: str = typer.Argument(..., metavar="NETWORK"),
    subnet: Optional[str] = typer.Option(None, "--subnet", metavar="CIDR",
                                         help="IPv4 subnet, e.g. 10.78.0.0/24 (default: a free /24 of 10.77.0.0/16)."),
    gateway: Optional[str] = typer.Option(None, "--gateway", metavar="IP", help="Gateway (default: the subnet's first address)."),
    driver: str = typer.Option("bridge", "-d", "--driver", help="Only 'bridge'."),
    label: Optional[List[str]] = typer.Option(None, "--label", metavar="KEY=VALUE", help="Set metadata (repeatable)."),
):
    """Create a network: a bridge of its own, an address pool, isolation from other networks; prints its id."""
    if driver != "bridge":
        raise fail(f"network driver {driver!r} is not available: tinydocker has only 'bridge'")
    print(api.create_network(name, subnet=subnet, gateway=gateway, labels=label or [], root=options.root)["Id"])


@network_app.command("ls")
def ls(
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only network ids."),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Full ids."),
    format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    filters: Optional[List[str]] = typer.Option(None, "-f", "--filter", metavar="KEY=VALUE",
                                                help="name, id, driver, label, type (custom, builtin), dangling."),
):
    """List networks (NETWORK ID, NAME, DRIVER, SCOPE)."""
    from . import display

    check_format(format)
    docs = api.networks(filters=filters or [], root=options.root)
    ids = [d["Id"] if no_trunc else d["Id"][:12] for d in docs]
    rows = [[i, d["Name"], d["Driver"], d["Scope"]] for i, d in zip(ids, docs)]
    show_listing(format, [{**d, "ID": i} for d, i in zip(docs, ids)],
                 lambda: display.table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"], rows),
                 ids if quiet else None, titles={"ID": "NETWORK ID"})


@network_app.command("inspect")
def inspect(refs: List[str] = typer.Argument(..., metavar="NETWORK..."),
            format: Optional[str] = typer.Option(None, "-f", "--format", help=INSPECT_FORMAT_HELP)):
    """Show networks in detail (subnet, gateway, bridge, containers), as a JSON array."""
    inspect_each(refs, lambda ref: api.inspect_network(ref, root=options.root), format)


@network_app.command("rm")
def rm(refs: List[str] = typer.Argument(..., metavar="NETWORK...")):
    """Remove networks and their bridges; refused while a container runs on one."""
    each(refs, lambda ref: api.remove_network(ref, root=options.root))


@network_app.command("connect")
def connect(network: str = typer.Argument(..., metavar="NETWORK"),
            container: str = typer.Argument(..., metavar="CONTAINER"),
            ip: Optional[str] = typer.Option(None, "--ip", metavar="IPv4", help="The container's address on it."),
            alias: Optional[List[str]] = typer.Option(None, "--alias", metavar="NAME",
                                                      help="Another name its peers there know it by (repeatable).")):
    """Connect a container to a network: at once if it runs (a new interface, eth1...), else at its next start."""
    api.connect_network(network, container, ip=ip, aliases=alias or [], root=options.root)


@network_app.command("disconnect")
def disconnect(network: str = typer.Argument(..., metavar="NETWORK"),
               container: str = typer.Argument(..., metavar="CONTAINER"),
               force: bool = typer.Option(False, "-f", "--force", help="Even if the network is gone.")):
    """Disconnect a container from a network: its interface and address there go at once if it runs."""
    api.disconnect_network(network, container, force=force, root=options.root)


@network_app.command("prune")
def prune(force: bool = typer.Option(False, "-f", "--force", help="Do not ask for confirmation.")):
    """Remove every user network no container runs on."""
    if not force and not confirm("WARNING! This will remove all custom networks not used by at least one container."):
        raise typer.Exit(1)
    removed = api.prune_networks(root=options.root)
    if removed:
        print("Deleted Networks:\n" + "\n".join(removed))


@app.command()
def port(container: str = typer.Argument(..., metavar="CONTAINER"),
         private: Optional[str] = typer.Argument(None, metavar="[PRIVATE_PORT[/PROTO]]")):
    """List a running container's published ports (80/tcp -> 0.0.0.0:32768)."""
    from ..network.ports import describe

    bindings = api.port(container, root=options.root)
    if private:
        number, _, proto = private.partition("/")
        bindings = [b for b in bindings if str(b["container_port"]) == number and b["proto"] == (proto or "tcp")]
        if not bindings:
            raise fail(f"No public port '{private}' published for {container}", code=1)
        for b in bindings:
            print(f"{b['host_ip'] or '0.0.0.0'}:{b['host_port']}")
        return
    for b in bindings:
        print(describe(b))
