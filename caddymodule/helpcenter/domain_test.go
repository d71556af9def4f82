package helpcenter

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// newTestHostChecker returns a checker for appDomain with an observed logger
// and its own counter.
func newTestHostChecker(t testing.TB, appDomain string) (*hostChecker, *observer.ObservedLogs, prometheus.Counter) {
	t.Helper()
	host, site, err := normalizeAppDomain(appDomain)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_mismatch_total", Help: "test"})
	return newHostChecker(host, site, zap.New(core), counter), logs, counter
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestHelpCenterHostCheck(t *testing.T) {
	tests := []struct {
		name      string
		appDomain string
		hosts     []string
		warnHosts []string // hosts warned about, in order
		hostSites []string // their registrable domains
	}{
		{"different registrable domain warns", "app.example.com", []string{"help.example.org"},
			[]string{"help.example.org"}, []string{"example.org"}},
		{"sibling under a private public suffix warns", "a.github.io", []string{"b.github.io"},
			[]string{"b.github.io"}, []string{"b.github.io"}},
		{"same registrable domain under co.uk is fine", "app.example.co.uk", []string{"help.example.co.uk"}, nil, nil},
		{"same registrable domain is fine", "app.example.com", []string{"help.example.com", "example.com", "a.b.example.com"}, nil, nil},
		{"other registrable domain under co.uk warns", "app.example.co.uk", []string{"help.other.co.uk"},
			[]string{"help.other.co.uk"}, []string{"other.co.uk"}},
		{"once per host, port and case ignored", "app.example.com",
			[]string{"help.example.org", "help.example.org:8443", "HELP.Example.org", "help.example.org.", "help.example.org"},
			[]string{"help.example.org"}, []string{"example.org"}},
		{"each mismatched host once", "app.example.com",
			[]string{"help.example.org", "help.example.net", "help.example.org", "help.example.com"},
			[]string{"help.example.org", "help.example.net"}, []string{"example.org", "example.net"}},
		{"host that is a public suffix warns", "app.example.com", []string{"co.uk"}, []string{"co.uk"}, []string{""}},
		{"IP addresses are not reported", "app.example.com", []string{"192.0.2.1:8080", "[2001:db8::1]:443", "2001:db8::2"}, nil, nil},
		{"loopback names are not reported", "app.example.com", []string{"localhost:8080", "LOCALHOST", "help.localhost", "a.b.localhost."}, nil, nil},
		{"names that only resemble localhost warn", "app.example.com", []string{"localhost.example.org", "notlocalhost"},
			[]string{"localhost.example.org", "notlocalhost"}, []string{"example.org", ""}},
		{"empty Host is ignored", "app.example.com", []string{""}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, logs, counter := newTestHostChecker(t, tt.appDomain)
			for _, h := range tt.hosts {
				c.check(h)
			}
			entries := logs.All()
			if len(entries) != len(tt.warnHosts) {
				t.Fatalf("got %d log entries %v, want %d warnings", len(entries), entries, len(tt.warnHosts))
			}
			if got := counterValue(t, counter); got != float64(len(tt.warnHosts)) {
				t.Errorf("counter = %v, want %d", got, len(tt.warnHosts))
			}
			appHost, appSite, _ := normalizeAppDomain(tt.appDomain)
			for i, e := range entries {
				if e.Level != zapcore.WarnLevel {
					t.Errorf("level = %v, want warn", e.Level)
				}
				if !strings.Contains(e.Message, "signed-in users will not be recognised") {
					t.Errorf("message %q does not say why it matters", e.Message)
				}
				f := e.ContextMap()
				want := map[string]any{
					"host":                    tt.warnHosts[i],
					"host_registrable_domain": tt.hostSites[i],
					"app_domain":              appHost,
					"app_registrable_domain":  appSite,
				}
				for k, v := range want {
					if f[k] != v {
						t.Errorf("field %s = %v, want %v", k, f[k], v)
					}
				}
				reason, _ := f["reason"].(string)
				for _, s := range []string{"intercom-* cookies", appSite, appHost, tt.warnHosts[i], "help." + appSite} {
					if !strings.Contains(reason, s) {
						t.Errorf("reason %q does not mention %q", reason, s)
					}
				}
			}
		})
	}
}

func TestHelpCenterHostCheckLimit(t *testing.T) {
	c, logs, counter := newTestHostChecker(t, "app.example.com")
	for i := range maxCheckedHosts {
		c.check(fmt.Sprintf("h%d.example.com", i))
	}
	if n := logs.Len(); n != 0 {
		t.Fatalf("%d log entries for matching hosts", n)
	}
	c.check("h0.example.com") // known host: still fine
	c.check("help.example.org")
	c.check("help.example.net")

	entries := logs.All()
	if len(entries) != 1 || !strings.Contains(entries[0].Message, "stopped recording new hosts") {
		t.Fatalf("entries = %v, want one 'stopped recording' warning", entries)
	}
	if got := counterValue(t, counter); got != 0 {
		t.Errorf("counter = %v, want 0: hosts beyond the limit are not checked", got)
	}
	if got := c.count.Load(); got != maxCheckedHosts {
		t.Errorf("count = %d, want %d", got, maxCheckedHosts)
	}
}

func TestHelpCenterHostCheckConcurrent(t *testing.T) {
	c, logs, counter := newTestHostChecker(t, "app.example.com")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 100 {
				c.check("help.example.org")
				c.check(fmt.Sprintf("h%d.example.com", (i*100+j)%50))
			}
		})
	}
	wg.Wait()
	if n := logs.Len(); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
	if got := counterValue(t, counter); got != 1 {
		t.Errorf("counter = %v, want 1", got)
	}
	if got := c.count.Load(); got != 51 {
		t.Errorf("count = %d, want 51 distinct hosts", got)
	}
}

func TestHelpCenterRequestHost(t *testing.T) {
	tests := map[string]string{
		"help.example.com":      "help.example.com",
		"help.example.com:8443": "help.example.com",
		"HELP.Example.COM":      "help.example.com",
		"help.example.com.":     "help.example.com",
		"help.example.com.:443": "help.example.com",
		"[2001:DB8::1]:443":     "2001:db8::1",
		"[2001:db8::1]":         "2001:db8::1",
		"2001:db8::1":           "2001:db8::1",
		"[broken":               "",
		"":                      "",
	}
	for in, want := range tests {
		if got := requestHost(in); got != want {
			t.Errorf("requestHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkHelpCenterHostCheck measures the per-request cost once a host has
// been checked (the contract: it must cost nothing after the first request).
func BenchmarkHelpCenterHostCheck(b *testing.B) {
	c, _, _ := newTestHostChecker(b, "app.example.com")
	c.check("help.example.com")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.check("help.example.com")
		}
	})
}
