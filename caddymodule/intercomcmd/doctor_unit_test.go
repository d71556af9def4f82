package intercomcmd

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCSPAllows(t *testing.T) {
	const nonce = "n0nce"
	hashes := scriptHashes("var x=1")
	tests := []struct {
		policy string
		nonce  string
		allow  bool
	}{
		{"", nonce, true},
		{"img-src 'self'", nonce, true},
		{"script-src 'unsafe-inline'", "", true},
		{"script-src 'unsafe-inline' 'nonce-other'", "", false}, // a nonce disables 'unsafe-inline'
		{"script-src 'unsafe-inline' 'strict-dynamic'", "", false},
		{"script-src 'nonce-n0nce' 'strict-dynamic'", nonce, true},
		{"script-src 'nonce-N0NCE'", nonce, false}, // nonces are case-sensitive
		{"script-src 'self' " + hashes[0], "", true},
		{"script-src 'self' " + hashes[2], "", true},
		{"script-src 'self'", nonce, false},
		{"default-src 'self'", nonce, false},
		{"default-src 'self'; script-src 'nonce-n0nce'", nonce, true},
		{"script-src 'nonce-n0nce'; script-src-elem 'self'", nonce, false}, // script-src-elem governs elements
		{"SCRIPT-SRC 'self'", "", false},
		{"script-src 'self'; script-src 'unsafe-inline'", "", false}, // the first of a duplicate counts
	}
	for _, tc := range tests {
		why, ok := cspAllows(tc.policy, tc.nonce, hashes)
		if ok != tc.allow {
			t.Errorf("cspAllows(%q, %q) = %v (%s), want %v", tc.policy, tc.nonce, ok, why, tc.allow)
		}
		if !ok && why == "" {
			t.Errorf("cspAllows(%q): blocked without saying why", tc.policy)
		}
	}
}

func TestParsePage(t *testing.T) {
	ours := `<script nonce="abc">(function(){window.__intercomEdge=1})({"app_id":"a","user_id":"u\u003c1","intercom_user_jwt":"x.y.z"},{"loader":false});</script>`
	tests := []struct {
		name        string
		page        string
		fragment    bool
		injectionAt int // -2: any point, not none
		scripts     int
		ours        int
		userID      string
	}{
		{name: "injected page", page: `<!doctype html><html><head><meta charset="utf-8">` + ours + `<script>var a</script></head><body>x</body></html>`,
			injectionAt: -2, scripts: 2, ours: 1, userID: "u<1"},
		{name: "fragment", page: `<div>partial</div>`, fragment: true, injectionAt: -1},
		{name: "text first is a fragment", page: "  hello <b>x</b>", fragment: true, injectionAt: -1},
		{name: "head only: no injection point", page: `<!doctype html><html><head><title>Only a head</title><style>p{}</style>`, injectionAt: -1},
		{name: "template content is inert", page: `<!doctype html><head><template><p>x</p><script>1</script></template>`, injectionAt: -1},
		{name: "body starts the injection point", page: `<!doctype html><head><title>t</title></head>`, injectionAt: len(`<!doctype html><head><title>t</title>`)},
		{name: "shutdown script has no settings", page: `<!doctype html><head><script>(function(){window.__intercomEdge=1})()</script></head>`,
			injectionAt: -2, scripts: 1, ours: 1},
		{name: "meta charset after a script", page: `<!doctype html><head><script>1</script><meta charset="utf-8">`, injectionAt: -2, scripts: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := parsePage([]byte(tc.page))
			if p.fragment != tc.fragment {
				t.Errorf("fragment = %v, want %v", p.fragment, tc.fragment)
			}
			switch {
			case tc.injectionAt == -2 && p.injectionAt < 0:
				t.Errorf("no injection point found")
			case tc.injectionAt != -2 && p.injectionAt != tc.injectionAt:
				t.Errorf("injection point %d, want %d", p.injectionAt, tc.injectionAt)
			}
			if len(p.scripts) != tc.scripts || len(p.ours()) != tc.ours {
				t.Errorf("%d scripts, %d ours; want %d, %d", len(p.scripts), len(p.ours()), tc.scripts, tc.ours)
			}
			if tc.userID != "" {
				s := p.ours()[0]
				if s.settings == nil || s.settings.UserID != tc.userID || s.nonce != "abc" {
					t.Errorf("settings %+v nonce %q", s.settings, s.nonce)
				}
			}
		})
	}
}

func TestReadCachePolicy(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		headers map[string]string
		private bool // private and no-store
		shared  bool
	}{
		{"the module's policy", map[string]string{"Cache-Control": "private, no-store"}, true, false},
		{"after hardening", map[string]string{"Cache-Control": "private, no-store", "Surrogate-Control": "no-store", "CDN-Cache-Control": "no-store", "X-Accel-Expires": "0", "Vary": "Cookie"}, true, false},
		{"Expires in the past", map[string]string{"Cache-Control": "private, no-store", "Expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, true, false},
		{"Expires in the future", map[string]string{"Cache-Control": "private, no-store", "Expires": "Thu, 01 Jan 2099 00:00:00 GMT"}, true, true},
		{"Surrogate-Control max-age", map[string]string{"Cache-Control": "private, no-store", "Surrogate-Control": "max-age=60"}, true, true},
		{"Surrogate-Control max-age=0", map[string]string{"Cache-Control": "private, no-store", "Surrogate-Control": "max-age=0"}, true, false},
		{"vendor CDN-Cache-Control", map[string]string{"Cache-Control": "private, no-store", "Akamai-CDN-Cache-Control": "s-maxage=60"}, true, true},
		{"X-Accel-Expires", map[string]string{"Cache-Control": "private, no-store", "X-Accel-Expires": "60"}, true, true},
		{"public", map[string]string{"Cache-Control": "public, max-age=60"}, false, false},
	}
	for _, tc := range tests {
		h := http.Header{}
		for k, v := range tc.headers {
			h.Set(k, v)
		}
		p := readCachePolicy(h, now)
		if (p.private && p.noStore) != tc.private || (len(p.shared) > 0) != tc.shared {
			t.Errorf("%s: %+v", tc.name, p)
		}
		if tc.name == "public" && !p.sharedCC {
			t.Errorf("public: Cache-Control not seen as shareable")
		}
	}
}

func TestTokenPrefix(t *testing.T) {
	tok := "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiNDIifQ.sig"
	if p := tokenPrefix(tok); !strings.HasPrefix(tok, strings.TrimSuffix(p, "…")) || len(p) > 14 {
		t.Errorf("tokenPrefix = %q", p)
	}
	if p := tokenPrefix("short"); strings.Contains(p, "short") {
		t.Errorf("a short token is shown whole: %q", p)
	}
}
