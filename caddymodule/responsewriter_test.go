package caddymodule

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// flushRecorder records when headers were committed and flushes reached
// the client side.
type flushRecorder struct {
	*httptest.ResponseRecorder
	flushes       int
	headerAtFlush []bool
	deadlines     int
}

// SetWriteDeadline lets tests see a ResponseController reach the recorder.
func (f *flushRecorder) SetWriteDeadline(time.Time) error {
	f.deadlines++
	return nil
}

func (f *flushRecorder) Flush() {
	f.flushes++
	f.headerAtFlush = append(f.headerAtFlush, f.ResponseRecorder.Code != 0)
	f.ResponseRecorder.Flush()
}

// serve runs h with next for user ("" = anonymous) and returns what the
// client saw.
func serve(t *testing.T, h *Intercom, user string, next caddyhttp.HandlerFunc) (*flushRecorder, error) {
	t.Helper()
	repl := caddy.NewReplacer()
	if user != "" {
		repl.Set("http.auth.user.id", user)
	}
	req := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
	req.Header.Set("Accept-Encoding", "gzip, br")
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	return rec, h.ServeHTTP(rec, req, next)
}

func newTestHandler(t *testing.T) (*Intercom, *observer.ObservedLogs) {
	t.Helper()
	h := &Intercom{AppID: testAppID, Secret: testSecret, UserID: "{http.auth.user.id}"}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	h.logger = zap.New(core)
	return h, logs
}

const headPart = "<!doctype html><html><head><title>t</title>"

func TestWriterHoldsFlushesUntilInjectionPoint(t *testing.T) {
	h, _ := newTestHandler(t)
	rec, err := serve(t, h, "alice", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, headPart)
		// reverse_proxy flushes chunked bodies as they arrive: this must not
		// commit the headers while the injection point is still ahead.
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush before the injection point: %v", err)
		}
		io.WriteString(w, "</head><body>")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush after the injection point: %v", err)
		}
		io.WriteString(w, "hi</body></html>")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.flushes != 1 || !rec.headerAtFlush[0] {
		t.Errorf("flushes reaching the client: %d (headers committed: %v), want exactly the one after injection", rec.flushes, rec.headerAtFlush)
	}
	if got := rec.Body.String(); !strings.HasPrefix(got, headPart+"<script>") || !strings.HasSuffix(got, "</script></head><body>hi</body></html>") {
		t.Errorf("body: %s", got)
	}
	if rec.Header().Get("Cache-Control") != "private, no-store" {
		t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
	}
}

func TestWriterReadFromGoesThroughRewriter(t *testing.T) {
	h, _ := newTestHandler(t)
	page := headPart + "</head><body>x</body></html>"
	rec, err := serve(t, h, "alice", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/html")
		_, err := w.(io.ReaderFrom).ReadFrom(strings.NewReader(page))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	assertUser(t, rec.Body.String(), "alice")
}

func TestWriterUnwrapsForResponseController(t *testing.T) {
	h, _ := newTestHandler(t)
	rec, err := serve(t, h, "alice", func(w http.ResponseWriter, r *http.Request) error {
		// reverse_proxy and file_server set deadlines through a controller;
		// it must reach the real writer through our wrapper's Unwrap.
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
			t.Errorf("SetWriteDeadline through the wrapper: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.deadlines != 1 {
		t.Errorf("deadline reached the client writer %d times, want 1", rec.deadlines)
	}
}

func TestWriterPassesUpstreamErrorsOn(t *testing.T) {
	h, _ := newTestHandler(t)
	upstreamErr := caddyhttp.Error(http.StatusBadGateway, errors.New("dial tcp: connection refused"))
	rec, err := serve(t, h, "alice", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, headPart) // held: before the injection point
		return upstreamErr
	})
	if !errors.Is(err, upstreamErr) {
		t.Fatalf("error %v, want the upstream's", err)
	}
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.ResponseRecorder.Flushed {
		// httptest's default Code is 200; what matters is nothing written.
		t.Errorf("something was written before the error: %d %q", rec.Code, rec.Body.String())
	}
	if len(rec.Header().Values("Cache-Control")) != 0 {
		t.Errorf("headers of an unsent page were changed")
	}
}

func TestSigningFailureServesPageUntouched(t *testing.T) {
	h, logs := newTestHandler(t)
	before := responsesCount(t, "error")
	page := headPart + "</head><body>x</body></html>"
	// A user id that is not valid UTF-8 cannot be signed faithfully.
	rec, err := serve(t, h, "al\xffice", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("ETag", `"v1"`)
		io.WriteString(w, page)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusOK || rec.Body.String() != page || rec.Header().Get("ETag") != `"v1"` {
		t.Errorf("page not served untouched: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	if got := responsesCount(t, "error") - before; got != 1 {
		t.Errorf("error outcome counted %v times", got)
	}
	entries := logs.FilterMessage("page served untouched").All()
	if len(entries) != 1 {
		t.Fatalf("want one error log, got %d", len(entries))
	}
	if strings.Contains(entries[0].ContextMap()["error"].(string), testSecret) {
		t.Error("log carries the secret")
	}
}
