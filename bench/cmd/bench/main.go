// Command bench measures what the intercom handler costs on top of Caddy's
// own reverse_proxy, with wrk, on this machine.
//
//	go run ./bench/cmd/bench            # from the repository root
//
// It builds cmd/caddy, starts an upstream (this program again, in its own
// process) that serves HTML pages of 10 kB, 100 kB and 1 MB with a ~2 KiB
// head, and one caddy per case and upstream. The upstreams (-upstreams):
//
//	static  the nginx-like condition of issue 15's goals: responses built
//	        once per path (Content-Length, ETag, Last-Modified) and written
//	        with one writev, so that the upstream costs next to nothing and
//	        caddy's proxying is all that is measured (harness.StaticServer)
//	go      the pages from a net/http handler that builds headers and
//	        parses the size on every request (harness.PageHandler), as
//	        measured before issue 15
//
// The cases:
//
//	(a) reverse_proxy alone, the baseline
//	(a+) a control: reverse_proxy alone, of pages as much bigger as (b)'s
//	     snippet makes them, to separate the cost of the extra bytes from
//	     the cost of the handler's work
//	(a++) (a+) with the response headers of an injected page (the page
//	     policy) sent by the upstream instead of its validators: plain
//	     reverse_proxy relaying a response shaped exactly like (b)'s, what
//	     the snippet's bytes and issue 13's header policy cost net/http and
//	     Caddy with none of the handler's work
//	(b) intercom, HS256 Intercom JWT on every page
//	(c) intercom + Salesforce RS256 token signed on every page
//	(d) (c) with `reuse 5m`
//
// Identity comes from the X-User header (trust 127.0.0.1); a wrk Lua script
// rotates through -users distinct users, each sending its session marker
// cookie as a returning browser does. The cases run one after another in
// alternating rounds (the order rotates every round), so that drift in the
// machine's load hits every case alike, and the table gives requests/s,
// p50/p99 latency, each case's ratio to (a) (the median of the per-round
// ratios), the p99 the case adds to (a) (the median of the per-round
// differences) and caddy's CPU time per request. Then it measures caddy's
// peak RSS (VmHWM) for (a) and (b) on 1 MB and 100 MB pages, one fresh
// process per measurement, and checks the figures against issue 15's goals,
// which are defined on the static upstream.
//
// Knobs (defaults in brackets): -rounds [3] × -round [5s] per case and size,
// after a -warmup [2s] run of each (about 6 minutes in all); -conns [32],
// -threads [2], -users [1000], -sizes [10k,100k,1m], -cases [a,a+,a++,b,c,d],
// -upstreams [static] (static,go runs both, doubling the time),
// -rss-sizes [1m,100m] ("" skips the RSS part), -profile DIR (an extra,
// unmeasured round that saves CPU and allocation profiles of each case from
// caddy's admin /debug/pprof). wrk is installed with apt-get when missing
// (-install=false to refuse).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddy-intercom/caddy-intercom/bench/harness"
	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"
	"github.com/caddy-intercom/caddy-intercom/internal/testkeys"
)

// upstreamEnv switches this program into upstream mode: it serves on the
// address in the variable until its stdin closes, harness.StaticServer or
// harness.PageHandler as upstreamKindEnv says.
const (
	upstreamEnv     = "INTERCOM_BENCH_UPSTREAM_ADDR"
	upstreamKindEnv = "INTERCOM_BENCH_UPSTREAM_KIND"
)

// The upstreams.
const (
	staticUpstream = "static"
	goUpstream     = "go"
)

// goalUpstream is the upstream issue 15's goals are measured on.
const goalUpstream = staticUpstream

