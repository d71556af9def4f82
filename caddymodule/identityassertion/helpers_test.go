package identityassertion

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

type handlerFunc func(http.ResponseWriter, *http.Request) error

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

func statusOf(err error) int {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 500
}

// serveMulti sends one request whose header name carries several field lines.
func serveMulti(t testing.TB, h *Handler, name string, vals []string) outcome {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "https://app.example/", nil)
	for _, v := range vals {
		req.Header.Add(name, v)
	}
	repl := caddy.NewReplacer()
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	var o outcome
	err := h.ServeHTTP(httptest.NewRecorder(), req, handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		o.passed = true
		o.user, _ = repl.GetString("http.auth.user.id")
		return nil
	}))
	if err != nil {
		o.status = statusOf(err)
	}
	return o
}

// provisionErr provisions h and returns the error Caddy would report.
func provisionErr(h *Handler) error {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	err := h.Provision(ctx)
	h.Cleanup()
	return err
}

// fetchOnce runs one fetch outside the refresh loop and returns its error.
func (s *jwksSource) fetchOnce() error {
	_, err := s.fetch(context.Background())
	return err
}
