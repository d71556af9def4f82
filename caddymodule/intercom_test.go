package caddymodule

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const legacyPage = "<!doctype html><html><head><title>App</title></head>" +
	"<body><h1>Hello</h1><script>var x = 1;</script></body></html>"

// upstream is a local "legacy app" that records the requests it receives.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newUpstream(t *testing.T, mux *http.ServeMux) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(r.Context()))
		u.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t *testing.T) *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("upstream saw no request")
	}
	return u.seen[len(u.seen)-1]
}

func (u *upstream) addr() string { return strings.TrimPrefix(u.URL, "http://") }

func htmlHandler(page string, extra map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		for k, v := range extra {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		fmt.Fprint(w, page)
	}
}

// basicAuthSite is the common site: basic_auth users alice and bob in front
// of an upstream.
func basicAuthSite(up string, extra string) string {
	return fmt.Sprintf(`
http://localhost:9080 {
	basic_auth {
		alice %s
		bob %s
	}
	intercom {
		app_id %s
		secret %s
		user_id {http.auth.user.id}
		%s
	}
	reverse_proxy %s
}`, aliceHash, bobHash, testAppID, testSecret, extra, up)
}

func TestBasicAuthPageIsIdentified(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, map[string]string{
		"ETag": `"v1"`, "Last-Modified": "Mon, 02 Jan 2006 15:04:05 GMT", "Accept-Ranges": "bytes",
		"Cache-Control": "public, max-age=600",
	}))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", basicAuthSite(up.addr(), ""))

	for _, user := range []string{"alice", "bob"} {
		hdr := basicAuth(user)
		hdr["Accept-Encoding"] = "identity"
		hdr["If-None-Match"] = `"v1"`
		hdr["If-Modified-Since"] = "Mon, 02 Jan 2006 15:04:05 GMT"
		resp, body := get(t, tester, http.MethodGet, "/", hdr)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		assertUser(t, body, user)

		if got := resp.Header.Get("Cache-Control"); got != "private, no-store" {
			t.Errorf("Cache-Control = %q", got)
		}
		for _, h := range []string{"ETag", "Last-Modified", "Accept-Ranges"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("%s = %q, want it removed", h, v)
			}
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
			t.Errorf("Content-Length = %q, body is %d bytes", cl, len(body))
		}
		// The page is the upstream's page plus one script, nothing else.
		i := strings.Index(body, "<script")
		j := strings.Index(body, "</script>") + len("</script>")
		if i < 0 || body[:i]+body[j:] != legacyPage {
			t.Errorf("page changed beyond the injected script:\n%s", body)
		}
		if i != strings.Index(legacyPage, "</head>") {
			t.Errorf("injected at %d, want before </head>", i)
		}

		seen := up.last(t)
		for _, h := range strippedRequestHeaders {
			if v := seen.Header.Get(h); v != "" && h != "Accept-Encoding" {
				t.Errorf("upstream saw %s: %q", h, v)
			}
		}
		if v := seen.Header.Get("Accept-Encoding"); v != "" && v != "gzip" {
			// Go's transport may ask for gzip itself and decode it.
			t.Errorf("upstream saw the client's Accept-Encoding %q", v)
		}
	}

	// Wrong password: basic_auth answers, nothing is signed.
	resp, body := get(t, tester, http.MethodGet, "/", map[string]string{"Authorization": "Basic YWxpY2U6d3Jvbmc="})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad password: status %d", resp.StatusCode)
	}
	assertNotInjected(t, body)
}

// headerSite reads identity from X-User, with the given trust line.
func headerSite(up, trust, extra string) string {
	return fmt.Sprintf(`
http://localhost:9080 {
	intercom {
		app_id %s
		secret %s
		user_id {http.request.header.X-User}
		email {http.request.header.X-Email}
		%s
		%s
	}
	reverse_proxy %s
}`, testAppID, testSecret, trust, extra, up)
}

func TestAnonymousPassesByteIdentical(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, map[string]string{"ETag": `"v1"`, "Cache-Control": "public, max-age=60"}))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", headerSite(up.addr(), "trust 127.0.0.1", ""))

	resp, body := get(t, tester, http.MethodGet, "/", map[string]string{"If-None-Match": `"v0"`})
	if body != legacyPage {
		t.Fatalf("anonymous page changed:\n%s", body)
	}
	if resp.Header.Get("ETag") != `"v1"` || resp.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("anonymous headers changed: %v", resp.Header)
	}
	if up.last(t).Header.Get("If-None-Match") != `"v0"` {
		t.Error("anonymous request lost its conditional header")
	}
}

