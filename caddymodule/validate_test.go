package caddymodule

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"
)

// TestCaddyValidate runs the real `caddy validate` on Caddyfiles, as an
// operator would: a bad config fails naming the sub-directive, and the
// shipped demo config is valid.
func TestCaddyValidate(t *testing.T) {
	bin, err := testcaddy.Binary()
	if err != nil {
		t.Fatal(err)
	}
	validate := func(t *testing.T, caddyfile string) (string, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(path, []byte(caddyfile), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "validate", "--config", path, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "INTERCOM_TEST_SECRET="+testSecret, "EMPTY_SECRET=", "SF_KEY="+testKeyPEM(t))
		out, err := cmd.CombinedOutput()
		// Caddy logs the error as JSON: show it as the operator reads it.
		return strings.ReplaceAll(string(out), `\"`, `"`), err
	}
	site := func(body string) string {
		return ":8080 {\n\tintercom {\n" + body + "\n\t}\n\treverse_proxy 127.0.0.1:9\n}\n"
	}
	// Body lines start at line 3 of the file.
	const ok = "app_id a\n\t\tsecret s\n\t\tuser_id {http.auth.user.id}"
	for _, tc := range []struct {
		name, body string
		want       []string
		line       int // the error's Caddyfile line; 0: a provision-time error (no line)
	}{
		{"unknown sub-directive", ok + "\n\t\tcolour blue", []string{`unrecognized intercom sub-directive "colour"`}, 6},
		{"unknown region", "region mars", []string{`region: unknown region "mars"`}, 3},
		{"bad duration", "ttl 5parsecs", []string{`ttl: bad duration "5parsecs"`}, 3},
		{"missing app_id", "secret s\n\t\tuser_id {http.auth.user.id}", []string{"app_id: required"}, 2},
		{"missing secret", "app_id a\n\t\tuser_id {http.auth.user.id}", []string{"secret: required"}, 2},
		{"missing user_id", "app_id a\n\t\tsecret s", []string{"user_id: required"}, 2},
		{"literal empty secret", "app_id a\n\t\tsecret \"\"", []string{"secret: empty value"}, 4},
		{"spoofable header", "app_id a\n\t\tsecret {env.INTERCOM_TEST_SECRET}\n\t\tuser_id {header.X-User}",
			[]string{"user_id: placeholder {http.request.header.X-User}", "trust: required", "{http.reverse_proxy.header.X-User}"}, 5},
		{"bad CIDR", ok + "\n\t\tuser_id {header.X-User}\n\t\ttrust 10.1.2.0/24 10.0.0.0/33", []string{`trust: "10.0.0.0/33" is not a CIDR range`}, 7},
		{"vars identity", ok + "\n\t\temail {vars.email}", []string{"email: placeholder {http.vars.email} cannot carry identity", "{http.auth.user.*}"}, 6},
		{"regexp identity", ok + "\n\t\tname {re.n.1}", []string{"name: placeholder {http.regexp.n.1}"}, 6},
		{"uri identity", ok + "\n\t\tattribute page {uri}", []string{"attribute page: placeholder {http.request.uri}"}, 6},
		{"host identity", "app_id a\n\t\tsecret s\n\t\tuser_id {host}", []string{"user_id: placeholder {http.request.host}"}, 5},
		{"trust route", ok + "\n\t\ttrust route", []string{"trust route is no longer supported", "{http.reverse_proxy.header."}, 6},
		{"reserved attribute", ok + "\n\t\tattribute exp 1", []string{"attribute exp:"}, 6},
		{"salesforce without key_id", ok + "\n\t\tsalesforce {\n\t\t\tissuer i\n\t\t\tprivate_key x\n\t\t}", []string{"salesforce: key_id: required"}, 6},
		{"salesforce subject from a cookie", ok + "\n\t\tsalesforce {\n\t\t\tsubject {cookie.sub}\n\t\t}", []string{"salesforce subject: placeholder {http.request.cookie.sub}"}, 7},
		{"salesforce reuse over ttl", ok + "\n\t\tsalesforce {\n\t\t\tkey_id k\n\t\t\tissuer i\n\t\t\tprivate_key {file./k}\n\t\t\tttl 1m\n\t\t\treuse 5m\n\t\t}", []string{"salesforce: reuse: 5m0s must be shorter"}, 6},

		// Provision-time: resolved values; the error names the sub-directive and the handler.
		{"empty secret", "app_id a\n\t\tsecret {env.EMPTY_SECRET}\n\t\tuser_id {http.auth.user.id}",
			[]string{"intercom handler for app_id a: secret: resolves to an empty value: the environment variable EMPTY_SECRET is unset or empty"}, 0},
		{"unreadable key file", ok + "\n\t\tsalesforce {\n\t\t\tkey_id k\n\t\t\tissuer i\n\t\t\tprivate_key {file./nonexistent/sf.key.pem}\n\t\t}",
			[]string{"intercom handler for app_id a: salesforce: private_key: resolves to an empty value: cannot read the file: open /nonexistent/sf.key.pem"}, 0},
		{"salesforce bad PEM", ok + "\n\t\tsalesforce {\n\t\t\tkey_id k\n\t\t\tissuer i\n\t\t\tprivate_key garbage\n\t\t}", []string{"intercom handler for app_id a: salesforce: private_key:"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := validate(t, site("\t\t"+tc.body))
			if err == nil {
				t.Fatalf("validate accepted the config:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.line > 0 && !regexp.MustCompile(`/Caddyfile:`+strconv.Itoa(tc.line)+`\b`).MatchString(out) {
				t.Errorf("output does not name Caddyfile:%d:\n%s", tc.line, out)
			}
			if strings.Contains(out, testSecret) {
				t.Fatal("validate output shows the secret")
			}
		})
	}

	// The attack config of issue 13 item 5: forward_auth on part of the site
	// and `trust route` would sign a Remote-User that the client sent on
	// every other path. It no longer loads.
	t.Run("forward_auth on /app/* with trust route", func(t *testing.T) {
		out, err := validate(t, `:8080 {
	forward_auth /app/* 127.0.0.1:9091 {
		uri /verify
		copy_headers Remote-User
	}
	intercom {
		app_id a
		secret {env.INTERCOM_TEST_SECRET}
		user_id {http.request.header.Remote-User}
		trust route
	}
	reverse_proxy 127.0.0.1:9
}
`)
		if err == nil || !strings.Contains(out, "trust route is no longer supported") ||
			!strings.Contains(out, "{http.reverse_proxy.header.Remote-User}") || !regexp.MustCompile(`/Caddyfile:10\b`).MatchString(out) {
			t.Fatalf("validate: err %v, want trust route refused at line 10 pointing to {http.reverse_proxy.header.Remote-User}:\n%s", err, out)
		}
	})

	// Accepted but risky: one warning each, at provision (issue 13 item 6,
	// issue 16 item 2).
	for _, tc := range []struct{ name, body, want string }{
		{"private_ranges", ok + "\n\t\temail {header.X-Email}\n\t\ttrust private_ranges",
			"trust private_ranges: any client that reaches Caddy through a relay or load balancer in a private range"},
		{"ttl above 7 days", ok + "\n\t\tttl 720h", "ttl: the Intercom token lives longer than 7 days"},
		{"salesforce ttl above a day", ok + "\n\t\tsalesforce {\n\t\t\tkey_id k\n\t\t\tissuer i\n\t\t\tprivate_key {env.SF_KEY}\n\t\t\tttl 48h\n\t\t}",
			"salesforce ttl: the identity token lives longer than a day"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := validate(t, site("\t\t"+tc.body))
			if err != nil {
				t.Fatalf("validate refused the config: %v\n%s", err, out)
			}
			if n := strings.Count(out, tc.want); n != 1 {
				t.Fatalf("want the warning %q once, found %d times:\n%s", tc.want, n, out)
			}
		})
	}
	t.Run("no warning for a plain config, region ap", func(t *testing.T) {
		out, err := validate(t, site("\t\t"+ok+"\n\t\tregion ap"))
		if err != nil {
			t.Fatalf("validate refused region ap: %v\n%s", err, out)
		}
		if strings.Contains(out, `"level":"warn","ts"`) && strings.Contains(out, "http.handlers.intercom") {
			t.Fatalf("unexpected warning:\n%s", out)
		}
	})

	t.Run("Caddyfile.example", func(t *testing.T) {
		cmd := exec.Command(bin, "validate", "--config", "../Caddyfile.example")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the demo config does not validate: %v\n%s", err, out)
		}
	})
}
