package helpcenter

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// Ports of the in-process Caddy that caddytest drives. Each test package
// has its own (go test runs packages in parallel); tests using them must not
// run in parallel with other caddytest tests of this package.
const (
	testAdminPort = 2998
	testAdmin     = "localhost:2998"
	testHTTPPort  = 9180
)

// streamWait bounds how long the streaming handshakes wait before
// concluding that the proxy buffers instead of streaming. It only guards
// against a hang; passing never depends on timing.
const streamWait = 10 * time.Second

// originSaw is what the stand-in Intercom origin reports about a request.
type originSaw struct {
	Host        string
	SNI         string
	Method      string
	URI         string
	Cookie      []string // nil when no Cookie header arrived
	XFF         string
	XFP         string
	XFH         string
	ContentType string
	BodyLen     int64
	BodySHA     string
	Streamed    bool // /upload: the start of the body arrived before its end was sent
}

// originSetCookies are sent by the origin on every echo response.
var originSetCookies = []string{
	"intercom-session-abc=new-session; Domain=.example.com; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; SameSite=Lax",
	`hc-locale="en"; Path=/; Secure; HttpOnly`,
}

// testOrigin is a local TLS server standing in for custom.intercom.help.
type testOrigin struct {
	srv    *httptest.Server
	caFile string // PEM of the CA that signed its certificate for "localhost"
	port   int

	// Streaming handshakes (one request of each kind per test).
	uploadStarted   chan struct{} // closed by the origin after the first MiB of /upload
	uploadBuffered  atomic.Bool   // the client had to finish the body before the origin saw its start
	largeReceived   chan struct{} // closed by the client after the first part of /large
	largeBuffered   atomic.Bool   // the origin had to write all of /large before the client saw its start
	largeResponse   []byte
	uploadFirstPart int
}

func newTestOrigin(t *testing.T) *testOrigin {
	t.Helper()
	caPEM, leaf := newTestCA(t, "localhost")
	o := &testOrigin{
		caFile:          filepath.Join(t.TempDir(), "origin-ca.pem"), // not *.crt/*.key: caddytest rewrites those paths
		uploadStarted:   make(chan struct{}),
		largeReceived:   make(chan struct{}),
		largeResponse:   testBytes(1 << 20),
		uploadFirstPart: 1 << 20,
	}
	if err := os.WriteFile(o.caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	o.srv = httptest.NewUnstartedServer(http.HandlerFunc(o.serve))
	o.srv.EnableHTTP2 = true
	o.srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	o.port = o.srv.Listener.Addr().(*net.TCPAddr).Port
	return o
}

func (o *testOrigin) serve(w http.ResponseWriter, r *http.Request) {
	saw := originSaw{
		Host:        r.Host,
		Method:      r.Method,
		URI:         r.RequestURI,
		Cookie:      r.Header["Cookie"],
		XFF:         r.Header.Get("X-Forwarded-For"),
		XFP:         r.Header.Get("X-Forwarded-Proto"),
		XFH:         r.Header.Get("X-Forwarded-Host"),
		ContentType: r.Header.Get("Content-Type"),
	}
	if r.TLS != nil {
		saw.SNI = r.TLS.ServerName
	}

	switch r.URL.Path {
	case "/large":
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(o.largeResponse)))
		half := len(o.largeResponse) / 2
		_, _ = w.Write(o.largeResponse[:half])
		http.NewResponseController(w).Flush()
		select {
		case <-o.largeReceived:
		case <-time.After(streamWait):
			o.largeBuffered.Store(true)
		}
		_, _ = w.Write(o.largeResponse[half:])
		return
	case "/upload":
		h := sha256.New()
		n, err := io.CopyN(h, r.Body, int64(o.uploadFirstPart))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		close(o.uploadStarted)
		m, _ := io.Copy(h, r.Body)
		saw.BodyLen, saw.BodySHA = n+m, hex.EncodeToString(h.Sum(nil))
		saw.Streamed = !o.uploadBuffered.Load()
	default:
		body, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(body)
		saw.BodyLen, saw.BodySHA = int64(len(body)), hex.EncodeToString(sum[:])
	}

	w.Header()["Set-Cookie"] = originSetCookies
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(saw)
}

// newTestCA returns a CA certificate (PEM) and a leaf certificate for host
// signed by it.
func newTestCA(t *testing.T, host string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "caddy-intercom test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return caPEM, tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
}

