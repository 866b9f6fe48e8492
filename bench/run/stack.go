package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The stack phase: the nightly n8n case. testenv/stack.sh brings up the
// small compose-like stack (PostgreSQL ~14 MB, Redis with 1000 keys, an n8n
// volume of a few MiB, .env) once for the whole bench; each tool then backs
// it up twice (night 1 into an empty repository, night 2 on top).
//
// snap runs `snap backup n8n --project P`. The peers have no stack
// support, so they get what an operator's shell script does, timed as one
// command: pg_dump and the roles to files, Redis BGSAVE (waiting until it
// has finished) and a docker cp of dump.rdb, then ONE backup of those
// files, the n8n volume's directory and the project directory (.env,
// docker-compose.yml).

const stackProject = "snapbench"

type benchStack struct {
	dir    string // project dir: .env, docker-compose.yml
	volume string // host path of the n8n data volume
	redis  string // REDISCLI_AUTH value
}

// peerStackScript is run as: bash -c SCRIPT bench-stack STAGE PROJECT
// TOOL-COMMAND..., with REDISCLI_AUTH in its environment.
const peerStackScript = `set -euo pipefail
stage=$1 project=$2
shift 2
mkdir -p "$stage"
docker exec "$project-postgres-1" pg_dump -U n8n n8n > "$stage/n8n.sql"
docker exec "$project-postgres-1" pg_dumpall -U n8n --roles-only > "$stage/roles.sql"
rcli() { docker exec -e REDISCLI_AUTH "$project-redis-1" redis-cli -p 6386 "$@" | tr -d '\r'; }
# BGSAVE forks before it answers, so rdb_bgsave_in_progress is 1 from
# its reply until the new dump.rdb is in place.
[ "$(rcli BGSAVE)" = "Background saving started" ]
while rcli INFO persistence | grep -q '^rdb_bgsave_in_progress:1'; do sleep 0.02; done
rcli INFO persistence | grep -q '^rdb_last_bgsave_status:ok'
docker cp "$project-redis-1:/data/dump.rdb" "$stage/dump.rdb"
"$@"
`

// startStack runs testenv/setup.sh (dockerd, the images) and brings the
// stack up.
func (b *bench) startStack() (*benchStack, error) {
	st := &benchStack{dir: filepath.Join(b.work, "stack")}
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = b.src
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, tail2(string(out), 15))
		}
		return strings.TrimSpace(string(out)), nil
	}
	fmt.Fprintln(os.Stderr, "stack: testenv/setup.sh and stack.sh up...")
	if _, err := run("bash", "testenv/setup.sh"); err != nil {
		return nil, err
	}
	if _, err := run("bash", "testenv/stack.sh", "up", "--project", stackProject, "--dir", st.dir); err != nil {
		return nil, err
	}
	var err error
	if st.volume, err = run("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", stackProject+"_n8n_data"); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(st.dir, ".env"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "REDIS_PASSWORD="); ok {
			st.redis = strings.Trim(v, `"'`)
		}
	}
	if st.redis == "" {
		return nil, fmt.Errorf("no REDIS_PASSWORD in %s/.env", st.dir)
	}
	return st, sc.Err()
}

func (b *bench) stopStack() {
	cmd := exec.Command("bash", "testenv/stack.sh", "down", "--project", stackProject, "--dir", filepath.Join(b.work, "stack"), "--purge")
	cmd.Dir = b.src
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "stack.sh down: %v\n%s\n", err, out)
	}
}

// stackPhase backs the stack up twice into a fresh repository.
func (s *session) stackPhase() {
	const phase = "stack"
	st := s.b.stack
	if st == nil {
		s.fail("stack-setup", "no stack: "+s.b.stackBroken, "")
		return
	}
	if s.t.backupStack == nil && s.t.backupPaths == nil {
		return
	}
	repo := s.repo(phase)
	removeRepo(repo)
	stage := filepath.Join(s.b.work, fmt.Sprintf("stack-stage-%s-%d", s.t.name, s.run))
	defer os.RemoveAll(stage)
	if !s.b.keep {
		defer removeRepo(repo)
	}
	if !s.initRepo(phase, repo, execOpts{}) {
		return
	}
	for night := 1; night <= 2; night++ {
		var in invocation
		var o execOpts
		if s.t.backupStack != nil {
			in = s.t.backupStack(repo, stackProject)
		} else {
			backup := s.t.backupPaths(repo, night, []string{stage, st.volume, st.dir})
			in = invocation{args: append([]string{"bash", "-c", peerStackScript, "bench-stack", stage, stackProject}, backup.args...), dir: backup.dir}
			o.env = []string{"REDISCLI_AUTH=" + st.redis}
		}
		step, ok := s.exec(fmt.Sprintf("stack-backup-night%d", night), in, o)
		if !ok {
			return
		}
		s.record(phase, []string{"", mBackup1, mBackup2}[night], step)
		n, err := duBytes(repo)
		if err != nil {
			s.fail("stack-du", err.Error(), "")
			return
		}
		s.res.Metrics[key(phase, []string{"", mRepo1, mRepo2}[night])] = float64(n)
	}
}

// tail2 is the last n lines of s.
func tail2(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
