#!/bin/bash
# Stage 2 inside the cgroup-v2 virtual machine (see cgroup-v2.sh), run as PID 1 on the host's
# root shared read-only: make the few writable places a system needs, mount cgroup2 alone at
# /sys/fs/cgroup, run pytest, print its exit code where the host looks for it, power off.
set -u
finish() {
    echo "TINYDOCKER-VM-EXIT=$1"
    sync
    echo o > /proc/sysrq-trigger
    sleep 60 2>/dev/null  # the power-off takes the shared root away first
}
for word in $(cat /proc/cmdline); do
    case $word in tdvm.env=*) env_file=${word#tdvm.env=} ;; esac
done
# shellcheck disable=SC1090
source "$env_file" || finish 3

# the ext4 scratch disk (data roots, overlays) becomes /tmp, or, when the checkout itself
# lives under /tmp (a CI clone), the first of /var/tmp and /mnt that would not hide it
scratch=
for place in /tmp /var/tmp /mnt; do
    case "$checkout/" in "$place"/*) continue ;; esac
    scratch=$place
    break
done
# /run root's alone, as on a real system: an ordinary user may not make /run/tinydocker
mount -t tmpfs -o mode=755 tmpfs /run
# a writable /etc, a copy on tmpfs: the rootless tests make throwaway users, and useradd
# writes passwd, shadow, group, gshadow, subuid and subgid, with its lock files beside them
# (newuidmap and newgidmap stay setuid root on the shared root: 9p keeps the mode bits)
cp -a /etc /run/etc && mount --bind /run/etc /etc || finish 3
mount /dev/vda "$scratch" && chmod 1777 "$scratch" && mkdir -p "$scratch/home" || finish 3
export TMPDIR=$scratch
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup || finish 3
ip link set lo up 2>/dev/null

export HOME=$scratch/home PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# the checkout is read-only here: bytecode is cached on the scratch disk; the console is a file
export PYTHONPYCACHEPREFIX=$scratch/pycache PY_COLORS=0
cd "$checkout" || finish 3
echo "guest: $(uname -r), $(nproc) CPUs, cgroup controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
grep -E ' cgroup2? ' /proc/self/mounts
.venv/bin/python -m tinydocker --root "$scratch/info-root" info 2>&1 | grep -i cgroup
if [ -n "${command:-}" ]; then
    bash -c "$command"
    finish $?
fi
.venv/bin/python -m pytest -q -p no:cacheprovider --basetemp="$scratch/pytest" "${pytest_args[@]}"
finish $?