type config struct {
	rounds    int
	round     time.Duration
	warmup    time.Duration
	conns     int
	threads   int
	users     int
	sizes     []string
	cases     []harness.Case
	upstreams []string
	rssSizes  []string
	profile   string
	install   bool
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	if addr := os.Getenv(upstreamEnv); addr != "" {
		serveUpstream(addr, os.Getenv(upstreamKindEnv))
		return
	}
	var cfg config
	var sizes, cases, upstreams, rssSizes string
	flag.IntVar(&cfg.rounds, "rounds", 3, "measured rounds; each runs every case on every page size once")
	flag.DurationVar(&cfg.round, "round", 5*time.Second, "length of one wrk run")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured wrk run per case and size before the rounds")
	flag.IntVar(&cfg.conns, "conns", 32, "wrk connections")
	flag.IntVar(&cfg.threads, "threads", 2, "wrk threads")
	flag.IntVar(&cfg.users, "users", 1000, "distinct users the wrk script rotates through")
	flag.StringVar(&sizes, "sizes", "10k,100k,1m", "page sizes (k = 1000 bytes, m = 1000000 bytes)")
	flag.StringVar(&cases, "cases", "a,a+,a++,b,c,d", "cases to run: a reverse_proxy, a+ reverse_proxy of pages padded by the snippet's size, a++ a+ with the page policy's headers from the upstream, b intercom, c +Salesforce, d +reuse")
	flag.StringVar(&upstreams, "upstreams", staticUpstream, "upstreams: static (precomputed responses, nginx-like: the goals' condition), go (net/http page generator)")
	flag.StringVar(&rssSizes, "rss-sizes", "1m,100m", "page sizes for the peak-RSS comparison of (a) and (b); empty skips it")
	flag.StringVar(&cfg.profile, "profile", "", "directory for CPU profiles from an extra, unmeasured round")
	flag.BoolVar(&cfg.install, "install", true, "install wrk with apt-get when it is missing")
	flag.Parse()

	cfg.sizes = splitList(sizes)
	cfg.rssSizes = splitList(rssSizes)
	cfg.upstreams = splitList(upstreams)
	for _, u := range cfg.upstreams {
		if u != staticUpstream && u != goUpstream {
			log.Fatalf("unknown upstream %q (want static or go)", u)
		}
	}
	if n := len(cfg.upstreams); n == 0 || n > 2 || n == 2 && cfg.upstreams[0] == cfg.upstreams[1] {
		log.Fatal("-upstreams: static, go, or both")
	}
	for _, name := range splitList(cases) {
		c, ok := harness.CaseByName(name)
		if !ok {
			log.Fatalf("unknown case %q (want a, a+, a++, b, c or d)", name)
		}
		cfg.cases = append(cfg.cases, c)
	}
	if len(cfg.cases) == 0 || cfg.cases[0].Name != "a" {
		log.Fatal("-cases must start with a: every ratio is to (a)")
	}
	for _, s := range append(slices.Clone(cfg.sizes), cfg.rssSizes...) {
		if _, err := harness.ParseSize(s); err != nil {
			log.Fatal(err)
		}
	}
	if cfg.rounds < 1 || cfg.round < time.Second || cfg.conns < 1 || cfg.threads < 1 || cfg.users < 1 {
		log.Fatal("-rounds, -conns, -threads, -users must be ≥ 1 and -round ≥ 1s")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		log.Fatal(err)
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// cleanup runs registered functions in reverse order. Its methods take a
// pointer so that `defer done.run()` sees what is added later (and keeps the
// upstream's stdin pipe reachable: a collected *os.File closes itself, which
// would stop the upstream).
type cleanup []func()

func (c *cleanup) add(f func()) { *c = append(*c, f) }
func (c *cleanup) run() {
	for _, f := range slices.Backward(*c) {
		f()
	}
	*c = nil
}

func run(ctx context.Context, cfg config) error {
	var done cleanup
	defer done.run()

	wrk, err := ensureWrk(cfg.install)
	if err != nil {
		return err
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "intercom-bench-")
	if err != nil {
		return err
	}
	done.add(func() { os.RemoveAll(dir) })

	perRun := cfg.round + 500*time.Millisecond
	total := time.Duration(len(cfg.upstreams)*len(cfg.sizes)*len(cfg.cases)) * (time.Duration(cfg.rounds)*perRun + cfg.warmup + 500*time.Millisecond)
	log.Printf("%d rounds × %d cases × %d sizes × %d upstreams of %s (+ warm-up): about %s, plus ~30 s for the RSS part",
		cfg.rounds, len(cfg.cases), len(cfg.sizes), len(cfg.upstreams), cfg.round, total.Round(time.Second))

	log.Printf("building cmd/caddy")
	bin := filepath.Join(dir, "caddy")
	if err := testcaddy.Build(root, bin, false); err != nil {
		return err
	}
	version, _ := exec.Command(bin, "version").Output()

	upstreams := map[string]string{} // kind → address
	for _, kind := range cfg.upstreams {
		if upstreams[kind], err = startUpstream(kind, &done); err != nil {
			return err
		}
	}
	keyPEM := testkeys.PKCS8PEM(testkeys.RSA())
	keyFile := filepath.Join(dir, "salesforce.key.pem")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	script := filepath.Join(dir, "users.lua")
	if err := os.WriteFile(script, []byte(userScript(cfg.users)), 0o600); err != nil {
		return err
	}

	loadStart := loadAvg()
	servers := map[serverKey]*server{}
	for _, up := range cfg.upstreams {
		if err := startCases(bin, cfg, up, upstreams[up], keyFile, servers, &done); err != nil {
			return err
		}
	}

	b := &bencher{cfg: cfg, wrk: wrk, script: script, servers: servers, results: map[key][]wrkResult{}}
	log.Printf("warm-up")
	for _, up := range cfg.upstreams {
		for _, size := range cfg.sizes {
			for _, c := range cfg.cases {
				if _, err := b.wrkRun(ctx, up, c, size, cfg.warmup); err != nil {
					return err
				}
			}
		}
	}
	for r := range cfg.rounds {
		for _, up := range cfg.upstreams {
			for _, size := range cfg.sizes {
				for i := range cfg.cases {
					c := cfg.cases[(i+r)%len(cfg.cases)]
					res, err := b.wrkRun(ctx, up, c, size, cfg.round)
					if err != nil {
						return err
					}
					log.Printf("round %d %-6s %5s (%s) %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  caddy %4.0f µs/req", r+1, up, size, c.Name,
						res.rps(), ms(res.P50), ms(res.P99), float64(res.CaddyCPU.Microseconds())/float64(res.Requests))
					k := key{up, c.Name, size}
					b.results[k] = append(b.results[k], res)
				}
			}
		}
	}
	loadEnd := loadAvg()
	outcomes := map[serverKey]string{}
	for k, s := range servers {
		outcomes[k] = s.outcomes()
	}
	if cfg.profile != "" {
		if err := b.profileRound(ctx); err != nil {
			return err
		}
	}
	for _, s := range servers {
		s.caddy.Stop()
	}

	// The RSS part runs on the goals' upstream when it ran, else on the
	// first one.
	rssUp := cfg.upstreams[0]
	if slices.Contains(cfg.upstreams, goalUpstream) {
		rssUp = goalUpstream
	}
	var rss []rssResult
	if len(cfg.rssSizes) > 0 {
		for _, size := range cfg.rssSizes {
			for _, name := range []string{"a", "b"} {
				c, _ := harness.CaseByName(name)
				log.Printf("peak RSS: (%s) on %s, %s upstream", name, size, rssUp)
				res, err := measureRSS(ctx, bin, c, upstreams[rssUp], size)
				if err != nil {
					return err
				}
				res.upstream = rssUp
				rss = append(rss, res)
			}
		}
	}

	fmt.Println()
	printMachine(os.Stdout, cfg, strings.TrimSpace(string(version)), loadStart, loadEnd)
	fmt.Println()
	b.printTable(os.Stdout)
	fmt.Println()
	for _, up := range cfg.upstreams {
		for _, c := range cfg.cases {
			if c.Intercom {
				fmt.Printf("(%s) %s upstream: intercom outcomes: %s\n", c.Name, up, outcomes[serverKey{up, c.Name}])
			}
		}
	}
	if len(rss) > 0 {
		fmt.Println()
		printRSS(os.Stdout, rss)
	}
	fmt.Println()
	b.printGoals(os.Stdout, rss)
	return nil
}

// startCases starts one caddy per case in front of the upstream up (at
// addr) and checks each before it is measured.
func startCases(bin string, cfg config, up, addr, keyFile string, servers map[serverKey]*server, done *cleanup) error {
	pad := 0                             // the bytes (b)'s snippet adds to a page, for the padded controls
	injected := map[string]http.Header{} // (b)'s response headers by size, which (a++) must match
	for _, c := range cfg.cases {
		s, err := startServer(bin, c, addr, keyFile, done)
		if err != nil {
			return err
		}
		servers[serverKey{up, c.Name}] = s
		if c.Padded {
			continue // checked once pad is known
		}
		for _, size := range cfg.sizes {
			added, hdr, err := s.check(size)
			if err != nil {
				return fmt.Errorf("case (%s) on %s, %s upstream: %w", c.Name, size, up, err)
			}
			if c.Name == "b" {
				pad, injected[size] = added, hdr
			}
		}
	}
	for _, c := range cfg.cases {
		if !c.Padded {
			continue
		}
		if pad == 0 {
			return fmt.Errorf("case (%s) needs case (b), whose snippet size it adds to the pages", c.Name)
		}
		s := servers[serverKey{up, c.Name}]
		s.pad = pad
		for _, size := range cfg.sizes {
			_, hdr, err := s.check(size)
			if err == nil && c.PolicyHeaders {
				err = sameHeaders(hdr, injected[size])
			}
			if err != nil {
				return fmt.Errorf("case (%s) on %s, %s upstream: %w", c.Name, size, up, err)
			}
		}
		log.Printf("(%s) pages are %d bytes bigger, like (b)'s", c.Name, pad)
	}
	return nil
}

// sameHeaders reports how got differs from want, Date aside.
func sameHeaders(got, want http.Header) error {
	names := func(h http.Header) []string {
		var n []string
		for k := range h {
			if k != "Date" {
				n = append(n, k)
			}
		}
		slices.Sort(n)
		return n
	}
	if g, w := names(got), names(want); !slices.Equal(g, w) {
		return fmt.Errorf("response headers %q, want (b)'s %q", g, w)
	}
	for _, k := range names(want) {
		if !slices.Equal(got[k], want[k]) {
			return fmt.Errorf("%s: %q, want (b)'s %q", k, got[k], want[k])
		}
	}
	return nil
}

// ensureWrk finds wrk, installing Debian's package when allowed.
func ensureWrk(install bool) (string, error) {
	if p, err := exec.LookPath("wrk"); err == nil {
		return p, nil
	}
	if !install {
		return "", errors.New("wrk is not installed (apt-get install wrk)")
	}
	var prefix []string
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			return "", errors.New("wrk is not installed and we are not root: apt-get install wrk")
		}
		prefix = []string{"sudo"}
	}
	aptGet := func(args ...string) error {
		argv := append(append(slices.Clone(prefix), "apt-get"), args...)
		log.Printf("running %s", strings.Join(argv, " "))
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	if err := aptGet("install", "-y", "wrk"); err != nil {
		if err := aptGet("update"); err != nil {
			return "", err
		}
		if err := aptGet("install", "-y", "wrk"); err != nil {
			return "", err
		}
	}
	return exec.LookPath("wrk")
}

// serveUpstream is the upstream process: it serves the pages, from
// harness.StaticServer (kind static) or harness.PageHandler (kind go),
// until its stdin (a pipe from the bench) closes.
func serveUpstream(addr, kind string) {
	if kind == staticUpstream {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatal(err)
		}
		srv := harness.NewStaticServer(ln)
		io.Copy(io.Discard, os.Stdin)
		srv.Close()
		return
	}
	srv := &http.Server{Addr: addr, Handler: harness.PageHandler(), IdleTimeout: 30 * time.Second}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// startUpstream runs this program in upstream mode (kind static or go) in
// its own process, so that serving pages does not compete with the
// measuring process's runtime, nor with the caddy under test's.
func startUpstream(kind string, done *cleanup) (string, error) {
	port, err := testcaddy.FreePort()
	if err != nil {
		return "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), upstreamEnv+"="+addr, upstreamKindEnv+"="+kind)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	testcaddy.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done.add(func() {
		stdin.Close()
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/page/10k")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return addr, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("upstream did not start: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// server is the caddy of one case.
type server struct {
	c     harness.Case
	port  int
	caddy *testcaddy.Caddy
	pad   int // bytes added to every page size (the a+ control)
}

func startServer(bin string, c harness.Case, upstream, keyFile string, done *cleanup) (*server, error) {
	var lastErr error
	for range 3 { // a free port can be taken in between: retry
		port, err := testcaddy.FreePort()
		if err != nil {
			return nil, err
		}
		site := harness.Site{Port: port, Upstream: upstream, Case: c, KeyFile: keyFile}
		cd, err := harness.StartCaddy(harness.Options{Bin: bin, Sites: site.Caddyfile(), Ports: []int{port}})
		if err != nil {
			lastErr = err
			continue
		}
		done.add(func() { cd.Stop() })
		return &server{c: c, port: port, caddy: cd}, nil
	}
	return nil, lastErr
}

func (s *server) url(size string) string {
	if s.pad > 0 {
		n, _ := harness.ParseSize(size)
		size = fmt.Sprint(n + s.pad)
	}
	path := "page"
	if s.c.PolicyHeaders {
		path = "policy-page"
	}
	return fmt.Sprintf("http://127.0.0.1:%d/%s/%s", s.port, path, size)
}

// check makes sure the case does what it says before it is measured: pages
// come back whole, with tokens exactly when the case injects them. It
// returns how many bytes the case added to the page, and the response's
// headers.
func (s *server) check(size string) (int, http.Header, error) {
	req, _ := http.NewRequest(http.MethodGet, s.url(size), nil)
	req.Header.Set(harness.UserHeader, "user-check")
	// The marker cookie the wrk script sends: with it, no Set-Cookie.
	req.AddCookie(&http.Cookie{Name: injector.MarkerCookie, Value: injector.NewSessionMarker([]byte(harness.Secret)).Value("user-check")})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, err
	}
	n, _ := harness.ParseSize(size)
	n += s.pad
	if resp.StatusCode != http.StatusOK {
		return 0, nil, fmt.Errorf("status %s", resp.Status)
	}
	injected := bytes.Contains(body, []byte(`"intercom_user_jwt":"`))
	sf := bytes.Contains(body, []byte(`"salesforce_identity_token":"`))
	switch {
	case injected != s.c.Intercom:
		return 0, nil, fmt.Errorf("injected = %v, want %v", injected, s.c.Intercom)
	case sf != s.c.Salesforce:
		return 0, nil, fmt.Errorf("salesforce token = %v, want %v", sf, s.c.Salesforce)
	case !s.c.Intercom && len(body) != n, s.c.Intercom && len(body) <= n:
		return 0, nil, fmt.Errorf("got %d bytes for a %d-byte page", len(body), n)
	case len(resp.Cookies()) > 0:
		return 0, nil, fmt.Errorf("Set-Cookie %q despite the session marker", resp.Header.Values("Set-Cookie"))
	}
	return len(body) - n, resp.Header, nil
}

// outcomes summarises the handler's response counters.
func (s *server) outcomes() string {
	m, err := s.caddy.Metrics()
	if err != nil {
		return err.Error()
	}
	var parts []string
	for k, v := range m {
		if o, ok := strings.CutPrefix(k, `caddy_intercom_responses_total{app_id="`+harness.AppID+`",outcome="`); ok {
			parts = append(parts, fmt.Sprintf("%s=%.0f", strings.TrimSuffix(o, `"}`), v))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// userScript is the wrk Lua script: it rotates through n users (each thread
// starting elsewhere in the list) and sends each user's session marker
// cookie, as a returning browser does, so that pages do not all set it
// anew. done() prints the figures as one JSON line.
func userScript(n int) string {
	marker := injector.NewSessionMarker([]byte(harness.Secret))
	var markers strings.Builder
	for i := range n {
		fmt.Fprintf(&markers, "%q,\n", marker.Value(fmt.Sprintf("user-%d", i)))
	}
	return fmt.Sprintf(wrkScript, n, markers.String(), injector.MarkerCookie)
}

const wrkScript = `
local users = %d
local markers = {
%s}
local n = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  n = (tid or 0) * 7919
end
function request()
  n = n + 1
  local u = n %% users
  return wrk.format("GET", nil, {["X-User"] = "user-" .. u, ["Cookie"] = "%s=" .. markers[u + 1]})
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"errors":%%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
`

// wrkResult is one wrk run.
type wrkResult struct {
	Requests   int64 `json:"requests"`
	DurationUS int64 `json:"duration_us"`
	Bytes      int64 `json:"bytes"`
	P50        int64 `json:"p50_us"`
	P90        int64 `json:"p90_us"`
	P99        int64 `json:"p99_us"`
	Errors     int64 `json:"errors"`
	// CaddyCPU is the CPU time caddy used during the run.
	CaddyCPU time.Duration `json:"-"`
}

func (r wrkResult) rps() float64 { return float64(r.Requests) / (float64(r.DurationUS) / 1e6) }

func ms(us int64) float64 { return float64(us) / 1000 }

// key names the runs of one case on one page size behind one upstream.
type key struct{ up, c, size string }

// serverKey names the caddy of one case behind one upstream.
type serverKey struct{ up, c string }

type bencher struct {
	cfg     config
	wrk     string
	script  string
	servers map[serverKey]*server
	results map[key][]wrkResult
}

func (b *bencher) wrkRun(ctx context.Context, up string, c harness.Case, size string, d time.Duration) (wrkResult, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	args := []string{"-t", fmt.Sprint(b.cfg.threads), "-c", fmt.Sprint(b.cfg.conns), "-d", fmt.Sprintf("%ds", secs),
		"--timeout", "10s", "-s", b.script, b.servers[serverKey{up, c.Name}].url(size)}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cd := b.servers[serverKey{up, c.Name}].caddy
	cpu0, cerr := cd.CPUTime()
	out, err := exec.CommandContext(ctx, b.wrk, args...).CombinedOutput()
	cpu1, cerr1 := cd.CPUTime()
	if cerr = errors.Join(cerr, cerr1); cerr != nil {
		return wrkResult{}, cerr
	}
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	_, js, ok := bytes.Cut(out, []byte("BENCHJSON "))
	if !ok {
		return wrkResult{}, fmt.Errorf("wrk printed no result:\n%s", out)
	}
	js, _, _ = bytes.Cut(js, []byte("\n"))
	var res wrkResult
	if err := json.Unmarshal(js, &res); err != nil {
		return wrkResult{}, fmt.Errorf("wrk result %q: %w", js, err)
	}
	if res.Requests == 0 || res.DurationUS == 0 {
		return wrkResult{}, fmt.Errorf("wrk made no requests:\n%s", out)
	}
	res.CaddyCPU = cpu1 - cpu0
	return res, nil
}

// profileRound runs one more round, unmeasured, while caddy records a CPU
// profile and an allocation profile of each case. The log gives each run's
// request count, to turn profile totals into per-request figures.
func (b *bencher) profileRound(ctx context.Context) error {
	if err := os.MkdirAll(b.cfg.profile, 0o755); err != nil {
		return err
	}
	for _, up := range b.cfg.upstreams {
		for _, size := range b.cfg.sizes {
			for _, c := range b.cfg.cases {
				var wg sync.WaitGroup
				errs := make([]error, 2)
				for i, kind := range []string{"profile", "allocs"} {
					name := fmt.Sprintf("%s-%s-%s.pprof", kind, size, c.Name)
					if len(b.cfg.upstreams) > 1 {
						name = fmt.Sprintf("%s-%s-%s-%s.pprof", kind, up, size, c.Name)
					}
					f, err := os.Create(filepath.Join(b.cfg.profile, name))
					if err != nil {
						return err
					}
					wg.Go(func() {
						defer f.Close()
						errs[i] = b.servers[serverKey{up, c.Name}].caddy.Profile(ctx, kind, b.cfg.round-time.Second, f)
					})
				}
				res, err := b.wrkRun(ctx, up, c, size, b.cfg.round)
				wg.Wait()
				if err = errors.Join(append(errs, err)...); err != nil {
					return err
				}
				log.Printf("profiled (%s) on %s, %s upstream: %.0f req/s (profiles cover the first %s of %s)", c.Name, size, up, res.rps(),
					b.cfg.round-time.Second, b.cfg.round)
			}
		}
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// summary aggregates the rounds of one case and size behind one upstream.
type summary struct {
	rps, p50, p99 float64 // req/s over all rounds; medians of the rounds' p50/p99 (ms)
	cpuPerReq     float64 // caddy's CPU µs per request over all rounds
	errors        int64
	ratios        []float64 // per round: this case's req/s over (a)'s in the same round
	p99Added      []float64 // per round: this case's p99 minus (a)'s in the same round (ms)
}

func (b *bencher) summarize(up, c, size string) summary {
	rs := b.results[key{up, c, size}]
	base := b.results[key{up, "a", size}]
	var s summary
	var reqs, dur int64
	var cpu time.Duration
	var p50s, p99s []float64
	for i, r := range rs {
		reqs += r.Requests
		cpu += r.CaddyCPU
		dur += r.DurationUS
		p50s = append(p50s, ms(r.P50))
		p99s = append(p99s, ms(r.P99))
		s.errors += r.Errors
		if i < len(base) {
			s.ratios = append(s.ratios, r.rps()/base[i].rps())
			s.p99Added = append(s.p99Added, ms(r.P99)-ms(base[i].P99))
		}
	}
	s.rps = float64(reqs) / (float64(dur) / 1e6)
	s.p50, s.p99 = median(p50s), median(p99s)
	s.cpuPerReq = float64(cpu.Microseconds()) / float64(reqs)
	return s
}

func (b *bencher) printTable(w io.Writer) {
	fmt.Fprintf(w, "%d connections, %d wrk threads, %d users, %d rounds of %s per case and page (order rotating). req/s: over all rounds; × (a): median of the rounds' ratios to (a) run next to it (same upstream); latencies: median of the rounds' p50/p99; p99 added: median of the rounds' p99 − (a)'s p99; caddy CPU: user+system time per request.\n\n",
		b.cfg.conns, b.cfg.threads, b.cfg.users, b.cfg.rounds, b.cfg.round)
	fmt.Fprintln(w, "| upstream | page | case | req/s | × (a) | × (a) per round | p50 ms | p99 ms | p99 added ms | p99 added per round | caddy CPU µs/req | errors |")
	fmt.Fprintln(w, "|---|---|---|--:|--:|---|--:|--:|--:|---|--:|--:|")
	for _, up := range b.cfg.upstreams {
		for _, size := range b.cfg.sizes {
			for _, c := range b.cfg.cases {
				s := b.summarize(up, c.Name, size)
				var per, perAdded []string
				for i, r := range s.ratios {
					per = append(per, fmt.Sprintf("%.2f", r))
					perAdded = append(perAdded, fmt.Sprintf("%+.2f", s.p99Added[i]))
				}
				ratio, added := "1", "—"
				if c.Name != "a" {
					ratio = fmt.Sprintf("%.2f", median(s.ratios))
					added = fmt.Sprintf("%+.2f", median(s.p99Added))
				} else {
					perAdded = nil
				}
				fmt.Fprintf(w, "| %s | %s | (%s) %s | %.0f | %s | %s | %.2f | %.2f | %s | %s | %.0f | %d |\n",
					up, size, c.Name, c.Label, s.rps, ratio, strings.Join(per, " "), s.p50, s.p99, added, strings.Join(perAdded, " "), s.cpuPerReq, s.errors)
			}
		}
	}
}

// rssResult is caddy's memory serving one page size in one case.
type rssResult struct {
	c           harness.Case
	upstream    string
	size        string
	requests    int
	concurrency int
	start, peak uint64
}

// measureRSS starts a fresh caddy for case c and fetches pages of the given
// size (1 MB: 320 requests over 32 connections; bigger: 4 requests over 2),
// then reads its peak RSS (VmHWM).
func measureRSS(ctx context.Context, bin string, c harness.Case, upstream, size string) (rssResult, error) {
	var done cleanup
	defer done.run()
	s, err := startServer(bin, c, upstream, "", &done)
	if err != nil {
		return rssResult{}, err
	}
	n, _ := harness.ParseSize(size)
	res := rssResult{c: c, size: size, requests: 320, concurrency: 32}
	if n > 8<<20 {
		res.requests, res.concurrency = 4, 2
	}
	before, err := s.caddy.Memory()
	if err != nil {
		return res, err
	}
	res.start = before.RSS
	if err := fetchMany(ctx, s.url(size), res.requests, res.concurrency, n); err != nil {
		return res, fmt.Errorf("%w\ncaddy logs:\n%s", err, s.caddy.Logs())
	}
	after, err := s.caddy.Memory()
	if err != nil {
		return res, err
	}
	res.peak = after.PeakRSS
	return res, nil
}

// fetchMany GETs url requests times over conc connections, reading every
// body to the end and checking it is at least min bytes long.
func fetchMany(ctx context.Context, url string, requests, conc, min int) error {
	tr := &http.Transport{MaxConnsPerHost: conc, MaxIdleConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	jobs := make(chan int)
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for i := range jobs {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				req.Header.Set(harness.UserHeader, fmt.Sprintf("user-%d", i%1000))
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				got, err := io.Copy(io.Discard, bufio.NewReaderSize(resp.Body, 64<<10))
				resp.Body.Close()
				if err == nil && (resp.StatusCode != http.StatusOK || got < int64(min)) {
					err = fmt.Errorf("%s: status %d, %d bytes", url, resp.StatusCode, got)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for i := range requests {
		select {
		case jobs <- i:
		case err = <-errs:
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// ratio is the median over rounds of case c's req/s over case base's in the
// same round behind upstream up; ok is false when either did not run.
func (b *bencher) ratio(up, c, base, size string) (float64, bool) {
	rs, bs := b.results[key{up, c, size}], b.results[key{up, base, size}]
	if len(rs) == 0 || len(rs) != len(bs) {
		return 0, false
	}
	var rr []float64
	for i := range rs {
		rr = append(rr, rs[i].rps()/bs[i].rps())
	}
	return median(rr), true
}

// p99Added is the median over rounds of case c's p99 minus (a)'s in the
// same round behind upstream up, in ms; ok is false when either did not run.
func (b *bencher) p99Added(up, c, size string) (float64, bool) {
	if len(b.results[key{up, c, size}]) == 0 || len(b.results[key{up, "a", size}]) == 0 {
		return 0, false
	}
	s := b.summarize(up, c, size)
	if len(s.p99Added) == 0 {
		return 0, false
	}
	return median(s.p99Added), true
}

// Issue 15's goals, measured on the static upstream.
const (
	goalRatio      = 0.95 // (b)/(a) at 10 kB and 100 kB; (d)/(b)
	goalP99AddedMS = 0.5  // p99 (b) − (a) at 10 kB and 100 kB
	goalRSSMiB     = 16   // peak RSS (b) − (a) on 1 MB and 100 MB pages
)

// printGoals prints one line per goal of issue 15: met, MISSED, or not
// measured (and what to run to measure it).
func (b *bencher) printGoals(w io.Writer, rss []rssResult) {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	up := goalUpstream
	fmt.Fprintf(w, "Goals (issue 15, %s upstream):\n", up)
	if !slices.Contains(b.cfg.upstreams, up) {
		fmt.Fprintf(w, "- not measured: the goals are defined on the %s upstream (-upstreams %s)\n", up, up)
		return
	}
	// sizeNamed finds the -sizes entry for n bytes.
	sizeNamed := func(n int) (string, bool) {
		for _, s := range b.cfg.sizes {
			if m, _ := harness.ParseSize(s); m == n {
				return s, true
			}
		}
		return "", false
	}
	for _, n := range []int{10_000, 100_000} {
		label := fmt.Sprintf("%dk", n/1000)
		size, ok := sizeNamed(n)
		if !ok {
			fmt.Fprintf(w, "- %s: (b)/(a) ≥ %.2f, p99 added ≤ %.1f ms, (d)/(b) ≥ %.2f: not measured (add %s to -sizes)\n",
				label, goalRatio, goalP99AddedMS, goalRatio, label)
			continue
		}
		if r, ok := b.ratio(up, "b", "a", size); ok {
			fmt.Fprintf(w, "- %s: intercom HS256 (b)/(a) = %.3f (goal ≥ %.2f: %s)\n", label, r, goalRatio, verdict(r >= goalRatio))
		} else {
			fmt.Fprintf(w, "- %s: intercom HS256 (b)/(a) ≥ %.2f: not measured (cases a and b)\n", label, goalRatio)
		}
		if r, ok := b.ratio(up, "b", "a++", size); ok {
			fmt.Fprintf(w, "  %s, for reference: the handler's own work, (b)/(a++) = %.3f ((a++) relays (b)'s response with no handler)\n", label, r)
		}
		if d, ok := b.p99Added(up, "b", size); ok {
			fmt.Fprintf(w, "- %s: p99 added by intercom HS256 (b) − (a) = %+.2f ms (goal ≤ %.1f ms: %s)\n", label, d, goalP99AddedMS, verdict(d <= goalP99AddedMS))
		} else {
			fmt.Fprintf(w, "- %s: p99 added by intercom HS256 ≤ %.1f ms: not measured (cases a and b)\n", label, goalP99AddedMS)
		}
	}
	// Salesforce reuse against HS256-only holds at every page size.
	for _, size := range b.cfg.sizes {
		if r, ok := b.ratio(up, "d", "b", size); ok {
			fmt.Fprintf(w, "- %s: Salesforce reuse 5m (d)/(b) = %.3f (goal ≥ %.2f: %s)\n", size, r, goalRatio, verdict(r >= goalRatio))
		} else {
			fmt.Fprintf(w, "- %s: Salesforce reuse 5m (d)/(b) ≥ %.2f: not measured (cases b and d)\n", size, goalRatio)
		}
	}
	base := map[string]uint64{}
	for _, r := range rss {
		if r.c.Name == "a" {
			base[r.size] = r.peak
		}
	}
	for _, n := range []int{1_000_000, 100_000_000} {
		label := fmt.Sprintf("%dm", n/1_000_000)
		found := false
		for _, r := range rss {
			if m, _ := harness.ParseSize(r.size); m != n || r.c.Name != "b" {
				continue
			}
			found = true
			d := mib(r.peak) - mib(base[r.size])
			fmt.Fprintf(w, "- %s: peak RSS (b) − (a) = %+.1f MiB, %s upstream (goal ≤ %d MiB: %s)\n", label, d, r.upstream, goalRSSMiB, verdict(d <= goalRSSMiB))
		}
		if !found {
			fmt.Fprintf(w, "- %s: peak RSS (b) − (a) ≤ %d MiB: not measured (add %s to -rss-sizes)\n", label, goalRSSMiB, label)
		}
	}
}

func printRSS(w io.Writer, rs []rssResult) {
	fmt.Fprintf(w, "Peak RSS of caddy (VmHWM), a fresh process per row, %s upstream:\n", rs[0].upstream)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| page | case | requests × connections | RSS at start MiB | peak RSS MiB | peak − (a) MiB |")
	fmt.Fprintln(w, "|---|---|---|--:|--:|--:|")
	base := map[string]uint64{}
	for _, r := range rs {
		if r.c.Name == "a" {
			base[r.size] = r.peak
		}
	}
	for _, r := range rs {
		diff := "—"
		if r.c.Name != "a" {
			diff = fmt.Sprintf("%+.1f", mib(r.peak)-mib(base[r.size]))
		}
		fmt.Fprintf(w, "| %s | (%s) %s | %d × %d | %.1f | %.1f | %s |\n",
			r.size, r.c.Name, r.c.Label, r.requests, r.concurrency, mib(r.start), mib(r.peak), diff)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func printMachine(w io.Writer, cfg config, version, loadStart, loadEnd string) {
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if name, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int
				fmt.Sscan(v, &kb)
				mem = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
			}
		}
	}
	kernel, _ := exec.Command("uname", "-sr").Output()
	fmt.Fprintf(w, "Machine: %s, %d CPUs (shared by wrk, the upstream and caddy), %s RAM, %s, %s\n",
		model, runtime.NumCPU(), mem, strings.TrimSpace(string(kernel)), runtime.Version())
	fmt.Fprintf(w, "Caddy %s; load average before/after: %s / %s\n", version, loadStart, loadEnd)
}
