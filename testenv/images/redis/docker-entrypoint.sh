#!/bin/sh
# Entrypoint of snap-test/redis:7 (built by testenv/setup.sh).
# Mirrors the official redis image's entrypoint: `docker run IMAGE --port 1`
# means `redis-server --port 1`; redis-server is run as the redis user (uid 999)
# after files in the working directory (/data) are chowned to it.
set -eu

if [ $# -eq 0 ]; then
	set -- redis-server
fi
case "$1" in
-* | *.conf) set -- redis-server "$@" ;;
esac

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec gosu redis "$0" "$@"
fi

# Like upstream: a stricter umask unless one was set explicitly, so dump.rdb
# and the AOF files come out 0600.
if [ "$(umask)" = 0022 ]; then
	umask 0077
fi

exec "$@"
