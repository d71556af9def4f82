package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// discardWriter is a reusable http.ResponseWriter for benchmarks: it keeps
// the header map (cleared between requests) and drops the body.
type discardWriter struct {
	hdr    http.Header
	status int
	n      int
}

func (d *discardWriter) Header() http.Header         { return d.hdr }
func (d *discardWriter) WriteHeader(status int)      { d.status = status }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// BenchmarkServeHTTP is the handler's own cost per request, without Caddy's
// server or a network: an identified 10 KB page (signing, snippet, CSP,
// headers, cookies, metrics, the rewriter), an identified asset (the
// wrapper and the Content-Type check only) and an anonymous page.
func BenchmarkServeHTTP(b *testing.B) {
	h := &Intercom{AppID: testAppID, Secret: testSecret, UserID: "{http.auth.user.id}"}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := h.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	h.logger = zap.NewNop()

	page := []byte(headPart + `<link rel="stylesheet" href="/a.css"><script src="/app.js"></script></head><body>` +
		strings.Repeat("<p>lorem ipsum dolor sit amet</p>\n", 10_000/34) + "</body></html>")
	css := []byte(strings.Repeat("a{color:red}\n", 100))

	cases := []struct {
		name, user, contentType string
		body                    []byte
	}{
		{"page", "alice", "text/html; charset=utf-8", page},
		{"asset", "alice", "text/css", css},
		{"anonymous", "", "text/html; charset=utf-8", page},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			repl := caddy.NewReplacer()
			if tc.user != "" {
				repl.Set("http.auth.user.id", tc.user)
			}
			req := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
			req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
			if tc.user != "" {
				req.AddCookie(&http.Cookie{Name: "caddy_intercom_user", Value: h.marker.Value(tc.user)})
			}
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				hdr := w.Header()
				hdr.Set("Content-Type", tc.contentType)
				hdr.Set("Content-Length", fmt.Sprint(len(tc.body)))
				hdr.Set("Cache-Control", "public, max-age=60")
				hdr.Set("ETag", `"v1"`)
				w.WriteHeader(http.StatusOK)
				_, err := w.Write(tc.body)
				return err
			})
			w := &discardWriter{hdr: make(http.Header)}
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				clear(w.hdr)
				req.Header.Set("Accept-Encoding", "gzip")
				if err := h.ServeHTTP(w, req, next); err != nil {
					b.Fatal(err)
				}
			}
			// On a shared machine wall time mostly measures the neighbours;
			// the process's CPU time (GC included) is what the handler costs.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time (user + system) the process has used, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
