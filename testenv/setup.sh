#!/usr/bin/env bash
# testenv/setup.sh — prepare a Debian 12 machine (as root) for the Docker-based
# source tests: install packages, start dockerd, build the three test images
# from host binaries (no registry is reachable, nothing is pulled).
#
#   testenv/setup.sh [--force]
#
#   --force   rebuild the images even if they are up to date
#
# Idempotent: safe to run many times and concurrently (a lock serialises runs).
# Fails loudly (non-zero exit, message on stderr) if anything can't be set up.
# See testenv/README.md.
set -Eeuo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
HERE="$(dirname "$SELF")"
START_TS=$SECONDS

FORCE=0
for arg in "$@"; do
	case "$arg" in
	--force) FORCE=1 ;;
	-h | --help)
		sed -n '2,12p' "$SELF" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "setup.sh: unknown argument: $arg (try --help)" >&2
		exit 2
		;;
	esac
done

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	printf '[setup] ERROR: %s\n' "$*" >&2
	exit 1
}
on_err() {
	local rc=$? i where=""
	for ((i = 0; i < ${#BASH_LINENO[@]} - 1; i++)); do where+=" ${BASH_LINENO[$i]}"; done
	printf '[setup] ERROR: command failed (exit %s) at %s line(s)%s: %s\n' "$rc" "$SELF" "$where" "$BASH_COMMAND" >&2
	exit "$rc"
}
trap on_err ERR

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, dockerd, docker import)"
[ -r /etc/debian_version ] || die "this script targets Debian 12 (no /etc/debian_version)"
case "$(uname -m)" in
x86_64) ;;
*) die "only x86_64 is supported (loader path /lib64/ld-linux-x86-64.so.2), not $(uname -m)" ;;
esac

# One run at a time (tests may call this in parallel).
LOCK=/run/lock/snap-testenv-setup.lock
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
flock -w 900 9 || die "could not take $LOCK within 900 s (another setup.sh stuck?)"

# ---------------------------------------------------------------- packages --
PG_MAJOR=15
PKGS=(docker.io containerd runc tini gosu "postgresql-$PG_MAJOR" postgresql
	redis-server redis-tools busybox-static age sqlite3)

pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for p in "${PKGS[@]}"; do
	pkg_installed "$p" || missing+=("$p")
