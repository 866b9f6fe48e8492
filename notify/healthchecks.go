package notify

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

type healthchecks struct {
	sender
	base *url.URL
}

// Healthchecks pings a healthchecks.io-style check at url (the check's
// ping URL, https://hc-ping.com/<uuid> or a self-hosted .../ping/<uuid>).
func Healthchecks(rawURL string, o Options) (Notifier, error) {
	u, err := parseHTTP(rawURL)
	if err != nil {
		return nil, err
	}
	// A copied URL may end in "/": keep ".../<uuid>/start", not "//start".
	u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), ""
	return &healthchecks{sender: newSender("healthchecks", u, o), base: u}, nil
}

func (h *healthchecks) Notify(ctx context.Context, ev Event) error {
	ev, err := h.o.prepare(ev)
	if err != nil {
		return err
	}
	return h.send(ctx, ev.Kind, http.MethodPost, h.pingURL(ev), "text/plain; charset=utf-8", []byte(body(ev, MaxBody)))
}

// pingURL is base[/start|/fail][?...&rid=]; the base's own query (a slug
// URL's ?create=1) is kept.
func (h *healthchecks) pingURL(ev Event) string {
	u := *h.base
	switch ev.Kind {
	case KindStart:
		u = *u.JoinPath("start")
	case KindFailure:
		u = *u.JoinPath("fail")
	}
	if ev.RunID != "" {
		q := u.Query()
		q.Set("rid", ev.RunID)
		u.RawQuery = q.Encode()
	}
	return u.String()
}
