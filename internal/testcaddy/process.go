package testcaddy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options describe one caddy process.
type Options struct {
	// Bin is the caddy binary; "" means Binary().
	Bin string
	// Caddyfile is the whole configuration, global options included.
	Caddyfile string
	// Ports are the listeners Start waits for: it returns once every one
	// accepts connections.
	Ports []int
	// AdminPort, when set, is the admin endpoint's port: Start also waits
	// until its GET /config/ answers 200, and the metrics and profile
	// methods use it. (With `admin off`, leave it 0.)
	AdminPort int
	// Env is added to the process environment (GOMAXPROCS=1, GOGC=…).
	Env []string
	// DropEnv lists prefixes of variables not passed on from this process,
	// e.g. "INTERCOM_" so that a developer's real secret never reaches the
	// config of a test.
	DropEnv []string
	// StartTimeout bounds the wait for the listeners (default 30s).
	StartTimeout time.Duration
}

// Caddy is a running caddy process.
type Caddy struct {
	// Ports are the listeners of Options.Ports.
	Ports []int
	// AdminPort is Options.AdminPort.
	AdminPort int

	dir     string
	cmd     *exec.Cmd
	logs    *cappedBuffer
	exited  chan struct{}
	waitErr error
	client  *http.Client
	stop    sync.Once
	stopErr error
}

// logLimit caps the output kept per process.
const logLimit = 4 << 20

// Start writes the config to a temporary directory and runs `caddy run` on
// it. The process's storage and config directories (XDG_*, HOME) point into
// that directory, so nothing leaks into the user's home and no two
// processes share an autosave. It returns once caddy has logged that it
// serves its config and the admin endpoint (if any) and every listener
// answer, by polling them, or with the logs when caddy exits or the wait
// times out.
func Start(opts Options) (*Caddy, error) {
	bin := opts.Bin
	if bin == "" {
		var err error
		if bin, err = Binary(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "caddy-intercom-test-")
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(opts.Caddyfile), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &Caddy{
		Ports:     opts.Ports,
		AdminPort: opts.AdminPort,
		dir:       dir,
		logs:      &cappedBuffer{max: logLimit},
		exited:    make(chan struct{}),
		client:    &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(Environ(opts.DropEnv...), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "HOME="+dir)
	cmd.Env = append(cmd.Env, opts.Env...)
	cmd.Stdout = c.logs
	cmd.Stderr = c.logs
	DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.cmd = cmd
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	if err := c.waitReady(timeout); err != nil {
		c.Stop()
		return nil, fmt.Errorf("caddy did not start: %w\nconfig:\n%s\nlogs:\n%s", err, opts.Caddyfile, c.Logs())
	}
	return c, nil
}

// Environ is os.Environ without the variables whose names start with one of
// drop (the environment Start gives caddy with Options.DropEnv).
func Environ(drop ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, p := range drop {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}

// pollInterval is how often waits look again.
const pollInterval = 20 * time.Millisecond

// waitReady polls the admin endpoint and the listeners until all answer,
// caddy exits, or timeout passes.
func (c *Caddy) waitReady(timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		missing := c.notReady()
		if missing == "" {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("caddy exited: %v", c.waitErr)
		case <-deadline.C:
			return fmt.Errorf("timed out after %s waiting for %s", timeout, missing)
		case <-tick.C:
		}
	}
}

// readyLog is what `caddy run` logs once its config is loaded: every
// listener bound, by this process. Polling the ports alone is not enough: a
// port that another process took meanwhile answers too.
const readyLog = `"serving initial configuration"`

// notReady names the first thing that is not ready yet ("" if all are).
func (c *Caddy) notReady() string {
	if !c.logs.contains(readyLog) {
		return "caddy to log " + readyLog
	}
	if c.AdminPort != 0 {
		resp, err := c.client.Get(c.AdminURL() + "/config/")
		if err != nil {
			return "the admin endpoint"
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "the admin endpoint"
		}
	}
	for _, p := range c.Ports {
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return "a listener on " + addr
		}
		conn.Close()
	}
	return ""
}

// StartT is Start for a test: it fails the test when caddy does not start,
// stops caddy when the test ends, fails the test when caddy's output has a
// race detector report, and shows the output when the test failed.
func StartT(t testing.TB, opts Options) *Caddy {
	t.Helper()
	c, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	c.cleanupWith(t)
	return c
}

func (c *Caddy) cleanupWith(t testing.TB) {
	t.Cleanup(func() {
		c.Stop()
		logs := c.Logs()
		if strings.Contains(logs, "WARNING: DATA RACE") {
			t.Errorf("caddy reported a data race:\n%s", logs)
		} else if t.Failed() {
			t.Logf("caddy output:\n%s", tail(logs, 20000))
		}
	})
}

// StartFree starts caddy on n free ports: render gets the ports and returns
// the options (Ports, AdminPort and the config naming them). A port can be
// taken by another process between FreePorts and caddy's bind, so a start
// that fails on an address in use is retried with new ports.
func StartFree(t testing.TB, n int, render func(ports []int) Options) *Caddy {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ports, err := FreePorts(n)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Start(render(ports))
		if err == nil {
			c.cleanupWith(t)
			return c
		}
		if attempt < 3 && strings.Contains(err.Error(), "address already in use") {
			t.Logf("caddy start attempt %d: a port was taken; retrying with other ports", attempt)
			continue
		}
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// DataDir is caddy's XDG_DATA_HOME: its storage (certificates, the
// internal CA) is under DataDir()/caddy.
func (c *Caddy) DataDir() string { return c.dir }

// PID is the process ID of caddy.
func (c *Caddy) PID() int { return c.cmd.Process.Pid }

// AdminURL is the base URL of the admin endpoint.
func (c *Caddy) AdminURL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.AdminPort) }

// Logs returns what caddy wrote to stdout and stderr so far (capped).
func (c *Caddy) Logs() string { return c.logs.String() }

// Exited reports whether the process has ended (a crash, for example).
func (c *Caddy) Exited() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// Stop interrupts caddy, waits for it (killing it after 10 s) and removes
// its directory. It is safe to call more than once; a process that we
// stopped by signal is not an error.
func (c *Caddy) Stop() error {
	c.stop.Do(func() {
		select {
		case <-c.exited:
		default:
			c.cmd.Process.Signal(os.Interrupt)
			select {
			case <-c.exited:
			case <-time.After(10 * time.Second):
				c.cmd.Process.Kill()
				<-c.exited
			}
		}
		os.RemoveAll(c.dir)
		var exitErr *exec.ExitError
		if errors.As(c.waitErr, &exitErr) {
			if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return // stopped by us
			}
		}
		c.stopErr = c.waitErr
	})
	return c.stopErr
}

// cappedBuffer keeps the first max bytes written to it; concurrent writes
// are serialised.
type cappedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	max     int
	dropped int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p) // always report everything written, or the copier stops
	room := b.max - b.buf.Len()
	if room < len(p) {
		b.dropped += len(p) - max(room, 0)
		p = p[:max(room, 0)]
	}
	b.buf.Write(p)
	return n, nil
}

func (b *cappedBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Contains(b.buf.Bytes(), []byte(s))
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if b.dropped > 0 {
		s += fmt.Sprintf("\n[… %d more bytes not kept]\n", b.dropped)
	}
	return s
}
