"""What tinydocker itself holds: a container cannot be given a capability that is not here
(--privileged under a caller with a reduced bounding set gets that set)."""


def permitted() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapPrm:"):
                return int(line.split()[1], 16)
    return 0
