#!/usr/bin/env bash
# testenv/stack.sh — a Docker-Compose-like n8n stack (postgres + redis + n8n)
# made with plain `docker run`, for tests of Docker-based sources.
#
#   testenv/stack.sh up     [options]   create/start the stack and seed data
#   testenv/stack.sh down   [options]   remove its containers and volumes
#   testenv/stack.sh status [options]   list them; exit 0 only if all run
#
# Options:
#   --project NAME      compose project name (default n8n)
#   --dir DIR           project working dir (default /tmp/snap-NAME-stack):
#                       docker-compose.yml and .env (mode 0600) go there
#   --redis-port PORT   redis port (default 6386)
#   --aof               redis with --appendonly yes (appendonlydir)
#   --redis-net MODE    none (default) or host; with host, redis listens on
#                       127.0.0.1:PORT of this machine
#   --purge             with down: also delete the generated
#                       docker-compose.yml and .env
#   --db sqlite         n8n's default deployment instead: one n8n container
#                       on SQLite (~/.n8n/database.sqlite in its volume, no
#                       PostgreSQL, no Redis); default --db postgres
#   --writes            with --db sqlite: n8n writes executions into its
#                       database continuously (N8N_FAKE_WRITES=1)
#   --queue N           queue mode: also N `n8n worker` containers and one
#                       `n8n webhook` (EXECUTIONS_MODE=queue, same postgres
#                       and redis, no data volume, as workers usually run)
#
# Secrets come from the environment (POSTGRES_PASSWORD, REDIS_PASSWORD,
# N8N_ENCRYPTION_KEY) if set, else from an existing DIR/.env, else are random;
# they are written to DIR/.env. Needs testenv/setup.sh to have run.
# Idempotent: `up` again keeps data and recreates only containers whose
# configuration changed (label com.docker.compose.config-hash), like compose.
set -Eeuo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
START_TS=$SECONDS

log() { printf '[stack %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	printf '[stack] ERROR: %s\n' "$*" >&2
	exit 1
}
on_err() {
	local rc=$? i where=""
	for ((i = 0; i < ${#BASH_LINENO[@]} - 1; i++)); do where+=" ${BASH_LINENO[$i]}"; done
	printf '[stack] ERROR: command failed (exit %s) at %s line(s)%s: %s\n' "$rc" "$SELF" "$where" "$BASH_COMMAND" >&2
	exit "$rc"
}
trap on_err ERR

usage() { sed -n '2,32p' "$SELF" | sed 's/^# \{0,1\}//'; }

CMD="${1:-}"
[ $# -gt 0 ] && shift
case "$CMD" in
up | down | status) ;;
-h | --help | help)
	usage
	exit 0
	;;
*)
	usage >&2
	exit 2
	;;
esac

PROJECT=n8n
DIR=
REDIS_PORT=6386
AOF=0
REDIS_NET=none
PURGE=0
DB=postgres
WRITES=0
QUEUE=0
while [ $# -gt 0 ]; do
	case "$1" in
	--project) PROJECT="${2:?--project needs a value}"; shift ;;
	--project=*) PROJECT="${1#*=}" ;;
	--dir) DIR="${2:?--dir needs a value}"; shift ;;
	--dir=*) DIR="${1#*=}" ;;
	--redis-port) REDIS_PORT="${2:?--redis-port needs a value}"; shift ;;
	--redis-port=*) REDIS_PORT="${1#*=}" ;;
	--aof) AOF=1 ;;
	--redis-net) REDIS_NET="${2:?--redis-net needs a value}"; shift ;;
	--redis-net=*) REDIS_NET="${1#*=}" ;;
	--purge) PURGE=1 ;;
	--db) DB="${2:?--db needs a value}"; shift ;;
	--db=*) DB="${1#*=}" ;;
	--writes) WRITES=1 ;;
	--queue) QUEUE="${2:?--queue needs a value}"; shift ;;
	--queue=*) QUEUE="${1#*=}" ;;
	*) die "unknown option: $1 (try --help)" ;;
	esac
	shift
done
[[ "$PROJECT" =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "bad project name '$PROJECT' (compose: lowercase letters, digits, _ and -)"
if ! [[ "$REDIS_PORT" =~ ^[0-9]+$ ]] || [ "$REDIS_PORT" -lt 1 ] || [ "$REDIS_PORT" -gt 65535 ]; then
	die "bad --redis-port '$REDIS_PORT'"
fi
if ! [[ "$QUEUE" =~ ^[0-9]+$ ]] || [ "$QUEUE" -gt 20 ]; then
	die "bad --queue '$QUEUE' (0 to 20 workers)"
fi
[ "$QUEUE" = 0 ] || [ "$DB" = postgres ] || die "--queue needs --db postgres (queue mode runs on PostgreSQL and Redis)"
case "$REDIS_NET" in none | host) ;; *) die "--redis-net must be none or host, not '$REDIS_NET'" ;; esac
case "$DB" in postgres | sqlite) ;; *) die "--db must be postgres or sqlite, not '$DB'" ;; esac
DIR="${DIR:-/tmp/snap-$PROJECT-stack}"
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac

[ "$(id -u)" = 0 ] || die "must run as root (talks to /var/run/docker.sock)"

# Every docker call is bounded in time.
dk() { timeout --kill-after=10 "${SNAP_DOCKER_TIMEOUT:-180}" docker "$@"; }

timeout 20 docker info >/dev/null 2>&1 ||
	die "docker does not answer (docker info failed); run testenv/setup.sh first"

LOCK="/run/lock/snap-testenv-stack-$PROJECT.lock"
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
flock -w 600 9 || die "could not take $LOCK within 600 s"

