//go:build soak

package bench

import (
	"context"
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/bench/harness"
	"github.com/caddy-intercom/caddy-intercom/injector"
)

const (
	fleetSize    = 3
	fleetUsers   = 1000
	fleetWorkers = 32
	// fleetMinVisits and fleetMaxVisits bound each user's visits: at least
	// fleetMinVisits, then on until every instance has served the user, at
	// most fleetMaxVisits (the round-robin interleaves 32 workers, so
	// which instance serves a user's next visit is not fixed).
	fleetMinVisits = 4
	fleetMaxVisits = 24
	// fleetTimeout bounds the whole run.
	fleetTimeout = 5 * time.Minute
	// fleetInstanceHeader names the instance that served a response.
	fleetInstanceHeader = "X-Fleet-Instance"
	// fleetControls is how many users end with a visit as someone else,
	// which must shut the Messenger down: the proof that the marker reached
	// the instance and that the shutdown check below can see a shutdown.
	fleetControls = 20
)

// shutdownSetting is how the snippet's settings ask for Intercom('shutdown')
// before the boot.
const shutdownSetting = `"shutdown":true`

// TestFleet runs three caddy instances with one config (so one secret and
// one session-marker key) behind a fourth caddy that balances them
// round-robin, the way a fleet is deployed. 1 000 users, each with its own
// cookie jar, visit through the balancer until every instance has served
// them. Every page must carry one snippet whose Intercom JWT and Salesforce
// token verify and name the requester; the first visit sets the session
// marker and later visits, whichever instance serves them, must neither
// shut the Messenger down nor set the marker again: a marker that one
// instance set is good on the others. A few users then visit as someone
// else, which must shut the Messenger down, so the check cannot pass
// because the marker never arrived or the shutdown went unseen.
func TestFleet(t *testing.T) {
	upstream := startUpstream(t, harness.PageHandler())
	kf, key := keyFile(t)
	d, _ := harness.CaseByName("d")
	var backends []string
	for i := range fleetSize {
		port := ports(t, 1)[0]
		site := harness.Site{Port: port, Upstream: upstream, Case: d, KeyFile: kf, Transport: caddyUpstreamKeepalive,
			Directives: fmt.Sprintf("header %s %d", fleetInstanceHeader, i)}
		startCaddy(t, caddyBin, site.Caddyfile(), port)
		backends = append(backends, fmt.Sprintf("127.0.0.1:%d", port))
	}
	lbPort := ports(t, 1)[0]
	lb := fmt.Sprintf(`http://:%d {
	bind 127.0.0.1
	reverse_proxy %s {
		lb_policy round_robin
		transport http {
			%s
		}
	}
}
`, lbPort, strings.Join(backends, " "), caddyUpstreamKeepalive)
	startCaddy(t, caddyBin, lb, lbPort)
	pageURL := siteURL(lbPort) + fmt.Sprintf("/page/%d?echo=1", soakPageSize)

	ctx, cancel := context.WithTimeout(context.Background(), fleetTimeout)
	defer cancel()
	tr := &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: fleetWorkers, DisableCompression: true}
	defer tr.CloseIdleConnections()

	f := &fleet{t: t, url: pageURL, pub: &key.PublicKey}
	users := make(chan int)
	var wg sync.WaitGroup
	for range fleetWorkers {
		wg.Go(func() {
			for u := range users {
				f.runUser(ctx, tr, u)
			}
		})
	}
feed:
	for u := range fleetUsers {
		select {
		case users <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(users)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the fleet run did not finish within %s", fleetTimeout)
	}

	t.Logf("%d users, %d requests through the balancer; users served by all %d instances: %d, by two: %d; shutdown controls: %d",
		fleetUsers, f.requests.Load(), fleetSize, f.sawAll.Load(), f.sawTwo.Load(), f.controls.Load())
	if f.users.Load() != fleetUsers {
		t.Errorf("%d of %d users finished", f.users.Load(), fleetUsers)
	}
	// Each user is served by all three unless the interleaving kept it
	// from one instance for fleetMaxVisits visits, which is rare (about
	// 3·(2/3)^24 per user); being stuck on one instance means there was
	// no balancing at all.
	if f.sawAll.Load() < fleetUsers*99/100 {
		t.Errorf("only %d of %d users were served by all %d instances: is the balancer balancing?", f.sawAll.Load(), fleetUsers, fleetSize)
	}
	if f.controls.Load() != fleetControls {
		t.Errorf("%d shutdown controls ran, want %d", f.controls.Load(), fleetControls)
	}
}