done
# Only the missing ones: naming an installed package to apt-get install
# upgrades it (and what depends on it) to the newest candidate, which on a
# shared machine changes binaries under other people's feet.
if [ ${#missing[@]} -gt 0 ]; then
	log "installing missing packages: ${missing[*]}"
	# Keep package maintainer scripts from starting services (postgresql
	# cluster, redis on :6379, dockerd with a bridge) on machines without a
	# policy-rc.d of their own; tests start their own servers.
	own_policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	apt_rc=0
	{
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q &&
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q "${missing[@]}"
	} >/var/log/snap-testenv-apt.log 2>&1 || apt_rc=$?
	[ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
	if [ "$apt_rc" != 0 ]; then
		tail -n 30 /var/log/snap-testenv-apt.log >&2
		die "apt-get failed (exit $apt_rc); full log in /var/log/snap-testenv-apt.log"
	fi
	for p in "${PKGS[@]}"; do
		pkg_installed "$p" || die "package $p is still not installed after apt-get install"
	done
fi

PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin
PGSHARE=/usr/share/postgresql/$PG_MAJOR
for f in "$PGBIN/postgres" "$PGBIN/initdb" "$PGBIN/psql" "$PGSHARE/postgres.bki" \
	/usr/bin/redis-server /usr/bin/redis-cli /bin/busybox /usr/sbin/gosu \
	/usr/bin/tini-static /usr/sbin/dockerd; do
	[ -e "$f" ] || die "expected $f after installing packages, it is missing"
done
command -v docker >/dev/null || die "no docker client on PATH"

# ------------------------------------------------------------------ dockerd --
DOCKERD_LOG=/var/log/dockerd.log
docker_ok() { timeout 20 docker info >/dev/null 2>&1; }

dockerd_pid() {
	local pid
	pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
	if [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = dockerd ]; then
		echo "$pid"
	fi
}

if ! docker_ok; then
	if [ -n "$(dockerd_pid)" ]; then
		log "dockerd (pid $(dockerd_pid)) is running but not answering yet; waiting"
	else
		log "starting dockerd --bridge=none --iptables=false (log: $DOCKERD_LOG)"
		printf '\n==== %s setup.sh starting dockerd\n' "$(date -Is)" >>"$DOCKERD_LOG"
		# 9>&-: the daemon must not inherit (and so hold) our lock.
		setsid -f dockerd --bridge=none --iptables=false >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&-
	fi
	deadline=$((SECONDS + 60))
	until docker_ok; do
		if [ $SECONDS -ge $deadline ]; then
			tail -n 30 "$DOCKERD_LOG" >&2 || true
			die "dockerd did not answer 'docker info' within 60 s (see $DOCKERD_LOG)"
		fi
		sleep 1
	done
	log "dockerd is up"
fi

API_VERSION="$(timeout 20 docker version --format '{{.Server.APIVersion}}')" ||
	die "'docker version' failed"
SERVER_VERSION="$(timeout 20 docker version --format '{{.Server.Version}}')"
CLIENT_VERSION="$(timeout 20 docker version --format '{{.Client.Version}}')"
if [ "$API_VERSION" != 1.41 ]; then
	log "WARNING: engine API version is $API_VERSION, not 1.41 (Debian 12's docker.io 20.10); the tests were written against 1.41"
fi

# ------------------------------------------------------------------- images --
# Build inputs: this script, the image files, and the versions of the host
# packages the binaries come from. An image whose label differs is rebuilt.
pkgver() { dpkg-query -W -f='${Version}' "$1"; }
INPUTS_COMMON="$(
	{
		sha256sum <"$SELF" # content only: the same script in another checkout is the same input
		for p in busybox-static gosu tini libc6; do echo "$p $(pkgver "$p")"; done
	} | sha256sum | cut -c1-16
)"
LABEL_INPUTS=org.snap-testenv.inputs

BUILD_TMP="$(mktemp -d /var/tmp/snap-testenv-build.XXXXXX)"
cleanup() { rm -rf "$BUILD_TMP"; }
trap cleanup EXIT

# copy_file ROOTFS PATH: copy a host file to the same path in ROOTFS,
# dereferencing symlinks.
copy_file() {
	local root=$1 src=$2
	[ -e "$root$src" ] && return 0
	mkdir -p "$root$(dirname "$src")"
	cp -L --preserve=mode,timestamps "$src" "$root$src"
}

# copy_libs ROOTFS FILE...: copy every library ldd lists for FILE (static
# binaries and non-ELF files have none), including the dynamic loader at the
# path the binary names (/lib64/ld-linux-x86-64.so.2).
copy_libs() {
	local root=$1 f out lib
	shift
	for f in "$@"; do
		out="$(ldd "$f" 2>&1 || true)"
		if grep -q 'not found' <<<"$out"; then
			die "ldd $f: missing libraries on the host:"$'\n'"$(grep 'not found' <<<"$out")"
		fi
		while read -r lib; do
			[ -n "$lib" ] && copy_file "$root" "$lib"
		done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out")
	done
}

# new_rootfs NAME: an empty merged-/usr layout like Debian 12's, with
# busybox as /bin/sh and all its applets, /tmp, and nsswitch.conf.
new_rootfs() {
	local root="$BUILD_TMP/$1" a
	mkdir -p "$root"/usr/{bin,sbin,lib,lib64,local/bin} "$root"/{etc,tmp,root,run,var/tmp,var/lib,home,proc,sys,dev}
	ln -s usr/bin "$root/bin"
	ln -s usr/sbin "$root/sbin"
	ln -s usr/lib "$root/lib"
	ln -s usr/lib64 "$root/lib64"
	ln -s ../run "$root/var/run"
	chmod 1777 "$root/tmp" "$root/var/tmp"
	chmod 700 "$root/root"
	cp /bin/busybox "$root/usr/bin/busybox"
	for a in $(/bin/busybox --list); do
		case "$a" in busybox) continue ;; esac
		[ -e "$root/usr/bin/$a" ] || ln -s busybox "$root/usr/bin/$a"
	done
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
	echo "$root"
}

# finish_rootfs ROOT: ld.so cache for the copied libraries.
finish_rootfs() {
	local root=$1
	cp /etc/ld.so.conf "$root/etc/ld.so.conf"
	if [ -d /etc/ld.so.conf.d ]; then
		cp -r /etc/ld.so.conf.d "$root/etc/"
	fi
	ldconfig -r "$root" 2>/dev/null || die "ldconfig -r $root failed"
}

image_label() {
	timeout 30 docker image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true
}

# need_build IMAGE INPUTS: 0 if IMAGE must be (re)built.
need_build() {
	local cur
	[ "$FORCE" = 1 ] && return 0
	cur="$(image_label "$1" "$LABEL_INPUTS")"
	[ "$cur" != "$2" ]
}

# import_image ROOT IMAGE SMOKE_CMD --change ...: tar ROOT into a one-layer
# image, run SMOKE_CMD (a shell word list) in it, and only then tag it IMAGE,
# so a broken build never looks up to date.
import_image() {
	local root=$1 image=$2 smoke=$3 old new out
	shift 3
	old="$(timeout 30 docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
	new="$(tar --numeric-owner -C "$root" -cf - . |
		timeout 300 docker import --message "built by snap testenv/setup.sh" "$@" -)" ||
		die "docker import of $image failed"
	# shellcheck disable=SC2086 # smoke is a word list
	if ! out="$(timeout 120 docker run --rm --network none "$new" $smoke 2>&1)"; then
		timeout 60 docker image rm "$new" >/dev/null 2>&1 || true
		die "smoke test '$smoke' of the new $image failed: $out"
	fi
	timeout 30 docker tag "$new" "$image" || die "docker tag $new $image failed"
	if [ -n "$old" ] && [ "$old" != "$new" ]; then
		timeout 60 docker image rm "$old" >/dev/null 2>&1 ||
			log "note: previous $image (${old:7:12}) is still used by a container; it is pruned once unused (stack.sh up recreates such containers)"
	fi
	rm -rf "$root"
}

