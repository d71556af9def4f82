// Package harness runs the real caddy binary (cmd/caddy, with the intercom
// module) for the benchmark command and the soak and fault tests: it builds
// the binary, starts it on free loopback ports with its admin endpoint on a
// free port too, and reads what the admin endpoint and /proc say about it
// (goroutines, heap, peak RSS, CPU profiles).
//
// Everything listens on 127.0.0.1 and on ports the OS hands out, never on
// Caddy's usual 2019 or the fixed ports of the caddymodule integration tests
// (2999, 9080, 9443), so it can run next to them.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ModuleRoot returns the directory of the caddy-intercom go.mod, found with
// `go env GOMOD` from the current directory, so the command and the tests
// work from the repository root and from bench/ alike.
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

// BuildCaddy builds ./cmd/caddy of the module at root into out. race builds
// it with the race detector, so that a soak test also hunts data races in
// the server itself.
func BuildCaddy(root, out string, race bool) error {
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

// reservedPorts are ports other processes on this machine use on purpose:
// Caddy's default admin port and the caddytest ports of caddymodule's tests.
var reservedPorts = map[int]bool{2019: true, 2999: true, 9080: true, 9443: true}

// FreePort returns a loopback TCP port the OS considers free. Another
// process may take it before we bind it; StartCaddy's callers retry.
func FreePort() (int, error) {
	for range 10 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !reservedPorts[port] {
			return port, nil
		}
	}
	return 0, errors.New("no free port found")
}

// FreePorts returns n distinct free ports.
func FreePorts(n int) ([]int, error) {
	seen := map[int]bool{}
	ports := make([]int, 0, n)
	for len(ports) < n {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// Options describe one caddy process.
type Options struct {
	// Bin is the caddy binary (see BuildCaddy).
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

// Caddy is a running caddy process.
type Caddy struct {
	AdminPort int
	dir       string
	cmd       *exec.Cmd
	logs      *cappedBuffer
	exited    chan struct{}
	waitErr   error
	client    *http.Client
}

// StartCaddy writes the config to a temporary directory and runs
// `caddy run` on it. The process's storage and config directories point into
// that directory, so nothing leaks into the user's home.
func StartCaddy(opts Options) (*Caddy, error) {
	dir, err := os.MkdirTemp("", "intercom-bench-caddy-")
	if err != nil {
		return nil, err
	}
	adminPort, err := FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	idle := opts.IdleTimeout
	if idle <= 0 {
		idle = 5 * time.Second
	}
	config := fmt.Sprintf(`{
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
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &Caddy{
		AdminPort: adminPort,
		dir:       dir,
		logs:      &cappedBuffer{max: 4 << 20},
		exited:    make(chan struct{}),
		client:    &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	cmd := exec.Command(opts.Bin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "HOME="+dir)
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
	if err := c.waitReady(opts.Ports, 30*time.Second); err != nil {
		c.Stop()
		return nil, fmt.Errorf("caddy did not start: %w\nconfig:\n%s\nlogs:\n%s", err, config, c.Logs())
	}
	return c, nil
}

func (c *Caddy) waitReady(ports []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("caddy exited: %v", c.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("timed out waiting for the admin endpoint and the listeners")
		}
		if c.ready(ports) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Caddy) ready(ports []int) bool {
	resp, err := c.client.Get(c.AdminURL() + "/config/")
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	for _, p := range ports {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second)
		if err != nil {
			return false
		}
		conn.Close()
	}
	return true
}

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
// its directory. It is safe to call more than once.
func (c *Caddy) Stop() error {
	if c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
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
			return nil // stopped by us
		}
	}
	return c.waitErr
}

// get fetches an admin endpoint path.
func (c *Caddy) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.AdminURL()+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return b, nil
}

// Metrics returns the samples of the admin /metrics endpoint, keyed by the
// metric name with its labels as printed (`go_goroutines`,
// `caddy_intercom_responses_total{app_id="bench0app",outcome="injected"}`).
func (c *Caddy) Metrics() (map[string]float64, error) {
	b, err := c.get(context.Background(), "/metrics")
	if err != nil {
		return nil, err
	}
	return ParseMetrics(b), nil
}

// ParseMetrics parses the Prometheus text format, ignoring comments.
func ParseMetrics(b []byte) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m
}

// Goroutines returns caddy's current goroutine count (go_goroutines).
func (c *Caddy) Goroutines() (int, error) {
	m, err := c.Metrics()
	if err != nil {
		return 0, err
	}
	v, ok := m["go_goroutines"]
	if !ok {
		return 0, errors.New("go_goroutines missing from /metrics")
	}
	return int(v), nil
}

// GoroutineDump returns the goroutine profile in text form, for failure
// messages.
func (c *Caddy) GoroutineDump() string {
	b, err := c.get(context.Background(), "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// WaitGoroutines polls until caddy runs at most max goroutines, or timeout
// passes; it returns the last count seen.
func (c *Caddy) WaitGoroutines(max int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		n, err := c.Goroutines()
		if err != nil {
			return n, err
		}
		if n <= max || time.Now().After(deadline) {
			return n, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// HeapInuseAfterGC forces a garbage collection in caddy (through the heap
// profile's gc=1) and returns go_memstats_heap_inuse_bytes afterwards.
func (c *Caddy) HeapInuseAfterGC() (uint64, error) {
	if _, err := c.get(context.Background(), "/debug/pprof/heap?gc=1"); err != nil {
		return 0, err
	}
	m, err := c.Metrics()
	if err != nil {
		return 0, err
	}
	v, ok := m["go_memstats_heap_inuse_bytes"]
	if !ok {
		return 0, errors.New("go_memstats_heap_inuse_bytes missing from /metrics")
	}
	return uint64(v), nil
}

// Profile records a profile over the given time into w: kind "profile"
// (CPU) or "allocs" (the allocations made during that time).
func (c *Caddy) Profile(ctx context.Context, kind string, d time.Duration, w io.Writer) error {
	secs := max(1, int(d/time.Second))
	b, err := c.get(ctx, fmt.Sprintf("/debug/pprof/%s?seconds=%d", kind, secs))
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Memory is what /proc/<pid>/status says about a process's memory.
type Memory struct {
	RSS, PeakRSS uint64 // VmRSS and VmHWM, in bytes
}

// Memory reads caddy's current and peak resident set size.
func (c *Caddy) Memory() (Memory, error) { return ProcMemory(c.PID()) }

// ProcMemory reads VmRSS and VmHWM of a process.
func ProcMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("unexpected %s line %q", name, line)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return m, err
		}
		if name == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.PeakRSS = kb << 10
		}
	}
	if m.PeakRSS == 0 {
		return m, errors.New("no VmHWM in /proc status")
	}
	return m, nil
}

// CPUTime returns the user+system CPU time caddy has used so far.
func (c *Caddy) CPUTime() (time.Duration, error) { return ProcCPUTime(c.PID()) }

// ProcCPUTime reads a process's user+system CPU time from /proc/<pid>/stat
// (in clock ticks of 10 ms, USER_HZ on Linux).
func ProcCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces; fields resume after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
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

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if b.dropped > 0 {
		s += fmt.Sprintf("\n[… %d more bytes not kept]\n", b.dropped)
	}
	return s
}
