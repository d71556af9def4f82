package helpcenter

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestFilterIntercomCookies(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		kept    string
		changed bool
	}{
		{"only intercom cookies", []string{"intercom-session-abc=s1; intercom-device-id-abc=d1"}, "", false},
		{"app session dropped", []string{"app_session=secret; intercom-session-abc=s1; intercom-id-abc=i1"}, "intercom-session-abc=s1; intercom-id-abc=i1", true},
		{"nothing left", []string{"app_session=secret; _ga=GA1.2.3"}, "", true},
		{"several header lines", []string{"a=1; intercom-session-abc=s1", "intercom-device-id-abc=d1", "b=2"}, "intercom-session-abc=s1; intercom-device-id-abc=d1", true},
		{"several lines all intercom stay as sent", []string{"intercom-session-abc=s1", "intercom-id-abc=i1"}, "", false},
		{"values byte for byte", []string{`x=1; intercom-session-abc="quoted=val/+"; intercom-id-abc=a%20b==`}, `intercom-session-abc="quoted=val/+"; intercom-id-abc=a%20b==`, true},
		{"odd spacing normalised", []string{" x=1 ;intercom-session-abc=s1 ;;\tintercom-id-abc=i1\t"}, "intercom-session-abc=s1; intercom-id-abc=i1", true},
		{"names are case-sensitive", []string{"Intercom-session-abc=s1; intercom-session-abc=s2"}, "intercom-session-abc=s2", true},
		{"prefix must start the name", []string{"my-intercom-session=s1; intercom-session-abc=s2"}, "intercom-session-abc=s2", true},
		{"bare prefix name kept", []string{"x=1; intercom-=v"}, "intercom-=v", true},
		{"name without value kept", []string{"x=1; intercom-flag"}, "intercom-flag", true},
		{"space before = as net/http trims it", []string{"x=1; intercom-a =1"}, "intercom-a =1", true},
		{"invalid name dropped", []string{"intercom-a b=1; intercom-ok=2"}, "intercom-ok=2", true},
		{"empty value", []string{"intercom-session-abc=; y=2"}, "intercom-session-abc=", true},
		{"empty header line", []string{""}, "", false},
		{"separators only", []string{"; ;"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, changed := filterIntercomCookies(tt.lines)
			if kept != tt.kept || changed != tt.changed {
				t.Errorf("filterIntercomCookies(%q) = (%q, %v), want (%q, %v)", tt.lines, kept, changed, tt.kept, tt.changed)
			}
		})
	}
}

// FuzzFilterIntercomCookies checks the filter against net/http's own cookie
// parsing: what the origin parses from the forwarded header is exactly the
// intercom-* subset of what it would have parsed from the original.
func FuzzFilterIntercomCookies(f *testing.F) {
	for _, s := range []string{
		"app_session=secret; intercom-session-abc=s1; intercom-id-abc=i1",
		`intercom-session-abc="q"; x=1`,
		" intercom-a=1 ;; b=2\t; intercom-b",
		"intercom-a =1; x =2",
		"intercom-a b=1; intercom-ok=2",
		"intercom-x=a;b=c",
		"",
	} {
		f.Add(s, "x=1; intercom-device-id-abc=d1")
	}
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		if strings.ContainsAny(line1+line2, "\r\n") {
			t.Skip("not a valid header value")
		}
		if strings.Count(line1+line2, ";") > 1000 {
			t.Skip("net/http ignores all cookies beyond its cookie-count limit")
		}
		lines := []string{line1, line2}
		want := intercomOnly(parseCookies(lines))

		kept, changed := filterIntercomCookies(lines)
		forwarded := lines
		if changed {
			forwarded = nil
			if kept != "" {
				forwarded = []string{kept}
			}
		}
		got := parseCookies(forwarded)
		if !changed {
			got = intercomOnly(got) // the unchanged header must hold nothing else
			if all := parseCookies(lines); !reflect.DeepEqual(all, got) {
				t.Fatalf("unchanged header %q holds non-intercom cookies %v", lines, all)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("lines %q: forwarded %q parses as %v, want %v", lines, forwarded, got, want)
		}
	})
}

func parseCookies(lines []string) []string {
	r := &http.Request{Header: http.Header{}}
	if len(lines) > 0 {
		r.Header["Cookie"] = lines
	}
	var out []string
	for _, c := range r.Cookies() {
		out = append(out, c.Name+"="+c.Value)
	}
	return out
}

func intercomOnly(cookies []string) []string {
	var out []string
	for _, c := range cookies {
		if strings.HasPrefix(c, "intercom-") {
			out = append(out, c)
		}
	}
	return out
}

func BenchmarkFilterIntercomCookies(b *testing.B) {
	lines := []string{"_ga=GA1.2.1234567890.1234567890; app_session=eyJhbGciOiJIUzI1NiJ9.payload.sig; " +
		"intercom-session-abc123=Y2xhbXA=; intercom-device-id-abc123=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0; intercom-id-abc123=9f8e7d6c"}
	b.ReportAllocs()
	for b.Loop() {
		filterIntercomCookies(lines)
	}
}

func BenchmarkFilterIntercomCookiesUnchanged(b *testing.B) {
	lines := []string{"intercom-session-abc123=Y2xhbXA=; intercom-device-id-abc123=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"}
	b.ReportAllocs()
	for b.Loop() {
		filterIntercomCookies(lines)
	}
}
