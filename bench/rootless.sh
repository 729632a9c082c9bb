#!/bin/bash
# Rootless `run --rm /bin/true` (issue 23), in one hyperfine run, on the same busybox:
#   td-rootless  tinydocker as an ordinary user (its own data root, user namespace, no cgroup)
#   pm-rootless  podman 4.3 as the same user (runc, native overlay in the user namespace)
#   td-root      tinydocker as root (a throwaway data root)
# these three with `--network none`, so that each does the same work; and
#   td-usernet   tinydocker as the user, on a network of the user's (`network create`)
#   pm-usernet   podman as the user, on a network of its own the same way
# Prints medians and the ratios to pm-rootless, pm-usernet and td-root.
#
# Usage (as root): bench/rootless.sh     (RUNS=20 by default)
# Needs hyperfine (Debian: apt-get install hyperfine), podman, runc, uidmap (newuidmap), setpriv.
#
# The run makes a throwaway local user with a subordinate range of its own (as
# tests/rootless_fixtures.py does) and removes it with everything it made at exit, also on
# failure or Ctrl-C: its processes (by pid), podman's storage, the /etc/subuid|subgid lines.
#
# What podman needed here, rootless, on this hybrid cgroup (v1 + cgroup2) host with no systemd:
# - runc: crun refuses the hybrid layout ("cgroups in hybrid mode not supported, drop all
#   controllers from cgroupv2") even with --cgroups disabled, and podman allows
#   --cgroups disabled with crun only; runc, rootless with no delegated cgroup, just runs the
#   container in its caller's cgroups, as tinydocker's rootless containers do. So podman runs
#   with its default --cgroups, which on runc rootless means none of its own.
# - storage driver overlay, said in the user's storage.conf: podman picked vfs (a full copy
#   of the image per container) by itself here; the kernel's overlayfs in a user namespace is
#   what tinydocker uses too.
# - an XDG_RUNTIME_DIR owned by the user, mode 0700 (no login session makes /run/user/UID).
# - the rest of its settings from ../shared/bench/containers.conf (cgroupfs, file events,
#   ulimits within this machine's hard limits), as bench/service.sh uses.
# podman warns once that "/" is not a shared mount; that is harmless for these runs. Its
# rootless default network (slirp4netns) works here too, but the first rows run
# --network none on both sides; the -usernet rows each run on a network of the user's.
set -euo pipefail
RUNS=${RUNS:-20}
[ "$(id -u)" = 0 ] || { echo "rootless.sh: run as root (it makes a throwaway user)" >&2; exit 1; }
source "$(dirname "$0")/common.sh"
cd /  # the user runs from here: the checkout may be unreadable to it

name=tdb$(printf '%06d' $((SRANDOM % 1000000)))
home=$(mktemp -d "/tmp/$name-XXXXXX")
rt=$(mktemp -d "/tmp/$name-run-XXXXXX")
pycopy=$(mktemp -d /tmp/tdb-py-XXXXXX)
made_user= made_files=() uid= sub= tun_mode=
RANGE=65536

user_pids() {  # the user's processes and its containers' (owned by ids of its range)
  local p u
  for p in /proc/[0-9]*; do
    u=$(stat -c %u "$p" 2>/dev/null) || continue
    if [ "$u" = "$uid" ] || { [ -n "$sub" ] && [ "$u" -ge "$sub" ] && [ "$u" -lt $((sub + RANGE)) ]; }; then
      echo "${p#/proc/}"
    fi
  done
}

cleanup() {
  set +eu
  trap '' INT TERM  # a second Ctrl-C does not cut the cleanup short
  [ -n "$tun_mode" ] && chmod "$tun_mode" /dev/net/tun  # first: the machine's own setting
  if [ -n "$made_user" ]; then
    # podman's overlay mounts live in its pause process's namespace: reset first, then kill
    [ -d "$home/.local/share/containers" ] && timeout 60 "${as_user[@]}" podman system reset -f >/dev/null 2>&1
    for _ in 1 2 3 4 5; do
      pids=$(user_pids)
      [ -z "$pids" ] && break
      kill -KILL $pids 2>/dev/null
      sleep 0.2
    done
    userdel "$name" 2>/dev/null || echo "rootless.sh: userdel $name failed" >&2
  fi
  for f in /etc/subuid /etc/subgid; do  # userdel takes the ranges; make sure, touching no other line
    [ -f "$f" ] && grep -q "^$name:" "$f" && sed -i "/^$name:/d" "$f"
  done
  for f in "${made_files[@]}"; do [ -s "$f" ] || rm -f "$f"; done
  rm -rf "$home" "$rt" "$pycopy"
  drop_work
  # what must be gone now: the user, its processes, any mount of its directories or the work dir
  left=
  getent passwd "$name" >/dev/null && left+=" user"
  [ -n "$uid" ] && [ -n "$(user_pids)" ] && left+=" processes($(user_pids | tr '\n' ' '))"
  grep -qE "$home|$rt|$work" /proc/self/mountinfo && left+=" mounts"
  [ -n "$left" ] && echo "rootless.sh: left behind:$left" >&2
  true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the user's networks open /dev/net/tun (slirp4netns's tap): 0666 on a stock Debian; a
