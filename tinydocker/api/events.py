"""The API for events: what the journal (state/events.py) says happened, filtered as docker's
`events --filter` filters: values of one key widen, different keys narrow."""

from collections.abc import Sequence
import time

from ..errors import TinydockerError
from ..state import root as paths

# what each --filter key compares with: the event's type, action, actor or attributes
_KEYS = ("container", "event", "image", "label", "network", "type", "volume", "scope")


def events(since: str | None = None, until: str | None = None, filters: Sequence[str] = (),
           follow: bool | None = None, root=None, stop=None):
    """The events kept from `since` on (default: none of the past, only what comes) and,
    while following, those that come, until `until` (default: for ever); as docker's events
    API objects. follow=None means docker's rule: follow unless `until` is in the past."""
    from ..state.events import read
    from .times import moment

    now = time.time_ns()
    start = moment(since, "--since", now) if since else now
    end = moment(until, "--until", now) if until else None
    if follow is None:
        follow = end is None or end > now
    wanted = parse_filters(filters)
    for event in read(paths.resolve(root), follow=follow, until_ns=end, stop=stop):
        # stamped before the append's lock is taken: parallel writers' lines are nearly, not
        # strictly, in time order, so each line is judged on its own stamp
        if event["timeNano"] < start or (end is not None and event["timeNano"] > end):
            continue
        if matches(event, wanted):
            yield event


def parse_filters(filters: Sequence[str]) -> dict[str, list[str]]:
    wanted: dict[str, list[str]] = {}
    for item in filters:
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or key not in _KEYS:
            raise TinydockerError(f"invalid filter {item!r} (events filter on "
                                  f"{', '.join(k + '=' for k in _KEYS)})")
        wanted.setdefault(key, []).append(value)
    return wanted


def matches(event: dict, wanted: dict[str, list[str]]) -> bool:
    kind, actor = event.get("Type", ""), event.get("Actor", {})
    ident, attributes = actor.get("ID", ""), actor.get("Attributes", {})
    for key, values in wanted.items():
        if key == "type":
            ok = kind in values
        elif key == "event":
            # "exec_start: sh" matches the filter "exec_start", as docker's does
            ok = any(event.get("Action", "").split(":")[0] in (v, v.split(":")[0]) for v in values)
        elif key == "scope":
            ok = event.get("scope", "local") in values
        elif key == "label":
            ok = any(_label(attributes, v) for v in values)
        elif key in ("container", "network", "volume"):
            # the actor itself, or (a container connecting to a network) the one named in it
            ok = (kind == key and any(v in (ident, attributes.get("name")) or (len(v) >= 3 and ident.startswith(v))
                                      for v in values)) or attributes.get(key) in values
        else:  # image: an image's own events, or a container's made from it
            ok = any(v in (ident, attributes.get("name"), attributes.get("image")) for v in values)
        if not ok:
            return False
    return True


def _label(attributes: dict, value: str) -> bool:
    key, eq, want = value.partition("=")
    return key in attributes and (not eq or attributes[key] == want)
