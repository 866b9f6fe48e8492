package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// sender delivers one request with timeouts and retries. Each notifier
// owns one; none of them share state across goroutines except the client,
// which is safe for concurrent use.
type sender struct {
	o      Options
	client *http.Client
	name   string // redacted, for errors
	secret []string
}

func newSender(kind string, u *url.URL, o Options) sender {
	o = o.withDefaults()
	s := sender{o: o, client: &http.Client{}, name: kind + " " + Redact(u.String())}
	// Everything that could give the URL away, longest first, for the
	// scrubbing net in fail.
	s.secret = []string{u.String()}
	if p := u.EscapedPath(); len(p) > 1 {
		s.secret = append(s.secret, p, u.Path)
	}
	if u.RawQuery != "" {
		s.secret = append(s.secret, u.RawQuery)
	}
	if u.User != nil {
		s.secret = append(s.secret, u.User.String())
	}
	return s
}

func (s *sender) String() string { return s.name }

// send makes up to Attempts requests until one gets a 2xx. The returned
// error names the notifier and never the URL.
func (s *sender) send(ctx context.Context, kind, method, target, ctype string, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Deadline)
	defer cancel()
	var err error
	n := 0
	for n < s.o.Attempts {
		if n > 0 {
			wait := s.o.Backoff[min(n-1, len(s.o.Backoff)-1)]
			if serr := s.o.Sleep(ctx, wait); serr != nil {
				return s.fail(kind, n, fmt.Errorf("%w (gave up waiting to retry: %w)", err, serr))
			}
		}
		n++
		var retry bool
		retry, err = s.once(ctx, method, target, ctype, payload)
		if err == nil {
			return nil
		}
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return s.fail(kind, n, err)
}

// once makes one request; retry says whether another could do better.
func (s *sender) once(ctx context.Context, method, target, ctype string, payload []byte) (retry bool, err error) {
	actx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, method, target, bytes.NewReader(payload))
	if err != nil {
		return false, unwrapURLError(err)
	}
	req.Header.Set("User-Agent", "snap/"+s.o.Version)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		err = unwrapURLError(err)
		if actx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %v: %w", s.o.Timeout, err)
		}
		return true, err
	}
	// Drain a little so the connection can be reused by the next attempt;
	// the body itself is never shown (a monitor may echo the URL).
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	c := resp.StatusCode
	return c >= 500 || c == http.StatusRequestTimeout || c == http.StatusTooManyRequests, &StatusError{Code: c}
}

// unwrapURLError drops net/http's *url.Error wrapper, whose message quotes
// the full URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// fail wraps err with the notifier's redacted name. As a second net behind
// unwrapURLError, any piece of the URL left in the text is masked.
func (s *sender) fail(kind string, attempts int, err error) error {
	msg := fmt.Sprintf("%s: %s: %s", s.name, kind, err)
	if attempts > 1 {
		msg = fmt.Sprintf("%s: %s: %d attempts: %s", s.name, kind, attempts, err)
	}
	for _, sec := range s.secret {
		msg = strings.ReplaceAll(msg, sec, "…")
	}
	return &sendError{msg: msg, err: err}
}

// sendError keeps the chain (errors.Is/As reach *StatusError, net errors
// and context errors) while its text stays redacted.
type sendError struct {
	msg string
	err error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.err }
