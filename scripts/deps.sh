#!/usr/bin/env bash
# Installs and starts what the tests need on a fresh Debian 12 machine (as
# root): age, shellcheck (make lint), and through testenv/setup.sh Docker
# (dockerd), PostgreSQL, Redis, busybox and the test images. Idempotent, and fails loudly: a test
# that needs a service must never be skipped in CI because it was missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "deps: not root: the Docker tests need root (dockerd); run 'sudo make test' or install age, shellcheck, docker.io, postgresql, redis-server, busybox-static yourself" >&2
	exit 1
fi
need=()
command -v age >/dev/null || need+=(age)
command -v git >/dev/null || need+=(git)
command -v openssl >/dev/null || need+=(openssl)
command -v shellcheck >/dev/null || need+=(shellcheck)
if [ ${#need[@]} -gt 0 ]; then
	echo "deps: installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
for c in age shellcheck; do
	command -v "$c" >/dev/null || { echo "deps: $c still missing after install" >&2; exit 1; }
done
bash testenv/setup.sh
