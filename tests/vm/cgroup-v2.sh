#!/bin/bash
# Run tinydocker's tests on a real cgroup-v2 kernel: a small QEMU virtual machine booting
# Debian's own kernel with `cgroup_no_v1=all`, this machine's root shared read-only over 9p,
# and an ext4 scratch disk as /tmp (the tests' data roots and overlays live there).
#
#   bash tests/vm/cgroup-v2.sh                      the cgroup, lifecycle, cgroup-bound confinement,
#                                                   pause and update tests
#   bash tests/vm/cgroup-v2.sh tests/network tests/volume   the networks and volumes on 6.1
#   bash tests/vm/cgroup-v2.sh tests/cgroups -k cpu  any pytest arguments instead
#   bash tests/vm/cgroup-v2.sh tests/rootless       an ordinary user's containers (the guest's
#                                                   /etc is a writable copy, for useradd)
#   bash tests/vm/cgroup-v2.sh --run 'COMMAND'       a shell command in the checkout instead
#
# From scratch on a fresh Debian 12 machine: it installs QEMU, downloads the kernel package
# that linux-image-amd64 points at, builds a busybox initramfs, boots, runs pytest from this
# checkout's .venv inside the guest and exits with pytest's exit code. KVM is used when
# /dev/kvm works, plain emulation (much slower) otherwise. Needs root and the checkout's
# .venv (as .ci/run makes it). The cache (kernel, initramfs, disk) is kept in
# $TINYDOCKER_VM_CACHE, /var/cache/tinydocker-vm by default.
set -euo pipefail

