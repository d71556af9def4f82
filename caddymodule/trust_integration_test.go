package caddymodule

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// forgedCount reads caddy_intercom_forged_identity_total for reason from the
// admin endpoint of the in-process Caddy, as Prometheus would scrape it.
func forgedCount(t *testing.T, reason string) float64 {
	t.Helper()
	resp, err := http.Get("http://localhost:2999/metrics")
	if err != nil {
		t.Fatalf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "caddy_intercom_forged_identity_total{") || !strings.Contains(line, `reason="`+reason+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		total += v
	}
	return total
}

// waitForLog polls the log file until it has a line containing every one
// of want, and returns the file's lines.
func waitForLog(t *testing.T, path string, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		lines := strings.Split(string(data), "\n")
		for _, l := range lines {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(l, w)
			}
			if ok {
				return lines
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q in:\n%s", want, data)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a barrier
	}
}

func countLines(lines []string, substr string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// TestForgedIdentityHeaderLoggedAndCounted is issue 13 item 5: an identity
// header from an untrusted peer is stripped, logged (rate-limited; peer and
// header name, never the value) and counted.
func TestForgedIdentityHeaderLoggedAndCounted(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	// Our test client is 127.0.0.1, outside the trusted range.
	// No access log: Caddy's own access log records request headers.
	tester := startCaddy(t, fmt.Sprintf("log {\n\t\toutput file %s\n\t\tlevel INFO\n\t}", logFile),
		headerSite(up.addr(), "trust 10.0.0.0/8", ""))

	const forged = "forged-admin-7f3a"
	before := forgedCount(t, "untrusted_peer")
	for i := 0; i < 5; i++ {
		_, body := get(t, tester, http.MethodGet, "/", map[string]string{"X-User": forged})
		assertNotInjected(t, body)
		if v := up.last(t).Header.Get("X-User"); v != "" {
			t.Fatalf("upstream saw the forged header %q", v)
		}
	}
	// A request without identity headers is nothing to report.
	get(t, tester, http.MethodGet, "/", nil)
	if got := forgedCount(t, "untrusted_peer") - before; got != 5 {
		t.Errorf("forged_identity_total{reason=untrusted_peer} grew by %v, want 5", got)
	}
	lines := waitForLog(t, logFile, "identity header from an untrusted peer", "X-User", "127.0.0.1")
	if n := countLines(lines, "identity header from an untrusted peer"); n != 1 {
		t.Errorf("%d warnings for 5 forged requests within a second, want 1 (rate-limited)", n)
	}
	data, _ := os.ReadFile(logFile)
	if strings.Contains(string(data), forged) {
		t.Error("the log carries the forged header's value")
	}
}

// TestDuplicateIdentityHeaderNotHonoured is issue 13 item 5: a trusted
// identity header that arrives as more than one field line is not believed.
func TestDuplicateIdentityHeaderNotHonoured(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", headerSite(up.addr(), "trust 127.0.0.0/8 ::1", ""))

	before := forgedCount(t, "duplicate_header")
	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"two user lines", http.Header{"X-User": {"alice", "admin"}}},
		{"two email lines", http.Header{"X-User": {"alice"}, "X-Email": {"alice@example.com", "admin@example.com"}}},
		{"empty second line", http.Header{"X-User": {"alice", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, testBaseURL+"/", nil)
			req.Header = tc.header
			resp, err := tester.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assertNotInjected(t, string(body))
			if v := up.last(t).Header.Values("X-User"); len(v) != 0 {
				t.Errorf("upstream saw X-User %q", v)
			}
		})
	}
	if got := forgedCount(t, "duplicate_header") - before; got != 3 {
		t.Errorf("forged_identity_total{reason=duplicate_header} grew by %v, want 3", got)
	}
	// One line is still honoured.
	_, body := get(t, tester, http.MethodGet, "/", map[string]string{"X-User": "alice"})
	assertUser(t, body, "alice")
}

// TestForwardAuthOnPartOfTheSite is the attack on `trust route` (issue 13
// item 5): forward_auth guards /app/* only, and a client sends Remote-User
// itself on /page. With the README pattern, {http.reverse_proxy.header.*},
// /page is anonymous and /app/* carries the auth service's user.
func TestForwardAuthOnPartOfTheSite(t *testing.T) {
	auth := authService(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", fmt.Sprintf(`
http://localhost:9080 {
	forward_auth /app/* %s {
		uri /verify
		copy_headers Remote-User
	}
	intercom {
		app_id %s
		secret %s
		user_id {http.reverse_proxy.header.Remote-User}
	}
	reverse_proxy %s
}`, strings.TrimPrefix(auth.URL, "http://"), testAppID, testSecret, up.addr()))

	for _, tc := range []struct {
		path, authz, forged, want string
	}{
		{"/page", "", "admin", ""},
		{"/page", "Bearer token-dave", "admin", ""},
		{"/app/home", "Bearer token-dave", "admin", "dave"},
		{"/app/home", "Bearer token-dave", "", "dave"},
	} {
		hdr := map[string]string{}
		if tc.authz != "" {
			hdr["Authorization"] = tc.authz
		}
		if tc.forged != "" {
			hdr["Remote-User"] = tc.forged
		}
		resp, body := get(t, tester, http.MethodGet, tc.path, hdr)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", tc.path, resp.StatusCode)
		}
		if tc.want == "" {
			assertNotInjected(t, body)
		} else {
			assertUser(t, body, tc.want)
		}
	}
}
