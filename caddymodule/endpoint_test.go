package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/injector"
)

func endpointSite(up string) string {
	return fmt.Sprintf(`
http://app.example.test:9080 {
	intercom {
		app_id %s
		secret %s
		user_id {http.request.header.X-User}
		trust 127.0.0.1
		user_hash
		ttl 10m
		endpoint /intercom/jwt
	}
	reverse_proxy %s
}`, testAppID, testSecret, up)
}

func TestTokenEndpoint(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", endpointSite(up.addr()))
	host := map[string]string{"Host": "app.example.test:9080"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"Host": host["Host"]}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	assertJSONHeaders := func(t *testing.T, resp *http.Response) {
		t.Helper()
		for k, v := range map[string]string{"Cache-Control": "no-store", "Content-Type": "application/json", "X-Content-Type-Options": "nosniff"} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	}

	before := len(up.seen)
	start := time.Now()
	resp, body := get(t, tester, http.MethodGet, "/intercom/jwt", with("X-User", "Erin", "Sec-Fetch-Site", "same-origin"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("identified: %d %s", resp.StatusCode, body)
	}
	assertJSONHeaders(t, resp)
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"app_id", "api_base", "user_id", "intercom_user_jwt", "user_hash", "expires_at"} {
		if _, ok := got[k]; !ok {
			t.Errorf("missing key %s in %s", k, body)
		}
	}
	if _, ok := got["salesforce_identity_token"]; ok {
		t.Error("salesforce_identity_token present without salesforce")
	}
	if got["user_id"] != "Erin" || got["app_id"] != testAppID || got["api_base"] != "https://api-iam.intercom.io" {
		t.Errorf("settings: %s", body)
	}
	if got["user_hash"] != injector.UserHash([]byte(testSecret), "Erin") {
		t.Errorf("user_hash %v", got["user_hash"])
	}
	claims := pageToken(t, body)
	if claims["user_id"] != "Erin" {
		t.Errorf("token for %v", claims["user_id"])
	}
	exp := int64(got["expires_at"].(float64))
	if want := start.Add(10 * time.Minute).Unix(); exp < want-2 || exp > want+2 {
		t.Errorf("expires_at %d, want about %d", exp, want)
	}
	if int64(claims["exp"].(float64)) != exp {
		t.Errorf("expires_at %d differs from the token's exp %v", exp, claims["exp"])
	}

	for _, tc := range []struct {
		name   string
		method string
		hdr    map[string]string
		status int
		body   string
	}{
		{"anonymous", http.MethodGet, with(), http.StatusUnauthorized, `{"error":"not_identified"}`},
		{"post", http.MethodPost, with("X-User", "Erin"), http.StatusMethodNotAllowed, `{"error":"method_not_allowed"}`},
		{"cross-site", http.MethodGet, with("X-User", "Erin", "Sec-Fetch-Site", "cross-site"), http.StatusForbidden, `{"error":"cross_site"}`},
	} {
		resp, body := get(t, tester, tc.method, "/intercom/jwt", tc.hdr)
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("%s: %d %s, want %d %s", tc.name, resp.StatusCode, body, tc.status, tc.body)
		}
		assertJSONHeaders(t, resp)
		if tc.method == http.MethodPost && resp.Header.Get("Allow") != "GET" {
			t.Errorf("405 without Allow: GET")
		}
	}
	if n := len(up.seen); n != before {
		t.Errorf("the upstream saw %d endpoint requests", n-before)
	}
	// Other paths still reach the upstream.
	_, page := get(t, tester, http.MethodGet, "/intercom/jwt/other", with("X-User", "Erin"))
	assertUser(t, page, "Erin")
}

func TestSessionHygiene(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", htmlHandler(legacyPage, nil))
	up := newUpstream(t, mux)
	tester := startCaddy(t, "", endpointSite(up.addr()))
	marker := injector.NewSessionMarker([]byte(testSecret))
	req := func(user, cookie string) (*http.Response, string) {
		hdr := map[string]string{"Host": "app.example.test:9080"}
		if user != "" {
			hdr["X-User"] = user
		}
		if cookie != "" {
			hdr["Cookie"] = cookie
		}
		return get(t, tester, http.MethodGet, "/", hdr)
	}
	sessionExpiry := "intercom-session-" + testAppID + "=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=.example.test"
	markerFor := func(user string) string {
		return injector.MarkerCookie + "=" + marker.Value(user) + "; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"
	}
	markerExpiry := injector.MarkerCookie + "=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; SameSite=Lax"
	session := "intercom-session-" + testAppID + "=abc"

	for _, tc := range []struct {
		name, user, cookie string
		setCookies         []string
		shutdown           bool
		injected           bool
	}{
		{"first page", "alice", session, []string{markerFor("alice")}, false, true},
		{"same user", "alice", injector.MarkerCookie + "=" + marker.Value("alice"), nil, false, true},
		{"user switch", "bob", injector.MarkerCookie + "=" + marker.Value("alice") + "; " + session, []string{sessionExpiry, markerFor("bob")}, true, true},
		{"tampered marker", "alice", injector.MarkerCookie + "=forged", []string{sessionExpiry, markerFor("alice")}, true, true},
		{"logout", "", injector.MarkerCookie + "=" + marker.Value("alice") + "; " + session, []string{sessionExpiry, markerExpiry}, true, true},
		{"anonymous without marker", "", session, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := req(tc.user, tc.cookie)
			if got := resp.Header.Values("Set-Cookie"); strings.Join(got, "\n") != strings.Join(tc.setCookies, "\n") {
				t.Errorf("Set-Cookie:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.setCookies, "\n"))
			}
			if !tc.injected {
				if body != legacyPage {
					t.Errorf("page changed:\n%s", body)
				}
				return
			}
			if tc.user != "" {
				assertUser(t, body, tc.user)
			} else {
				assertNotInjected(t, body)
				if !strings.Contains(body, "<script") || len(body) == len(legacyPage) {
					t.Errorf("logout page has no shutdown script")
				}
			}
			if got := hasShutdown(body); got != tc.shutdown {
				t.Errorf("shutdown in script = %v, want %v", got, tc.shutdown)
			}
		})
	}
}

// hasShutdown reports whether the injected script will shut down the
// Messenger before booting: the full script's option, or the shutdown-only
// script of an anonymous page.
func hasShutdown(page string) bool {
	return strings.Contains(page, `"shutdown":true`) ||
		(!strings.Contains(page, "intercom_user_jwt") && strings.Contains(page, `"shutdown"`))
}
