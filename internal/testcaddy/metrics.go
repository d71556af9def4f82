package testcaddy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Get fetches a path of the admin endpoint and returns the body of its 200
// response.
func (c *Caddy) Get(ctx context.Context, path string) ([]byte, error) {
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
	b, err := c.Get(context.Background(), "/metrics")
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
	b, err := c.Get(context.Background(), "/debug/pprof/goroutine?debug=1")
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
		time.Sleep(100 * time.Millisecond)
	}
}

// HeapInuseAfterGC forces a garbage collection in caddy (through the heap
// profile's gc=1) and returns go_memstats_heap_inuse_bytes afterwards.
func (c *Caddy) HeapInuseAfterGC() (uint64, error) {
	if _, err := c.Get(context.Background(), "/debug/pprof/heap?gc=1"); err != nil {
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
	b, err := c.Get(ctx, fmt.Sprintf("/debug/pprof/%s?seconds=%d", kind, secs))
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
