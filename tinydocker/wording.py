"""How docker words a container's state and its times ("Up 2 minutes", "Exited (0) 3
seconds ago", "About an hour"): the CLI's tables and the Engine API's listings say it alike."""

from datetime import datetime


def human_duration(seconds: float) -> str:
    """docker's (go-units) HumanDuration: 'Less than a second', '3 seconds', 'About a minute'..."""
    s = int(seconds)
    if seconds < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def ago(t: datetime, now: datetime) -> str:
    return human_duration((now - t).total_seconds())


def status_text(record, now: datetime, health: str | None = None) -> str:
    """docker ps's STATUS; `health` the running container's check's status, if it has one."""
    if record.status == "running":
        if record.paused:
            return f"Up {ago(record.started, now)} (Paused)"
        said = "" if not health else " (health: starting)" if health == "starting" else f" ({health})"
        return f"Up {ago(record.started, now)}{said}"
    if record.status == "exited":
        verb = "Restarting" if record.state == "restarting" else "Exited"
        return f"{verb} ({record.exit_code}) {ago(record.finished, now)} ago"
    return "Created"
