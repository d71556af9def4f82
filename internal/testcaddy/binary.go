// Package testcaddy is the one test infrastructure for every test package
// that runs the real caddy binary of this repository (caddymodule's CLI and
// validate tests, the bench soak and fault suites, the e2e browser suite):
// it builds the binary once, finds free ports, starts a caddy process and
// waits for it by polling its admin API and listeners, stops it, and reads
// its metrics and profiles.
//
// It imports nothing of Caddy: tests that only run the binary do not link
// Caddy themselves. Golden Caddyfile adaptation, which does, is in the
// golden subpackage.
package testcaddy

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Environment variables that hand prebuilt binaries to the tests. test.sh
// builds the binaries once per run and passes them to every test package
// (go test builds and runs packages in parallel processes, so a binary built
// inside one test process cannot be shared with another).
const (
	// BinaryEnv names the caddy binary the tests run. It may be a -race
	// build: the soak and fault suites then hunt data races in the server.
	BinaryEnv = "CADDY_INTERCOM_TEST_BINARY"
	// PlainBinaryEnv names a binary built without the race detector, for
	// the memory tests (the race runtime's shadow memory swamps RSS).
	PlainBinaryEnv = "CADDY_INTERCOM_TEST_PLAIN_BINARY"
	// RaceEnv set to 1 makes Binary build with -race when BinaryEnv is
	// unset. BENCH_CADDY_RACE=1 is the older name and still works.
	RaceEnv = "CADDY_INTERCOM_TEST_RACE"
)

// RepoRoot is the directory of this repository's go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Build builds ./cmd/caddy of the module at root into out, with the race
// detector when race is set.
func Build(root, out string, race bool) error {
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/caddy")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// builtDir holds the binaries this process built; Cleanup removes it.
var (
	builtMu  sync.Mutex
	builtDir string
)

func buildHere(name string, race bool) (string, error) {
	builtMu.Lock()
	if builtDir == "" {
		dir, err := os.MkdirTemp("", "caddy-intercom-bin-")
		if err != nil {
			builtMu.Unlock()
			return "", err
		}
		builtDir = dir
	}
	bin := filepath.Join(builtDir, name)
	builtMu.Unlock()
	if err := Build(RepoRoot(), bin, race); err != nil {
		return "", fmt.Errorf("building caddy: %w", err)
	}
	return bin, nil
}

func raceRequested() bool {
	return os.Getenv(RaceEnv) == "1" || os.Getenv("BENCH_CADDY_RACE") == "1"
}

// build returns a caddy binary of the current sources: from the shared
// cache when it can (see shared), else built into this process's directory.
func build(race bool) (string, error) {
	if bin, err := shared(race); err == nil {
		return bin, nil
	}
	name := "caddy"
	if race {
		name = "caddy-race"
	}
	return buildHere(name, race)
}

// sharedMaxAge is how long an unused binary stays in the shared cache.
const sharedMaxAge = 24 * time.Hour

// shared returns a binary from a cache that the test processes of one
// `go test ./...` share: go test runs every package in its own process, in
// parallel, and two of them (caddymodule's validate tests, the CLI tests)
// each building the same binary cost a whole link of Caddy. The cache key
// is a hash of the build cache paths of every package in ./cmd/caddy's
// dependency tree (`go list -deps -export`): each is content-addressed by
// that package's sources, flags and toolchain, so any change anywhere gives
// a new key and a fresh build. A lock file makes concurrent processes wait
// for one build instead of racing.
func shared(race bool) (string, error) {
	root := RepoRoot()
	args := []string{"list", "-deps", "-export", "-f", "{{.ImportPath}} {{.Export}}"}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/caddy")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list: %w", err)
	}
	sum := sha256.Sum256(out)
	name := "caddy-" + hex.EncodeToString(sum[:12])
	if race {
		name += "-race"
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("caddy-intercom-testbin-%d", os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(dir, "lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	bin := filepath.Join(dir, name)
	now := time.Now()
	if _, err := os.Stat(bin); err == nil {
		os.Chtimes(bin, now, now) // in use: keep it
		return bin, nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	if err := Build(root, tmp, race); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	// Binaries of older sources nobody used for a day.
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if info, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), "caddy-") && now.Sub(info.ModTime()) > sharedMaxAge {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	return bin, nil
}

var binary = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv(BinaryEnv); bin != "" {
		return bin, nil
	}
	return build(raceRequested())
})

var plainBinary = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv(PlainBinaryEnv); bin != "" {
		return bin, nil
	}
	if bin, err := binary(); err == nil && !IsRace(bin) {
		return bin, nil
	}
	return build(false)
})

// Binary returns the path of the caddy binary under test: the one named by
// BinaryEnv, or ./cmd/caddy of the current sources (with -race when
// RaceEnv=1), built once and shared by the test processes of a run.
func Binary() (string, error) { return binary() }

// PlainBinary returns a caddy binary built without the race detector: the
// one named by PlainBinaryEnv, Binary when that is not a race build, or one
// built as Binary builds.
func PlainBinary() (string, error) { return plainBinary() }

// IsRace reports whether bin was built with -race, from its build info.
func IsRace(bin string) bool {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// Cleanup removes the binaries this process built for itself (never one
// handed in through the environment, nor one in the shared cache). Call it
// from TestMain after m.Run.
func Cleanup() {
	builtMu.Lock()
	defer builtMu.Unlock()
	if builtDir != "" {
		os.RemoveAll(builtDir)
		builtDir = ""
	}
}
