#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian 12 machine (as root). It is
# idempotent and fails loudly: a test that needs a tool must never be skipped
# in CI because the tool was missing.
set -euo pipefail
need=()
command -v age >/dev/null || need+=(age)
command -v git >/dev/null || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing ${need[*]} and not root: install them (apt-get install ${need[*]})" >&2
		exit 1
	fi
	echo "deps: installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v age >/dev/null || { echo "deps: age still missing after install" >&2; exit 1; }
