//go:build soak

package bench

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-intercom/caddy-intercom/bench/harness"
)

var soakDuration = flag.Duration("soak.duration", 0, "length of TestSoak's measured phase (default 12s; 60s with SOAK=long)")

// soakLength is the measured phase of TestSoak: short by default so that it
// runs in CI, ≥ 60 s in the long mode.
func soakLength() time.Duration {
	if *soakDuration > 0 {
		return *soakDuration
	}
	if os.Getenv("SOAK") == "long" {
		return 60 * time.Second
	}
	return 12 * time.Second
}

const (
	soakConns    = 256
	soakUsers    = 1000
	soakPageSize = 10000
	// soakMaxRequests bounds the test by count as well as by time.
	soakMaxRequests = 20_000_000
	// soakHeapGrowth is the generous bound on caddy's in-use heap growth
	// between the end of the warm-up and the end of the soak (both after a
	// forced GC).
	soakHeapGrowth = 32 << 20
	// goroutineSlack allows for the odd background goroutine (timers, the
	// admin endpoint's own connection).
	goroutineSlack = 8
)

var (
	jwtRE  = regexp.MustCompile(`"intercom_user_jwt":"([A-Za-z0-9_.-]+)"`)
	sfRE   = regexp.MustCompile(`"salesforce_identity_token":"([A-Za-z0-9_.-]+)"`)
	userRE = regexp.MustCompile(`"user_id":"([^"]*)"`)
)

// soakStats counts what the clients saw.
type soakStats struct {
	requests  atomic.Int64
	ok        atomic.Int64
	non2xx    atomic.Int64
	transport atomic.Int64
	crossUser atomic.Int64 // a token or page naming someone else
	malformed atomic.Int64 // page not the upstream's with exactly one snippet

	mu       sync.Mutex
	examples []string
}

func (s *soakStats) fail(counter *atomic.Int64, format string, args ...any) {
	counter.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.examples) < 10 {
		s.examples = append(s.examples, fmt.Sprintf(format, args...))
	}
}

// TestSoak runs 256 connections of 1 000 rotating users against intercom with
// a Salesforce token reused for 5 minutes, and checks every response: the
// page is the upstream's page for that user with exactly one snippet, whose
// Intercom JWT (HS256, verified) and Salesforce token (RS256, verified) both
// name the requester. No non-2xx, no transport errors. Afterwards caddy's
// goroutines return to their baseline and its heap has not grown beyond a
// generous bound.
func TestSoak(t *testing.T) {
	length := soakLength()
	upstream := startUpstream(t, harness.PageHandler())
	kf, key := keyFile(t)
	port := ports(t, 1)[0]
	d, _ := harness.CaseByName("d")
	site := harness.Site{Port: port, Upstream: upstream, Case: d, KeyFile: kf, Transport: caddyUpstreamKeepalive}
	c := startCaddy(t, caddyBin, site.Caddyfile(), port)

	baseline, err := c.Goroutines()
	if err != nil {
		t.Fatal(err)
	}
	// One transport per worker, each keeping one connection: 256 real
	// keep-alive connections whatever the client's speed.
	clients := make([]*http.Client, soakConns)
	transports := make([]*http.Transport, soakConns)
	for i := range clients {
		transports[i] = &http.Transport{DialContext: dialer.DialContext, MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}
		clients[i] = &http.Client{Transport: transports[i], Timeout: 30 * time.Second}
	}
	hangUp := func() {
		for _, tr := range transports {
			tr.CloseIdleConnections()
		}
	}
	defer hangUp()
	url := siteURL(port) + fmt.Sprintf("/page/%d?echo=1", soakPageSize)

	// Warm-up: the token cache and the pools filled before the heap
	// baseline is taken, with the connections closed again, as at the end.
	warm := &soakStats{}
	runSoak(clients, url, &key.PublicKey, min(3*time.Second, length/4), warm)
	hangUp()
	waitGoroutines(t, c, baseline, goroutineSlack)
	heapBefore, err := c.HeapInuseAfterGC()
	if err != nil {
		t.Fatal(err)
	}

	stats := &soakStats{}
	var peak atomic.Int64
	sample := time.AfterFunc(length/2, func() { // halfway through, for the log
		n, _ := c.Goroutines()
		peak.Store(int64(n))
	})
	defer sample.Stop()
	start := time.Now()
	runSoak(clients, url, &key.PublicKey, length, stats)
	elapsed := time.Since(start)

	hangUp()
	after := waitGoroutines(t, c, baseline, goroutineSlack)
	heapAfter, err := c.HeapInuseAfterGC()
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := c.Metrics()
	if err != nil {
		t.Fatal(err)
	}

	total := stats.requests.Load() + warm.requests.Load()
	injected := int64(metrics[`caddy_intercom_responses_total{app_id="`+harness.AppID+`",outcome="injected"}`])
	t.Logf("soak %s: %d requests (%.0f/s) over %d connections for %d users; ok %d, non-2xx %d, transport errors %d, cross-user %d, malformed %d",
		elapsed.Round(time.Millisecond), stats.requests.Load(), float64(stats.requests.Load())/elapsed.Seconds(), soakConns, soakUsers,
		stats.ok.Load(), stats.non2xx.Load(), stats.transport.Load(), stats.crossUser.Load(), stats.malformed.Load())
	t.Logf("caddy goroutines: baseline %d, under load %d, after %d; heap in use after GC: %.1f MiB → %.1f MiB; injected %d of %d requests",
		baseline, peak.Load(), after, mib(heapBefore), mib(heapAfter), injected, total)

	for _, s := range []*soakStats{warm, stats} {
		for _, e := range s.examples {
			t.Error(e)
		}
	}
	if stats.ok.Load() < 1000 {
		t.Errorf("only %d good responses: the soak did not run", stats.ok.Load())
	}
	if n := stats.requests.Load() - stats.ok.Load(); n != 0 {
		t.Errorf("%d of %d responses failed a check", n, stats.requests.Load())
	}
	if injected != total {
		t.Errorf("caddy counted %d injected pages, the clients made %d requests", injected, total)
	}
	if e := metrics[`caddy_intercom_responses_total{app_id="`+harness.AppID+`",outcome="error"}`]; e != 0 {
		t.Errorf("caddy counted %.0f errors", e)
	}
	if heapAfter > heapBefore+soakHeapGrowth {
		t.Errorf("caddy's heap grew from %.1f MiB to %.1f MiB (bound +%d MiB)", mib(heapBefore), mib(heapAfter), soakHeapGrowth>>20)
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// runSoak makes requests from one goroutine per client until length has
// passed.
func runSoak(clients []*http.Client, url string, pub *rsa.PublicKey, length time.Duration, stats *soakStats) {
	ctx, cancel := context.WithTimeout(context.Background(), length)
	defer cancel()
	var wg sync.WaitGroup
	for w, client := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil && stats.requests.Load() < soakMaxRequests {
				user := fmt.Sprintf("user-%d", rng.IntN(soakUsers))
				soakRequest(client, url, user, pub, stats)
			}
		})
	}
	wg.Wait()
}

