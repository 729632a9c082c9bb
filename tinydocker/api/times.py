"""The moments docker's --since and --until take (logs, events), as nanoseconds since the epoch.

    1763933514  1763933514.25          Unix time, seconds
    2026-11-23T21:31:54Z  …+01:00      RFC 3339, with or without fractions
    2026-11-23T21:31:54  2026-11-23    the same in local time
    10m  1h30m  42s  250ms             that long before now (Go's durations)
"""

from datetime import datetime
import re
import time

from ..errors import TinydockerError

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")


def moment(value: str, flag: str = "--since", now_ns: int | None = None) -> int:
    """`value` as nanoseconds since the epoch, or a one-line error naming `flag`."""
    text = value.strip()
    now_ns = time.time_ns() if now_ns is None else now_ns
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds, _, fraction = text.partition(".")
        return int(seconds) * 1_000_000_000 + int((fraction + "0" * 9)[:9])
    if re.fullmatch(rf"(?:{_DURATION.pattern})+", text):
        total = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
        return now_ns - int(total)
    # the fraction aside: datetime keeps microseconds, log and event stamps have nanoseconds
    fraction = re.search(r"(?<=\d\d:\d\d:\d\d)\.(\d+)", text)
    nanos = int((fraction.group(1) + "0" * 9)[:9]) if fraction else 0
    if fraction:
        text = text[:fraction.start()] + text[fraction.end():]
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TinydockerError(f"invalid value for {flag}: {value!r} (a Unix time, an RFC 3339 date "
                              "such as 2026-11-23T21:00:00Z, or a duration such as 10m)") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # local time, as docker reads a date without a zone
    return int(parsed.timestamp()) * 1_000_000_000 + nanos


def duration(value: str | int, flag: str) -> int:
    """A Go duration ("30s", "1m30s", "250ms", "0") as nanoseconds (an int is taken as
    nanoseconds already), or a one-line error naming `flag`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text == "0":
        return 0
    if not re.fullmatch(rf"(?:{_DURATION.pattern})+", text):
        raise TinydockerError(f"invalid argument {value!r} for {flag}: a duration such as 30s, 1m30s or 500ms")
    return int(sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text)))


def rfc3339_nano(ns: int) -> str:
    """Docker's event and log time stamp: local time, nanoseconds, the zone's offset."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    local = datetime.fromtimestamp(seconds).astimezone()
    offset = local.strftime("%z")
    zone = "Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}" + zone
