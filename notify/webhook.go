package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

type webhook struct {
	sender
	url string
}

// payload is the webhook's JSON, documented in the package comment. No
// omitempty: receivers get the same keys every time.
type payload struct {
	Event           string             `json:"event"`
	Profile         string             `json:"profile"`
	Host            string             `json:"host"`
	Time            string             `json:"time"`
	DurationSeconds float64            `json:"duration_seconds"`
	Snapshot        string             `json:"snapshot"`
	Error           string             `json:"error"`
	Log             string             `json:"log"`
	Stats           map[string]float64 `json:"stats"`
	RunID           string             `json:"run_id"`
	Version         string             `json:"version"`
}

// Webhook POSTs each event as JSON to url.
func Webhook(rawURL string, o Options) (Notifier, error) {
	u, err := parseHTTP(rawURL)
	if err != nil {
		return nil, err
	}
	return &webhook{sender: newSender("webhook", u, o), url: u.String()}, nil
}

func (w *webhook) Notify(ctx context.Context, ev Event) error {
	ev, err := w.o.prepare(ev)
	if err != nil {
		return err
	}
	data, err := json.Marshal(payload{
		Event:           ev.Kind,
		Profile:         ev.Profile,
		Host:            ev.Host,
		Time:            ev.Time.UTC().Format(time.RFC3339),
		DurationSeconds: ev.Duration.Seconds(),
		Snapshot:        ev.Snapshot,
		Error:           ev.Error,
		Log:             tail(ev.Log, MaxBody),
		Stats:           finiteStats(ev.Stats),
		RunID:           ev.RunID,
		Version:         w.o.Version,
	})
	if err != nil {
		return w.fail(ev.Kind, 0, err) // cannot happen: every field is encodable
	}
	return w.send(ctx, ev.Kind, http.MethodPost, w.url, "application/json", data)
}
