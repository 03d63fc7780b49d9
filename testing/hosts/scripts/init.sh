#!/bin/sh
# PID 1 of a test host (installed by testing/hosts): the little of systemd
# that the tests need. It starts every service defined in
# /etc/escalator-test/services, reaps orphans, and ends the boot when
# "systemctl reboot" (or reboot) sends it SIGUSR1; the harness then boots
# the host again with a new boot id.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
trap 'echo "escalator-init: reboot requested"; exit 0' USR1
trap 'echo "escalator-init: terminated"; exit 0' TERM

mkdir -p /run/lock /run/sshd /run/escalator-test
chmod 1777 /run/lock
echo "escalator-init: booting $(hostname), boot id $(cat /proc/sys/kernel/random/boot_id)"
for f in /etc/escalator-test/services/*; do
	# Symlinks are aliases of another service (sshd -> ssh).
	[ -f "$f" ] && [ ! -L "$f" ] || continue
	systemctl start "${f##*/}" || echo "escalator-init: ${f##*/} did not start" >&2
done
echo "escalator-init: services started"

# wait returns when a signal arrives; dash reaps every child while it
# waits, the orphans it inherits included.
while :; do
	sleep 3600 &
	wait $!
done
