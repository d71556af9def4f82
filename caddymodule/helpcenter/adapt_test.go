package helpcenter

import (
	"testing"

	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy/golden"
)

// TestCaddyfileAdapt adapts every testdata/caddyfile_adapt/*.caddyfile and
// compares it with the .json next to it.
func TestCaddyfileAdapt(t *testing.T) {
	golden.Adapt(t, "testdata/caddyfile_adapt")
}