checkout=$(cd "$(dirname "$0")/../.." && pwd)
self=$(realpath "$0")  # the script itself, compared with the cached initramfs after a cd
cache=${TINYDOCKER_VM_CACHE:-/var/cache/tinydocker-vm}
timeout=${TINYDOCKER_VM_TIMEOUT:-4200}      # seconds before the guest is given up on (CI has 90 minutes)
# TINYDOCKER_VM_ACCEL=tcg never tries KVM; =kvm tries it even where it is PVM
memory=${TINYDOCKER_VM_MEMORY:-3G}
if [ $# -eq 0 ]; then
    # What pure cgroup v2 changes: the cgroup back-end and limits, the lifecycle, the
    # confinement that goes through the cgroup (devices through BPF, pids, release_agent,
    # a joining exec), pause (cgroup.freeze) and update, the OCI runtime's cgroups (its
    # limits, pause, update, the engine on it), and an ordinary user's limits in a subtree
    # delegated as systemd delegates one (tests/rootless/test_rootless_cgroups.py, five tests,
    # ~4 minutes emulated; the rest of tests/rootless by hand). The hundred-at-once test is a load
    # test (emulated, a command takes ~3 s, not ~0.15 s). By hand, with arguments: the rest
    # of tests/security, the networks and volumes (tests/network tests/volume, for this
    # older kernel's nftables) and the fault injection (tests/test_fault_injection.py, ~10
    # minutes a seed emulated). With them the default (166 tests) took 36 minutes on a fast
    # day and outgrew its 4200 s on a slow one, which CI's 90 minutes cannot hold
    c=tests/security/test_confinement.py l=tests/runtime/test_runtime_lifecycle.py
    set -- tests/cgroups tests/container/test_lifecycle.py \
        $c::test_only_the_default_devices_can_be_made_or_opened $c::test_device_flag_gives_one_node_with_its_access \
        $c::test_a_device_gone_from_the_host_stops_only_the_start $c::test_no_release_agent_is_reachable \
        $c::test_dev_is_nosuid_noexec_and_pids_are_limited_by_default $c::test_exec_is_held_as_the_container_is \
        $c::test_cve_2019_5736_a_joining_exec_does_not_show_the_host_binary \
        $c::test_privileged_is_dockers_everything_and_the_default_none_of_it \
        $c::test_device_cgroup_rule_allows_a_node_without_making_it \
        tests/runtime/test_runtime_pause_update.py tests/rootless/test_rootless_cgroups.py \
        $l::test_create_leaves_the_init_waiting_start_runs_it_kill_and_delete_end_it \
        $l::test_cgroup_limits_are_in_the_cgroups_path_while_created $l::test_the_cgroup_mount_shows_the_containers_own_cgroup \
        $l::test_a_parent_made_by_another_create_that_has_not_yet_enabled_it \
        $l::test_a_killed_create_is_cleaned_by_delete_force \
        "tests/container/test_oci_runtime.py::test_limits_volumes_tmpfs_and_binds[tinydocker-runtime]" \
        tests/container/test_verbs.py -k 'not hundred and (not test_verbs or paused or pause_freezes or update)'
fi

say() { echo "cgroup-v2 vm: $*" >&2; }
[ "$(id -u)" = 0 ] || { say "needs root (the tests run real containers)"; exit 2; }
[ -x "$checkout/.venv/bin/python" ] || { say "no $checkout/.venv: make it as .ci/run does"; exit 2; }
started=$(date +%s)

# -- what the host needs --------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)  # static: it runs alone in the initramfs
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# -- Debian's kernel: the package linux-image-amd64 depends on --------------------------------
mkdir -p "$cache"
cd "$cache"
package=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
[ -n "$package" ] || { apt-get update -qq; package=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1); }
release=${package#linux-image-}
if [ ! -f "kernel/$release/ready" ]; then
    say "downloading $package"
    rm -rf "kernel/$release" && mkdir -p "kernel/$release"
    (cd "kernel/$release" && apt-get download -qq "$package" && dpkg -x ./*.deb root && rm ./*.deb)
    busybox depmod -b "kernel/$release/root" "$release"
    touch "kernel/$release/ready"
fi
tree=$cache/kernel/$release/root
modules=$tree/lib/modules/$release

# -- the initramfs: busybox, the modules to reach the shared root, and /init ------------------
# 9p over virtio for the root; virtio_blk, ext4 and crc32c for the scratch disk; overlay for
# the containers. Loaded here, since the host's root has no modules for this kernel.
initrd=$cache/initrd-$release.gz
if [ ! -f "$initrd" ] || [ "$self" -nt "$initrd" ]; then
    say "building the initramfs"
    work=$(mktemp -d)
    mkdir -p "$work"/{bin,dev,proc,sys,newroot,lib/modules/"$release"}
    cp /bin/busybox "$work/bin/"
    for tool in sh mount mkdir modprobe switch_root cat echo sleep poweroff; do ln -s busybox "$work/bin/$tool"; done
    # veth, bridge and nftables' NAT, masquerade and fib for the containers' networks
    wanted="virtio_pci 9pnet_virtio 9p virtio_blk crc32c_generic ext4 overlay veth bridge nf_tables nft_chain_nat nft_nat nft_masq nft_fib_ipv4"
    for module in $wanted; do
        # the module's own line of modules.dep: its file, then those it depends on
        line=$(grep -E "/${module}\.ko(\.[a-z]+)?:" "$modules/modules.dep")
        for file in $(echo "$line" | tr -d :); do
            mkdir -p "$work/lib/modules/$release/$(dirname "$file")"
            cp "$modules/$file" "$work/lib/modules/$release/$file"
        done
        echo "$line" >> "$work/lib/modules/$release/modules.dep"
    done
    cat > "$work/init" <<INIT
#!/bin/sh
# stage 1: load the modules, mount the host's root read-only, hand over to the checkout's guest.sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for module in $wanted; do
    modprobe \$module || echo "TINYDOCKER-VM: cannot load \$module"
done
for word in \$(cat /proc/cmdline); do
    case \$word in tdvm.guest=*) guest=\${word#tdvm.guest=} ;; esac
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /newroot ||
    { echo "TINYDOCKER-VM-EXIT=3"; poweroff -f; }
for fs in dev proc sys; do
    mount --move /\$fs /newroot/\$fs || echo "TINYDOCKER-VM: cannot move /\$fs"
done
cat /newroot/proc/cmdline > /dev/null || echo "TINYDOCKER-VM: no /proc after the move"
exec switch_root /newroot /bin/bash "\$guest"
INIT
    chmod +x "$work/init"
    (cd "$work" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$initrd.new"
    mv "$initrd.new" "$initrd"
    rm -rf "$work"
fi

# -- the run: a fresh scratch disk, the settings for the guest, QEMU --------------------------
run=$(mktemp -d "$cache/run.XXXXXX")
qemu=
# whatever ends this script ends the guest too; its console is kept for a look afterwards
# (each step `|| true`: under set -e a failing step in the trap would turn the exit code into 1)
trap '[ -z "$qemu" ] || kill "$qemu" 2>/dev/null || true
      cp "$run/console.log" "$cache/last-console.log" 2>/dev/null || true
      rm -rf "$run"' EXIT
trap 'exit 130' INT TERM
truncate -s 16G "$run/scratch.img"
mkfs.ext4 -q -F "$run/scratch.img"
{
    printf 'checkout=%q\n' "$checkout"
    if [ "$1" = --run ]; then
        printf 'command=%q\n' "$2"
    else
        printf 'pytest_args=(%s)\n' "$(printf '%q ' "$@")"
    fi
} > "$run/guest.env"

console=$run/console.log
boot() {  # boot with one accelerator in the background: $qemu is its pid
    : > "$console"
    timeout "$timeout" qemu-system-x86_64 "$@" -smp 2 -m "$memory" \
        -display none -no-reboot -nic none -serial "file:$console" \
        -kernel "$tree/boot/vmlinuz-$release" -initrd "$initrd" \
        -append "console=ttyS0 panic=-1 loglevel=3 cgroup_no_v1=all tdvm.guest=$checkout/tests/vm/guest.sh tdvm.env=$run/guest.env" \
        -virtfs "local,path=/,mount_tag=hostroot,security_model=none,multidevs=remap,readonly=on" \
        -drive "file=$run/scratch.img,if=virtio,format=raw,cache=unsafe" &
    qemu=$!
}
booted() {  # the kernel printed its banner within 30 s
    for _ in $(seq 60); do
        grep -q "Linux version" "$console" && return 0
        kill -0 "$qemu" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}
say "booting $release with cgroup_no_v1=all, running pytest $*"
accel=tcg
if [ -d /sys/module/kvm_pvm ] && [ -z "${TINYDOCKER_VM_ACCEL:-}" ]; then
    # /dev/kvm backed by PVM (nested virtualisation without VMX) boots only PVM-aware
    # guest kernels, which Debian's is not: the guest would hang at its first instruction
    say "/dev/kvm is PVM (kvm_pvm), which cannot boot Debian's kernel: emulating (slower)"
elif [ -w /dev/kvm ] && [ "${TINYDOCKER_VM_ACCEL:-}" != tcg ]; then
    # nested KVM can fail in other ways too (an MSR refused, a guest that never starts):
    # IA32_ARCH_CAPABILITIES is left out, and emulation takes over if the kernel stays silent
    boot -accel kvm -cpu host,-arch-capabilities
    if booted; then
        accel=kvm
    else
        kill "$qemu" 2>/dev/null; wait "$qemu" 2>/dev/null
        say "KVM did not boot the guest; emulating instead (slower)"
    fi
fi
[ "$accel" = kvm ] || boot -accel tcg -cpu max
tail --pid=$qemu -n +1 -f "$console" &
tailer=$!
status=0
wait "$qemu" || status=$?
[ "$status" != 124 ] || say "no end after $timeout s: QEMU stopped"
wait "$tailer" 2>/dev/null || true

code=$(sed -n 's/^TINYDOCKER-VM-EXIT=\([0-9]*\).*/\1/p' "$console" | tail -1)
say "done in $(( $(date +%s) - started )) s"
if [ -z "$code" ]; then
    say "the guest ended without a result (see the console above, kept in $cache/last-console.log)"
    exit 2
fi
exit "$code"