func testBytes(n int) []byte {
	b := make([]byte, 0, n+sha256.Size)
	seed := sha256.Sum256([]byte("caddy-intercom help center"))
	for len(b) < n {
		seed = sha256.Sum256(seed[:])
		b = append(b, seed[:]...)
	}
	return b[:n]
}

// newTestClient talks to the in-process Caddy whatever the URL's
// host, like a browser resolving help.example.com to it. It has no cookie
// jar (cookies are set per request) and ignores proxy environment variables.
func newTestClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", testHTTPPort))
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// freePort returns a port on which nothing listens (testcaddy.FreePort:
// never a fixed port of another test package, never one handed out before
// in this process).
func freePort(t *testing.T) int {
	t.Helper()
	port, err := testcaddy.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

const testGlobals = `{
	skip_install_trust
	admin %s
	http_port %d
	https_port 9543
	grace_period 1ns
}
`

// TestHelpCenterIntegration runs a real Caddy (caddytest) with
// intercom_help_center sites in front of a local TLS origin standing in for
// Intercom, and checks what crosses the proxy in both directions.
func TestHelpCenterIntegration(t *testing.T) {
	origin := newTestOrigin(t)
	downPort := freePort(t)
	site := func(host string, port int, extra string) string {
		return fmt.Sprintf(`
http://%s:%d {
	intercom_help_center {
		origin https://localhost:%d
		origin_ca %s
		app_domain app.example.com
		%s
	}
}
`, host, testHTTPPort, port, origin.caFile, extra)
	}
	config := fmt.Sprintf(testGlobals, testAdmin, testHTTPPort) +
		site("help.example.com", origin.port, "") +
		site("all.example.com", origin.port, "forward_cookies all") +
		site("help.example.org", origin.port, "") +
		site("down.example.com", downPort, "")

	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: testAdminPort})
	tester.InitServer(config, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	client := newTestClient()

	do := func(t *testing.T, req *http.Request, wantStatus int) (*http.Response, originSaw) {
		t.Helper()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading response: %v", err)
		}
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: status %d, want %d; body %q", req.Method, req.URL, resp.StatusCode, wantStatus, body)
		}
		var saw originSaw
		if wantStatus == http.StatusOK {
			if err := json.Unmarshal(body, &saw); err != nil {
				t.Fatalf("origin answer %q: %v", body, err)
			}
		}
		return resp, saw
	}
	newReq := func(t *testing.T, method, url string, body io.Reader) *http.Request {
		t.Helper()
		req, err := http.NewRequest(method, url, body)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	cookieLines := []string{"app_session=s3cr3t; intercom-session-abc=sess; intercom-device-id-abc=dev", "intercom-id-abc=id"}

	t.Run("host, SNI, forwarded headers, intercom cookies, Set-Cookie", func(t *testing.T) {
		const uri = "/hc/en/articles/123-title?q=a%20b&x=1&x=2&empty="
		req := newReq(t, http.MethodGet, fmt.Sprintf("http://help.example.com:%d%s", testHTTPPort, uri), nil)
		req.Header["Cookie"] = cookieLines
		resp, saw := do(t, req, http.StatusOK)

		if saw.Host != "help.example.com" {
			t.Errorf("origin saw Host %q, want the custom domain help.example.com", saw.Host)
		}
		if saw.SNI != "localhost" {
			t.Errorf("origin saw SNI %q, want the origin's name localhost", saw.SNI)
		}
		if saw.Method != http.MethodGet || saw.URI != uri {
			t.Errorf("origin saw %s %s, want GET %s", saw.Method, saw.URI, uri)
		}
		if got, want := strings.Join(saw.Cookie, "; "), "intercom-session-abc=sess; intercom-device-id-abc=dev; intercom-id-abc=id"; got != want {
			t.Errorf("origin saw cookies %q, want %q", got, want)
		}
		if strings.Contains(strings.Join(saw.Cookie, ";"), "app_session") {
			t.Errorf("the app's session cookie reached the origin: %q", saw.Cookie)
		}
		if saw.XFF != "127.0.0.1" || saw.XFP != "http" || saw.XFH != fmt.Sprintf("help.example.com:%d", testHTTPPort) {
			t.Errorf("X-Forwarded-For/Proto/Host = %q/%q/%q", saw.XFF, saw.XFP, saw.XFH)
		}
		if got := resp.Header["Set-Cookie"]; !reflect.DeepEqual(got, originSetCookies) {
			t.Errorf("Set-Cookie = %q, want %q unchanged", got, originSetCookies)
		}
	})

	t.Run("no intercom cookie: no Cookie header", func(t *testing.T) {
		req := newReq(t, http.MethodGet, fmt.Sprintf("http://help.example.com:%d/", testHTTPPort), nil)
		req.Header.Set("Cookie", "app_session=s3cr3t; _ga=GA1.2.3")
		_, saw := do(t, req, http.StatusOK)
		if saw.Cookie != nil {
			t.Errorf("origin saw Cookie %q, want none", saw.Cookie)
		}
	})

	t.Run("forward_cookies all", func(t *testing.T) {
		req := newReq(t, http.MethodGet, fmt.Sprintf("http://all.example.com:%d/hc/en", testHTTPPort), nil)
		req.Header["Cookie"] = cookieLines
		_, saw := do(t, req, http.StatusOK)
		if got, want := strings.Join(saw.Cookie, "; "), strings.Join(cookieLines, "; "); got != want {
			t.Errorf("origin saw cookies %q, want all of %q", got, want)
		}
		if saw.Host != "all.example.com" {
			t.Errorf("origin saw Host %q", saw.Host)
		}
	})

	t.Run("form POST with query string", func(t *testing.T) {
		const uri = "/hc/en/tickets/new?form=1&redirect=%2Fhc%2Fen"
		form := "subject=Hello+world&body=%E2%9C%93+done&email=a%40example.com"
		req := newReq(t, http.MethodPost, fmt.Sprintf("http://help.example.com:%d%s", testHTTPPort, uri), strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, saw := do(t, req, http.StatusOK)
		sum := sha256.Sum256([]byte(form))
		if saw.Method != http.MethodPost || saw.URI != uri || saw.ContentType != "application/x-www-form-urlencoded" {
			t.Errorf("origin saw %s %s (%s)", saw.Method, saw.URI, saw.ContentType)
		}
		if saw.BodyLen != int64(len(form)) || saw.BodySHA != hex.EncodeToString(sum[:]) {
			t.Errorf("origin saw a %d-byte body, want the %d-byte form intact", saw.BodyLen, len(form))
		}
	})

	t.Run("multi-MB POST streams", func(t *testing.T) {
		body := testBytes(8 << 20)
		pr, pw := io.Pipe()
		go func() {
			// Send the first MiB, then hold the rest back until the origin
			// has read it: a proxy that buffers the request would deadlock.
			_, _ = pw.Write(body[:origin.uploadFirstPart])
			select {
			case <-origin.uploadStarted:
			case <-time.After(streamWait):
				origin.uploadBuffered.Store(true)
			}
			_, _ = pw.Write(body[origin.uploadFirstPart:])
			_ = pw.Close()
		}()
		req := newReq(t, http.MethodPost, fmt.Sprintf("http://help.example.com:%d/upload?ticket=7", testHTTPPort), pr)
		req.Header.Set("Content-Type", "application/octet-stream")
		_, saw := do(t, req, http.StatusOK)
		sum := sha256.Sum256(body)
		if saw.BodyLen != int64(len(body)) || saw.BodySHA != hex.EncodeToString(sum[:]) {
			t.Errorf("origin saw %d bytes (sha %s), want %d intact", saw.BodyLen, saw.BodySHA, len(body))
		}
		if !saw.Streamed {
			t.Error("the origin saw the start of the body only after the client had sent all of it: the request was buffered")
		}
	})

	t.Run("1 MB response streams intact", func(t *testing.T) {
		req := newReq(t, http.MethodGet, fmt.Sprintf("http://help.example.com:%d/large", testHTTPPort), nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		first := make([]byte, 256<<10)
		if _, err := io.ReadFull(resp.Body, first); err != nil {
			t.Fatal(err)
		}
		close(origin.largeReceived) // let the origin write the second half
		rest, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if got := append(first, rest...); !bytes.Equal(got, origin.largeResponse) {
			t.Errorf("received %d bytes, want the %d-byte response intact", len(got), len(origin.largeResponse))
		}
		if resp.ContentLength != int64(len(origin.largeResponse)) {
			t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(origin.largeResponse))
		}
		if origin.largeBuffered.Load() {
			t.Error("the client saw the start of the response only after the origin had sent all of it: the response was buffered")
		}
	})

	t.Run("origin down gives 502", func(t *testing.T) {
		req := newReq(t, http.MethodGet, fmt.Sprintf("http://down.example.com:%d/hc/en", testHTTPPort), nil)
		do(t, req, http.StatusBadGateway)
	})

	t.Run("host outside app_domain counted once", func(t *testing.T) {
		before := counterValue(t, domainMismatches)
		for range 3 {
			req := newReq(t, http.MethodGet, fmt.Sprintf("http://help.example.org:%d/", testHTTPPort), nil)
			do(t, req, http.StatusOK)
		}
		if got := counterValue(t, domainMismatches) - before; got != 1 {
			t.Errorf("mismatch counter grew by %v, want 1", got)
		}
	})

	t.Run("invalid configurations are refused with their reason", func(t *testing.T) {
		caddyfileWith := func(block string) string {
			return fmt.Sprintf(testGlobals, testAdmin, testHTTPPort) +
				fmt.Sprintf("http://bad.example.com:%d {\n\tintercom_help_center {\n\t\t%s\n\t}\n}\n", testHTTPPort, block)
		}
		// JSON skips the Caddyfile parser's checks, so these reach Provision.
		jsonWith := func(handler string) string {
			return fmt.Sprintf(`{"admin": {"listen": %q}, "apps": {"http": {"servers": {"bad": {"listen": [":%d"],
				"routes": [{"handle": [{"handler": "intercom_help_center", %s}]}]}}}}}`,
				testAdmin, testHTTPPort, handler)
		}
		tests := []struct {
			contentType, config, want string
		}{
			{"text/caddyfile", caddyfileWith("region mars\n\t\tapp_domain app.example.com"), `region: unknown region \"mars\"`},
			{"text/caddyfile", caddyfileWith("origin https://custom.intercom.help/hc\n\t\tapp_domain app.example.com"), "without path, query or fragment"},
			{"text/caddyfile", caddyfileWith("region us\n\t\tapp_domain co.uk"), `app_domain: \"co.uk\" is a public suffix`},
			{"text/caddyfile", caddyfileWith("region us\n\t\tforward_cookies some\n\t\tapp_domain app.example.com"), `forward_cookies: unknown value \"some\"`},
			{"text/caddyfile", caddyfileWith("region us\n\t\tcookies all"), `unrecognized subdirective \"cookies\"`},
			{"text/caddyfile", caddyfileWith("region us eu"), "region: want exactly one value, got 2"},
			{"application/json", jsonWith(`"region": "mars", "app_domain": "app.example.com"`),
				`provision http.handlers.intercom_help_center: region: unknown region \"mars\"`},
			{"application/json", jsonWith(`"region": "us", "app_domain": "github.io"`),
				`provision http.handlers.intercom_help_center: app_domain: \"github.io\" is a public suffix`},
			{"application/json", jsonWith(`"region": "us"`), "provision http.handlers.intercom_help_center: app_domain is required"},
			{"application/json", jsonWith(`"origin": "https://localhost:1", "app_domain": "app.example.com", "origin_ca": "/nonexistent/ca.pem"`),
				"provision http.handlers.intercom_help_center: origin_ca: open /nonexistent/ca.pem"},
		}
		for _, tt := range tests {
			resp := postConfig(t, tt.contentType, tt.config)
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), tt.want) {
				t.Errorf("loading %s: status %d %s, want 400 containing %s", tt.config, resp.StatusCode, msg, tt.want)
			}
		}
		// The running configuration is untouched.
		req := newReq(t, http.MethodGet, fmt.Sprintf("http://help.example.com:%d/", testHTTPPort), nil)
		do(t, req, http.StatusOK)
	})
}

// postConfig loads config through the admin API. Every load, even one that
// fails, makes Caddy start a new admin server on the same address and shut
// the previous one down in the background, so a new connection can land on
// the closing listener and see EOF or a reset: that is retried (the load is
// idempotent), a few times at most.
func postConfig(t *testing.T, contentType, config string) *http.Response {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequest(http.MethodPost, "http://"+testAdmin+"/load", strings.NewReader(config))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := client.Do(req)
		if err == nil {
			return resp
		}
		if attempt == 5 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)) {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond) // let the old admin server finish closing
	}
}