func soakRequest(client *http.Client, url, user string, pub *rsa.PublicKey, stats *soakStats) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		panic(err)
	}
	req.Header.Set(harness.UserHeader, user)
	resp, err := client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err != nil {
		stats.requests.Add(1)
		stats.fail(&stats.transport, "%s: %v", user, err)
		return
	}
	stats.requests.Add(1)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		stats.fail(&stats.non2xx, "%s: status %s", user, resp.Status)
		return
	}
	if err := checkSoakPage(body, resp.Header, user, pub); err != nil {
		counter := &stats.malformed
		if errors.Is(err, errCrossUser) {
			counter = &stats.crossUser
		}
		stats.fail(counter, "%s: %v", user, err)
		return
	}
	stats.ok.Add(1)
}

var errCrossUser = errors.New("names another user")

// checkSoakPage verifies one soak response for user.
func checkSoakPage(body []byte, hdr http.Header, user string, pub *rsa.PublicKey) error {
	want := harness.EchoPage(soakPageSize, user)
	snippet, ok := harness.SplitInjection(body, want)
	if !ok {
		if bytes.Contains(body, []byte(harness.EchoMeta(user))) {
			return fmt.Errorf("page is not the upstream's page with one snippet inserted (%d bytes)", len(body))
		}
		return fmt.Errorf("%w: the page was made for someone else", errCrossUser)
	}
	if cc := hdr.Get("Cache-Control"); cc != "private, no-store" {
		return fmt.Errorf("Cache-Control %q", cc)
	}
	users := userRE.FindAllSubmatch(snippet, -1)
	if len(users) != 1 || string(users[0][1]) != user {
		return fmt.Errorf("%w: settings user_id %q", errCrossUser, users)
	}
	m := jwtRE.FindAllSubmatch(snippet, -1)
	if len(m) != 1 {
		return fmt.Errorf("%d intercom_user_jwt in the snippet", len(m))
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(string(m[0][1]), claims, func(*jwt.Token) (any, error) { return []byte(harness.Secret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired()); err != nil {
		return fmt.Errorf("intercom_user_jwt does not verify: %v", err)
	}
	if got, _ := claims["user_id"].(string); got != user {
		return fmt.Errorf("%w: intercom_user_jwt user_id %q", errCrossUser, got)
	}
	m = sfRE.FindAllSubmatch(snippet, -1)
	if len(m) != 1 {
		return fmt.Errorf("%d salesforce_identity_token in the snippet", len(m))
	}
	sfClaims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(string(m[0][1]), sfClaims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithIssuer(harness.Issuer))
	if err != nil {
		return fmt.Errorf("salesforce_identity_token does not verify: %v", err)
	}
	if kid, _ := tok.Header["kid"].(string); kid != harness.KeyID {
		return fmt.Errorf("salesforce_identity_token kid %q", kid)
	}
	if sub, _ := sfClaims["sub"].(string); sub != user {
		return fmt.Errorf("%w: salesforce_identity_token sub %q", errCrossUser, sub)
	}
	return nil
}
