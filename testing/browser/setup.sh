#!/usr/bin/env bash
# Installs what the dashboard's browser test needs: Debian's chromium and
# chromium-driver (no browser download: the test drives the packaged
# browser through the packaged chromedriver). A no-op when both are there.
set -euo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "testing/browser/setup.sh: chromium and chromium-driver are missing; install them as root: apt-get install chromium chromium-driver" >&2
	exit 1
fi
echo "--- installing chromium and chromium-driver"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver
chromium --version
chromedriver --version