# ------------------------------------------------------------------ names --
PG_IMAGE=snap-test/postgres:15
REDIS_IMAGE=snap-test/redis:7
N8N_IMAGE=snap-test/n8n:latest
C_PG="$PROJECT-postgres-1"
C_REDIS="$PROJECT-redis-1"
C_N8N="$PROJECT-n8n-1"
V_PG="${PROJECT}_db_storage"
V_REDIS="${PROJECT}_redis_data"
V_N8N="${PROJECT}_n8n_data"
COMPOSE_FILE="$DIR/docker-compose.yml"
ENV_FILE="$DIR/.env"
COMPOSE_VERSION=2.20.2 # what the com.docker.compose.version label claims
L=com.docker.compose

POSTGRES_USER=n8n
POSTGRES_DB=n8n

# ----------------------------------------------------------------- status --
if [ "$CMD" = status ]; then
	echo "project $PROJECT (dir $DIR)"
	dk ps -a --filter "label=$L.project=$PROJECT" \
		--format 'table {{.Names}}\t{{.Label "com.docker.compose.service"}}\t{{.Image}}\t{{.Status}}'
	dk volume ls --filter "label=$L.project=$PROJECT" --format 'table {{.Name}}\t{{.Label "com.docker.compose.volume"}}\t{{.Mountpoint}}'
	running="$(dk ps -q --filter "label=$L.project=$PROJECT" --filter status=running | wc -l)"
	total="$(dk ps -aq --filter "label=$L.project=$PROJECT" | wc -l)"
	want=3
	[ "$DB" = sqlite ] && want=1
	echo "$running of $total containers running"
	if [ "$running" = "$total" ] && [ "$total" -ge "$want" ]; then exit 0; else exit 1; fi
fi