BUILT=()
CACHED=()

# --- snap-test/postgres:15
PG_VERSION="$(pkgver "postgresql-$PG_MAJOR")"
PG_IMAGE=snap-test/postgres:$PG_MAJOR
PG_INPUTS="$(printf '%s\n' "$INPUTS_COMMON" "postgresql-$PG_MAJOR $PG_VERSION" "tzdata $(pkgver tzdata 2>/dev/null || true)" |
	cat - "$HERE/images/postgres/docker-entrypoint.sh" | sha256sum | cut -c1-16)"
if need_build "$PG_IMAGE" "$PG_INPUTS"; then
	log "building $PG_IMAGE (postgresql-$PG_MAJOR $PG_VERSION)"
	root="$(new_rootfs postgres)"
	# Server + client binaries and modules. llvmjit (and its bitcode) would
	# pull in libLLVM (~100 MB); without it JIT is simply unavailable.
	mkdir -p "$root/usr/lib/postgresql"
	cp -a "/usr/lib/postgresql/$PG_MAJOR" "$root/usr/lib/postgresql/"
	rm -rf "$root/usr/lib/postgresql/$PG_MAJOR/lib/bitcode" "$root/usr/lib/postgresql/$PG_MAJOR"/lib/llvmjit*
	mkdir -p "$root/usr/share/postgresql"
	cp -a "$PGSHARE" "$root/usr/share/postgresql/"
	if [ -d /usr/share/zoneinfo ]; then
		cp -a /usr/share/zoneinfo "$root/usr/share/"
	else
		die "/usr/share/zoneinfo missing (package tzdata); postgres needs it for timezones"
	fi
	mapfile -t elfs < <(find "$root/usr/lib/postgresql/$PG_MAJOR" -type f \( -path '*/bin/*' -o -name '*.so' \) | sed "s|^$root||")
	copy_libs "$root" "${elfs[@]}"
	copy_file "$root" /usr/sbin/gosu
	cat >"$root/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/sh
		nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
	EOF
	cat >"$root/etc/group" <<-'EOF'
		root:x:0:
		postgres:x:999:
		nogroup:x:65534:
	EOF
	mkdir -p "$root/var/lib/postgresql/data" "$root/run/postgresql" "$root/docker-entrypoint-initdb.d"
	chown -R 999:999 "$root/var/lib/postgresql" "$root/run/postgresql"
	chmod 700 "$root/var/lib/postgresql/data"
	chmod 2777 "$root/run/postgresql"
	install -m 755 "$HERE/images/postgres/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
	finish_rootfs "$root"
	# sanity check before importing: the server runs from the rootfs
	chroot "$root" "/usr/lib/postgresql/$PG_MAJOR/bin/postgres" --version >/dev/null ||
		die "postgres does not run inside the rootfs (missing library?)"
	import_image "$root" "$PG_IMAGE" "postgres --version" \
		--change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
		--change 'CMD ["postgres"]' \
		--change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/$PG_MAJOR/bin" \
		--change "ENV PG_MAJOR=$PG_MAJOR" \
		--change "ENV PG_VERSION=$PG_VERSION" \
		--change 'ENV PGDATA=/var/lib/postgresql/data' \
		--change 'ENV LANG=C' \
		--change 'VOLUME /var/lib/postgresql/data' \
		--change 'EXPOSE 5432' \
		--change "LABEL $LABEL_INPUTS=$PG_INPUTS" \
		--change "LABEL org.snap-testenv.postgres-version=$PG_VERSION" \
		--change 'LABEL org.snap-testenv.stand-in-for=docker.io/library/postgres:15'
	BUILT+=("$PG_IMAGE")
