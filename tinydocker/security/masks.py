"""The parts of /proc and /sys a container must not see or change (podman's and docker's
lists), given to the runtime as a bundle's maskedPaths and readonlyPaths; --privileged
skips both.
"""

MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap", "/sys/dev/block"]
READ_ONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
