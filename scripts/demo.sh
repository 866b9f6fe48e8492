#!/usr/bin/env bash
# make demo: the main job end to end. Sets up a demo n8n stack (PostgreSQL,
# Redis on 6386 with a password, the n8n volume, .env) with Docker, backs it
# up with 'snap backup n8n' and 'snap run n8n' using a write-only key (as
# the nightly job would), syncs an offsite copy, breaks the stack, restores it with the full key, checks that the data is
# back, runs the restore drill, and tears the stack down.
set -euo pipefail
cd "$(dirname "$0")/.."
SNAP=${SNAP:-$PWD/snap}
work=$(mktemp -d /tmp/snap-demo.XXXXXX)
stackdir=$work/n8n-stack
cleanup() {
	bash testenv/stack.sh down --project n8n --dir "$stackdir" --purge >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
export SNAP_REPO=$work/repo SNAP_CACHE_DIR=$work/cache
step() { printf '\n== %s\n' "$*"; }

step "setting up Docker and the demo n8n stack (testenv/)"
bash testenv/setup.sh
bash testenv/stack.sh up --project n8n --dir "$stackdir"
# Port and password are not given to snap: it finds them in the stack.
pw=$(sed -n 's/^REDIS_PASSWORD=//p' "$stackdir/.env")
psql() { docker exec n8n-postgres-1 psql -X -q -At -U n8n -d n8n -c "$1"; }
rcli() { docker exec -e REDISCLI_AUTH="$pw" n8n-redis-1 redis-cli -p 6386 "$@"; }
fingerprint() {
	echo "workflows $(psql "select count(*) || ' ' || md5(string_agg(w::text, ',' order by w::text)) from workflow_entity w")"
	echo "executions $(psql 'select count(*) from execution_entity')"
	echo "redis keys $(rcli dbsize)"
	echo "volume $(docker exec n8n-n8n-1 sh -c 'cd /home/node/.n8n && find . | sort | xargs ls -ldn --time-style=+%s 2>/dev/null | awk "{print \$1,\$3,\$4,\$5,\$7}" | md5sum')"
	echo ".env $(stat -c %a "$stackdir/.env") $(md5sum < "$stackdir/.env")"
}

step "snap init: the full key goes in a 0600 file that stays offline"
"$SNAP" init --key-file "$work/full.key"
"$SNAP" key export --write-only --key-file "$work/full.key" --output "$work/host.key"

step "snap backup n8n --dry-run (what the nightly job will take)"
"$SNAP" backup n8n --dry-run --key-file "$work/host.key"
step "night 1: snap backup n8n, with the write-only key"
"$SNAP" backup n8n --key-file "$work/host.key"
rcli set demo:night2 "one more key" >/dev/null
step "night 2, as the scheduled job runs it: snap run n8n (backup, check, forget, prune, sync offsite)"
mkdir "$work/offsite"
cat > "$work/snap.yaml" <<YAML
repository: $SNAP_REPO
key_file: $work/host.key
profiles:
  n8n:
    preset: n8n
    retention: {keep_daily: 7, keep_last: 2}
    prune: {every_days: 7}
    sync: [$work/offsite]
YAML
SNAP_CONFIG="$work/snap.yaml" "$SNAP" config check
SNAP_CONFIG="$work/snap.yaml" "$SNAP" run n8n
"$SNAP" snapshots --key-file "$work/host.key"
step "the offsite copy: checked with no key at all"
"$SNAP" check --keyless --read-data --repo "$work/offsite"
if "$SNAP" dump latest postgres --key-file "$work/host.key" >/dev/null 2>&1; then
	echo "the write-only key decrypted data!" >&2; exit 1
fi
echo "(the write-only key cannot read any of it back: good)"
fingerprint > "$work/before"

step "2 AM: something broke (table dropped, redis flushed, volume and .env damaged)"
psql 'drop table execution_entity cascade'
rcli flushall >/dev/null
docker exec n8n-n8n-1 sh -c 'rm -rf /home/node/.n8n/binaryData; echo junk > /home/node/.n8n/config'
rm "$stackdir/.env"

step "snap restore latest --yes (with the full key)"
"$SNAP" restore latest --yes --key-file "$work/full.key"
fingerprint > "$work/after"
diff "$work/before" "$work/after"
echo "database, redis, volume (owners and modes) and .env are back as they were"

step "snap verify --restore: the nightly restore drill"
"$SNAP" verify --restore --key-file "$work/full.key"
echo
echo "demo OK"
