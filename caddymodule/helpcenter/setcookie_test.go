package helpcenter

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestAllowedSetCookie(t *testing.T) {
	tests := []struct {
		line string
		name string
		ok   bool
	}{
		{"session=evil; Domain=.example.com; Path=/", "session", false},
		{"session=evil; domain=example.com", "session", false},
		{"session=evil;Domain =example.com", "session", false},
		{"session=evil; Path=/; DOMAIN=.example.com; Secure", "session", false},
		{"session=evil; Domain=", "session", false},     // empty: browsers ignore it; refused anyway
		{"session=evil; Domain", "session", false},      // no value at all
		{"intercom-x; Domain=.example.com", "", false},  // no '=': a nameless cookie whose value is intercom-x
		{"=intercom-x; Domain=.example.com", "", false}, // empty name
		{"Intercom-session-abc=x; Domain=.example.com", "Intercom-session-abc", false},
		{"intercom-session-abc=x; Domain=.example.com; Path=/", "intercom-session-abc", true},
		{" \tintercom-id-abc =x; Domain=.example.com", "intercom-id-abc", true},
		{"intercom-=x; Domain=.example.com", "intercom-", true},
		{`hc-locale="en"; Path=/; Secure; HttpOnly`, "hc-locale", true},
		{"session=fine; Path=/; SameSite=Lax", "session", true},
		{"a=b", "a", true},
		{"a=Domain=.example.com; Path=/", "a", true},     // Domain in the value is not an attribute
		{"a=1; Path=/domain=x; x-domain=y", "a", true},   // nor in another attribute
		{"__Host-s=1; Secure; Path=/", "__Host-s", true}, // host-only by definition
		{"", "", true}, // nothing a browser would store
	}
	for _, tt := range tests {
		name, ok := allowedSetCookie(tt.line)
		if name != tt.name || ok != tt.ok {
			t.Errorf("allowedSetCookie(%q) = %q, %v; want %q, %v", tt.line, name, ok, tt.name, tt.ok)
		}
	}
}

func newTestDroppedCookies() (*droppedCookies, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return &droppedCookies{logger: zap.New(core)}, logs
}

func TestDroppedCookiesFilter(t *testing.T) {
	const (
		evil  = "session=evil-secret-value; Domain=.example.com; Path=/"
		evil2 = "tracker=evil-secret-value; domain=example.com"
		ours  = "intercom-session-abc=s; Domain=.example.com"
		host  = "hc-locale=en; Path=/"
	)
	tests := []struct {
		name      string
		hdr       http.Header
		want      http.Header
		wantNames []string
	}{
		{"none", http.Header{"X": {"1"}}, http.Header{"X": {"1"}}, nil},
		{"all allowed", http.Header{"Set-Cookie": {ours, host}}, http.Header{"Set-Cookie": {ours, host}}, nil},
		{"first dropped", http.Header{"Set-Cookie": {evil, ours, host}}, http.Header{"Set-Cookie": {ours, host}}, []string{"session"}},
		{"middle dropped", http.Header{"Set-Cookie": {ours, evil, host}}, http.Header{"Set-Cookie": {ours, host}}, []string{"session"}},
		{"all dropped", http.Header{"Set-Cookie": {evil, evil2}, "X": {"1"}}, http.Header{"X": {"1"}}, []string{"session", "tracker"}},
		{"trailer", http.Header{http.TrailerPrefix + "Set-Cookie": {evil, host}}, http.Header{http.TrailerPrefix + "Set-Cookie": {host}}, []string{"session"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, logs := newTestDroppedCookies()
			orig := tt.hdr.Clone()
			lines := tt.hdr["Set-Cookie"]
			d.filter(tt.hdr)
			if !reflect.DeepEqual(tt.hdr, tt.want) {
				t.Errorf("header %q, want %q", tt.hdr, tt.want)
			}
			if !reflect.DeepEqual(lines, orig["Set-Cookie"]) {
				t.Errorf("the original slice of lines was modified: %q", lines)
			}
			var names []string
			for _, e := range logs.All() {
				if e.Level != zapcore.WarnLevel {
					t.Errorf("logged at %v", e.Level)
				}
				names = append(names, e.ContextMap()["cookie_name"].(string))
			}
			if !reflect.DeepEqual(names, tt.wantNames) {
				t.Errorf("warned about %q, want %q", names, tt.wantNames)
			}
		})
	}
}

// TestDroppedCookiesReportOnce: one warning per name, never the value,
// and bounded memory whatever names an origin invents.
func TestDroppedCookiesReportOnce(t *testing.T) {
	d, logs := newTestDroppedCookies()
	for range 3 {
		d.filter(http.Header{"Set-Cookie": {"session=secret-value-1; Domain=.example.com", "session=secret-value-2; Domain=.example.com"}})
	}
	if logs.Len() != 1 {
		t.Fatalf("%d warnings for one name, want 1", logs.Len())
	}
	for _, e := range logs.All() {
		var b strings.Builder
		b.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			b.WriteString(k)
			fmt.Fprint(&b, v)
		}
		if strings.Contains(b.String(), "secret-value") {
			t.Errorf("the cookie's value was logged: %s", b.String())
		}
	}

	long := strings.Repeat("n", 1000)
	d.filter(http.Header{"Set-Cookie": {long + "=v; Domain=x"}})
	if got := logs.All()[1].ContextMap()["cookie_name"].(string); len(got) != maxLoggedNameLen {
		t.Errorf("logged a %d-byte name, want it cut to %d", len(got), maxLoggedNameLen)
	}

	for i := range 2 * maxReportedCookieNames {
		d.filter(http.Header{"Set-Cookie": {"c" + strconv.Itoa(i) + "=v; Domain=x"}})
	}
	if n := d.count.Load(); n != maxReportedCookieNames {
		t.Errorf("%d names remembered, want the bound %d", n, maxReportedCookieNames)
	}
	if logs.Len() != maxReportedCookieNames {
		t.Errorf("%d warnings, want %d", logs.Len(), maxReportedCookieNames)
	}
}

