package caddymodule

import (
	"net/http"
	"testing"
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