# ------------------------------------------------------------------- down --
if [ "$CMD" = down ]; then
	mapfile -t ids < <(dk ps -aq --filter "label=$L.project=$PROJECT")
	if [ ${#ids[@]} -gt 0 ]; then
		log "removing ${#ids[@]} container(s) of project $PROJECT"
		dk rm -f -v "${ids[@]}" >/dev/null
	fi
	mapfile -t vols < <(dk volume ls -q --filter "label=$L.project=$PROJECT")
	if [ ${#vols[@]} -gt 0 ]; then
		log "removing volume(s): ${vols[*]}"
		dk volume rm "${vols[@]}" >/dev/null
	fi
	left="$(dk ps -aq --filter "label=$L.project=$PROJECT"; dk volume ls -q --filter "label=$L.project=$PROJECT")"
	[ -z "$left" ] || die "left over after down: $left"
	if [ "$PURGE" = 1 ]; then
		rm -f "$COMPOSE_FILE" "$ENV_FILE"
		rmdir "$DIR" 2>/dev/null || true
	fi
	log "project $PROJECT is down"
	exit 0
fi

# --------------------------------------------------------------------- up --
for img in "$PG_IMAGE" "$REDIS_IMAGE" "$N8N_IMAGE"; do
	dk image inspect "$img" >/dev/null 2>&1 || die "image $img is missing; run testenv/setup.sh first"
done

mkdir -p "$DIR"

rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# n8n_credential N prints credential N's data as n8n stores it: encrypted
# as n8n encrypts (CryptoJS AES with a passphrase: OpenSSL's "Salted__"
# envelope, AES-256-CBC, key and IV from EVP_BytesToKey with MD5) with
# N8N_ENCRYPTION_KEY, so that a restore drill can decrypt it.
n8n_credential() {
	command -v openssl >/dev/null || die "openssl is needed to seed n8n credentials (apt-get install openssl)"
	local data
	data="$(printf '{"user":"user%s","password":"%s"}' "$1" "$(rand_hex 12)" |
		openssl enc -aes-256-cbc -md md5 -salt -a -A -pass fd:3 3<<<"$N8N_ENCRYPTION_KEY" 2>/dev/null)"
	[[ "$data" == U2FsdGVkX1* ]] || die "openssl did not make a Salted__ envelope"
	printf '%s' "$data"
}

# existing .env values (parsed, never sourced)
declare -A OLD=()
if [ -f "$ENV_FILE" ]; then
	while IFS= read -r line; do
		case "$line" in
		POSTGRES_PASSWORD=* | REDIS_PASSWORD=* | N8N_ENCRYPTION_KEY=*) OLD["${line%%=*}"]="${line#*=}" ;;
		esac
	done <"$ENV_FILE"
fi
POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-${OLD[POSTGRES_PASSWORD]:-$(rand_hex 12)}}"
REDIS_PASSWORD="${REDIS_PASSWORD:-${OLD[REDIS_PASSWORD]:-$(rand_hex 12)}}"
N8N_ENCRYPTION_KEY="${N8N_ENCRYPTION_KEY:-${OLD[N8N_ENCRYPTION_KEY]:-$(rand_hex 16)}}"
for v in POSTGRES_PASSWORD REDIS_PASSWORD N8N_ENCRYPTION_KEY; do
	[[ "${!v}" =~ ^[A-Za-z0-9._~+/-]+$ ]] || die "$v may only hold [A-Za-z0-9._~+/-] (it goes into a command line and .env)"
done
if [ ! -f "$ENV_FILE" ] && dk volume inspect "$V_PG" >/dev/null 2>&1 && [ -z "${OLD[POSTGRES_PASSWORD]:-}" ]; then
	log "WARNING: volume $V_PG exists but $ENV_FILE does not: the database keeps its old password"
fi

AOF_ARGS=()
[ "$AOF" = 1 ] && AOF_ARGS=(--appendonly yes --appenddirname appendonlydir)

write_file_atomic() { # PATH MODE < content
	local tmp
	tmp="$(mktemp "$1.XXXXXX")"
	cat >"$tmp"
	chmod "$2" "$tmp"
	mv -f "$tmp" "$1"
}

(
	umask 077
	write_file_atomic "$ENV_FILE" 600 <<-EOF
		# generated by testenv/stack.sh for project $PROJECT — test secrets
		COMPOSE_PROJECT_NAME=$PROJECT
		POSTGRES_USER=$POSTGRES_USER
		POSTGRES_PASSWORD=$POSTGRES_PASSWORD
		POSTGRES_DB=$POSTGRES_DB
		REDIS_PORT=$REDIS_PORT
		REDIS_PASSWORD=$REDIS_PASSWORD
		N8N_ENCRYPTION_KEY=$N8N_ENCRYPTION_KEY
	EOF
)

# queue_yaml: the worker and webhook services of --queue N.
queue_yaml() {
	[ "$QUEUE" -gt 0 ] || return 0
	local svc
	for svc in worker webhook; do
		printf '  n8n-%s:\n    image: %s\n    command: %s\n    restart: unless-stopped\n    network_mode: none\n' "$svc" "$N8N_IMAGE" "$svc"
		[ "$svc" = webhook ] || printf '    deploy:\n      replicas: %s\n' "$QUEUE"
		printf '    environment:\n'
		# shellcheck disable=SC2016 # ${...} is for compose, not for us
		printf '      - %s\n' 'N8N_ENCRYPTION_KEY=${N8N_ENCRYPTION_KEY}' DB_TYPE=postgresdb DB_POSTGRESDB_HOST=postgres \
			'DB_POSTGRESDB_DATABASE=${POSTGRES_DB}' 'DB_POSTGRESDB_USER=${POSTGRES_USER}' \
			'DB_POSTGRESDB_PASSWORD=${POSTGRES_PASSWORD}' EXECUTIONS_MODE=queue QUEUE_BULL_REDIS_HOST=redis \
			'QUEUE_BULL_REDIS_PORT=${REDIS_PORT}' 'QUEUE_BULL_REDIS_PASSWORD=${REDIS_PASSWORD}'
	done
	echo
}

aof_yaml=""
[ "$AOF" = 1 ] && aof_yaml=" --appendonly yes --appenddirname appendonlydir"
write_file_atomic "$COMPOSE_FILE" 644 <<EOF
# Generated by testenv/stack.sh: the stack it runs with plain 'docker run'
# (docker compose is not used); kept so that the project looks like a real
# compose project. Secrets are in .env beside this file.
name: $PROJECT

services:
  postgres:
    image: $PG_IMAGE
    restart: unless-stopped
    network_mode: none
    stop_signal: SIGINT
    environment:
      - POSTGRES_USER=\${POSTGRES_USER}
      - POSTGRES_PASSWORD=\${POSTGRES_PASSWORD}
      - POSTGRES_DB=\${POSTGRES_DB}
    volumes:
      - db_storage:/var/lib/postgresql/data
    healthcheck:
      test: ['CMD-SHELL', 'pg_isready -U \${POSTGRES_USER} -d \${POSTGRES_DB}']
      interval: 10s
      timeout: 5s
      retries: 5
      start_period: 30s

  redis:
    image: $REDIS_IMAGE
    restart: unless-stopped
    network_mode: $REDIS_NET
    command: redis-server --port \${REDIS_PORT} --requirepass \${REDIS_PASSWORD} --bind 127.0.0.1$aof_yaml
    volumes:
      - redis_data:/data
    healthcheck:
      test: ['CMD-SHELL', 'redis-cli -p \${REDIS_PORT} ping | grep -qE "PONG|NOAUTH"']
      interval: 10s
      timeout: 5s
      retries: 5

  n8n:
    image: $N8N_IMAGE
    restart: unless-stopped
    network_mode: none
    environment:
      - N8N_ENCRYPTION_KEY=\${N8N_ENCRYPTION_KEY}
      - DB_TYPE=postgresdb
      - DB_POSTGRESDB_HOST=postgres
      - DB_POSTGRESDB_PORT=5432
      - DB_POSTGRESDB_DATABASE=\${POSTGRES_DB}
      - DB_POSTGRESDB_USER=\${POSTGRES_USER}
      - DB_POSTGRESDB_PASSWORD=\${POSTGRES_PASSWORD}
      - EXECUTIONS_MODE=queue
      - QUEUE_BULL_REDIS_HOST=redis
      - QUEUE_BULL_REDIS_PORT=\${REDIS_PORT}
      - QUEUE_BULL_REDIS_PASSWORD=\${REDIS_PASSWORD}
      - GENERIC_TIMEZONE=UTC
    volumes:
      - n8n_data:/home/node/.n8n
    depends_on:
      postgres:
        condition: service_healthy
      redis:
        condition: service_healthy

$(queue_yaml)
volumes:
  db_storage:
  redis_data:
  n8n_data:
EOF

# ensure_volume NAME SHORTNAME
ensure_volume() {
	local name=$1 short=$2 owner
	if dk volume inspect "$name" >/dev/null 2>&1; then
		owner="$(dk volume inspect -f "{{index .Labels \"$L.project\"}}" "$name")"
		[ "$owner" = "$PROJECT" ] ||
			log "WARNING: volume $name already exists but was not created by this project (label $L.project='$owner'); using it"
		return 0
	fi
	dk volume create \
		--label "$L.project=$PROJECT" \
		--label "$L.volume=$short" \
		--label "$L.version=$COMPOSE_VERSION" \
		"$name" >/dev/null
	log "created volume $name"
}

# ensure_container NAME SERVICE DEPENDS_ON -- docker-run-args...
# Secret env values are passed as `-e NAME` (value from our environment, so
# not in any argv) and exported by the caller in a subshell.
ensure_container() {
	local name=$1 service=$2 depends=$3 image='' image_id hash cur proj a prev='' envs=()
	shift 4
	for a in "$@"; do
		case "$a" in snap-test/*) image=$a ;; esac # the image (a command may follow it)
		if [ "$prev" = -e ] && [[ "$a" != *=* ]]; then
			envs+=("$a=${!a}") # value taken from our environment by `docker run -e NAME`
		fi
		prev=$a
	done
	[ -n "$image" ] || die "ensure_container $name: no snap-test/* image in the arguments"
	image_id="$(dk image inspect -f '{{.Id}}' "$image")"
	# config-hash, as compose: changes when the arguments, an env value or the image change
	hash="$(printf '%s\n' "$@" "${envs[@]}" "$image_id" | sha256sum | cut -d' ' -f1)"
	if dk container inspect "$name" >/dev/null 2>&1; then
		proj="$(dk container inspect -f "{{index .Config.Labels \"$L.project\"}}" "$name")"
		[ "$proj" = "$PROJECT" ] ||
			die "container $name exists but is not part of project $PROJECT (label $L.project='$proj'); remove it by hand"
		cur="$(dk container inspect -f "{{index .Config.Labels \"$L.config-hash\"}}" "$name")"
		if [ "$cur" = "$hash" ]; then
			if [ "$(dk container inspect -f '{{.State.Running}}' "$name")" != true ]; then
				log "starting $name"
				dk start "$name" >/dev/null
			else
				log "$name is up to date"
			fi
			return 0
		fi
		log "recreating $name (configuration changed)"
		dk rm -f "$name" >/dev/null
	else
		log "creating $name"
	fi
	dk run -d --name "$name" \
		--label "$L.project=$PROJECT" \
		--label "$L.service=$service" \
		--label "$L.container-number=1" \
		--label "$L.oneoff=False" \
		--label "$L.project.working_dir=$DIR" \
		--label "$L.project.config_files=$COMPOSE_FILE" \
		--label "$L.project.environment_file=$ENV_FILE" \
		--label "$L.config-hash=$hash" \
		--label "$L.depends_on=$depends" \
		--label "$L.image=$image_id" \
		--label "$L.version=$COMPOSE_VERSION" \
		--restart unless-stopped \
		"$@" >/dev/null
}

# wait_for NAME SECONDS WHAT CMD...: poll CMD (every 0.5 s) until it succeeds;
# fail with the container's log if it stops running or time runs out.
wait_for() {
	local name=$1 secs=$2 what=$3 deadline
	shift 3
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$(dk container inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
			dk logs --tail 40 "$name" >&2 || true
			die "$name stopped while waiting for $what (log above)"
		fi
		if [ $SECONDS -ge $deadline ]; then
			dk logs --tail 40 "$name" >&2 || true
			die "$name: $what not reached within ${secs}s (log above)"
		fi
		sleep 0.5
	done
}

# ------------------------------------------------------------- sqlite --
# --db sqlite: n8n's default deployment, one container whose database is
# ~/.n8n/database.sqlite in its volume (created by the stand-in, owned by
# node, 1000:1000, in rollback-journal mode). A block of its own: the
# postgres stack below is unchanged.
if [ "$DB" = sqlite ]; then
	write_file_atomic "$COMPOSE_FILE" 644 <<EOF
# Generated by testenv/stack.sh --db sqlite: n8n on SQLite, run with plain
# 'docker run'. Secrets are in .env beside this file.
name: $PROJECT

services:
  n8n:
    image: $N8N_IMAGE
    restart: unless-stopped
    network_mode: none
    environment:
      - N8N_ENCRYPTION_KEY=\${N8N_ENCRYPTION_KEY}
      - GENERIC_TIMEZONE=UTC
    volumes:
      - n8n_data:/home/node/.n8n

volumes:
  n8n_data:
EOF
	ensure_volume "$V_N8N" n8n_data
	writes=()
	[ "$WRITES" = 1 ] && writes=(-e N8N_FAKE_WRITES=1)
	(
		export N8N_ENCRYPTION_KEY
		ensure_container "$C_N8N" n8n "" -- \
			--network none \
			-e N8N_ENCRYPTION_KEY \
			-e GENERIC_TIMEZONE=UTC \
			"${writes[@]}" \
			-v "$V_N8N:/home/node/.n8n" \
			"$N8N_IMAGE"
	)
	# shellcheck disable=SC2317 # called through wait_for
	n8n_db_ready() { dk exec "$C_N8N" test -s /home/node/.n8n/database.sqlite; }
	wait_for "$C_N8N" 60 "database.sqlite" n8n_db_ready
	# n8n writes its config (the encryption key) on first start.
	(
		export N8N_ENCRYPTION_KEY
		dk exec -i -u 1000:1000 -e N8N_ENCRYPTION_KEY "$C_N8N" sh -eu >/dev/null <<-'SH'
			cd /home/node/.n8n
			if [ ! -e config ]; then
				umask 077
				printf '{\n\t"encryptionKey": "%s"\n}' "$N8N_ENCRYPTION_KEY" >config
			fi
		SH
	)
	# The stand-in seeds credentials_entity with placeholders; make them
	# real envelopes (as n8n encrypts them, see the postgres block below)
	# so a restore drill can decrypt them. Once: only placeholders change.
	sql="BEGIN IMMEDIATE;"
	for i in $(seq 1 20); do
		data="$(n8n_credential "$i")"
		sql+=" UPDATE credentials_entity SET data = '$data' WHERE id = printf('cred%012d', $i) AND length(data) = 106;"
	done
	sql+=" COMMIT;"
	dk exec -i -u 1000:1000 "$C_N8N" sqlite3 -cmd ".timeout 30000" /home/node/.n8n/database.sqlite >/dev/null <<<"$sql"
	dk exec "$C_N8N" touch /tmp/snap-seeded # the stand-in's writes may start
	# Another stack's prune may be running ("a prune operation is already
	# running"): leftovers go with the next one.
	dk image prune -f --filter "label=org.snap-testenv.inputs" >/dev/null 2>&1 || true
	echo "stack $PROJECT (sqlite) up in $((SECONDS - START_TS))s: container $C_N8N$([ "$WRITES" = 1 ] && echo ' (writing)'); volume $V_N8N; dir $DIR (.env, docker-compose.yml)"
	exit 0
fi

ensure_volume "$V_PG" db_storage
ensure_volume "$V_REDIS" redis_data
ensure_volume "$V_N8N" n8n_data

# ---- postgres
(
	export POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DB
	ensure_container "$C_PG" postgres "" -- \
		--network none --stop-signal SIGINT \
		-e POSTGRES_USER -e POSTGRES_PASSWORD -e POSTGRES_DB \
		-v "$V_PG:/var/lib/postgresql/data" \
		--health-cmd "pg_isready -U $POSTGRES_USER -d $POSTGRES_DB" \
		--health-interval 10s --health-timeout 5s --health-retries 5 --health-start-period 30s \
		"$PG_IMAGE"
)

# ---- redis
(
	ensure_container "$C_REDIS" redis "" -- \
		--network "$REDIS_NET" \
		-v "$V_REDIS:/data" \
		--health-cmd "redis-cli -p $REDIS_PORT ping | grep -qE 'PONG|NOAUTH'" \
		--health-interval 10s --health-timeout 5s --health-retries 5 \
		"$REDIS_IMAGE" \
		redis-server --port "$REDIS_PORT" --requirepass "$REDIS_PASSWORD" --bind 127.0.0.1 "${AOF_ARGS[@]}"
)

pg_ready() { dk exec "$C_PG" pg_isready -q -U "$POSTGRES_USER" -d "$POSTGRES_DB"; }
export REDISCLI_AUTH="$REDIS_PASSWORD"
redis_ready() { [ "$(dk exec -e REDISCLI_AUTH "$C_REDIS" redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

wait_for "$C_PG" 120 "pg_isready" pg_ready
log "$C_PG is ready"
wait_for "$C_REDIS" 60 "PONG" redis_ready
log "$C_REDIS is ready"

# ---- n8n (after its dependencies, as depends_on: service_healthy would)
DB_POSTGRESDB_PASSWORD="$POSTGRES_PASSWORD"
QUEUE_BULL_REDIS_PASSWORD="$REDIS_PASSWORD"
(
	export N8N_ENCRYPTION_KEY DB_POSTGRESDB_PASSWORD QUEUE_BULL_REDIS_PASSWORD
	ensure_container "$C_N8N" n8n "postgres:service_healthy:false,redis:service_healthy:false" -- \
		--network none \
		-e N8N_ENCRYPTION_KEY \
		-e DB_TYPE=postgresdb \
		-e DB_POSTGRESDB_HOST=postgres \
		-e DB_POSTGRESDB_PORT=5432 \
		-e DB_POSTGRESDB_DATABASE="$POSTGRES_DB" \
		-e DB_POSTGRESDB_USER="$POSTGRES_USER" \
		-e DB_POSTGRESDB_PASSWORD \
		-e EXECUTIONS_MODE=queue \
		-e QUEUE_BULL_REDIS_HOST=redis \
		-e QUEUE_BULL_REDIS_PORT="$REDIS_PORT" \
		-e QUEUE_BULL_REDIS_PASSWORD \
		-e GENERIC_TIMEZONE=UTC \
		-v "$V_N8N:/home/node/.n8n" \
		"$N8N_IMAGE"
)
n8n_ready() { dk exec "$C_N8N" test -d /home/node/.n8n; }
wait_for "$C_N8N" 60 "a running shell" n8n_ready

# ---- queue mode (--queue N): N `n8n worker` and one `n8n webhook`, the
# same settings as main, no data volume; workers beyond N are removed.
# queue_container SERVICE NUMBER
queue_container() {
	local svc=$1 n=$2
	(
		export N8N_ENCRYPTION_KEY DB_POSTGRESDB_PASSWORD QUEUE_BULL_REDIS_PASSWORD
		ensure_container "$PROJECT-n8n-$svc-$n" "n8n-$svc" "postgres:service_healthy:false,redis:service_healthy:false" -- \
			--network none --label "$L.container-number=$n" \
			-e N8N_ENCRYPTION_KEY \
			-e DB_TYPE=postgresdb \
			-e DB_POSTGRESDB_HOST=postgres \
			-e DB_POSTGRESDB_DATABASE="$POSTGRES_DB" \
			-e DB_POSTGRESDB_USER="$POSTGRES_USER" \
			-e DB_POSTGRESDB_PASSWORD \
			-e EXECUTIONS_MODE=queue \
			-e QUEUE_BULL_REDIS_HOST=redis \
			-e QUEUE_BULL_REDIS_PORT="$REDIS_PORT" \
			-e QUEUE_BULL_REDIS_PASSWORD \
			"$N8N_IMAGE" "$svc"
	)
}
for ((i = 1; i <= QUEUE; i++)); do
	queue_container worker "$i"
done
[ "$QUEUE" = 0 ] || queue_container webhook 1
while read -r name; do
	n="${name##*-}"
	case "$name" in
	"$PROJECT-n8n-worker-"*) [ "$n" -le "$QUEUE" ] && continue ;;
	"$PROJECT-n8n-webhook-"*) [ "$QUEUE" -gt 0 ] && continue ;;
	*) continue ;;
	esac
	log "removing $name (not in --queue $QUEUE)"
	dk rm -f "$name" >/dev/null
done < <(dk ps -a --filter "label=$L.project=$PROJECT" --format '{{.Names}}')

# --------------------------------------------------------------- seed data --
# PostgreSQL: an n8n-like schema. Each table is filled only while empty, so
# `up` again changes nothing. Data is deterministic (md5 of row numbers).
log "seeding PostgreSQL"
dk exec -i -e PGOPTIONS="-c client_min_messages=warning" "$C_PG" psql -q -v ON_ERROR_STOP=1 --no-psqlrc -U "$POSTGRES_USER" -d "$POSTGRES_DB" >/dev/null <<'SQL'
BEGIN;
CREATE TABLE IF NOT EXISTS migrations (
	id serial PRIMARY KEY, "timestamp" bigint NOT NULL, name varchar NOT NULL);
CREATE TABLE IF NOT EXISTS settings (
	key varchar(255) PRIMARY KEY, value text NOT NULL, "loadOnStartup" boolean NOT NULL DEFAULT false);
CREATE TABLE IF NOT EXISTS "user" (
	id uuid PRIMARY KEY, email varchar(255) UNIQUE, "firstName" varchar(32), "lastName" varchar(32),
	password varchar(255), "personalizationAnswers" json, settings json,
	disabled boolean NOT NULL DEFAULT false, "mfaEnabled" boolean NOT NULL DEFAULT false,
	role text NOT NULL DEFAULT 'global:member',
	"createdAt" timestamp(3) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	"updatedAt" timestamp(3) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP(3));
CREATE TABLE IF NOT EXISTS workflow_entity (
	id varchar(36) PRIMARY KEY, name varchar(128) NOT NULL, active boolean NOT NULL,
	nodes json NOT NULL, connections json NOT NULL, settings json, "staticData" json, "pinData" json,
	"versionId" char(36), "triggerCount" integer NOT NULL DEFAULT 0, meta json,
	"createdAt" timestamp(3) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	"updatedAt" timestamp(3) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP(3));
CREATE TABLE IF NOT EXISTS tag_entity (
	id varchar(36) PRIMARY KEY, name varchar(24) NOT NULL UNIQUE,
	"createdAt" timestamp(3) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	"updatedAt" timestamp(3) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP(3));
CREATE TABLE IF NOT EXISTS workflows_tags (
	"workflowId" varchar(36) NOT NULL REFERENCES workflow_entity(id) ON DELETE CASCADE,
	"tagId" varchar(36) NOT NULL REFERENCES tag_entity(id) ON DELETE CASCADE,
	PRIMARY KEY ("workflowId", "tagId"));
CREATE TABLE IF NOT EXISTS credentials_entity (
	id varchar(36) PRIMARY KEY, name varchar(128) NOT NULL, data text NOT NULL, type varchar(128) NOT NULL,
	"isManaged" boolean NOT NULL DEFAULT false,
	"createdAt" timestamp(3) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	"updatedAt" timestamp(3) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP(3));
CREATE TABLE IF NOT EXISTS execution_entity (
	id serial PRIMARY KEY, finished boolean NOT NULL, mode varchar NOT NULL,
	"retryOf" varchar, "retrySuccessId" varchar, status varchar NOT NULL,
	"workflowId" varchar(36) NOT NULL REFERENCES workflow_entity(id) ON DELETE CASCADE,
	"startedAt" timestamp(3) with time zone, "stoppedAt" timestamp(3) with time zone,
	"waitTill" timestamp(3) with time zone, "deletedAt" timestamp(3) with time zone,
	"createdAt" timestamp(3) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP(3));
CREATE INDEX IF NOT EXISTS "IDX_execution_entity_workflowId_id" ON execution_entity ("workflowId", id);
CREATE TABLE IF NOT EXISTS execution_data (
	"executionId" integer PRIMARY KEY REFERENCES execution_entity(id) ON DELETE CASCADE,
	"workflowData" json NOT NULL, data text NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_entity (
	"webhookPath" varchar NOT NULL, method varchar NOT NULL, node varchar NOT NULL,
	"webhookId" varchar, "pathLength" integer,
	"workflowId" varchar(36) NOT NULL REFERENCES workflow_entity(id) ON DELETE CASCADE,
	PRIMARY KEY ("webhookPath", method));

INSERT INTO migrations ("timestamp", name)
SELECT 1587669153312 + i::bigint * 86400000, 'Migration' || i || (1587669153312 + i::bigint * 86400000)
FROM generate_series(1, 120) i WHERE NOT EXISTS (SELECT 1 FROM migrations);

INSERT INTO settings (key, value, "loadOnStartup")
SELECT * FROM (VALUES
	('userManagement.isInstanceOwnerSetUp', 'true', true),
	('userManagement.authenticationMethod', 'email', true),
	('ui.banners.dismissed', '["V1"]', true),
	('features.ldap', '{"loginEnabled":false,"loginLabel":"","connectionUrl":""}', true),
	('features.sourceControl', '{"branchName":"main","connected":false}', true),
	('instanceId', 'c8f2e5b7d1a94f0e8b3c6d2a1f7e9b40', true)) v
WHERE NOT EXISTS (SELECT 1 FROM settings);

INSERT INTO "user" (id, email, "firstName", "lastName", password, role)
SELECT md5('user' || i)::uuid, 'user' || i || '@example.com', 'User' || i, 'Tëst',
	'$2a$10$' || substr(md5('pw' || i) || md5('pw2' || i), 1, 53),
	CASE WHEN i = 1 THEN 'global:owner' ELSE 'global:member' END
FROM generate_series(1, 5) i WHERE NOT EXISTS (SELECT 1 FROM "user");

INSERT INTO workflow_entity (id, name, active, nodes, connections, settings, "staticData", "versionId", "triggerCount", meta)
SELECT substr(md5('wf' || i), 1, 16),
	CASE WHEN i % 10 = 0 THEN 'Café workflow ✓ #' || i ELSE 'Workflow #' || i END,
	i % 3 = 0,
	json_build_array(
		json_build_object('id', md5('n1' || i), 'name', 'Schedule Trigger', 'type', 'n8n-nodes-base.scheduleTrigger',
			'typeVersion', 1.2, 'position', json_build_array(240, 300), 'parameters', json_build_object('rule', json_build_object('interval', json_build_array('{}'::json)))),
		json_build_object('id', md5('n2' || i), 'name', 'HTTP Request', 'type', 'n8n-nodes-base.httpRequest',
			'typeVersion', 4.2, 'position', json_build_array(460, 300),
			'parameters', json_build_object('url', 'http://127.0.0.1:5678/webhook/' || md5('hook' || i)),
			'credentials', json_build_object('httpBasicAuth', json_build_object('id', substr(md5('cred' || (i % 40 + 1)), 1, 16), 'name', 'Credential ' || (i % 40 + 1))))),
	json_build_object('Schedule Trigger', json_build_object('main', json_build_array(json_build_array(json_build_object('node', 'HTTP Request', 'type', 'main', 'index', 0))))),
	'{"executionOrder":"v1"}'::json,
	CASE WHEN i % 5 = 0 THEN json_build_object('node:Schedule Trigger', json_build_object('recurrenceRules', '[]'::json)) END,
	md5('ver' || i)::uuid::text, i % 3, '{"templateCredsSetupCompleted":true}'::json
FROM generate_series(1, 250) i WHERE NOT EXISTS (SELECT 1 FROM workflow_entity);

INSERT INTO tag_entity (id, name)
SELECT substr(md5('tag' || i), 1, 16), 'tag-' || i
FROM generate_series(1, 12) i WHERE NOT EXISTS (SELECT 1 FROM tag_entity);

INSERT INTO workflows_tags ("workflowId", "tagId")
SELECT substr(md5('wf' || i), 1, 16), substr(md5('tag' || (i % 12 + 1)), 1, 16)
FROM generate_series(1, 250) i WHERE NOT EXISTS (SELECT 1 FROM workflows_tags);

INSERT INTO webhook_entity ("webhookPath", method, node, "webhookId", "pathLength", "workflowId")
SELECT md5('hook' || i), 'POST', 'Webhook', md5('hook' || i)::uuid::text, 1, substr(md5('wf' || i), 1, 16)
FROM generate_series(1, 250, 5) i WHERE NOT EXISTS (SELECT 1 FROM webhook_entity);

INSERT INTO execution_entity (finished, mode, status, "workflowId", "startedAt", "stoppedAt")
SELECT i % 17 <> 0, (ARRAY['trigger', 'manual', 'webhook', 'retry'])[i % 4 + 1],
	CASE WHEN i % 17 = 0 THEN 'error' ELSE 'success' END,
	substr(md5('wf' || (i % 250 + 1)), 1, 16),
	timestamptz '2024-01-01 00:00:00+00' + i * interval '97 seconds',
	timestamptz '2024-01-01 00:00:00+00' + i * interval '97 seconds' + (i % 13) * interval '1.5 seconds'
FROM generate_series(1, 5000) i WHERE NOT EXISTS (SELECT 1 FROM execution_entity);

INSERT INTO execution_data ("executionId", "workflowData", data)
SELECT e.id, json_build_object('id', e."workflowId", 'name', 'Workflow', 'nodes', '[]'::json),
	'[{"startData":"1","resultData":"2","executionData":"3"},{},{"runData":"4"},' || repeat('"' || md5('data' || e.id) || '",', 20) || '"end"]'
FROM execution_entity e WHERE NOT EXISTS (SELECT 1 FROM execution_data);

COMMIT;
ANALYZE;
CHECKPOINT;
SQL

# n8n's credentials (n8n_credential), seeded once, like the rest.
if [ "$(dk exec "$C_PG" psql -At --no-psqlrc -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c 'SELECT count(*) FROM credentials_entity')" = 0 ]; then
	log "seeding credentials_entity (encrypted with N8N_ENCRYPTION_KEY)"
	values=""
	for i in $(seq 1 40); do
		data="$(n8n_credential "$i")"
		values+="${values:+,}($i, '$data')"
	done
	dk exec -i "$C_PG" psql -q -v ON_ERROR_STOP=1 --no-psqlrc -U "$POSTGRES_USER" -d "$POSTGRES_DB" >/dev/null <<-SQL
		INSERT INTO credentials_entity (id, name, data, type)
		SELECT substr(md5('cred' || v.i), 1, 16), 'Credential ' || v.i, v.data,
			(ARRAY['httpBasicAuth', 'postgres', 'redis', 'slackApi', 'githubApi'])[v.i % 5 + 1]
		FROM (VALUES $values) v(i, data);
	SQL
fi

# Redis: ~1000 keys of several types (bull queue-like and cache-like), in one
# server-side script; skipped if already seeded. SAVE writes dump.rdb.
log "seeding Redis"
read -r -d '' REDIS_SEED <<'LUA' || true
if redis.call('EXISTS', 'n8n:seeded') == 1 then return 0 end
for i = 1, 500 do
  redis.call('SET', 'n8n:cache:workflow:' .. i, string.rep('w' .. i .. ';', 16))
end
for i = 1, 300 do
  redis.call('HSET', 'bull:jobs:' .. i, 'name', 'job', 'data',
    cjson.encode({executionId = tostring(i), loadStaticData = false}),
    'opts', '{"attempts":1,"removeOnComplete":true}', 'timestamp', tostring(1700000000000 + i),
    'processedOn', tostring(1700000000100 + i), 'finishedOn', tostring(1700000000900 + i),
    'returnvalue', '{"success":true}', 'attemptsMade', '1')
end
for i = 1, 187 do
  local k = 'n8n:events:' .. i
  for j = 1, 10 do redis.call('RPUSH', k, 'event-' .. i .. '-' .. j) end
end
for i = 1, 300 do redis.call('ZADD', 'bull:jobs:completed', 1700000000900 + i, tostring(i)) end
for i = 1, 20 do redis.call('RPUSH', 'bull:jobs:wait', tostring(1000 + i)) end
redis.call('SET', 'bull:jobs:id', '320')
redis.call('HSET', 'bull:jobs:meta', 'opts.maxLenEvents', '10000', 'version', 'bullmq:4.0.0')
for i = 1, 50 do redis.call('SADD', 'n8n:active-workflows', 'wf' .. i) end
for i = 1, 25 do redis.call('XADD', 'bull:jobs:events', '*', 'event', 'completed', 'jobId', tostring(i)) end
for i = 1, 5 do redis.call('SET', 'n8n:session:' .. i, 'token-' .. i, 'EX', 86400) end
redis.call('SET', 'n8n:binary:large', string.rep('0123456789abcdef', 65536))
redis.call('SET', 'n8n:seeded', '1')
return 1
LUA
dk exec -e REDISCLI_AUTH "$C_REDIS" redis-cli -p "$REDIS_PORT" EVAL "$REDIS_SEED" 0 >/dev/null
[ "$(dk exec -e REDISCLI_AUTH "$C_REDIS" redis-cli -p "$REDIS_PORT" SAVE)" = OK ] || die "redis SAVE failed"

# n8n: its user folder as n8n would leave it (files owned by node, 1000:1000).
# Seeded once; `config` is written only if missing (n8n never rewrites it).
log "seeding the n8n volume"
dk exec -i -u 1000:1000 "$C_N8N" sh -eu >/dev/null <<'SH'
cd /home/node/.n8n
if [ ! -e config ]; then
	umask 077
	printf '{\n\t"encryptionKey": "%s"\n}' "$N8N_ENCRYPTION_KEY" >config
	chmod 600 config
	umask 022
fi
if [ ! -e n8nEventLog.log ]; then
	mkdir -p nodes/node_modules/n8n-nodes-example/dist nodes/node_modules/.bin \
		binaryData/meta git ssh
	chmod 700 ssh
	printf '{\n  "name": "installed-nodes",\n  "private": true,\n  "dependencies": {\n    "n8n-nodes-example": "1.2.3"\n  }\n}\n' >nodes/package.json
	printf '{"name":"n8n-nodes-example","version":"1.2.3","n8n":{"nodes":["dist/Example.node.js"]}}\n' \
		>nodes/node_modules/n8n-nodes-example/package.json
	printf '#!/usr/bin/env node\nconsole.log("example")\n' >nodes/node_modules/n8n-nodes-example/dist/cli.js
	chmod 755 nodes/node_modules/n8n-nodes-example/dist/cli.js
	ln -s ../n8n-nodes-example/dist/cli.js nodes/node_modules/.bin/n8n-nodes-example
	i=0
	for wf in 1 2 3 4 5; do
		for ex in 1 2 3 4; do
			i=$((i + 1))
			d="binaryData/workflows/wf$wf/executions/$((wf * 100 + ex))/binary_data"
			mkdir -p "$d"
			head -c $((i * 7919)) /dev/urandom >"$d/$(cat /proc/sys/kernel/random/uuid)"
		done
	done
	head -c 4194304 /dev/urandom >binaryData/workflows/wf1/executions/101/binary_data/large-upload.bin
	printf '{"fileName":"large-upload.bin","mimeType":"application/octet-stream","fileSize":"4194304"}\n' \
		>binaryData/meta/large-upload.bin.json
	for n in $(seq 1 200); do
		printf '{"__type":"$$EventMessageWorkflow","id":"%s","ts":"2024-01-01T00:%02d:00.000+00:00","eventName":"n8n.workflow.success","message":"n8n.workflow.success","payload":{"executionId":"%s","workflowId":"wf%s"}}\n' \
			"$n" $((n % 60)) "$n" $((n % 5 + 1))
	done >n8nEventLog.log
	: >n8nEventLog-1.log
	: >crash.journal
fi
SH

# Old test-image builds that the recreated containers no longer use.
dk image prune -f --filter "label=org.snap-testenv.inputs" >/dev/null

# ---------------------------------------------------------------- summary --
counts="$(dk exec "$C_PG" psql -At --no-psqlrc -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c \
	"SELECT (SELECT count(*) FROM workflow_entity) || ' workflows, ' || (SELECT count(*) FROM execution_entity) || ' executions, ' || pg_size_pretty(pg_database_size(current_database()))")"
keys="$(dk exec -e REDISCLI_AUTH "$C_REDIS" redis-cli -p "$REDIS_PORT" DBSIZE)"
files="$(dk exec "$C_N8N" find /home/node/.n8n | wc -l)"
log "postgres: $counts; redis: $keys keys$([ "$AOF" = 1 ] && echo ' (AOF)'); n8n volume: $files entries"
echo "stack $PROJECT up in $((SECONDS - START_TS))s: containers $C_PG $C_REDIS $C_N8N; volumes $V_PG $V_REDIS $V_N8N; dir $DIR (.env, docker-compose.yml)"
