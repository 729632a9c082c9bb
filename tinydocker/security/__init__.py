"""Confinement of a container's processes: what they may do once they run.

capabilities  the capability sets (docker's flags; podman's default set of 11)
masks         the paths of /proc and /sys hidden or made read-only
process       what init and exec apply last, in the child, before execve
"""