// flushRecorder records what reaches the client: the header as it was at
// each WriteHeader, and flushes.
type flushRecorder struct {
	header  http.Header
	written []http.Header
	status  []int
	body    bytes.Buffer
	flushes int
}

func (r *flushRecorder) Header() http.Header { return r.header }
func (r *flushRecorder) WriteHeader(status int) {
	r.status = append(r.status, status)
	r.written = append(r.written, r.header.Clone())
}
func (r *flushRecorder) Write(p []byte) (int, error) {
	if len(r.status) == 0 {
		r.WriteHeader(http.StatusOK) // as net/http does
	}
	return r.body.Write(p)
}
func (r *flushRecorder) Flush() {
	if len(r.status) == 0 {
		r.WriteHeader(http.StatusOK)
	}
	r.flushes++
}

// TestCookieFilterWriter: every way a header can leave (explicit status,
// 1xx, implicit 200 by Write, ReadFrom or Flush) is filtered, and bodies
// and flushes pass straight through.
func TestCookieFilterWriter(t *testing.T) {
	const evil, ours = "session=evil; Domain=.example.com", "intercom-id-abc=i; Domain=.example.com"
	tests := []struct {
		name       string
		serve      func(w http.ResponseWriter)
		wantStatus []int
		wantBody   string
	}{
		{"WriteHeader", func(w http.ResponseWriter) { w.WriteHeader(http.StatusFound) }, []int{302}, ""},
		{"Write", func(w http.ResponseWriter) { _, _ = io.WriteString(w, "body") }, []int{200}, "body"},
		{"ReadFrom", func(w http.ResponseWriter) { _, _ = io.Copy(w, strings.NewReader("body")) }, []int{200}, "body"},
		{"Flush", func(w http.ResponseWriter) {
			_ = http.NewResponseController(w).Flush()
			_, _ = io.WriteString(w, "body")
		}, []int{200}, "body"},
		{"Early Hints then 200", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Add("Set-Cookie", evil)
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "body")
		}, []int{103, 200}, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := newTestDroppedCookies()
			rec := &flushRecorder{header: http.Header{"Set-Cookie": {evil, ours}}}
			fw := &cookieFilterWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: rec}, cookies: d}
			tt.serve(fw)
			fw.finish()
			if !reflect.DeepEqual(rec.status, tt.wantStatus) {
				t.Fatalf("statuses %v, want %v", rec.status, tt.wantStatus)
			}
			for i, h := range rec.written {
				if got := h["Set-Cookie"]; !reflect.DeepEqual(got, []string{ours}) {
					t.Errorf("header %d (%d) left with Set-Cookie %q", i, rec.status[i], got)
				}
			}
			if rec.body.String() != tt.wantBody {
				t.Errorf("body %q, want %q", rec.body.String(), tt.wantBody)
			}
		})
	}

	t.Run("flushes pass through", func(t *testing.T) {
		d, _ := newTestDroppedCookies()
		rec := &flushRecorder{header: http.Header{}}
		fw := &cookieFilterWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: rec}, cookies: d}
		fw.WriteHeader(http.StatusOK)
		for range 3 {
			_, _ = io.WriteString(fw, "chunk")
			if err := http.NewResponseController(fw).Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if rec.flushes != 3 || rec.body.String() != "chunkchunkchunk" {
			t.Errorf("%d flushes, body %q", rec.flushes, rec.body.String())
		}
	})

	t.Run("recorder from net/http", func(t *testing.T) {
		d, _ := newTestDroppedCookies()
		rec := httptest.NewRecorder()
		fw := &cookieFilterWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: rec}, cookies: d}
		fw.Header()["Set-Cookie"] = []string{evil}
		_, _ = io.WriteString(fw, "x")
		if got := rec.Result().Header["Set-Cookie"]; got != nil {
			t.Errorf("Set-Cookie %q reached the client", got)
		}
	})
}

// BenchmarkCookieFilter measures what the Set-Cookie lanes add to a Help
// Center response: the writer and the filter of a typical header (two
// allowed cookies), and of one with a cookie to drop (reported already).
func BenchmarkCookieFilter(b *testing.B) {
	d, _ := newTestDroppedCookies()
	cases := []struct {
		name  string
		lines []string
	}{
		{"allowed", []string{"intercom-session-abc=s; Domain=.example.com; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT", `hc-locale="en"; Path=/; Secure; HttpOnly`}},
		{"one dropped", []string{"intercom-session-abc=s; Domain=.example.com; Path=/", "session=evil; Domain=.example.com; Path=/; HttpOnly"}},
		{"none", nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			hdr := http.Header{}
			inner := headerOnlyWriter(hdr)
			b.ReportAllocs()
			for b.Loop() {
				if c.lines != nil {
					hdr["Set-Cookie"] = c.lines
				}
				fw := &cookieFilterWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: inner}, cookies: d}
				fw.WriteHeader(http.StatusOK)
				fw.finish()
			}
		})
	}
}

// headerOnlyWriter is a ResponseWriter that only has a header.
type headerOnlyWriter http.Header

func (w headerOnlyWriter) Header() http.Header         { return http.Header(w) }
func (w headerOnlyWriter) WriteHeader(int)             {}
func (w headerOnlyWriter) Write(p []byte) (int, error) { return len(p), nil }
