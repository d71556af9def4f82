package injector

import (
	"strings"
	"testing"
)

var cspBody = []byte(`(function(){})({"app_id":"a","user_id":"u"});`)

func TestPlanCSP(t *testing.T) {
	tests := []struct {
		name                 string
		enforced, reportOnly []string
		wantNonce            string
		wantEnforced, wantRO []string // nil = unchanged; {H} = our hash
		wantChanged          bool
	}{
		{name: "no headers"},
		{name: "no governing directive",
			enforced: []string{"object-src 'none'; base-uri 'self'; script-src-attr 'none'"}},
		{name: "nonce reused",
			enforced:  []string{"script-src 'nonce-abc123' 'strict-dynamic'; object-src 'none'"},
			wantNonce: "abc123"},
		{name: "google strict csp",
			enforced:  []string{"object-src 'none'; script-src 'nonce-r4nd0m+/=' 'unsafe-inline' 'unsafe-eval' 'strict-dynamic' https: http:; base-uri 'self'"},
			wantNonce: "r4nd0m+/="},
		{name: "hash to script-src",
			enforced:     []string{"script-src 'self' https://cdn.example; img-src *"},
			wantEnforced: []string{"script-src 'self' https://cdn.example {H}; img-src *"}, wantChanged: true},
		{name: "hash to script-src-elem, not script-src",
			enforced:     []string{"script-src 'self'; script-src-elem 'self' https://cdn.example"},
			wantEnforced: []string{"script-src 'self'; script-src-elem 'self' https://cdn.example {H}"}, wantChanged: true},
		{name: "script-src over default-src",
			enforced:     []string{"default-src 'self'; script-src 'self'"},
			wantEnforced: []string{"default-src 'self'; script-src 'self' {H}"}, wantChanged: true},
		{name: "default-src fallback gets a script-src copy",
			enforced:     []string{"default-src 'self' https:; img-src *"},
			wantEnforced: []string{"default-src 'self' https:; img-src *; script-src 'self' https: {H}"}, wantChanged: true},
		{name: "default-src fallback, trailing semicolon",
			enforced:     []string{"default-src 'self'; "},
			wantEnforced: []string{"default-src 'self'; script-src 'self' {H} "}, wantChanged: true},
		{name: "default-src with unsafe-inline and strict-dynamic keeps styles",
			enforced:     []string{"default-src 'unsafe-inline' 'strict-dynamic'"},
			wantEnforced: []string{"default-src 'unsafe-inline' 'strict-dynamic'; script-src 'unsafe-inline' 'strict-dynamic' {H}"}, wantChanged: true},
		{name: "unsafe-inline left alone",
			enforced: []string{"script-src 'self' 'unsafe-inline'"}},
		{name: "unsafe-inline in default-src left alone",
			enforced: []string{"default-src 'self' 'unsafe-inline'; img-src *"}},
		{name: "unsafe-inline with nonce: nonce",
			enforced:  []string{"script-src 'unsafe-inline' 'nonce-abc'"},
			wantNonce: "abc"},
		{name: "unsafe-inline with a hash: hash",
			enforced:     []string{"script-src 'unsafe-inline' 'sha256-AAAA'"},
			wantEnforced: []string{"script-src 'unsafe-inline' 'sha256-AAAA' {H}"}, wantChanged: true},
		{name: "unsafe-inline with strict-dynamic: hash",
			enforced:     []string{"script-src 'unsafe-inline' 'strict-dynamic' https:"},
			wantEnforced: []string{"script-src 'unsafe-inline' 'strict-dynamic' https: {H}"}, wantChanged: true},
		{name: "strict-dynamic with hashes",
			enforced:     []string{"script-src 'strict-dynamic' 'sha384-abc='"},
			wantEnforced: []string{"script-src 'strict-dynamic' 'sha384-abc=' {H}"}, wantChanged: true},
		{name: "several policies in one header",
			enforced:     []string{"default-src 'self', script-src 'nonce-abc'"},
			wantNonce:    "abc",
			wantEnforced: []string{"default-src 'self'; script-src 'self' {H}, script-src 'nonce-abc'"}, wantChanged: true},
		{name: "two policies changed in one header",
			enforced:     []string{"script-src 'self', default-src https:"},
			wantEnforced: []string{"script-src 'self' {H}, default-src https:; script-src https: {H}"}, wantChanged: true},
		{name: "several headers",
			enforced:     []string{"script-src 'nonce-abc'", "script-src 'self'", "img-src *"},
			wantNonce:    "abc",
			wantEnforced: []string{"script-src 'nonce-abc'", "script-src 'self' {H}", "img-src *"}, wantChanged: true},
		{name: "different nonces: first wins, the others get the hash",
			enforced:     []string{"script-src 'nonce-aaa'", "script-src 'nonce-bbb'"},
			wantNonce:    "aaa",
			wantEnforced: []string{"script-src 'nonce-aaa'", "script-src 'nonce-bbb' {H}"}, wantChanged: true},
		{name: "report-only",
			reportOnly: []string{"script-src 'self'; report-uri /csp"},
			wantRO:     []string{"script-src 'self' {H}; report-uri /csp"}, wantChanged: true},
		{name: "report-only with the enforced nonce",
			enforced:   []string{"script-src 'nonce-abc'"},
			reportOnly: []string{"script-src 'nonce-abc' 'strict-dynamic'"},
			wantNonce:  "abc"},
		{name: "report-only with another nonce",
			enforced:   []string{"script-src 'nonce-abc'"},
			reportOnly: []string{"default-src 'nonce-xyz'"},
			wantNonce:  "abc",
			wantRO:     []string{"default-src 'nonce-xyz'; script-src 'nonce-xyz' {H}"}, wantChanged: true},
		{name: "report-only nonce when no enforced nonce",
			enforced:   []string{"img-src *"},
			reportOnly: []string{"script-src 'nonce-xyz'"},
			wantNonce:  "xyz"},
		{name: "report-only unsafe-inline",
			enforced:     []string{"script-src 'self'"},
			reportOnly:   []string{"script-src 'unsafe-inline'"},
			wantEnforced: []string{"script-src 'self' {H}"}, wantChanged: true},
		{name: "case-insensitive names and keywords",
			enforced:  []string{"SCRIPT-SRC 'NONCE-abc' 'Strict-Dynamic'"},
			wantNonce: "abc"},
		{name: "case-insensitive unsafe-inline",
			enforced: []string{"Script-Src 'Unsafe-Inline'"}},
		{name: "case-insensitive default-src",
			enforced:     []string{"DEFAULT-SRC 'self'"},
			wantEnforced: []string{"DEFAULT-SRC 'self'; script-src 'self' {H}"}, wantChanged: true},
		{name: "nonce value is case-sensitive",
			enforced:     []string{"script-src 'nonce-abc'", "script-src 'nonce-ABC'"},
			wantNonce:    "abc",
			wantEnforced: []string{"script-src 'nonce-abc'", "script-src 'nonce-ABC' {H}"}, wantChanged: true},
		{name: "duplicate directive: first wins (allows)",
			enforced: []string{"script-src 'unsafe-inline'; script-src 'self'"}},
		{name: "duplicate directive: first wins (needs hash)",
			enforced:     []string{"script-src 'self'; script-src 'unsafe-inline'"},
			wantEnforced: []string{"script-src 'self' {H}; script-src 'unsafe-inline'"}, wantChanged: true},
		{name: "duplicate directive names differ in case",
			enforced:     []string{"script-src 'self'; SCRIPT-SRC 'nonce-abc'"},
			wantEnforced: []string{"script-src 'self' {H}; SCRIPT-SRC 'nonce-abc'"}, wantChanged: true},
		{name: "none replaced",
			enforced:     []string{"script-src 'none'; object-src 'none'"},
			wantEnforced: []string{"script-src {H}; object-src 'none'"}, wantChanged: true},
		{name: "default-src none",
			enforced:     []string{"default-src 'none'"},
			wantEnforced: []string{"default-src 'none'; script-src {H}"}, wantChanged: true},
		{name: "empty source list",
			enforced:     []string{"script-src ; img-src *"},
			wantEnforced: []string{"script-src {H} ; img-src *"}, wantChanged: true},
		{name: "whitespace kept",
			enforced:     []string{"  script-src\t'self'  ;  img-src *  "},
			wantEnforced: []string{"  script-src\t'self' {H}  ;  img-src *  "}, wantChanged: true},
		{name: "trailing comma",
			enforced:     []string{"script-src 'self',"},
			wantEnforced: []string{"script-src 'self' {H},"}, wantChanged: true},
		{name: "empty and odd values",
			enforced:   []string{"", " , ; ,", ";;;", "report-uri /x"},
			reportOnly: []string{","}},
		{name: "non-ASCII directive ignored",
			enforced: []string{"script-src 'self' https://\u00fc.example; default-src 'unsafe-inline'"}},
		{name: "our hash already there",
			enforced: []string{"script-src 'self' {H}"}},
		{name: "empty nonce is no nonce",
			enforced: []string{"script-src 'nonce-' 'unsafe-inline'"}},
		{name: "invalid nonce is no nonce",
			enforced:     []string{`script-src 'nonce-a"b'`},
			wantEnforced: []string{`script-src 'nonce-a"b' {H}`}, wantChanged: true},
		{name: "unknown hash algorithm is no hash",
			enforced: []string{"script-src 'sha1-abc=' 'unsafe-inline'"}},
	}
	hash := ScriptHash(cspBody)
	expand := func(in []string) []string {
		if in == nil {
			return nil
		}
		out := make([]string, len(in))
		for i, v := range in {
			out[i] = strings.ReplaceAll(v, "{H}", hash)
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enforced, reportOnly := expand(tt.enforced), expand(tt.reportOnly)
			origE := append([]string(nil), enforced...)
			origR := append([]string(nil), reportOnly...)
			plan := PlanCSP(enforced, reportOnly, cspBody)

			if plan.Nonce != tt.wantNonce {
				t.Errorf("Nonce = %q, want %q", plan.Nonce, tt.wantNonce)
			}
			if plan.Changed != tt.wantChanged {
				t.Errorf("Changed = %v, want %v", plan.Changed, tt.wantChanged)
			}
			wantE, wantR := expand(tt.wantEnforced), expand(tt.wantRO)
			if wantE == nil {
				wantE = enforced
			}
			if wantR == nil {
				wantR = reportOnly
			}
			checkValues(t, "Enforced", plan.Enforced, enforced, wantE)
			checkValues(t, "ReportOnly", plan.ReportOnly, reportOnly, wantR)
			if !equalStrings(enforced, origE) || !equalStrings(reportOnly, origR) {
				t.Error("PlanCSP modified its input slices")
			}
		})
	}
}

