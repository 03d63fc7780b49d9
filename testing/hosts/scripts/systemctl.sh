#!/bin/sh
# systemctl for the hosts of testing/hosts, which run no systemd: the part
# of its command line that tests and providers use (start, stop, restart,
# is-active, status, reboot, daemon-reload) over the services the harness
# defines in /etc/escalator-test/services. A service is a file of shell
# variables: EXEC (absolute path), ARGS, and optionally USER; a symlink
# there is an alias (sshd -> ssh, as on Debian). It runs under
# start-stop-daemon, its output in /var/log/escalator-test/NAME.log.
set -u
defs=/etc/escalator-test/services
run=/run/escalator-test
logs=/var/log/escalator-test

unit() { # NAME or NAME.service -> NAME, if defined; a symlink is an alias
	n=${1%.service}
	if [ -L "$defs/$n" ]; then n=$(readlink "$defs/$n"); fi
	if [ ! -f "$defs/$n" ]; then
		echo "Unit $n.service could not be found." >&2
		return 1
	fi
	echo "$n"
}

active() { start-stop-daemon --status --pidfile "$run/$1.pid"; }

start() {
	active "$1" && return 0
	EXEC= ARGS= USER=
	. "$defs/$1"
	mkdir -p "$run" "$logs"
	echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) start $EXEC $ARGS" >>"$logs/$1.log"
	# shellcheck disable=SC2086 # ARGS is a word list
	start-stop-daemon --start --background --make-pidfile --pidfile "$run/$1.pid" \
		--output "$logs/$1.log" ${USER:+--chuid "$USER"} --exec "$EXEC" -- $ARGS
}

stop() {
	start-stop-daemon --stop --quiet --oknodo --pidfile "$run/$1.pid" --retry TERM/10/KILL/5 --remove-pidfile
}

quiet=
verb=
units=
for a in "$@"; do
	case $a in
	-q | --quiet) quiet=1 ;;
	--no-pager | --no-block | --system | --no-ask-password) ;;
	-*) echo "systemctl (escalator test host): option $a not supported" >&2; exit 1 ;;
	*) if [ -z "$verb" ]; then verb=$a; else units="$units $a"; fi ;;
	esac
done

rc=0
case $verb in
start | stop | restart)
	[ -n "$units" ] || { echo "Too few arguments." >&2; exit 1; }
	for u in $units; do
		n=$(unit "$u") || { rc=5; continue; }
		case $verb in
		start) start "$n" || rc=1 ;;
		stop) stop "$n" || rc=1 ;;
		restart) { stop "$n" && start "$n"; } || rc=1 ;;
		esac
	done
	;;
is-active)
	rc=0
	for u in $units; do
		if n=$(unit "$u" 2>/dev/null) && active "$n"; then
			[ -n "$quiet" ] || echo active
		else
			[ -n "$quiet" ] || echo inactive
			rc=3
		fi
	done
	;;
status)
	for u in $units; do
		n=$(unit "$u") || { rc=4; continue; }
		if active "$n"; then
			echo "● $n.service"
			echo "     Active: active (running)"
			echo "   Main PID: $(cat "$run/$n.pid")"
		else
			echo "○ $n.service"
			echo "     Active: inactive (dead)"
			rc=3
		fi
	done
	;;
reboot)
	# PID 1 ends the boot; this command and its SSH session end with it.
	kill -USR1 1
	sleep 30
	;;
daemon-reload) ;;
*)
	echo "systemctl (escalator test host): command \"$verb\" not supported" >&2
	rc=1
	;;
esac
exit $rc
