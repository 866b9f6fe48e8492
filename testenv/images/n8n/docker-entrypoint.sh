#!/bin/sh
# Entrypoint of snap-test/n8n:latest (built by testenv/setup.sh); run by tini
# as in the real n8n image (ENTRYPOINT ["tini", "--", "/docker-entrypoint.sh"]).
if [ "$#" -gt 0 ]; then
	exec n8n "$@"
fi
exec n8n
