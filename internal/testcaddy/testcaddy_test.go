package testcaddy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

func TestParseMetrics(t *testing.T) {
	in := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 15
caddy_intercom_responses_total{outcome="injected"} 2.5e+06

not a sample
caddy_http_requests_in_flight{handler="intercom",server="srv0"} 0
`
	got := ParseMetrics([]byte(in))
	want := map[string]float64{
		"go_goroutines": 15,
		`caddy_intercom_responses_total{outcome="injected"}`:              2.5e6,
		`caddy_http_requests_in_flight{handler="intercom",server="srv0"}`: 0,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(200)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Errorf("port %d handed out twice", p)
		}
		if ReservedPorts[p] {
			t.Errorf("reserved port %d handed out", p)
		}
		seen[p] = true
	}
}

// TestStartStop runs the real binary: admin endpoint and a site on free
// ports, a request, the metrics, a stop by signal.
func TestStartStop(t *testing.T) {
	var port int
	c := StartFree(t, 2, func(p []int) Options {
		port = p[1]
		return Options{
			Caddyfile: fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tauto_https off\n\tpersist_config off\n}\nhttp://127.0.0.1:%d {\n\trespond \"hello\"\n}\n", p[0], p[1]),
			Ports:     p[1:],
			AdminPort: p[0],
		}
	})
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" {
		t.Errorf("site answered %q", body)
	}
	if n, err := c.Goroutines(); err != nil || n <= 0 {
		t.Errorf("goroutines %d, %v", n, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if !c.Exited() {
		t.Error("caddy still running after Stop")
	}
}

// TestStartFreeRetriesTakenPort: when another process took a port between
// FreePorts and caddy's bind, StartFree starts again on new ports.
func TestStartFreeRetriesTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	attempts := 0
	c := StartFree(t, 1, func(p []int) Options {
		attempts++
		if attempts == 1 {
			p = []int{taken.Addr().(*net.TCPAddr).Port}
		}
		return Options{
			Caddyfile: fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n}\nhttp://127.0.0.1:%d {\n\trespond \"ok\"\n}\n", p[0]),
			Ports:     p,
		}
	})
	if attempts != 2 {
		t.Errorf("%d attempts, want 2", attempts)
	}
	if c.Ports[0] == taken.Addr().(*net.TCPAddr).Port {
		t.Error("caddy claims the taken port")
	}
}

// TestIsRace: a plain build is not reported as a race build.
func TestIsRace(t *testing.T) {
	bin, err := PlainBinary()
	if err != nil {
		t.Fatal(err)
	}
	if IsRace(bin) {
		t.Errorf("%s reported as a -race build", bin)
	}
}
