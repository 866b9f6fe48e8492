#!/usr/bin/env bash
# Installs and starts what the tests need on a fresh Debian 12 machine (as
# root): age, shellcheck (make lint), and through testenv/setup.sh Docker
# (dockerd), PostgreSQL, Redis, busybox and the test images, versitygw (the S3
# tests' server) and openssh-server (the SFTP tests' sshd, started by
# internal/testsftp; the package's own service is not needed). Idempotent,
# and fails loudly: a test that needs a service must never be skipped in CI
# because it was missing.
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
command -v ssh >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
if [ ${#need[@]} -gt 0 ]; then
	echo "deps: installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
for c in age shellcheck ssh ssh-keygen /usr/sbin/sshd; do
	command -v "$c" >/dev/null || { echo "deps: $c still missing after install" >&2; exit 1; }
done
# versitygw: the real S3 server the s3 tests start (internal/testgw). Built
# once (~3 minutes on 2 cores) and kept in ~/go/bin like staticcheck.
VERSITYGW_VERSION=${VERSITYGW_VERSION:-v1.7.0}
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
if ! command -v versitygw >/dev/null; then
	echo "deps: building versitygw $VERSITYGW_VERSION (about 3 minutes, once)"
	CGO_ENABLED=0 go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
fi
command -v versitygw >/dev/null || { echo "deps: versitygw still missing after go install" >&2; exit 1; }
bash testenv/setup.sh