else
	CACHED+=("$PG_IMAGE")
fi

# --- snap-test/redis:7
REDIS_VERSION="$(pkgver redis-server)"
REDIS_IMAGE=snap-test/redis:7
REDIS_INPUTS="$(printf '%s\n' "$INPUTS_COMMON" "redis-server $REDIS_VERSION" "redis-tools $(pkgver redis-tools)" |
	cat - "$HERE/images/redis/docker-entrypoint.sh" | sha256sum | cut -c1-16)"
if need_build "$REDIS_IMAGE" "$REDIS_INPUTS"; then
	log "building $REDIS_IMAGE (redis-server $REDIS_VERSION)"
	root="$(new_rootfs redis)"
	# Debian: redis-server is a symlink to redis-check-rdb (one binary that
	# picks its mode from argv[0]). Like upstream, make redis-server the file
	# and redis-check-{rdb,aof} symlinks to it.
	cp -L /usr/bin/redis-server "$root/usr/local/bin/redis-server"
	cp -L /usr/bin/redis-cli "$root/usr/local/bin/redis-cli"
	ln -s redis-server "$root/usr/local/bin/redis-check-rdb"
	ln -s redis-server "$root/usr/local/bin/redis-check-aof"
	ln -s redis-server "$root/usr/local/bin/redis-sentinel"
	copy_libs "$root" /usr/bin/redis-server /usr/bin/redis-cli
	copy_file "$root" /usr/sbin/gosu
	cat >"$root/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		redis:x:999:999::/home/redis:/usr/sbin/nologin
		nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
	EOF
	cat >"$root/etc/group" <<-'EOF'
		root:x:0:
		redis:x:999:
		nogroup:x:65534:
	EOF
	mkdir -p "$root/data" "$root/home/redis"
	chown 999:999 "$root/data" "$root/home/redis"
	install -m 755 "$HERE/images/redis/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
	finish_rootfs "$root"
	chroot "$root" /usr/local/bin/redis-server --version >/dev/null ||
		die "redis-server does not run inside the rootfs (missing library?)"
	import_image "$root" "$REDIS_IMAGE" "redis-server --version" \
		--change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
		--change 'CMD ["redis-server"]' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change "ENV REDIS_VERSION=${REDIS_VERSION#*:}" \
		--change 'WORKDIR /data' \
		--change 'VOLUME /data' \
		--change 'EXPOSE 6379' \
		--change "LABEL $LABEL_INPUTS=$REDIS_INPUTS" \
		--change "LABEL org.snap-testenv.redis-version=$REDIS_VERSION" \
		--change 'LABEL org.snap-testenv.stand-in-for=docker.io/library/redis:7'
	BUILT+=("$REDIS_IMAGE")
