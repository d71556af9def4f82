package identityassertion

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/caddy-intercom/caddy-intercom/internal/testkeys"
	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
)

// Test keys are generated once per test binary: real RSA and P-256 keys.
var (
	keysOnce              sync.Once
	rsaKey, rsaKey2       *rsa.PrivateKey
	ecKey, ecKey2, ecKey3 *ecdsa.PrivateKey
)

func testKeys() {
	keysOnce.Do(func() {
		var err error
		rsaKey, rsaKey2 = testkeys.RSA(), testkeys.OtherRSA() // shared by every test package
		for _, k := range []**ecdsa.PrivateKey{&ecKey, &ecKey2, &ecKey3} {
			if *k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
				panic(err)
			}
		}
	})
}

// signer is a private key with its kid, as a provider holds it.
type signer struct {
	kid string
	key crypto.Signer
}

func (s signer) method() jwt.SigningMethod {
	if _, ok := s.key.(*rsa.PrivateKey); ok {
		return jwt.SigningMethodRS256
	}
	return jwt.SigningMethodES256
}

func (s signer) publicPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(s.key.Public())
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func (s signer) jwk() jwkset.JWKMarshal {
	j, err := jwkset.NewJWKFromKey(s.key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		KID: s.kid, USE: jwkset.UseSig, ALG: jwkset.ALG(s.method().Alg()),
	}})
	if err != nil {
		panic(err)
	}
	return j.Marshal()
}

// sign makes a standard JWT.
func (s signer) sign(claims jwt.MapClaims, header map[string]any) string {
	t := jwt.NewWithClaims(s.method(), claims)
	t.Header["kid"] = s.kid
	for k, v := range header {
		t.Header[k] = v
	}
	raw, err := t.SignedString(s.key)
	if err != nil {
		panic(err)
	}
	return raw
}

// signALB makes an assertion the way an ALB does: ES256, exp/iss/signer in
// the header, base64url segments WITH padding, the padded text signed.
func (s signer) signALB(claims jwt.MapClaims, header map[string]any) string {
	h := map[string]any{"typ": "JWT", "alg": "ES256", "kid": s.kid}
	for k, v := range header {
		h[k] = v
	}
	hj, _ := json.Marshal(h)
	cj, _ := json.Marshal(claims)
	enc := base64.URLEncoding // padded, as ALB sends it
	signing := enc.EncodeToString(hj) + "." + enc.EncodeToString(cj)
	sig, err := jwt.SigningMethodES256.Sign(signing, s.key)
	if err != nil {
		panic(err)
	}
	return signing + "." + enc.EncodeToString(sig)
}

// keyServer is a real HTTP(S) key server on loopback: a JWK Set, OpenID
// discovery, Pomerium's path and ALB's PEM-per-kid, with the keys a test
// sets, counting every key fetch.
type keyServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	keys   []signer
	hits   atomic.Int64
	maxAge int
}

func newKeyServer(t *testing.T, tlsOn bool, keys ...signer) *keyServer {
	ks := &keyServer{keys: keys}
	ks.srv = httptest.NewUnstartedServer(http.HandlerFunc(ks.serve))
	if tlsOn {
		ks.srv.StartTLS()
	} else {
		ks.srv.Start()
	}
	t.Cleanup(ks.srv.Close)
	return ks
}

// newKeyServerAt starts a key server on addr (to bring up a server that was
// down at start).
func newKeyServerAt(t *testing.T, addr string, keys ...signer) *keyServer {
	ks := &keyServer{keys: keys}
	ks.srv = httptest.NewUnstartedServer(http.HandlerFunc(ks.serve))
	var err error
	for i := 0; i < 50; i++ {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			ks.srv.Listener.Close()
			ks.srv.Listener = l
			break
		}
		time.Sleep(20 * time.Millisecond) // the port may linger; retry, not a barrier
	}
	if err != nil {
		t.Fatal(err)
	}
	ks.srv.Start()
	t.Cleanup(ks.srv.Close)
	return ks
}

func (ks *keyServer) URL() string { return ks.srv.URL }

func (ks *keyServer) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ks.srv.Certificate())
	return p
}

func (ks *keyServer) setKeys(keys ...signer) {
	ks.mu.Lock()
	ks.keys = keys
	ks.mu.Unlock()
}

func (ks *keyServer) serve(w http.ResponseWriter, r *http.Request) {
	ks.mu.Lock()
	keys := append([]signer(nil), ks.keys...)
	maxAge := ks.maxAge
	ks.mu.Unlock()
	if maxAge > 0 {
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(maxAge))
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
		json.NewEncoder(w).Encode(map[string]string{"issuer": ks.URL(), "jwks_uri": ks.URL() + "/oidc/jwks"})
		return
	case r.URL.Path == "/redirect-to-http":
		http.Redirect(w, r, "http://keys.example.com/jwks", http.StatusFound)
		return
	case strings.HasPrefix(r.URL.Path, "/alb/"):
		ks.hits.Add(1)
		kid := strings.TrimPrefix(r.URL.Path, "/alb/")
		for _, k := range keys {
			if k.kid == kid {
				w.Write(k.publicPEM())
				return
			}
		}
		http.Error(w, "no such key", http.StatusForbidden)
		return
	}
	ks.hits.Add(1)
	set := jwkset.JWKSMarshal{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(set)
}

// provision provisions h the way Caddy does, with a fresh metrics registry.
func provision(t testing.TB, h *Handler) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	t.Cleanup(func() { h.Cleanup(); cancel() })
}

// outcome is what one request through the handler gives.
type outcome struct {
	status int
	user   string
	email  string
	passed bool // next handler ran
}

// serve sends one request with hdr through h and reports what the next
// handler saw.
func serve(t testing.TB, h *Handler, hdr map[string]string) outcome {
	t.Helper()
	header := http.Header{}
	for k, v := range hdr {
		header.Add(k, v)
	}
	return serveHeader(t, h, header)
}

// serveHeader is serve with the request header given whole.
func serveHeader(t testing.TB, h *Handler, header http.Header) outcome {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "https://app.example/", nil)
	req.Header = header
	repl := caddy.NewReplacer()
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	var o outcome
	rec := httptest.NewRecorder()
	err := h.ServeHTTP(rec, req, handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		o.passed = true
		o.user, _ = repl.GetString("http.auth.user.id")
		o.email, _ = repl.GetString("http.auth.user.email")
		return nil
	}))
	o.status = rec.Code
	if err != nil {
		o.status = statusOf(err)
	}
	return o
}

// poll calls cond until it is true or the deadline passes.
func poll(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fastTiming shortens every interval for tests of the refresh machinery.
func fastTiming() *timing {
	t := defaultTiming
	t.startWait = 2 * time.Second
	t.minInterval = 50 * time.Millisecond
	t.retryMin = 20 * time.Millisecond
	t.retryMax = 100 * time.Millisecond
	t.retryHave = 100 * time.Millisecond
	t.albEvery = 50 * time.Millisecond
	return &t
}
