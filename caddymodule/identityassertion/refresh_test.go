package identityassertion

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func claimsFor(iss, aud, sub string) jwt.MapClaims {
	now := time.Now().Unix()
	return jwt.MapClaims{"iss": iss, "aud": aud, "sub": sub, "iat": now, "exp": now + 300}
}

func jwtHandler(url string, tm *timing) *Handler {
	return &Handler{Provider: providerJWT, Header: "X-Assertion", JWKSURL: url,
		Issuer: "https://auth.internal", Audience: []string{"app"}, timing: tm}
}

func madeUpKid() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "made-up-" + hex.EncodeToString(b)
}

// TestRotatedKeyHonoured: a kid the handler has never seen is honoured once
// the key server publishes it — here while a flood of made-up kids keeps the
// refresher busy, so the real rotation cannot be starved by an attacker.
func TestRotatedKeyHonoured(t *testing.T) {
	testKeys()
	k1 := signer{kid: "k1", key: rsaKey}
	k2 := signer{kid: "k2", key: rsaKey2}
	ks := newKeyServer(t, true, k1)
	h := jwtHandler(ks.URL()+"/jwks", fastTiming())
	h.tlsRoots = ks.pool()
	provision(t, h)
	hdr := func(s signer) map[string]string {
		return map[string]string{"X-Assertion": s.sign(claimsFor("https://auth.internal", "app", "user-"+s.kid), nil)}
	}
	if o := serve(t, h, hdr(k1)); o.user != "user-k1" {
		t.Fatalf("k1 not honoured: %+v", o)
	}
	if o := serve(t, h, hdr(k2)); o.user != "" {
		t.Fatalf("k2 honoured before the key server published it: %+v", o)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				serve(t, h, hdr(signer{kid: madeUpKid(), key: rsaKey2}))
			}
		}()
	}
	ks.setKeys(k1, k2) // the provider rotates k2 in
	poll(t, 5*time.Second, "rotated-in k2 honoured", func() bool { return serve(t, h, hdr(k2)).user == "user-k2" })
	close(stop)
	wg.Wait()
	if o := serve(t, h, hdr(k1)); o.user != "user-k1" {
		t.Errorf("k1 (still published) no longer honoured: %+v", o)
	}
}

// TestRotationFirstRequestHonoured: when no fetch ran within minInterval,
// the first request carrying a new kid waits for the fetch it triggers and is
// honoured itself.
func TestRotationFirstRequestHonoured(t *testing.T) {
	testKeys()
	k1 := signer{kid: "k1", key: ecKey}
	k2 := signer{kid: "k2", key: ecKey2}
	ks := newKeyServer(t, false, k1)
	tm := fastTiming()
	tm.minInterval = 0
	h := jwtHandler(ks.URL()+"/jwks", tm)
	h.Algorithms = []string{"ES256"}
	provision(t, h)
	ks.setKeys(k1, k2)
	tok := k2.sign(claimsFor("https://auth.internal", "app", "first"), nil)
	if o := serve(t, h, map[string]string{"X-Assertion": tok}); o.user != "first" {
		t.Fatalf("first request with rotated-in k2: %+v", o)
	}
}

// TestKeyServerDownAtStart: Caddy starts, requests are anonymous (401 with
// require) and counted keys_unavailable, and the key server is used once it
// comes up.
func TestKeyServerDownAtStart(t *testing.T) {
	testKeys()
	k1 := signer{kid: "k1", key: rsaKey}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now

	for _, tc := range []struct {
		name string
		h    func(url string) *Handler
		tok  func() string
	}{
		{"jwks", func(url string) *Handler { return jwtHandler(url+"/jwks", fastTiming()) },
			func() string { return k1.sign(claimsFor("https://auth.internal", "app", "late"), nil) }},
		{"aws_alb", func(url string) *Handler {
			return &Handler{Provider: providerALB, Region: "eu-west-1", Signer: []string{albARN}, JWKSURL: url + "/alb",
				Header: "X-Assertion", timing: fastTiming()}
		}, func() string {
			now := time.Now().Unix()
			return signer{kid: "k1", key: ecKey}.signALB(jwt.MapClaims{"sub": "late"}, map[string]any{"signer": albARN, "exp": now + 300})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h("http://" + addr)
			h.timing.startWait = 50 * time.Millisecond
			start := time.Now()
			provision(t, h) // must not fail
			t.Logf("provisioned in %s with the key server down", time.Since(start))
			hdr := map[string]string{"X-Assertion": tc.tok()}
			o := serve(t, h, hdr)
			if !o.passed || o.user != "" {
				t.Fatalf("key server down: %+v, want anonymous", o)
			}
			h.Require = true
			if o := serve(t, h, hdr); o.passed || o.status != 401 {
				t.Fatalf("key server down with require: %+v, want 401", o)
			}
			h.Require = false
			ks := newKeyServerAt(t, addr, k1, signer{kid: "k1-ec", key: ecKey})
			ks.setKeys(k1)
			if tc.name == "aws_alb" {
				ks.setKeys(signer{kid: "k1", key: ecKey})
			}
			poll(t, 5*time.Second, "keys used after the key server came up", func() bool { return serve(t, h, hdr).user == "late" })
			ks.srv.Close()
		})
	}
}

