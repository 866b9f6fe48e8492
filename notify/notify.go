// Package notify tells monitors how snap's nightly runs went: a ping to a
// healthchecks.io-style dead man's switch, a push to Uptime Kuma, or a JSON
// webhook. It imports nothing else from snap.
//
// # Guide
//
// Build the notifiers once per run from the profile's URLs, give the run an
// id, and send one event at the start and one at the end:
//
//	ns := []notify.Notifier{}
//	for _, raw := range profile.Notify {
//		n, err := notify.Parse(raw, notify.Options{Version: version})
//		if err != nil { return err } // a config error: fail early, loudly
//		ns = append(ns, n)
//	}
//	ev := notify.Event{Kind: notify.KindStart, Profile: p, Host: h, RunID: notify.NewRunID()}
//	for _, err := range notify.Send(ctx, ns, ev) { warn(err) }
//	... run ...
//	ev.Kind, ev.Duration, ev.Snapshot = notify.KindSuccess, d, id // or KindFailure + Error
//	ev.Log = lastLines
//	for _, err := range notify.Send(ctx, ns, ev) { warn(err) }
//
// Send never fails a run: a monitor that is down, slow or broken costs at
// most Options.Deadline and comes back as errors to print as warnings.
//
// # URL convention (Parse)
//
// The kind is a prefix on the scheme, so one list of strings in a config
// file can mix kinds and the URL itself stays copy-pasteable:
//
//	hc+https://hc-ping.com/<uuid>             healthchecks.io pinging API
//	healthchecks+https://hc.example/ping/<uuid>   (same, long form)
//	kuma+https://kuma.example/api/push/<token>    Uptime Kuma push monitor
//	webhook+https://example.com/hooks/<token>     JSON webhook
//
// Only http and https are accepted underneath the prefix.
//
// # What each kind sends
//
// Healthchecks (https://healthchecks.io/docs/http_api/): start is
// POST <url>/start, success POST <url>, failure POST <url>/fail, all with
// ?rid=<Event.RunID> when set so the monitor pairs start and end even if two
// runs overlap. Existing query parameters (a slug URL's ?create=1) are kept.
// The end events carry a text/plain body: the tail of Event.Log plus a
// summary line (and the error), at most MaxBody bytes; self-hosted
// healthchecks keeps only the first 10 kB of a body, so the tail is cut here
// where it is chosen what survives.
//
// Uptime Kuma push monitors do not speak that protocol (/start and /fail
// would 404): success is GET <url>?status=up&msg=...&ping=<run ms>, failure
// status=down; start sends nothing, because a push marks the monitor up.
//
// Webhook: POST application/json of
//
//	{"event": "start"|"success"|"failure", "profile": "", "host": "",
//	 "time": "RFC 3339, UTC", "duration_seconds": 0, "snapshot": "",
//	 "error": "", "log": "tail, at most MaxBody bytes", "stats": {"name": 0},
//	 "run_id": "", "version": ""}
//
// Every key is always present. Stats that are NaN or ±Inf are dropped (JSON
// cannot carry them).
//
// # Delivery
//
// Every request carries User-Agent: snap/<Options.Version>. Each attempt has
// Options.Timeout (10 s); up to Options.Attempts (3) attempts with
// Options.Backoff (1 s, 2 s) between them, all within Options.Deadline
// (30 s). Network errors, timeouts, 5xx, 408 and 429 are retried; other 4xx
// are not (a wrong UUID or token will not get better). A non-2xx answer is a
// *StatusError.
//
// # Secrets
//
// Ping and webhook URLs are credentials. No error and no String() from this
// package contains more of a URL than scheme://host/… (see Redact).
package notify

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Event kinds.
const (
	KindStart   = "start"
	KindSuccess = "success"
	KindFailure = "failure"
)

// MaxBody caps the log text sent with an event: the tail is kept, since the
// end of a log is where a failure explains itself.
const MaxBody = 10000

var (
	// ErrInvalidURL: the URL cannot be used (bad kind prefix, not
	// http/https, no host). A configuration error, worth failing on.
	ErrInvalidURL = errors.New("notify: invalid URL")
	// ErrInvalidEvent: the caller built an Event this package cannot send
	// (unknown Kind, RunID not from NewRunID). Nothing was sent.
	ErrInvalidEvent = errors.New("notify: invalid event")
)

// StatusError is a monitor's non-2xx answer (after retries, if retried).
type StatusError struct {
	Code int
}

func (e *StatusError) Error() string {
	return "HTTP " + strconv.Itoa(e.Code)
}

// Event is one thing that happened to a run.
type Event struct {
	Kind     string // KindStart, KindSuccess or KindFailure
	Profile  string
	Host     string
	Time     time.Time // zero: Options.Now()
	Duration time.Duration
	Snapshot string // id of the snapshot the run made, if any
	Error    string // why the run failed
	Log      string // the run's log; only its tail is sent
	Stats    map[string]float64
	// RunID pairs a run's start and end at the monitor; NewRunID makes
	// one. Empty: no pairing beyond "the last start".
	RunID string
}

// Notifier sends events to one monitor. String names it without secrets.
type Notifier interface {
	Notify(ctx context.Context, ev Event) error
	String() string
}