func checkValues(t *testing.T, what string, got, in, want []string) {
	t.Helper()
	if !equalStrings(got, want) {
		t.Errorf("%s =\n  %q\nwant\n  %q", what, got, want)
	}
	if equalStrings(in, want) && len(in) > 0 && &got[0] != &in[0] {
		t.Errorf("%s: unchanged values in a new slice", what)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPlanCSPNoAllocs: the common cases cost no allocation, which also
// shows the hash is computed only when some policy needs it.
func TestPlanCSPNoAllocs(t *testing.T) {
	big := make([]byte, 64<<10)
	tests := []struct {
		name                 string
		enforced, reportOnly []string
	}{
		{"no headers", nil, nil},
		{"nonce reuse", []string{"object-src 'none'; script-src 'nonce-r4nd0m' 'unsafe-inline' 'strict-dynamic' https:; base-uri 'none'"},
			[]string{"script-src 'nonce-r4nd0m'; report-uri /r"}},
		{"unsafe-inline", []string{"default-src 'self' 'unsafe-inline'; img-src * data:"}, nil},
		{"no script directive", []string{"frame-ancestors 'none'", "upgrade-insecure-requests"}, nil},
	}
	for _, tt := range tests {
		allocs := testing.AllocsPerRun(100, func() {
			if PlanCSP(tt.enforced, tt.reportOnly, big).Changed {
				t.Fatal("changed")
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs per call, want 0", tt.name, allocs)
		}
	}
}

// cspAllows re-parses a header value as a browser would and reports whether
// every policy in it lets our script run (with nonce on the tag).
func cspAllows(v, nonce, hash string) bool {
	for p, next, ok := nextPolicy(v, 0); ok; p, next, ok = nextPolicy(v, next) {
		d := governing(v, p)
		if d.kind == govNone {
			continue
		}
		s := inspect(v, d)
		if !(s.allowsAllInline() || nonce != "" && hasNonce(v, d, nonce) || hasToken(v, d, hash)) {
			return false
		}
	}
	return true
}

func policies(v string) []string { return strings.Split(v, ",") }

func FuzzPlanCSP(f *testing.F) {
	f.Add("script-src 'nonce-abc' 'strict-dynamic'", "default-src 'self'", []byte("x()"))
	f.Add("default-src 'self'; script-src-elem 'none', script-src 'unsafe-inline'", "", []byte("y"))
	f.Add("SCRIPT-SRC 'self'; script-src 'unsafe-inline'\nscript-src 'nonce-Q=='", "script-src 'nonce-Z'", []byte{})
	f.Add(" , ;; default-src 'unsafe-inline' 'strict-dynamic' ,", "img-src *", []byte("z"))
	f.Add("script-src https://\xc3\xbc; default-src 'none'", "script-src 'sha256-abc' 'unsafe-inline'", []byte("\x00"))
	f.Fuzz(func(t *testing.T, enforced, reportOnly string, body []byte) {
		var in [2][]string
		if enforced != "" {
			in[0] = strings.Split(enforced, "\n")
		}
		if reportOnly != "" {
			in[1] = strings.Split(reportOnly, "\n")
		}
		plan := PlanCSP(in[0], in[1], body)
		if plan.Nonce != "" && !validNonce(plan.Nonce) {
			t.Fatalf("invalid nonce %q", plan.Nonce)
		}
		hash := ScriptHash(body)
		changed := false
		for k, out := range [2][]string{plan.Enforced, plan.ReportOnly} {
			if len(out) != len(in[k]) {
				t.Fatalf("%d values for %d", len(out), len(in[k]))
			}
			for i, v := range out {
				old := in[k][i]
				if v != old {
					changed = true
				}
				if !cspAllows(v, plan.Nonce, hash) {
					t.Errorf("%q still blocks our script (nonce %q)", v, plan.Nonce)
				}
				po, pn := policies(old), policies(v)
				if len(po) != len(pn) {
					t.Fatalf("policy count %d -> %d: %q", len(po), len(pn), v)
				}
				for j := range po {
					if po[j] != pn[j] && cspAllows(po[j], plan.Nonce, hash) {
						t.Errorf("policy %q already allowed our script but became %q", po[j], pn[j])
					}
					if po[j] != pn[j] && !strings.Contains(pn[j], hash) {
						t.Errorf("changed policy %q lacks the hash", pn[j])
					}
					if strings.Count(strings.ToLower(pn[j]), "'unsafe-inline'") > 2*strings.Count(strings.ToLower(po[j]), "'unsafe-inline'") {
						t.Errorf("'unsafe-inline' added: %q -> %q", po[j], pn[j])
					}
				}
			}
			if !changed && len(out) > 0 && &out[0] != &in[k][0] {
				t.Errorf("unchanged values in a new slice")
			}
		}
		if changed != plan.Changed {
			t.Fatalf("Changed = %v, values changed = %v", plan.Changed, changed)
		}
		// Planning the result again changes nothing and keeps the nonce.
		again := PlanCSP(plan.Enforced, plan.ReportOnly, body)
		if again.Changed || again.Nonce != plan.Nonce {
			t.Errorf("not idempotent: %q %q -> %q %q", plan.Enforced, plan.ReportOnly, again.Enforced, again.ReportOnly)
		}
	})
}

func BenchmarkPlanCSP(b *testing.B) {
	body := ScriptBody(baseSettings(), SnippetOptions{Loader: true})
	cases := []struct {
		name                 string
		enforced, reportOnly []string
	}{
		{"none", nil, nil},
		{"nonce_reuse", []string{"object-src 'none'; script-src 'nonce-r4nd0mVALUE123' 'unsafe-inline' 'unsafe-eval' 'strict-dynamic' https: http:; base-uri 'self'"}, nil},
		{"unsafe_inline", []string{"default-src 'self'; script-src 'self' 'unsafe-inline' https://widget.intercom.io https://js.intercomcdn.com; img-src * data:"}, nil},
		{"hash_added", []string{"default-src 'self'; script-src 'self' https://widget.intercom.io https://js.intercomcdn.com; img-src * data:"}, nil},
		{"several", []string{"default-src 'self', script-src 'nonce-abc'", "frame-ancestors 'none'"},
			[]string{"script-src 'self'; report-uri /csp"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = PlanCSP(c.enforced, c.reportOnly, body)
			}
		})
	}
}
