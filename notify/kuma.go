package notify

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

type kuma struct {
	sender
	base *url.URL
}

// kumaMsgMax keeps msg short: it travels in the query string and Kuma shows
// it on one line.
const kumaMsgMax = 200

// UptimeKuma pushes to an Uptime Kuma push monitor at url
// (https://kuma.example/api/push/<token>; any ?status=&msg=&ping= copied
// along with it is replaced).
func UptimeKuma(rawURL string, o Options) (Notifier, error) {
	u, err := parseHTTP(rawURL)
	if err != nil {
		return nil, err
	}
	return &kuma{sender: newSender("kuma", u, o), base: u}, nil
}

func (k *kuma) Notify(ctx context.Context, ev Event) error {
	ev, err := k.o.prepare(ev)
	if err != nil {
		return err
	}
	if ev.Kind == KindStart {
		return nil // Kuma has no start signal; a push would mean "up"
	}
	u := *k.base
	q := u.Query()
	q.Set("status", "up")
	if ev.Kind == KindFailure {
		q.Set("status", "down")
	}
	msg := []rune(summary(ev))
	if len(msg) > kumaMsgMax {
		msg = append(msg[:kumaMsgMax-1], '…')
	}
	q.Set("msg", string(msg))
	q.Set("ping", strconv.FormatInt(ev.Duration.Milliseconds(), 10))
	u.RawQuery = q.Encode()
	return k.send(ctx, ev.Kind, http.MethodGet, u.String(), "", nil)
}
