package identityassertion

import (
	"context"
	"errors"
	"net/http"
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
	return serveHeader(t, h, http.Header{http.CanonicalHeaderKey(name): vals})
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