func TestSpoofedHeaderFromUntrustedPeer(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	// Our test client is 127.0.0.1, outside the trusted range.
	tester := startCaddy(t, "", headerSite(up.addr(), "trust 10.0.0.0/8 192.168.0.0/16", ""))

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		_, body := get(t, tester, method, "/", map[string]string{"X-User": "admin", "X-Email": "admin@example.com"})
		assertNotInjected(t, body)
		seen := up.last(t)
		if v := seen.Header.Get("X-User") + seen.Header.Get("X-Email"); v != "" {
			t.Errorf("%s: upstream saw forged identity headers %q", method, v)
		}
	}
}

func TestTrustedPeerHonoured(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", headerSite(up.addr(), "trust 127.0.0.0/8 ::1", ""))

	_, body := get(t, tester, http.MethodGet, "/", map[string]string{"X-User": "Carol-007", "X-Email": "carol@example.com"})
	assertUser(t, body, "Carol-007")
	if got := pageToken(t, body)["email"]; got != "carol@example.com" {
		t.Errorf("email claim = %v", got)
	}
	if up.last(t).Header.Get("X-User") != "Carol-007" {
		t.Error("trusted identity header did not reach the upstream")
	}
}

// authService is a forward_auth service: "Bearer token-dave" is user dave
// (Remote-User, Remote-Email), "Bearer token-noid" is authenticated without
// a user, anything else is refused.
func authService(t *testing.T) *httptest.Server {
	t.Helper()
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch token {
		case "token-dave":
			w.Header().Set("Remote-User", "dave")
			w.Header().Set("Remote-Email", "dave@example.com")
		case "token-noid":
			// authenticated, but the service names no user
		default:
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(auth.Close)
	return auth
}

func TestForwardAuthFlow(t *testing.T) {
	auth := authService(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", fmt.Sprintf(`
http://localhost:9080 {
	forward_auth %s {
		uri /verify
		copy_headers Remote-User Remote-Email
	}
	intercom {
		app_id %s
		secret %s
		user_id {http.reverse_proxy.header.Remote-User}
		email {http.reverse_proxy.header.Remote-Email}
	}
	reverse_proxy %s
}`, strings.TrimPrefix(auth.URL, "http://"), testAppID, testSecret, up.addr()))

	// A client that forges Remote-User gets the identity the auth service says.
	_, body := get(t, tester, http.MethodGet, "/", map[string]string{"Authorization": "Bearer token-dave", "Remote-User": "admin"})
	assertUser(t, body, "dave")

	// Authenticated without a name: the forged header must not be honoured.
	_, body = get(t, tester, http.MethodGet, "/", map[string]string{"Authorization": "Bearer token-noid", "Remote-User": "admin"})
	assertNotInjected(t, body)

	resp, _ := get(t, tester, http.MethodGet, "/", map[string]string{"Remote-User": "admin"})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated: status %d", resp.StatusCode)
	}
}

func TestPassThroughResponses(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/206", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Range", "bytes 0-5/100")
		w.WriteHeader(http.StatusPartialContent)
		fmt.Fprint(w, "<html>")
	})
	mux.HandleFunc("/304", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.WriteHeader(http.StatusNotModified)
	})
	mux.HandleFunc("/404", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, legacyPage)
	})
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, legacyPage)
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"html":"<head></head>"}`)
	})
	mux.HandleFunc("/page", htmlHandler(legacyPage, nil))
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	})
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", basicAuthSite(up.addr(), ""))
	alice := basicAuth("alice")

	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/206", http.StatusPartialContent, "<html>"},
		{"/304", http.StatusNotModified, ""},
		{"/404", http.StatusNotFound, legacyPage},
		{"/500", http.StatusInternalServerError, legacyPage},
		{"/json", http.StatusOK, `{"html":"<head></head>"}`},
	} {
		resp, body := get(t, tester, http.MethodGet, tc.path, alice)
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("%s: got %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
	}

	// An identified HEAD gets the page policy, never a body (see
	// TestInjectedPageIsNeverStored).
	resp, body := get(t, tester, http.MethodHead, "/page", alice)
	if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("Cache-Control") != "private, no-store" {
		t.Errorf("HEAD: %d %q %v", resp.StatusCode, body, resp.Header)
	}

	// SSE: the first event arrives while the upstream keeps the stream open.
	req, _ := http.NewRequest(http.MethodGet, testBaseURL+"/sse", nil)
	req.SetBasicAuth("alice", "alice")
	req.Header.Set("Accept", "text/event-stream")
	sresp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(sresp.Body).ReadString('\n')
	sresp.Body.Close()
	if err != nil || line != "data: one\n" {
		t.Errorf("SSE: first line %q, %v", line, err)
	}

	// Websocket: the upgrade goes through and the connection is usable.
	conn, err := net.Dial("tcp", "127.0.0.1:9080")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: localhost:9080\r\nAuthorization: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", alice["Authorization"])
	br := bufio.NewReader(conn)
	status, _ := br.ReadString('\n')
	if !strings.Contains(status, "101") {
		t.Fatalf("websocket: %q", status)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
	}
	fmt.Fprint(conn, "ping\n")
	if echo, _ := br.ReadString('\n'); echo != "echo: ping\n" {
		t.Errorf("websocket echo %q", echo)
	}
}