// Options tune delivery. The zero value gives the documented defaults.
type Options struct {
	Version  string          // User-Agent: snap/<Version>; "dev" when empty
	Timeout  time.Duration   // per attempt; default 10 s
	Attempts int             // default 3
	Backoff  []time.Duration // wait before attempt 2, 3, ...; the last repeats; default 1 s, 2 s
	Deadline time.Duration   // whole Notify, retries included; default 30 s
	// Sleep waits d or until ctx is done (then it returns ctx.Err()). Tests
	// replace it so retries take no real time.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now fills a zero Event.Time.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if len(o.Backoff) == 0 {
		o.Backoff = []time.Duration{time.Second, 2 * time.Second}
	}
	if o.Deadline <= 0 {
		o.Deadline = 30 * time.Second
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Parse builds a notifier from a prefixed URL (see the package comment).
func Parse(raw string, o Options) (Notifier, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	kind, inner, plus := strings.Cut(scheme, "+")
	if !ok || !plus {
		return nil, fmt.Errorf("%w %s: start it with hc+, kuma+ or webhook+ (e.g. hc+https://...)", ErrInvalidURL, Redact(raw))
	}
	u := inner + "://" + rest
	switch strings.ToLower(kind) {
	case "hc", "healthchecks":
		return Healthchecks(u, o)
	case "kuma", "uptimekuma":
		return UptimeKuma(u, o)
	case "webhook":
		return Webhook(u, o)
	}
	return nil, fmt.Errorf("%w %s: unknown kind %q (want hc, kuma or webhook)", ErrInvalidURL, Redact(raw), kind)
}

// parseHTTP validates a monitor URL. url.Parse's own errors quote the whole
// URL, so only their inner reason is kept.
func parseHTTP(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w %s: %v", ErrInvalidURL, Redact(raw), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w %s: scheme must be http or https", ErrInvalidURL, Redact(raw))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w %s: no host", ErrInvalidURL, Redact(raw))
	}
	return u, nil
}

// Redact shortens a URL to scheme://host/… so it can be printed: the path,
// query and user info of a ping or webhook URL are its credentials.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(URL hidden)"
	}
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		s += "/…"
	}
	return s
}

var runIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// NewRunID returns a random (version 4) UUID, the form healthchecks
// requires for rid.
func NewRunID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand docs)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// prepare checks an event and fills defaults.
func (o Options) prepare(ev Event) (Event, error) {
	switch ev.Kind {
	case KindStart, KindSuccess, KindFailure:
	default:
		return ev, fmt.Errorf("%w: kind %q", ErrInvalidEvent, ev.Kind)
	}
	if ev.RunID != "" && !runIDPattern.MatchString(ev.RunID) {
		return ev, fmt.Errorf("%w: run id %q is not a lowercase UUID (use NewRunID)", ErrInvalidEvent, ev.RunID)
	}
	if ev.Time.IsZero() {
		ev.Time = o.Now()
	}
	return ev, nil
}

// Send notifies all of ns in parallel and returns their errors (nil ones
// left out), each naming its notifier. It never panics, even on a nil or
// panicking Notifier, and returns when all are done or ctx is.
func Send(ctx context.Context, ns []Notifier, ev Event) []error {
	type result struct {
		i   int
		err error
	}
	ch := make(chan result, len(ns)) // buffered: late senders never block
	errs := make([]error, len(ns))
	pending := 0
	for i, n := range ns {
		if n == nil {
			errs[i] = errors.New("notify: nil notifier")
			continue
		}
		pending++
		go func() {
			defer func() {
				if p := recover(); p != nil {
					ch <- result{i, fmt.Errorf("notify: notifier %d panicked: %v", i, p)}
				}
			}()
			ch <- result{i, n.Notify(ctx, ev)}
		}()
	}
	done := make([]bool, len(ns))
wait:
	for ; pending > 0; pending-- {
		select {
		case r := <-ch:
			errs[r.i], done[r.i] = r.err, true
		case <-ctx.Done():
			break wait
		}
	}
	var out []error
	for i, err := range errs {
		if ns[i] != nil && !done[i] && err == nil {
			err = fmt.Errorf("notify: notifier %d did not finish: %w", i, context.Cause(ctx))
		}
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// body is the text sent to text monitors: the log's tail and a summary
// line, cut to max bytes from the end.
func body(ev Event, max int) string {
	if ev.Kind == KindStart {
		return ""
	}
	log := strings.TrimRight(ev.Log, "\n")
	if log != "" {
		log += "\n"
	}
	return tail(log+summary(ev)+"\n", max)
}

// summary is one line: "snap n8n: failure after 1m2s: error ...".
func summary(ev Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "snap %s: %s after %s", ev.Profile, ev.Kind, ev.Duration.Round(time.Second))
	if ev.Snapshot != "" {
		fmt.Fprintf(&b, ", snapshot %s", ev.Snapshot)
	}
	if s := statsText(ev.Stats); s != "" {
		b.WriteString(", " + s)
	}
	if ev.Error != "" {
		b.WriteString(": " + ev.Error)
	}
	return b.String()
}

func statsText(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.FormatFloat(m[k], 'g', -1, 64))
	}
	return strings.Join(parts, " ")
}

// finiteStats drops NaN and ±Inf, which encoding/json refuses.
func finiteStats(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[k] = v
		}
	}
	return out
}

const truncated = "[snap: earlier output cut]\n"

// tail keeps the last max bytes of s, starting on a line boundary when one
// is near and always on a rune boundary (healthchecks stores a body only if
// it is valid UTF-8).
func tail(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	keep := max - len(truncated)
	if keep <= 0 {
		return ""
	}
	cut := len(s) - keep
	if i := strings.IndexByte(s[cut:], '\n'); i >= 0 && i < keep/2 {
		cut += i + 1
	}
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return truncated + s[cut:]
}
