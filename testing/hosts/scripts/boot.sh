#!/bin/sh
# Boots one test host (testing/hosts). The harness runs it as PID 1 of the
# host's new PID, mount, UTS, IPC (and time) namespaces, inside the host's
# network namespace, still in the machine's root file system. It mounts what
# a kernel and an initramfs would give the host, then becomes the host's
# init inside the host's root file system.
#
# Environment: ROOT (the host's overlay), HOSTDIR (its directory on the
# machine), HOST_NAME, REPO (the apt repository directory).
set -eu
: "${ROOT:?}" "${HOSTDIR:?}" "${HOST_NAME:?}" "${REPO:?}"

# /proc is still the machine's here, so this is the PID the root namespace
# knows: the harness kills it to power the host off, which ends every
# process of the host with it.
read -r pid _ </proc/self/stat
echo "$pid" >"$HOSTDIR/init.pid.tmp"
mv "$HOSTDIR/init.pid.tmp" "$HOSTDIR/init.pid"

hostname "$HOST_NAME"
# Every mount below belongs to this host's mount namespace and disappears
# with it: nothing to unmount at power-off.
mount -t proc -o nosuid,nodev,noexec proc "$ROOT/proc"
# The boot id the harness chose for this boot, read-only as the real one.
mount --bind "$HOSTDIR/boot_id" "$ROOT/proc/sys/kernel/random/boot_id"
mount -o remount,bind,ro "$ROOT/proc/sys/kernel/random/boot_id"
mount -t sysfs -o nosuid,nodev,noexec,ro sysfs "$ROOT/sys"
# /run is empty at every boot, as on a real host: reboot-required, pid
# files and sockets do not survive a reboot.
mount -t tmpfs -o nosuid,nodev,mode=0755,size=64m tmpfs "$ROOT/run"
mount -t tmpfs -o nosuid,mode=0755,size=1m tmpfs "$ROOT/dev"
for d in null zero full random urandom tty kvm; do
	if [ -e "/dev/$d" ]; then cp -a "/dev/$d" "$ROOT/dev/"; fi
done
mkdir "$ROOT/dev/pts" "$ROOT/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$ROOT/dev/pts"
ln -s pts/ptmx "$ROOT/dev/ptmx"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$ROOT/dev/shm"
ln -s /proc/self/fd "$ROOT/dev/fd"
ln -s /proc/self/fd/0 "$ROOT/dev/stdin"
ln -s /proc/self/fd/1 "$ROOT/dev/stdout"
ln -s /proc/self/fd/2 "$ROOT/dev/stderr"
mount --bind "$REPO" "$ROOT/srv/repo"
mount -o remount,bind,ro "$ROOT/srv/repo"

exec chroot "$ROOT" /sbin/escalator-init
