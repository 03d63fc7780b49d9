#!/usr/bin/env bash
# Installs what the real OpenStack test environment (testing/openstack) needs
# on Debian 12 (OpenStack Zed): the servers and the Python libraries, not the
# service packages (their postinst scripts want debconf/dbconfig-common and
# nova-compute pulls in libvirt). The paste .ini files the API servers read
# come from the *-common packages, downloaded and unpacked (not installed)
# into the cache directory.
#
# Idempotent: a second run only checks and returns in well under a second.
# Runs as root (CI's .ci/run); prints the time it took.
#
#   testing/openstack/install.sh [CACHE_DIR]
#
# CACHE_DIR defaults to $OSENV_CACHE, then /var/cache/escalator-openstack;
# the harness reads the same default (openstack.DefaultCacheDir).
set -euo pipefail

cache=${1:-${OSENV_CACHE:-/var/cache/escalator-openstack}}
start=$(date +%s.%N)

packages=(
	mariadb-server rabbitmq-server
	uwsgi-core uwsgi-plugin-python3
	python3-pymysql
	python3-keystone python3-placement python3-nova python3-glance python3-neutron
	python3-openstackclient
)
# Packages whose /etc files (paste pipelines, policies, rootwrap) the
# harness needs; unpacked only.
common=(keystone nova-common glance-common neutron-common)

# The stamp names the package sets, so changing them reinstalls.
stamp="$cache/.installed-$(printf '%s\n' "${packages[@]}" "${common[@]}" | md5sum | cut -c1-12)"

installed() {
	local p status
	for p in "${packages[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || return 1
		[[ $status == installed ]] || return 1
	done
}

if [[ -f $stamp ]] && installed; then
	echo "openstack test environment: already installed (cache $cache)"
	exit 0
fi

if [[ $(id -u) != 0 ]]; then
	echo "install.sh: needs root for apt-get; run it with sudo" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# apt must not start mariadb or rabbitmq: the harness starts its own, on
# loopback and private ports. Debian images for containers usually carry a
# policy-rc.d that forbids starts; add one for the install if this one does
# not, and remove it afterwards.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi

if ! installed; then
	echo "--- apt-get update"
	# A third-party source that is unreachable must not stop the install:
	# Debian's own lists are what we need.
	apt-get update -qq || echo "install.sh: apt-get update reported errors; continuing with the lists it got" >&2
	echo "--- apt-get install ${packages[*]}"
	apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${packages[@]}" >/dev/null
fi

echo "--- unpacking ${common[*]} into $cache"
mkdir -p "$cache/debs" "$cache/root"
# apt-get download runs as _apt where it can: let it write there.
if id _apt >/dev/null 2>&1; then chown _apt "$cache/debs"; fi
(
	cd "$cache/debs"
	rm -f ./*.deb
	# The packages may be installed while the cache is gone and the package
	# lists are old: refresh them once if the download fails.
	apt-get download -qq "${common[@]}" ||
		{ apt-get update -qq || true; apt-get download -qq "${common[@]}"; }
	for deb in ./*.deb; do
		dpkg-deb -x "$deb" "$cache/root"
	done
)
rm -f "$cache"/.installed-*
touch "$stamp"

end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v c="$cache" 'BEGIN { printf "openstack test environment: installed in %.0f s (cache %s)\n", e - s, c }'
