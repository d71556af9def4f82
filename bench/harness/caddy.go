// Package harness is what the benchmark command and the soak and fault
// tests share beyond internal/testcaddy (which builds, starts and measures
// the caddy binary): the benchmark's cases and their site blocks, the
// generated pages, and the global options every bench caddy runs with.
//
// Everything listens on 127.0.0.1 and on ports the OS hands out, never on
// Caddy's usual 2019 or the fixed ports of the in-process integration
// tests, so it can run next to them.
package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"
)

// ModuleRoot returns the directory of the caddy-intercom go.mod, found with
// `go env GOMOD` from the current directory, so the command works from the
// repository root and from bench/ alike.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the caddy-intercom module (go env GOMOD is empty)")
	}
	return filepath.Dir(mod), nil
}

// Options describe one bench caddy process.
type Options struct {
	// Bin is the caddy binary ("" means testcaddy.Binary()).
	Bin string
	// Sites are the Caddyfile site blocks. StartCaddy adds the global
	// options block (admin on a free loopback port, no automatic HTTPS, no
	// persisted config, short idle timeout).
	Sites string
	// Globals are extra lines for the global options block.
	Globals string
	// Ports are the HTTP ports the sites listen on; StartCaddy returns once
	// all of them accept connections.
	Ports []int
	// IdleTimeout closes idle client connections (default 5s), so that a
	// goroutine count taken after the clients are gone is a true baseline.
	IdleTimeout time.Duration
	// Env is added to the process environment (GOMAXPROCS=1, GOGC=…).
	Env []string
}

// Config returns the whole Caddyfile of opts with the admin endpoint on
// adminPort.
func (opts Options) Config(adminPort int) string {
	idle := opts.IdleTimeout
	if idle <= 0 {
		idle = 5 * time.Second
	}
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	auto_https off
	grace_period 1s
	servers {
		timeouts {
			idle %s
		}
	}
%s
}

%s
`, adminPort, idle, opts.Globals, opts.Sites)
}

// StartCaddy runs caddy with the bench global options and the admin
// endpoint on a free port (for /metrics and /debug/pprof), and returns once
// the admin endpoint and every listener answer.
func StartCaddy(opts Options) (*testcaddy.Caddy, error) {
	admin, err := testcaddy.FreePort()
	if err != nil {
		return nil, err
	}
	return testcaddy.Start(testcaddy.Options{
		Bin:       opts.Bin,
		Caddyfile: opts.Config(admin),
		Ports:     opts.Ports,
		AdminPort: admin,
		Env:       opts.Env,
	})
}
