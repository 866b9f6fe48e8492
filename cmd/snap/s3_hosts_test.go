package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"snap/internal/testgw"
)

// TestS3TwoHostsAndPrune: two hosts (separate processes, host names and
// caches) back up into one bucket at the same time while a third process
// runs forget --keep-last 1 --prune over and over. The hosts' data shares
// most of its chunks, and round i of a host repeats the own part of its
// round i-2, whose snapshot the pruner forgets while round i runs: a
// prune that deleted what a running backup deduplicated against would
// break a snapshot. Afterwards every snapshot left restores
// byte-exact and check --read-data finds nothing.
func TestS3TwoHostsAndPrune(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes for a while; the full test run covers it")
	}
	gw := testgw.Start(t)
	gw.SetEnv(t)
	bin := snapBinary(t)
	e := newEnv(t)
	e.vars["SNAP_REPO"] = gw.URL(testgw.Bucket() + "/fleet")
	e.ok(nil, "init")

	shared := randData(20, 2<<20)
	own := func(host string, i int) []byte {
		if i < 0 {
			return nil
		}
		return randData(uint64(100+10*int(host[len(host)-1])+i), 256<<10)
	}
	data := func(host string, i int) []byte {
		return bytes.Join([][]byte{shared, own(host, i-2), own(host, i)}, nil)
	}
	const rounds = 4
	hosts := []string{"web1", "web2"}
	envFor := func(name string) []string {
		env := e.environ()
		return append(env, "SNAP_CACHE_DIR="+filepath.Join(e.dir, "cache-"+name))
	}
	output := func(name string, stdin []byte, args ...string) ([]byte, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = envFor(name)
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s: snap %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
		}
		return out, nil
	}
	run := func(name string, stdin []byte, args ...string) error {
		_, err := output(name, stdin, args...)
		return err
	}

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	done := make(chan struct{})
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				out, err := output(h, data(h, i), "backup", "--stdin", "--item", "db.sql", "--host", h, "--tag", fmt.Sprintf("round%d", i), "--json")
				var sum backupSummary
				if err == nil {
					err = json.Unmarshal(out, &sum)
				}
				if err != nil {
					errs <- err
					return
				}
				// The newest snapshot of its host: the pruner keeps it
				// until this host's next round, so it must restore now.
				got, err := output(h, nil, "dump", sum.Snapshot, "db.sql")
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, data(h, i)) {
					errs <- fmt.Errorf("%s round %d: snapshot %s does not restore byte-exact while prunes run", h, i, sum.Snapshot)
				}
			}
		}()
	}
	prunes := 0
	var pw sync.WaitGroup
	pw.Add(1)
	go func() {
		defer pw.Done()
		// At least two prunes, and on until both hosts are done.
		for {
			if err := run("pruner", nil, "forget", "--keep-last", "1", "--prune"); err != nil {
				errs <- err
				return
			}
			prunes++
			select {
			case <-done:
				if prunes >= 2 {
					return
				}
			default:
			}
		}
	}()
	wg.Wait()
	close(done)
	pw.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if err := run("pruner", nil, "forget", "--keep-last", "1", "--prune"); err != nil {
		t.Fatal(err)
	}
	snaps := e.snapshots()
	if len(snaps) != len(hosts) {
		t.Fatalf("%d snapshots left, want %d (keep-last 1 per host)", len(snaps), len(hosts))
	}
	for _, s := range snaps {
		var round int
		if len(s.Tags) != 1 || func() bool { _, err := fmt.Sscanf(s.Tags[0], "round%d", &round); return err != nil }() {
			t.Fatalf("snapshot %s tags %v", s.ID, s.Tags)
		}
		if round != rounds-1 {
			t.Errorf("snapshot of %s round %d kept; keep-last 1 keeps round %d", s.Host, round, rounds-1)
		}
		if got := e.ok(nil, "dump", s.ID, "db.sql").stdout; got != string(data(s.Host, round)) {
			t.Errorf("snapshot %s (%s round %d) does not restore byte-exact", s.ID, s.Host, round)
		}
	}
	if out := e.ok(nil, "check", "--read-data").stdout; !strings.Contains(out, "no problems found") {
		t.Fatalf("check: %s", out)
	}
	t.Logf("%d backups on each of %d hosts, %d concurrent forget --prune runs: every snapshot restores", rounds, len(hosts), prunes)
}
