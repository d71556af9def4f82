package caddymodule

import (
	"os"
	"testing"

	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testcaddy.Cleanup()
	os.Exit(code)
}
