package caddymodule

import (
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"
)

// TestMetaCharsetStaysEffective: when the injection point comes before a
// <meta charset> that the snippet pushes past byte 1024 and the response's
// Content-Type names no charset, the handler names the declared one in the
// header (issue 15 item 4). A Content-Type with a charset is left alone, and
// so is a page whose <meta charset> stays within the first 1024 bytes.
func TestMetaCharsetStaysEffective(t *testing.T) {
	late := "<!doctype html><html><head><script src=/app.js></script><meta charset=\"windows-1252\"><title>t</title></head><body>caf\xe9</body></html>"
	early := "<!doctype html><html><head><meta charset=\"windows-1252\"><script src=/app.js></script></head><body>x</body></html>"
	cases := []struct {
		name, contentType, page, want string
	}{
		{"no charset in header", "text/html", late, "text/html; charset=windows-1252"},
		{"header names one", "text/html; charset=iso-8859-1", late, "text/html; charset=iso-8859-1"},
		{"meta before the injection point", "text/html", early, "text/html"},
		{"xhtml", "application/xhtml+xml", late, "application/xhtml+xml; charset=windows-1252"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHandler(t)
			rec, err := serve(t, h, "alice", func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Content-Type", tc.contentType)
				// Small writes, as a chunked upstream may send them: the
				// decision waits for the <meta> (or byte 1024).
				for rest := tc.page; rest != ""; {
					n := min(len(rest), 16)
					io.WriteString(w, rest[:n])
					rest = rest[n:]
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			body := rec.Body.String()
			if !strings.Contains(body, "<script>") || !strings.HasSuffix(body, tc.page[strings.Index(tc.page, "<script src"):]) {
				t.Fatalf("not injected before the page's script: %q", body)
			}
			if got := rec.Header().Get("Content-Type"); got != tc.want {
				t.Errorf("Content-Type %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNamesCharset(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/html":                    false,
		"text/html;":                   false,
		"text/html; charset=utf-8":     true,
		"text/html; CHARSET=\"utf-8\"": true,
		"text/html; charset=":          true, // unparseable: left alone
		"text/html; foo=charset":       false,
	} {
		if got := namesCharset(ct); got != want {
			t.Errorf("namesCharset(%q) = %v, want %v", ct, got, want)
		}
	}
	if got := withCharset("text/html;", "koi8-r"); got != "text/html; charset=koi8-r" {
		t.Errorf("withCharset = %q", got)
	}
}

// TestNamesCharsetFastPath checks the fast path against mime.ParseMediaType's
// verdict.
func TestNamesCharsetFastPath(t *testing.T) {
	for _, ct := range []string{
		"text/html", "text/html; charset=utf-8", "TEXT/HTML;CHARSET=UTF-8", "text/html; charset=\"utf-8\"",
		"text/html; charset=\"\"", "text/html; charset=", "text/html; charset=utf-8; q=1", "text/html; q=1; charset=x",
		"text/html; charsetx=1", "text/html; charset=a b", "text/html;; charset=x", "text/html; charset=x\\y",
	} {
		_, params, err := mime.ParseMediaType(ct)
		want := strings.Contains(strings.ToLower(ct), "charset") && (err != nil || params["charset"] != "")
		if got := namesCharset(ct); got != want {
			t.Errorf("namesCharset(%q) = %v, want %v", ct, got, want)
		}
	}
}
