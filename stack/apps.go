package stack

import (
	"context"
	"fmt"
	"sync"
	"time"

	"snap/sources"
)

// GracefulStopper is a Controller that can bound a graceful stop: SIGTERM,
// up to timeout for running work to finish, then SIGKILL.
type GracefulStopper interface {
	StopTimeout(ctx context.Context, id string, timeout time.Duration) (wasRunning bool, err error)
}

// readyTimeout bounds the wait for a restarted app to answer.
const readyTimeout = 60 * time.Second

// stopApps stops the plan's apps tier by tier (queue workers and webhook
// processors before the main container), those of one tier in parallel so
// that workers drain together. It returns those that were running, in stop
// order, also on error: they must be started again.
// apps comes in stop order (sources.Plan.AppsInStopOrder).
func stopApps(ctx context.Context, c Controller, apps []sources.App, say func(string)) ([]string, error) {
	var stopped []string
	for len(apps) > 0 {
		n := 1
		for n < len(apps) && apps[n].StopTier == apps[0].StopTier {
			n++
		}
		list := apps[:n]
		apps = apps[n:]
		ran := make([]bool, len(list))
		errs := make([]error, len(list))
		took := make([]time.Duration, len(list))
		var wg sync.WaitGroup
		for i, a := range list {
			wg.Go(func() {
				start := time.Now()
				if g, ok := c.(GracefulStopper); ok && a.StopTimeout > 0 {
					ran[i], errs[i] = g.StopTimeout(ctx, a.Container, a.StopTimeout)
				} else {
					ran[i], errs[i] = c.Stop(ctx, a.Container)
				}
				took[i] = time.Since(start)
			})
		}
		wg.Wait()
		var first error
		for i, a := range list {
			if ran[i] {
				stopped = append(stopped, a.Container)
				msg := "stopped " + a.Container + role(a)
				if took[i] >= time.Second {
					msg += fmt.Sprintf(" after %s", took[i].Round(100*time.Millisecond))
				}
				say(msg)
			}
			if errs[i] != nil && first == nil {
				first = fmt.Errorf("stopping %s%s: %w", a.Container, role(a), errs[i])
			}
		}
		if first != nil {
			return stopped, first
		}
	}
	return stopped, nil
}

func role(a sources.App) string {
	if a.Role == "" {
		return ""
	}
	return " (" + a.Role + ")"
}

// appsReady waits for each restarted app that can say whether it answers.
// A failure is reported, not returned: the data is back, undoing it would
// not help an app that does not come up.
func appsReady(ctx context.Context, apps []sources.App, started map[string]bool, say func(string)) {
	for _, a := range apps {
		if a.Ready == nil || !started[a.Container] {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, readyTimeout)
		msg, err := a.Ready(rctx)
		cancel()
		if err != nil {
			say(fmt.Sprintf("warning: %s%s does not answer: %v", a.Container, role(a), err))
			continue
		}
		say(fmt.Sprintf("%s%s answers: %s", a.Container, role(a), msg))
	}
}
