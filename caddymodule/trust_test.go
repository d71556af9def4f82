package caddymodule

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestIdentitySourceHonoured(t *testing.T) {
	for _, tc := range []struct {
		trust []string
		peer  string
		want  bool
	}{
		{[]string{"private_ranges"}, "10.1.2.3:4000", true},
		{[]string{"private_ranges"}, "192.168.7.7:1", true},
		{[]string{"private_ranges"}, "[::1]:8080", true},
		{[]string{"private_ranges"}, "[::ffff:10.0.0.1]:80", true},
		{[]string{"private_ranges"}, "8.8.8.8:443", false},
		{[]string{"private_ranges"}, "[2001:db8::1]:443", false},
		{[]string{"203.0.113.7"}, "203.0.113.7:1", true},
		{[]string{"203.0.113.7"}, "203.0.113.8:1", false},
		{[]string{"203.0.113.0/24", "2001:db8::/32"}, "[2001:db8::1]:443", true},
		{[]string{"203.0.113.0/24"}, "not-an-address", false},
	} {
		src, err := newIdentitySource(tc.trust, []identityValue{{"user_id", "{http.request.header.X-User}"}})
		if err != nil {
			t.Fatalf("%v: %v", tc.trust, err)
		}
		if got := src.honoured(&http.Request{RemoteAddr: tc.peer}); got != tc.want {
			t.Errorf("trust %v, peer %s: honoured = %v, want %v", tc.trust, tc.peer, got, tc.want)
		}
	}

	// Without identity headers there is nothing to forge.
	src, err := newIdentitySource(nil, []identityValue{{"user_id", "{http.auth.user.id}"}})
	if err != nil || !src.honoured(&http.Request{RemoteAddr: "8.8.8.8:1"}) {
		t.Errorf("auth placeholder identity: %v %v", src, err)
	}
	h := http.Header{"X-User": {"admin"}, "X-Other": {"kept"}}
	src, _ = newIdentitySource([]string{"10.0.0.0/8"}, []identityValue{{"user_id", "{header.x-user}"}})
	src.strip(h)
	if h.Get("X-User") != "" || h.Get("X-Other") != "kept" {
		t.Errorf("strip: %v", h)
	}
}

// BenchmarkIdentityScreen measures the per-request cost of deciding whether
// identity headers can be believed: every request through the handler pays it.
func BenchmarkIdentityScreen(b *testing.B) {
	src, err := newIdentitySource([]string{"10.0.0.0/8", "192.168.0.0/16"},
		[]identityValue{{"user_id", "{http.request.header.X-User}"}, {"email", "{http.request.header.X-Email}"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, peer string
		header     http.Header
	}{
		{"trusted", "10.1.2.3:4000", http.Header{"X-User": {"alice"}, "X-Email": {"a@example.com"}}},
		{"untrusted_no_headers", "203.0.113.9:4000", http.Header{"Accept": {"text/html"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := &http.Request{RemoteAddr: bc.peer, Header: bc.header}
			b.ReportAllocs()
			for b.Loop() {
				src.screen(r)
			}
		})
	}
}

// TestIdentityScreen checks what screen removes, counts and logs, request by
// request (issue 13 item 5); the integration tests do the same through Caddy.
func TestIdentityScreen(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	tm := &trustMetrics{forged: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "forged"}, []string{"app_id", "reason"})}
	src, err := newIdentitySource([]string{"10.0.0.0/8"},
		[]identityValue{{"user_id", "{http.request.header.X-User}"}, {"email", "{header.X-Email}"}})
	if err != nil {
		t.Fatal(err)
	}
	src.report = newForgeryReport(zap.New(core), tm, "app")
	for _, tc := range []struct {
		name      string
		peer      string
		header    http.Header
		wantUser  []string // X-User after screen
		untrusted float64  // counter growth
		duplicate float64
	}{
		{"trusted single line", "10.0.0.1:1", http.Header{"X-User": {"alice"}}, []string{"alice"}, 0, 0},
		{"trusted, no header", "10.0.0.1:1", http.Header{}, nil, 0, 0},
		{"untrusted forged", "192.0.2.1:1", http.Header{"X-User": {"secret-value"}}, nil, 1, 0},
		{"untrusted forged email only", "192.0.2.1:1", http.Header{"X-Email": {"secret-value"}}, nil, 1, 0},
		{"untrusted, no header", "192.0.2.1:1", http.Header{"Accept": {"*/*"}}, nil, 0, 0},
		{"trusted duplicate", "10.0.0.1:1", http.Header{"X-User": {"alice", "secret-value"}}, nil, 0, 1},
		{"trusted duplicate email strips the user too", "10.0.0.1:1", http.Header{"X-User": {"alice"}, "X-Email": {"a", "secret-value"}}, nil, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u0 := testutil.ToFloat64(tm.forged.WithLabelValues("app", reasonUntrustedPeer))
			d0 := testutil.ToFloat64(tm.forged.WithLabelValues("app", reasonDuplicateHeader))
			r := &http.Request{RemoteAddr: tc.peer, Header: tc.header}
			src.screen(r)
			if got := r.Header.Values("X-User"); !slices.Equal(got, tc.wantUser) {
				t.Errorf("X-User after screen = %q, want %q", got, tc.wantUser)
			}
			if tc.wantUser == nil && r.Header.Get("X-Email") != "" {
				t.Error("X-Email kept on an anonymous request")
			}
			if got := testutil.ToFloat64(tm.forged.WithLabelValues("app", reasonUntrustedPeer)) - u0; got != tc.untrusted {
				t.Errorf("untrusted_peer grew by %v, want %v", got, tc.untrusted)
			}
			if got := testutil.ToFloat64(tm.forged.WithLabelValues("app", reasonDuplicateHeader)) - d0; got != tc.duplicate {
				t.Errorf("duplicate_header grew by %v, want %v", got, tc.duplicate)
			}
		})
	}
	// Four events, one warning (rate-limited), never the value.
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "secret-value") {
				t.Errorf("log field %s carries the header value", k)
			}
		}
	}
	if e := logs.All()[0].ContextMap(); e["peer"] != "192.0.2.1:1" || e["header"] != "X-User" {
		t.Errorf("warning fields %v, want the peer and the header name", e)
	}
}
