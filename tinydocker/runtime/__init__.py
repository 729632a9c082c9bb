"""tinydocker's OCI runtime (`tinydocker-runtime`): realises an OCI bundle, with runc's
command line. It sits below the engine: nothing here imports the engine's api, cli, spec or
container packages.

config    a bundle's config.json as a checked, typed model
tables    the names the runtime accepts (and `features` lists)
template  the config.json `spec` writes
features  the runtime-spec features document
log       runc's --log/--log-format
cli       the command line
state     the status store under --root: one locked directory per container
cgroups   the container's cgroup where linux.cgroupsPath puts it, with its limits
rootfs    the init's mounts, devices, pivot_root, masked and read-only paths
process   config.process applied by the init to itself, then execve
hooks     the six hook points
create    create: the init forked, set up and left waiting on the exec fifo
start     start: the init released
kill      kill: a signal to the init or, with --all, to its cgroup
delete    delete: the container's cgroups and state removed
"""