// fleet is the shared state of TestFleet's workers.
type fleet struct {
	t   *testing.T
	url string
	pub *rsa.PublicKey

	requests, users, sawAll, sawTwo, controls atomic.Int64
}

// visit is what one response told.
type visit struct {
	instance  string
	shutdown  bool
	setMarker bool
}

// runUser makes user u's visits with its own cookie jar, checking each; the
// last fleetControls users also make one visit as someone else.
func (f *fleet) runUser(ctx context.Context, tr *http.Transport, u int) {
	t := f.t
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Error(err)
		return
	}
	client := &http.Client{Transport: tr, Jar: jar, Timeout: 60 * time.Second}
	user := fmt.Sprintf("fleet-user-%d", u)
	seen := map[string]int{}
	for i := 0; i < fleetMaxVisits && (i < fleetMinVisits || len(seen) < fleetSize); i++ {
		if ctx.Err() != nil {
			return
		}
		v, err := f.get(ctx, client, user)
		if err != nil {
			t.Errorf("%s visit %d: %v", user, i+1, err)
			return
		}
		seen[v.instance]++
		switch {
		case v.shutdown:
			t.Errorf("%s visit %d (instance %s; instances so far: %v): the snippet shuts the Messenger down for a user who did not change",
				user, i+1, v.instance, seen)
			return
		case i == 0 && !v.setMarker:
			t.Errorf("%s: the first visit set no session marker", user)
			return
		case i > 0 && v.setMarker:
			t.Errorf("%s visit %d (instance %s): the session marker was set again: the marker another instance set was not accepted",
				user, i+1, v.instance)
			return
		}
	}
	if !hasMarker(jar, f.url) {
		t.Errorf("%s: no session marker cookie in the jar", user)
		return
	}
	switch len(seen) {
	case fleetSize:
		f.sawAll.Add(1)
	case 2:
		f.sawTwo.Add(1)
	}
	f.users.Add(1)

	if u >= fleetUsers-fleetControls {
		// The control: the same browser, now someone else.
		other := user + "-changed"
		v, err := f.get(ctx, client, other)
		if err != nil {
			t.Errorf("%s as %s: %v", user, other, err)
			return
		}
		if !v.shutdown || !v.setMarker {
			t.Errorf("%s then %s in one browser (instance %s): shutdown %v, marker set %v; want both",
				user, other, v.instance, v.shutdown, v.setMarker)
			return
		}
		f.controls.Add(1)
	}
}

// get makes one visit as user and checks the page: the upstream's page for
// that user with one snippet whose tokens verify and name the user.
func (f *fleet) get(ctx context.Context, client *http.Client, user string) (visit, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return visit{}, err
	}
	req.Header.Set(harness.UserHeader, user)
	resp, err := client.Do(req)
	f.requests.Add(1)
	if err != nil {
		return visit{}, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return visit{}, err
	}
	v := visit{instance: resp.Header.Get(fleetInstanceHeader)}
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("instance %q: status %s", v.instance, resp.Status)
	}
	if v.instance == "" {
		return v, fmt.Errorf("no %s header", fleetInstanceHeader)
	}
	if err := checkSoakPage(body, resp.Header, user, f.pub); err != nil {
		return v, fmt.Errorf("instance %s: %w", v.instance, err)
	}
	v.shutdown = strings.Contains(string(body), shutdownSetting)
	for _, c := range resp.Cookies() {
		if c.Name == injector.MarkerCookie && c.MaxAge >= 0 {
			v.setMarker = true
		}
	}
	return v, nil
}

func hasMarker(jar http.CookieJar, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	for _, c := range jar.Cookies(u) {
		if c.Name == injector.MarkerCookie && c.Value != "" {
			return true
		}
	}
	return false
}
