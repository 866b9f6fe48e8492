#!/usr/bin/env bash
# make demo: the main job end to end on a throwaway repository.
# Backs up a dump-like stream and a directory as one snapshot, backs up a
# changed version the next "night", restores both and verifies them.
set -euo pipefail
cd "$(dirname "$0")/.."
SNAP=${SNAP:-./snap}
work=$(mktemp -d /tmp/snap-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
export SNAP_REPO=$work/repo SNAP_CACHE_DIR=$work/cache
export SNAP_PASSWORD=demo-passphrase SNAP_TEST_SCRYPT_WORK_FACTOR=12

gen_dump() { # a small pg_dump-like stream; $1 = rows
	echo "CREATE TABLE workflow (id integer, name text, updated timestamp);"
	echo "COPY workflow (id, name, updated) FROM stdin;"
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "%d\tworkflow-%d\t2026-01-%02d 02:00:00\n", i, i * 7919 % 100003, i % 28 + 1 }'
	echo '\.'
}
mkdir -p "$work/app/data/nested"
for i in $(seq 1 200); do printf 'file %d\n%s\n' "$i" "$(head -c 2000 /dev/urandom | base64)" > "$work/app/data/nested/f$i.txt"; done
printf 'N8N_ENCRYPTION_KEY=demo\n' > "$work/app/.env"; chmod 600 "$work/app/.env"

echo "== snap init"; $SNAP init
echo "== night 1: snap backup (a database dump + the app directory)"
gen_dump 300000 > "$work/dump1.sql"
$SNAP backup --stdin "$work/app" --item db.sql --item app < "$work/dump1.sql"
echo "== night 2: a few rows and one file changed"
gen_dump 301000 | sed '5000s/workflow-/renamed-/' > "$work/dump2.sql"
echo changed >> "$work/app/data/nested/f7.txt"
$SNAP backup --stdin "$work/app" --item db.sql --item app < "$work/dump2.sql"
echo "== snap snapshots"; $SNAP snapshots
echo "== key export --write-only (what a server should hold)"
$SNAP key export --write-only > "$work/host.key"; chmod 600 "$work/host.key"
if $SNAP dump latest db.sql --key-file "$work/host.key" >/dev/null 2>&1; then echo "write-only key decrypted data!"; exit 1; fi
echo "   the write-only key can back up but cannot decrypt: ok"
echo "== restore latest and verify"
$SNAP restore latest --target "$work/restore"
cmp "$work/restore/db.sql" "$work/dump2.sql"
diff -r "$work/app" "$work/restore/app"
[ "$(stat -c %a "$work/restore/app/.env")" = 600 ]
echo "== restore the first night's dump from its id and verify"
first=$($SNAP snapshots --json | sed -n 's/.*"id": "\([0-9a-f]*\)".*/\1/p' | head -1)
$SNAP dump "${first:0:8}" db.sql | cmp - "$work/dump1.sql"
echo "demo OK: both nights restore byte-exact (.env kept at mode 0600)"