else
	CACHED+=("$REDIS_IMAGE")
fi

# --- snap-test/n8n:latest
N8N_IMAGE=snap-test/n8n:latest
N8N_INPUTS="$(printf '%s\n' "$INPUTS_COMMON" "sqlite3 $(pkgver sqlite3)" "libsqlite3-0 $(pkgver libsqlite3-0)" |
	cat - "$HERE/images/n8n/docker-entrypoint.sh" "$HERE/images/n8n/n8n" "$HERE/images/n8n/n8n-sqlite" | sha256sum | cut -c1-16)"
if need_build "$N8N_IMAGE" "$N8N_INPUTS"; then
	log "building $N8N_IMAGE (stand-in: busybox + tini)"
	root="$(new_rootfs n8n)"
	cp /usr/bin/tini-static "$root/usr/sbin/tini"
	cat >"$root/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		node:x:1000:1000::/home/node:/bin/sh
		nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
	EOF
	cat >"$root/etc/group" <<-'EOF'
		root:x:0:
		node:x:1000:
		nogroup:x:65534:
	EOF
	mkdir -p "$root/home/node/.n8n"
	chown -R 1000:1000 "$root/home/node"
	install -m 755 "$HERE/images/n8n/docker-entrypoint.sh" "$root/docker-entrypoint.sh"
	install -m 755 "$HERE/images/n8n/n8n" "$root/usr/local/bin/n8n"
	# SQLite stacks (stack.sh --db sqlite): the stand-in writes its
	# database.sqlite with Debian's sqlite3 CLI (the real image has none).
	install -m 755 "$HERE/images/n8n/n8n-sqlite" "$root/usr/local/bin/n8n-sqlite"
	copy_file "$root" /usr/bin/sqlite3
	copy_libs "$root" /usr/bin/sqlite3
	finish_rootfs "$root"
	chroot "$root" /usr/bin/sqlite3 -version >/dev/null ||
		die "sqlite3 does not run inside the rootfs (missing library?)"
	import_image "$root" "$N8N_IMAGE" "--version" \
		--change 'ENTRYPOINT ["tini", "--", "/docker-entrypoint.sh"]' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV NODE_ENV=production' \
		--change 'ENV N8N_VERSION=1.0.0' \
		--change 'ENV N8N_RELEASE_TYPE=stable' \
		--change 'ENV SHELL=/bin/sh' \
		--change 'WORKDIR /home/node' \
		--change 'USER node' \
		--change 'EXPOSE 5678/tcp' \
		--change "LABEL $LABEL_INPUTS=$N8N_INPUTS" \
		--change 'LABEL org.opencontainers.image.title=n8n' \
		--change 'LABEL org.snap-testenv.stand-in-for=docker.n8n.io/n8nio/n8n:latest'
	BUILT+=("$N8N_IMAGE")
else
	CACHED+=("$N8N_IMAGE")
fi

# Old builds (untagged, no longer used by any container).
timeout 120 docker image prune -f --filter "label=$LABEL_INPUTS" >/dev/null || die "docker image prune failed"

sizes=""
for img in "$PG_IMAGE" "$REDIS_IMAGE" "$N8N_IMAGE"; do
	s="$(timeout 30 docker image inspect -f '{{.Size}}' "$img")"
	sizes+=" $img=$((s / 1000000))MB"
done
echo "testenv ready in $((SECONDS - START_TS))s: docker API $API_VERSION (engine $SERVER_VERSION, client $CLIENT_VERSION); built: ${BUILT[*]:-none}; up to date: ${CACHED[*]:-none}; sizes:$sizes"