func TestFileServerUpstreamIsRewritten(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte(legacyPage), 0o644); err != nil {
		t.Fatal(err)
	}
	tester := startCaddy(t, "", fmt.Sprintf(`
http://localhost:9080 {
	basic_auth {
		alice %s
	}
	intercom {
		app_id %s
		secret %s
		user_id {http.auth.user.id}
	}
	root * %s
	file_server
}`, aliceHash, testAppID, testSecret, root))

	resp, body := get(t, tester, http.MethodGet, "/index.html", basicAuth("alice"))
	assertUser(t, body, "alice")
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q for %d bytes", cl, len(body))
	}
}

func TestCSPNonceReusedAndHashAdded(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/nonce", htmlHandler(legacyPage, map[string]string{
		"Content-Security-Policy": "script-src 'nonce-R4nd0mN0nce' 'strict-dynamic'; object-src 'none'"}))
	mux.HandleFunc("/hash", htmlHandler(legacyPage, map[string]string{
		"Content-Security-Policy": "default-src 'self'"}))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", basicAuthSite(up.addr(), ""))

	resp, body := get(t, tester, http.MethodGet, "/nonce", basicAuth("alice"))
	assertUser(t, body, "alice")
	if !strings.Contains(body, `<script nonce="R4nd0mN0nce">`) {
		t.Errorf("page nonce not reused:\n%.600s", body)
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != "script-src 'nonce-R4nd0mN0nce' 'strict-dynamic'; object-src 'none'" {
		t.Errorf("policy with a nonce was changed: %q", got)
	}

	resp, body = get(t, tester, http.MethodGet, "/hash", basicAuth("alice"))
	assertUser(t, body, "alice")
	if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "'sha256-") {
		t.Errorf("hash not added to default-src policy: %q", got)
	}
}

func TestConcurrentUsersGetTheirOwnToken(t *testing.T) {
	mux := http.NewServeMux()
	big := strings.Replace(legacyPage, "<h1>Hello</h1>", strings.Repeat("<p>lorem ipsum</p>", 2000), 1)
	mux.HandleFunc("/", htmlHandler(big, nil))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", headerSite(up.addr(), "trust 127.0.0.1", ""))

	const workers, perWorker = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				user := fmt.Sprintf("user-%02d-%03d", w, i)
				req, _ := http.NewRequest(http.MethodGet, testBaseURL+"/", nil)
				req.Header.Set("X-User", user)
				resp, err := tester.Client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				var buf bytes.Buffer
				buf.ReadFrom(resp.Body)
				resp.Body.Close()
				m := jwtInPage.FindStringSubmatch(buf.String())
				if m == nil || !strings.Contains(buf.String(), `"user_id":"`+user+`"`) {
					errs <- fmt.Errorf("%s: response does not name its requester", user)
					continue
				}
				claims := pageToken(t, buf.String())
				if claims["user_id"] != user {
					errs <- fmt.Errorf("%s got a token for %v", user, claims["user_id"])
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLogsNeverCarrySecretsOrTokens(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	tester := startCaddy(t, fmt.Sprintf("log {\n\t\toutput file %s\n\t\tlevel DEBUG\n\t}", logFile),
		strings.Replace(basicAuthSite(up.addr(), "user_hash"), "http://localhost:9080 {", "http://localhost:9080 {\n\tlog", 1))

	var tokens []string
	for _, user := range []string{"alice", "bob"} {
		_, body := get(t, tester, http.MethodGet, "/", basicAuth(user))
		assertUser(t, body, user)
		tokens = append(tokens, jwtInPage.FindStringSubmatch(body)[1])
	}
	// The file logger writes asynchronously: wait until it has written the
	// outcome line of both requests (everything logged while serving them
	// comes before those).
	var logs []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if logs, err = os.ReadFile(logFile); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Count(logs, []byte("intercom response")) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("debug log has not got the 2 outcome lines after 10s; the test would prove nothing:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, secret := range append(tokens, testSecret) {
		if bytes.Contains(logs, []byte(secret)) {
			t.Errorf("logs contain a secret or token")
		}
		// A token's signature alone is also a leak.
		if sig := secret[strings.LastIndex(secret, ".")+1:]; len(sig) > 20 && bytes.Contains(logs, []byte(sig)) {
			t.Errorf("logs contain a token signature")
		}
	}
}
