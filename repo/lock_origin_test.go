package repo

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// TestLockStaleAcrossPIDNamespaces: a dead pid makes a lock stale only when
// the lock was written in the caller's PID namespace of the same boot; two
// containers sharing a host name fall back to the refresh age.
func TestLockStaleAcrossPIDNamespaces(t *testing.T) {
	me := localOrigin()
	if me.BootID == "" || me.PIDNS == "" {
		if runtime.GOOS == "linux" {
			t.Fatalf("Linux has /proc/sys/kernel/random/boot_id and /proc/self/ns/pid, but localOrigin found %+v", me)
		}
		t.Skip("no /proc boot id or pid namespace on " + runtime.GOOS + ": only refresh age can be tested")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid // exited and reaped: kill(dead, 0) is ESRCH
	now := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	fresh := now.Add(-time.Minute)
	lock := func(host, boot, ns string, pid int, at time.Time) *LockInfo {
		return &LockInfo{Host: host, BootID: boot, PIDNS: ns, PID: pid, Time: at}
	}
	for _, c := range []struct {
		name  string
		l     *LockInfo
		stale bool
	}{
		{"dead pid, same namespace and boot", lock(me.Host, me.BootID, me.PIDNS, dead, fresh), true},
		{"live pid, same namespace and boot", lock(me.Host, me.BootID, me.PIDNS, os.Getpid(), fresh), false},
		{"dead pid in another container with the same host name", lock(me.Host, me.BootID, "pid:[1]", dead, fresh), false},
		{"dead pid before a reboot", lock(me.Host, "another-boot", me.PIDNS, dead, fresh), false},
		{"lock from before boot ids were recorded", lock(me.Host, "", "", dead, fresh), false},
		{"another host", lock("elsewhere", me.BootID, me.PIDNS, dead, fresh), false},
		{"not refreshed for long, anywhere", lock("elsewhere", "", "", os.Getpid(), now.Add(-lockStale-time.Second)), true},
	} {
		if got := c.l.Stale(now, me); got != c.stale {
			t.Errorf("%s: stale = %v, want %v", c.name, got, c.stale)
		}
	}
}
