// Package testcaddy is the one test infrastructure for every test package
// that runs the real caddy binary of this repository: it builds the binary
// once, finds free ports, and starts, waits for and stops caddy processes.
package testcaddy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// BinaryEnv names a prebuilt caddy binary to use instead of building one.
// test.sh builds the binary once and hands it to every test package through
// it; a -race build can be handed in the same way.
const BinaryEnv = "CADDY_INTERCOM_TEST_BINARY"

// RepoRoot is the directory of this repository's go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var build = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv(BinaryEnv); bin != "" {
		return bin, nil
	}
	dir, err := os.MkdirTemp("", "caddy-intercom-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "caddy")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building caddy: %v\n%s", err, out)
	}
	return bin, nil
})

// Binary returns the path of the caddy binary under test: the one named by
// BinaryEnv, or ./cmd/caddy built once per test process. The built binary
// lives in a temporary directory that Cleanup removes.
func Binary() (string, error) { return build() }

// Cleanup removes a binary that Binary built (not one handed in through
// BinaryEnv). Call it from TestMain after m.Run.
func Cleanup() {
	if os.Getenv(BinaryEnv) != "" {
		return
	}
	if bin, err := build(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
}
