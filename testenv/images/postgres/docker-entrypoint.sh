#!/bin/sh
# Entrypoint of snap-test/postgres:15 (built by testenv/setup.sh).
#
# A small busybox-sh imitation of the official postgres image's entrypoint
# (docker-library/postgres): on first start with an empty $PGDATA it runs
# initdb as the postgres user with POSTGRES_USER / POSTGRES_PASSWORD /
# POSTGRES_DB, then execs postgres as the postgres user (via gosu).
#
# Environment:
#   PGDATA                     data directory (default /var/lib/postgresql/data)
#   POSTGRES_USER              superuser name (default postgres)
#   POSTGRES_PASSWORD          its password (required unless
#                              POSTGRES_HOST_AUTH_METHOD=trust)
#   POSTGRES_DB                database to create (default $POSTGRES_USER)
#   POSTGRES_HOST_AUTH_METHOD  auth for TCP connections (default scram-sha-256);
#                              the unix socket is always "trust", as upstream
#   POSTGRES_INITDB_ARGS       extra initdb arguments (word-split)
#   PGLISTEN                   listen_addresses (default 127.0.0.1; '' = unix
#                              socket only). Written to postgresql.conf at
#                              initdb time and passed as -c on every start when
#                              set explicitly.
#   PGPORT                     port (postgres itself reads it; default 5432)
#
# The temporary server used during initialisation listens on a private socket
# directory only, so `pg_isready` on the default socket succeeds only once the
# final server is up (the official image has a race there; we don't).
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

# `docker run IMAGE -c foo=bar` means `postgres -c foo=bar`.
if [ $# -eq 0 ]; then
	set -- postgres
fi
case "$1" in
-*) set -- postgres "$@" ;;
esac

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres /var/run/postgresql
	chmod 2777 /var/run/postgresql
	find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
	chmod 700 "$PGDATA"
	exec gosu postgres "$0" "$@"
fi

pg_first_start() {
	POSTGRES_USER="${POSTGRES_USER:-postgres}"
	POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
	auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
		echo "docker-entrypoint: error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
		echo "docker-entrypoint: set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)" >&2
		exit 1
	fi

	echo "docker-entrypoint: initialising $PGDATA (user=$POSTGRES_USER db=$POSTGRES_DB)"
	pwfile=
	if [ -n "${POSTGRES_PASSWORD:-}" ]; then
		pwfile="$(mktemp /tmp/pgpw.XXXXXX)"
		printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	fi
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is word-split on purpose, as upstream
	initdb --username="$POSTGRES_USER" ${pwfile:+--pwfile="$pwfile"} \
		--locale=C --encoding=UTF8 \
		--auth-local=trust --auth-host="$auth" \
		${POSTGRES_INITDB_ARGS:-}
	[ -z "$pwfile" ] || rm -f "$pwfile"

	printf '\n# added by docker-entrypoint.sh\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
	printf "\n# added by docker-entrypoint.sh\nlisten_addresses = '%s'\n" "${PGLISTEN-127.0.0.1}" >>"$PGDATA/postgresql.conf"

	sockdir="$(mktemp -d /tmp/pg-init.XXXXXX)"
	pg_ctl -D "$PGDATA" -w -t 120 \
		-o "-c listen_addresses='' -c unix_socket_directories=$sockdir" start

	if [ "$POSTGRES_DB" != postgres ]; then
		psql -v ON_ERROR_STOP=1 --no-psqlrc -h "$sockdir" -U "$POSTGRES_USER" -d postgres \
			--set db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		case "$f" in
		*.sh)
			echo "docker-entrypoint: running $f"
			# shellcheck disable=SC1090
			. "$f"
			;;
		*.sql)
			echo "docker-entrypoint: running $f"
			psql -v ON_ERROR_STOP=1 --no-psqlrc -h "$sockdir" -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$f"
			;;
		*.sql.gz)
			echo "docker-entrypoint: running $f"
			gunzip -c "$f" | psql -v ON_ERROR_STOP=1 --no-psqlrc -h "$sockdir" -U "$POSTGRES_USER" -d "$POSTGRES_DB"
			;;
		*) echo "docker-entrypoint: ignoring $f" ;;
		esac
	done

	pg_ctl -D "$PGDATA" -m fast -w -t 120 stop
	rm -rf "$sockdir"
	echo "docker-entrypoint: PostgreSQL init process complete; ready for start up."
}

# Like upstream: `postgres --version`, `--help`, `-C`, `--describe-config`
# don't initialise anything.
pg_want_help() {
	for arg; do
		case "$arg" in
		-'?' | --help | --describe-config | -V | --version | -C*) return 0 ;;
		esac
	done
	return 1
}

if [ "$1" = postgres ] && ! pg_want_help "$@"; then
	if [ ! -s "$PGDATA/PG_VERSION" ]; then
		pg_first_start
	fi
	if [ -n "${PGLISTEN+x}" ]; then
		shift
		set -- postgres -c "listen_addresses=$PGLISTEN" "$@"
	fi
fi

exec "$@"
