package injector

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestPageApply(t *testing.T) {
	upstream := func() http.Header {
		return http.Header{
			"Content-Type":                 {"text/html"},
			"Content-Length":               {"100"},
			"Etag":                         {`"v1"`},
			"Last-Modified":                {"Mon, 01 Jan 2024 00:00:00 GMT"},
			"Accept-Ranges":                {"bytes"},
			"Cache-Control":                {"public, max-age=600", "s-maxage=600"},
			"Expires":                      {"Thu, 01 Jan 2099 00:00:00 GMT"},
			"Surrogate-Control":            {"max-age=600"},
			"Cdn-Cache-Control":            {"max-age=600"},
			"Cloudflare-Cdn-Cache-Control": {"max-age=600"},
			"vercel-cdn-cache-control":     {"max-age=600"}, // not canonical: set directly by a handler
			"X-Accel-Expires":              {"600"},
			"Vary":                         {"Accept-Encoding", "Accept-Language"},
			"Set-Cookie":                   {"app=1"},
			"X-Other":                      {"kept"},
		}
	}
	tests := []struct {
		name string
		page Page
		edit func(http.Header)
		want http.Header // checked keys; nil value = absent
	}{
		{
			name: "injected GET, new visitor",
			page: Page{Added: 20, AppID: "app1", Host: "www.example.com", Hygiene: Hygiene{SetMarker: "m1"}},
			want: http.Header{
				"Content-Length":               {"120"},
				"Etag":                         nil,
				"Last-Modified":                nil,
				"Accept-Ranges":                nil,
				"Cache-Control":                {"private, no-store"},
				"Expires":                      nil,
				"Surrogate-Control":            {"no-store"},
				"Cdn-Cache-Control":            {"no-store"},
				"Cloudflare-Cdn-Cache-Control": nil,
				"vercel-cdn-cache-control":     nil,
				"X-Accel-Expires":              {"0"},
				"Vary":                         {"Accept-Encoding, Accept-Language, Cookie"},
				"Set-Cookie":                   {"app=1", MarkerCookie + "=m1; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"},
				"X-Other":                      {"kept"},
			},
		},
		{
			name: "HEAD: length unknown, CSP untouched",
			page: Page{Added: -1, Secure: true, Hygiene: Hygiene{SetMarker: "m1"}},
			edit: func(h http.Header) { h["Content-Security-Policy"] = []string{"script-src 'self'"} },
			want: http.Header{
				"Content-Length":          nil,
				"Cache-Control":           {"private, no-store"},
				"Content-Security-Policy": {"script-src 'self'"},
				"Set-Cookie":              {"app=1", MarkerCookie + "=m1; Path=/; Max-Age=2592000; HttpOnly; Secure; SameSite=Lax"},
			},
		},
		{
			name: "another user's session: shutdown cookies",
			page: Page{Added: 1, AppID: "app1", Host: "www.example.co.uk:443", Hygiene: Hygiene{Shutdown: true, SetMarker: "m2"}},
			want: http.Header{"Set-Cookie": {
				"app=1",
				"intercom-session-app1=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=.example.co.uk",
				MarkerCookie + "=m2; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax",
			}},
		},
		{
			name: "logged out: marker expired",
			page: Page{Added: 1, AppID: "app1", Host: "127.0.0.1", Hygiene: Hygiene{Shutdown: true, ExpireMarker: true}},
			want: http.Header{"Set-Cookie": {
				"app=1",
				"intercom-session-app1=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
				MarkerCookie + "=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; SameSite=Lax",
			}},
		},
		{
			name: "Vary already has Cookie",
			page: Page{Added: 1},
			edit: func(h http.Header) { h["Vary"] = []string{"accept-encoding, COOKIE"} },
			want: http.Header{"Vary": {"accept-encoding, COOKIE"}},
		},
		{
			name: "Vary *",
			page: Page{Added: 1},
			edit: func(h http.Header) { h["Vary"] = []string{"*"} },
			want: http.Header{"Vary": {"*"}},
		},
		{
			name: "no Vary",
			page: Page{Added: 1},
			edit: func(h http.Header) { delete(h, "Vary") },
			want: http.Header{"Vary": {"Cookie"}},
		},
		{
			name: "two Content-Length values: removed",
			page: Page{Added: 1},
			edit: func(h http.Header) { h["Content-Length"] = []string{"100", "100"} },
			want: http.Header{"Content-Length": nil},
		},
		{
			name: "bad Content-Length: removed",
			page: Page{Added: 1},
			edit: func(h http.Header) { h["Content-Length"] = []string{"-3"} },
			want: http.Header{"Content-Length": nil},
		},
		{
			name: "no Content-Length: none added",
			page: Page{Added: 1},
			edit: func(h http.Header) { delete(h, "Content-Length") },
			want: http.Header{"Content-Length": nil},
		},
		{
			name: "CSP plan applied",
			page: Page{Added: 1, CSP: CSPPlan{Changed: true, Enforced: []string{"script-src 'sha256-x'"}}},
			edit: func(h http.Header) { h["Content-Security-Policy"] = []string{"script-src 'self'"} },
			want: http.Header{"Content-Security-Policy": {"script-src 'sha256-x'"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := upstream()
			if tt.edit != nil {
				tt.edit(hdr)
			}
			tt.page.Apply(hdr)
			for k, want := range tt.want {
				if got := hdr[k]; !slices.Equal(got, want) {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestPageApplyOwnsItsValues: the values set are not shared between pages,
// so a later handler that edits a header value in place cannot change
// another response's.
func TestPageApplyOwnsItsValues(t *testing.T) {
	a, b := http.Header{}, http.Header{}
	(&Page{Added: 1}).Apply(a)
	(&Page{Added: 1}).Apply(b)
	a["Cache-Control"][0] = "public"
	if b.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("editing one page's header changed another's: %q", b.Get("Cache-Control"))
	}
}

func BenchmarkPageApply(b *testing.B) {
	b.ReportAllocs()
	hdr := make(http.Header, 16)
	for b.Loop() {
		clear(hdr)
		hdr["Content-Type"] = []string{"text/html"}
		hdr["Content-Length"] = []string{"10000"}
		hdr["Etag"] = []string{`"v1"`}
		hdr["Cache-Control"] = []string{"public, max-age=60"}
		p := Page{Added: 7000, AppID: "app1", Host: "app.example.com"}
		p.Apply(hdr)
	}
}

// TestAppendSettingsJSON: the settings object is valid JSON with exactly the
// keys that are set, and the snippet embeds the same object.
func TestAppendSettingsJSON(t *testing.T) {
	for _, s := range []Settings{
		{AppID: "a", UserID: "u"},
		{AppID: "a", APIBase: "https://api-iam.eu.intercom.io", UserID: "</script>é", Email: "e@x", Name: "N", IntercomUserJWT: "j", SalesforceIdentityToken: "sf", UserHash: "h"},
	} {
		b := AppendSettingsJSON(nil, s)
		var got map[string]string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		want := map[string]string{"app_id": s.AppID, "api_base": s.APIBase, "user_id": s.UserID, "email": s.Email, "name": s.Name,
			"intercom_user_jwt": s.IntercomUserJWT, "salesforce_identity_token": s.SalesforceIdentityToken, "user_hash": s.UserHash}
		for k, v := range want {
			if v == "" && k != "user_id" {
				delete(want, k)
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("AppendSettingsJSON = %s, want %v", b, want)
		}
		if !bytes.Contains(ScriptBody(s, SnippetOptions{}), b) {
			t.Errorf("the snippet does not embed the settings object %s", b)
		}
	}
}

// FuzzPageApply: whatever headers the upstream sent, an injected page comes
// out with the storage policy intact and a Content-Length that is either
// absent or the upstream's plus the injected bytes.
func FuzzPageApply(f *testing.F) {
	f.Add("Cloudflare-CDN-Cache-Control", "max-age=60", "Vary", "Accept-Encoding", "100", 20)
	f.Add("cdn-cache-control", "public", "vary", "*", "-1", 0)
	f.Add("X", "", "Vary", "cookie, x", "1e3", -1)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, cl string, added int) {
		hdr := http.Header{}
		hdr[k1] = []string{v1}
		hdr[k2] = append(hdr[k2], v2)
		hdr["Content-Length"] = []string{cl}
		(&Page{Added: added, AppID: "a", Host: k1}).Apply(hdr)
		for name, want := range map[string]string{"Cache-Control": "private, no-store", "Surrogate-Control": "no-store", "Cdn-Cache-Control": "no-store", "X-Accel-Expires": "0"} {
			if got := hdr[name]; len(got) != 1 || got[0] != want {
				t.Fatalf("%s = %q", name, got)
			}
		}
		for name := range hdr {
			if name != "Cdn-Cache-Control" && hasSuffixFoldASCII(name, "cdn-cache-control") {
				t.Fatalf("%s kept", name)
			}
			if EqualFoldASCII(name, "Expires") || name == "Etag" {
				t.Fatalf("%s kept", name)
			}
		}
		vary := strings.ToLower(strings.Join(hdr["Vary"], ","))
		if !strings.Contains(vary, "cookie") && !strings.Contains(vary, "*") {
			t.Fatalf("Vary %q lacks Cookie", vary)
		}
		if got := hdr["Content-Length"]; len(got) > 0 {
			n, err := strconv.ParseInt(got[0], 10, 64)
			orig, err2 := strconv.ParseInt(cl, 10, 64)
			if err != nil || err2 != nil || added < 0 || n != orig+int64(added) {
				t.Fatalf("Content-Length %q from %q + %d", got, cl, added)
			}
		}
	})
}