# machine that closed it gets it open for the run and its own mode back at exit ---
if [ -e /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
  tun_mode=$(stat -c %a /dev/net/tun)
  chmod 666 /dev/net/tun
fi

# --- the throwaway user, with a subordinate range far above the machine's users ---
for f in /etc/subuid /etc/subgid; do  # a fresh machine may have neither
  [ -e "$f" ] || { install -m 644 /dev/null "$f"; made_files+=("$f"); }
done
useradd --no-create-home --home-dir "$home" --shell /bin/sh -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$name"
made_user=1
uid=$(id -u "$name") gid=$(id -g "$name")
chown "$uid:$gid" "$home" "$rt"
chmod 700 "$rt"
taken() {  # does [$1, $1+RANGE) overlap a range already given?
  cat /etc/subuid /etc/subgid | awk -F: -v s="$1" -v n="$RANGE" '$2 < s + n && s < $2 + $3 {f=1} END {exit !f}'
}
while :; do
  s=$((1000000 + (SRANDOM % 20000 + 1) * RANGE))
  taken "$s" || break
done
usermod --add-subuids "$s-$((s + RANGE - 1))" --add-subgids "$s-$((s + RANGE - 1))" "$name"
sub=$s

# --- a world-readable copy of the package and its dependencies, bytecode compiled as an
# installed copy has it (the user could not write __pycache__ there) ---
chmod 755 "$pycopy"
cp -r "$repo/tinydocker" "$repo/images" "$pycopy/"
mkdir "$pycopy/deps"
purelib=$("$PY" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
for f in "$purelib"/*; do
  case ${f##*/} in
    __pycache__|pip|pip-*|setuptools|setuptools-*|pkg_resources|_pytest|pytest|pytest-*|*.pth|__editable__*) ;;
    *) cp -r "$f" "$pycopy/deps/" ;;
  esac
done
find "$pycopy" -name __pycache__ -prune -exec rm -rf {} +
py3=$(readlink -f "$PY")  # the venv's own interpreter, which an ordinary user can run
"$py3" -m compileall -q "$pycopy" >/dev/null
chmod -R a+rX "$pycopy"

# Both sides run the same copy with the same interpreter and a clean environment: what differs
# between td-rootless and td-root is the user alone.
env_common=(PYTHONPATH="$pycopy:$pycopy/deps" LANG=C.UTF-8)
as_user=(setpriv --reuid="$uid" --regid="$gid" --init-groups env -i HOME="$home" USER="$name" LOGNAME="$name"
         PATH=/usr/bin:/bin XDG_RUNTIME_DIR="$rt" "${env_common[@]}")
as_root=(setpriv --reuid=0 --regid=0 --init-groups env -i HOME=/root USER=root LOGNAME=root
         PATH=/usr/sbin:/usr/bin:/sbin:/bin "${env_common[@]}")
td_user=("${as_user[@]}" "$py3" -m tinydocker)
td_root=("${as_root[@]}" "$py3" -m tinydocker --root "$work/root")
pm_user=("${as_user[@]}" podman)

# --- podman's settings for the user (see the header) ---
install -d -o "$uid" -g "$gid" "$home/.config" "$home/.config/containers"
install -m 644 -o "$uid" -g "$gid" "$SHARED_BENCH/containers.conf" "$home/.config/containers/containers.conf"
printf '[storage]\ndriver = "overlay"\n' > "$home/.config/containers/storage.conf"
chown "$uid:$gid" "$home/.config/containers/storage.conf"

# --- the same busybox on each side: the user's tinydocker builds it, podman loads that save ---
"${td_user[@]}" image build busybox >/dev/null
"${td_user[@]}" save busybox | "${pm_user[@]}" load -q >/dev/null
"${td_root[@]}" image build busybox >/dev/null
# a run of each, before timing: it works, and runs the same /bin/true
sums=$("${td_user[@]}" run --rm --network none check1 sha256sum /bin/true | cut -d' ' -f1)
sums+=" $("${pm_user[@]}" run --rm --network none localhost/busybox sha256sum /bin/true | cut -d' ' -f1)"
sums+=" $("${td_root[@]}" run --rm --network none check2 sha256sum /bin/true | cut -d' ' -f1)"
[ "$(tr ' ' '\n' <<<"$sums" | sort -u | wc -l)" = 1 ] || { echo "rootless.sh: not the same /bin/true: $sums" >&2; exit 1; }

# the user's own network on each side: a bridge in one network namespace of the user's
# (tinydocker's holder, podman's rootless netns), each container on a veth of it
"${td_user[@]}" network create benchnet >/dev/null
"${pm_user[@]}" network create benchnet >/dev/null
for side in td pm; do
  if [ $side = td ]; then out=$("${td_user[@]}" run --rm --network benchnet check3 ip -4 -o addr show eth0)
  else out=$("${pm_user[@]}" run --rm --network benchnet localhost/busybox ip -4 -o addr show eth0); fi
  grep -q inet <<<"$out" || { echo "rootless.sh: no address on $side's benchnet: $out" >&2; exit 1; }
done

echo "run --rm busybox /bin/true; rootless as $name (uid $uid, range $sub+$RANGE)"
echo "  --network none, and -usernet: on the user's own network (network create)"
echo "pm = $("${pm_user[@]}" --version) on $(runc --version | head -1)"
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$work/rootless.json" \
  -n td-rootless "${td_user[*]} run --rm --network none bench1 /bin/true" \
  -n pm-rootless "${pm_user[*]} run --rm --network none localhost/busybox /bin/true" \
  -n td-root "${td_root[*]} run --rm --network none bench2 /bin/true" \
  -n td-usernet "${td_user[*]} run --rm --network benchnet bench3 /bin/true" \
  -n pm-usernet "${pm_user[*]} run --rm --network benchnet localhost/busybox /bin/true" >/dev/null
ratios "$work/rootless.json" pm-rootless pm-usernet td-root
cp "$work/rootless.json" "$results/rootless.json"
