"""tinydocker events (and `system events`): the journal of what happened, as docker prints it."""

from typing import List, Optional

import typer

from .app import app, check_format, options, system_app

EVENTS_HELP = ("Show what happens to containers, images, networks and volumes of this data root: "
               "the events kept since --since, then new ones as they come, until --until or Ctrl-C.")


class _GoFields(dict):
    """An event as docker's JSON has it, whose template fields also answer to the Go names
    docker's --format uses ({{.Status}}, {{.ID}}, {{.From}}, {{.Time}}, {{.TimeNano}}, {{.Scope}});
    {{json .}} still prints the JSON."""

    _ALIASES = {"Status": "status", "ID": "id", "From": "from", "Scope": "scope", "Time": "time",
                "TimeNano": "timeNano"}

    def __contains__(self, key):
        return dict.__contains__(self, key) or key in self._ALIASES

    def __missing__(self, key):
        return self.get(self._ALIASES.get(key), "")  # a Go struct's empty field ("from" of a network event)


def _line(event: dict) -> str:
    from ..api.times import rfc3339_nano

    actor = event["Actor"]
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(actor["Attributes"].items()))
    text = f"{rfc3339_nano(event['timeNano'])} {event['Type']} {event['Action']} {actor['ID']}"
    return f"{text} ({attributes})" if attributes else text


def events(
    since: Optional[str] = typer.Option(None, "--since", metavar="TIME",
                                        help="Show events from this time on: a Unix time, an RFC 3339 date, or a duration ago (10m)."),
    until: Optional[str] = typer.Option(None, "--until", metavar="TIME", help="Stop at this time (same forms as --since)."),
    filters: Optional[List[str]] = typer.Option(None, "-f", "--filter", metavar="KEY=VALUE",
                                                help="container, event, image, label, network, type (container, "
                                                     "image, network, volume), volume; repeat to narrow."),
    format: Optional[str] = typer.Option(None, "--format", help="json (one object per line), or a Go template "
                                                                "such as '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'."),
):
    from ..api.events import events as kept
    from .template import Template, go_json

    check_format(format)
    template = Template(format) if format and format != "json" else None
    for event in kept(since, until, filters or [], root=options.root):
        if format == "json":
            text = go_json(event)
        elif template is not None:
            text = template.render(_GoFields(event))
        else:
            text = _line(event)
        print(text, flush=True)


app.command("events", help=EVENTS_HELP)(events)
system_app.command("events", help=EVENTS_HELP)(events)
