#!/usr/bin/env bash
# Installs what the real hosts test environment (testing/hosts) needs on
# Debian 12, in the root namespace of the machine that runs the tests:
#
#   debootstrap, debian-archive-keyring  build the hosts' image (once, cached)
#   iproute2                             namespaces, veth pairs, the bridge
#   util-linux, mount                    unshare, nsenter, overlay mounts
#   dpkg-dev                             dpkg-scanpackages for the local apt repository
#   openssh-client                       ssh(1), to look at a host by hand
#
# libvirt and QEMU are not installed here: they live in the hosts' image
# (each host has its own dpkg database, so a provider can upgrade them), and
# the harness starts them inside the hosts.
#
# Idempotent: when everything is there it only checks and returns at once.
# Runs as root (CI's .ci/run); prints the time it took.
#
#   testing/hosts/install.sh
set -euo pipefail

start=$(date +%s.%N)

packages=(debootstrap debian-archive-keyring iproute2 util-linux mount dpkg-dev openssh-client)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[[ $status == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	echo "hosts test environment: already installed"
	exit 0
fi

if [[ $(id -u) != 0 ]]; then
	echo "install.sh: needs root for apt-get; run it with sudo" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "--- apt-get update"
# A third-party source that is unreachable must not stop the install:
# Debian's own lists are what we need.
apt-get update -qq || echo "install.sh: apt-get update reported errors; continuing with the lists it got" >&2
echo "--- apt-get install ${missing[*]}"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "hosts test environment: installed in %.0f s\n", e - s }'
