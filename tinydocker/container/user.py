"""The container's user, looked up in the image's own /etc/passwd and /etc/group, as docker
does, for the bundle's numeric ids.

    USER[:GROUP]   each a name or a number; "" is root
"""


class UnknownUser(Exception):
    pass


def entries(text: str) -> list[list[str]]:
    return [line.split(":") for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _find(entries: list[list[str]], key: str, width: int) -> list[str] | None:
    for fields in entries:
        if len(fields) >= width and (fields[0] == key or (key.isdigit() and fields[2] == key)):
            return fields
    return None


def resolve(spec: str, group_add, read) -> tuple[int, int, list[int], str]:
    """(uid, gid, supplementary gids, home) of USER[:GROUP] and `group_add` (names or ids,
    --group-add), looked up in what read("/etc/passwd") and read("/etc/group") return."""
    user, _, group = spec.partition(":")
    passwd = read("/etc/passwd")
    entry = _find(passwd, user or "0", 7)
    if entry is not None:
        name, uid, gid, home = entry[0], int(entry[2]), int(entry[3]), entry[5] or "/"
    elif not user or user.isdigit():
        name, uid, gid, home = None, int(user or 0), 0, "/"
    else:
        raise UnknownUser(f"unable to find user {user}: no matching entries in passwd file")
    groups = read("/etc/group")
    if group:
        found = _find(groups, group, 3)
        if found is not None:
            gid = int(found[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise UnknownUser(f"unable to find group {group}: no matching entries in group file")
    extra = set()
    if name is not None:
        for fields in groups:
            if len(fields) >= 4 and name in fields[3].split(","):
                try:
                    extra.add(int(fields[2]))
                except ValueError:
                    continue
    for wanted in group_add:
        found = _find(groups, wanted, 3)
        if found is not None:
            extra.add(int(found[2]))
        elif wanted.isdigit():
            extra.add(int(wanted))
        else:
            raise UnknownUser(f"unable to find group {wanted}: no matching entries in group file")
    return uid, gid, sorted(extra | {gid}), home