// TestMadeUpKidFlood: 1000 requests with made-up kids (signed, plausible
// claims), 50 at a time. With the default intervals the key fetches stay
// within the promised bound (200 → at most 20); with short intervals the
// fetches follow the rate law (one per minInterval, aws_alb: a burst and then
// one per albEvery) however many kids arrive.
func TestMadeUpKidFlood(t *testing.T) {
	testKeys()
	k1 := signer{kid: "k1", key: ecKey}
	for _, tc := range []struct {
		name string
		h    func(ks *keyServer, tm *timing) *Handler
		tok  func(kid string) string
		law  func(tm timing, elapsed time.Duration) int64
	}{
		{"jwks", func(ks *keyServer, tm *timing) *Handler {
			h := jwtHandler(ks.URL()+"/jwks", tm)
			h.Algorithms = []string{"ES256"}
			return h
		}, func(kid string) string {
			return signer{kid: kid, key: ecKey2}.sign(claimsFor("https://auth.internal", "app", "mallory"), nil)
		}, func(tm timing, elapsed time.Duration) int64 { return 2 + int64(elapsed/tm.minInterval) }},
		{"aws_alb", func(ks *keyServer, tm *timing) *Handler {
			return &Handler{Provider: providerALB, Region: "eu-west-1", Signer: []string{albARN}, JWKSURL: ks.URL() + "/alb",
				Header: "X-Assertion", timing: tm}
		}, func(kid string) string {
			return signer{kid: kid, key: ecKey2}.signALB(jwt.MapClaims{"sub": "mallory"},
				map[string]any{"signer": albARN, "exp": time.Now().Unix() + 300})
		}, func(tm timing, elapsed time.Duration) int64 {
			return int64(tm.albBurst) + 1 + int64(elapsed/tm.albEvery)
		}},
	} {
		for _, fast := range []bool{false, true} {
			name := tc.name + "/default_intervals"
			var tm *timing
			if fast {
				name = tc.name + "/short_intervals"
				tm = fastTiming()
				tm.minInterval = 20 * time.Millisecond
				tm.albEvery = 20 * time.Millisecond
			}
			t.Run(name, func(t *testing.T) {
				ks := newKeyServer(t, false, k1)
				h := tc.h(ks, tm)
				provision(t, h)
				before := ks.hits.Load()
				start := time.Now()
				var honoured atomic.Int64
				var wg sync.WaitGroup
				sem := make(chan struct{}, 50)
				for i := 0; i < 1000; i++ {
					wg.Add(1)
					sem <- struct{}{}
					go func() {
						defer wg.Done()
						defer func() { <-sem }()
						if o := serve(t, h, map[string]string{"X-Assertion": tc.tok(madeUpKid())}); o.user != "" {
							honoured.Add(1)
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				fetches := ks.hits.Load() - before
				t.Logf("1000 made-up kids in %s: %d key fetches", elapsed, fetches)
				if honoured.Load() != 0 {
					t.Errorf("%d made-up kids honoured", honoured.Load())
				}
				if !fast && fetches > 20 {
					t.Errorf("%d key fetches for 1000 made-up kids, want at most 20", fetches)
				}
				if fast {
					if law := tc.law(*tm, elapsed); fetches > law {
						t.Errorf("%d key fetches in %s, the rate allows %d", fetches, elapsed, law)
					}
				}
			})
		}
	}
}

// TestMaxAgeDrivesRefresh: the endpoint's Cache-Control max-age (bounded)
// schedules the background refresh, and a refresh drops a key the provider
// revoked. With the default period of an hour the revocation could not show
// within the test, so it is max-age that refreshed.
func TestMaxAgeDrivesRefresh(t *testing.T) {
	testKeys()
	k1 := signer{kid: "k1", key: rsaKey}
	k2 := signer{kid: "k2", key: rsaKey2}
	ks := newKeyServer(t, false, k1, k2)
	ks.maxAge = 1
	tm := fastTiming()
	tm.refreshMin, tm.refreshMax, tm.refreshDef = 10*time.Millisecond, 50*time.Millisecond, time.Hour
	h := jwtHandler(ks.URL()+"/jwks", tm)
	provision(t, h)
	hdr := map[string]string{"X-Assertion": k1.sign(claimsFor("https://auth.internal", "app", "k1-user"), nil)}
	if o := serve(t, h, hdr); o.user != "k1-user" {
		t.Fatalf("k1 not honoured: %+v", o)
	}
	ks.setKeys(k2) // the provider revokes k1
	poll(t, 5*time.Second, "revoked k1 refused after a max-age refresh", func() bool { return serve(t, h, hdr).user == "" })
}

// TestUntrustedKeyServer: a key server whose certificate does not chain to
// the roots is not used (and Caddy still starts).
func TestUntrustedKeyServer(t *testing.T) {
	testKeys()
	k1 := signer{kid: "k1", key: rsaKey}
	ks := newKeyServer(t, true, k1)
	tm := fastTiming()
	tm.startWait = 50 * time.Millisecond
	h := jwtHandler(ks.URL()+"/jwks", tm) // no tlsRoots: the system pool
	provision(t, h)
	tok := k1.sign(claimsFor("https://auth.internal", "app", "u"), nil)
	if o := serve(t, h, map[string]string{"X-Assertion": tok}); o.user != "" {
		t.Fatalf("keys from an untrusted TLS server were used: %+v", o)
	}
}

// TestRedirectToHTTPRefused: a key server that redirects to a plain-http,
// non-loopback URL is not followed (keys must come over https).
func TestRedirectToHTTPRefused(t *testing.T) {
	testKeys()
	ks := newKeyServer(t, true, signer{kid: "k1", key: rsaKey})
	tm := fastTiming()
	tm.startWait = 100 * time.Millisecond
	h := jwtHandler(ks.URL()+"/redirect-to-http", tm)
	h.tlsRoots = ks.pool()
	provision(t, h)
	err := h.v.keys.(*jwksSource).fetchOnce()
	if err == nil || !strings.Contains(err.Error(), "must be an https:// URL") {
		t.Fatalf("fetch through a redirect to http: %v", err)
	}
}

// TestOIDCDiscoveryIssuerMismatch: a discovery document that names another
// issuer is refused (no keys), per OpenID Connect Discovery 1.0 §4.3.
func TestOIDCDiscoveryIssuerMismatch(t *testing.T) {
	testKeys()
	k1 := signer{kid: "k1", key: rsaKey}
	ks := newKeyServer(t, true, k1)
	tm := fastTiming()
	tm.startWait = 100 * time.Millisecond
	h := &Handler{Provider: providerOIDC, Issuer: ks.URL() + "/realms/x", Audience: []string{"c"}, tlsRoots: ks.pool(), timing: tm}
	provision(t, h)
	tok := k1.sign(claimsFor(ks.URL()+"/realms/x", "c", "u"), nil)
	if o := serve(t, h, map[string]string{"Authorization": "Bearer " + tok}); o.user != "" {
		t.Fatalf("keys from a mismatched discovery document were used: %+v", o)
	}
}

// TestMaxAge reads the endpoint's cache lifetime.
func TestMaxAge(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"":                                0,
		"public, max-age=3600":            time.Hour,
		"max-age=\"60\", must-revalidate": time.Minute,
		"no-store":                        0,
		"MAX-AGE=20":                      20 * time.Second,
		"max-age=-5":                      0,
	} {
		if got := maxAge(in); got != want {
			t.Errorf("maxAge(%q) = %s, want %s", in, got, want)
		}
	}
	if got := clamp(10*time.Second, defaultTiming.refreshMin, defaultTiming.refreshMax); got != defaultTiming.refreshMin {
		t.Errorf("a 10s max-age refreshes every %s", got)
	}
}

// TestPromisedNumbers keeps the default intervals within what the README
// promises: a rotated-in key used within 15 s of the first request carrying
// it; a key server that was down at start used within 15 s of coming up; a
// burst of 200 made-up kids (arriving within a few seconds) costs ≤ 20 fetches.
func TestPromisedNumbers(t *testing.T) {
	d := defaultTiming
	if rot := d.minInterval + d.fetchTimeout; rot > 15*time.Second {
		t.Errorf("rotation bound %s > 15s", rot)
	}
	if up := min(d.retryMax, d.minInterval) + d.fetchTimeout; up > 15*time.Second {
		t.Errorf("recovery bound %s > 15s", up)
	}
	burst := 10 * time.Second
	if n := 1 + int(burst/d.minInterval); n > 20 {
		t.Errorf("JWKS: %d fetches in a %s burst", n, burst)
	}
	if n := d.albBurst + int(burst/d.albEvery); n > 20 {
		t.Errorf("aws_alb: %d fetches in a %s burst", n, burst)
	}
}
