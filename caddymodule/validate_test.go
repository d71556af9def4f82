package caddymodule

import (
	"os"
	"os/exec"
	"path/filepath"
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
		cmd.Env = append(os.Environ(), "INTERCOM_TEST_SECRET="+testSecret, "EMPTY_SECRET=")
		out, err := cmd.CombinedOutput()
		// Caddy logs the error as JSON: show it as the operator reads it.
		return strings.ReplaceAll(string(out), `\"`, `"`), err
	}
	site := func(body string) string {
		return ":8080 {\n\tintercom {\n" + body + "\n\t}\n\treverse_proxy 127.0.0.1:9\n}\n"
	}
	for _, tc := range []struct{ name, body, want string }{
		{"unknown sub-directive", "app_id a\n\tsecret s\n\tuser_id {http.auth.user.id}\n\tcolour blue", `unrecognized intercom sub-directive "colour"`},
		{"unknown region", "region mars", `region: unknown region "mars"`},
		{"bad duration", "ttl 5parsecs", `ttl: bad duration "5parsecs"`},
		{"missing app_id", "secret s\n\tuser_id {http.auth.user.id}", "app_id: required"},
		{"missing secret", "app_id a\n\tuser_id {http.auth.user.id}", "secret: required"},
		{"missing user_id", "app_id a\n\tsecret s", "user_id: required"},
		{"empty secret", "app_id a\n\tsecret {env.EMPTY_SECRET}\n\tuser_id {http.auth.user.id}", "secret: resolves to an empty value"},
		{"spoofable header", "app_id a\n\tsecret {env.INTERCOM_TEST_SECRET}\n\tuser_id {header.X-User}", "trust: required"},
		{"reserved attribute", "app_id a\n\tsecret s\n\tuser_id {http.auth.user.id}\n\tattribute exp 1", "attribute exp:"},
		{"salesforce without key_id", "app_id a\n\tsecret s\n\tuser_id {http.auth.user.id}\n\tsalesforce {\n\t\tissuer i\n\t\tprivate_key x\n\t}", "salesforce: key_id: required"},
		{"salesforce bad PEM", "app_id a\n\tsecret s\n\tuser_id {http.auth.user.id}\n\tsalesforce {\n\t\tkey_id k\n\t\tissuer i\n\t\tprivate_key garbage\n\t}", "salesforce: private_key:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := validate(t, site("\t\t"+tc.body))
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("validate: err %v, want output containing %q:\n%s", err, tc.want, out)
			}
			if strings.Contains(out, testSecret) {
				t.Fatal("validate output shows the secret")
			}
		})
	}

	t.Run("Caddyfile.example", func(t *testing.T) {
		cmd := exec.Command(bin, "validate", "--config", "../Caddyfile.example")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the demo config does not validate: %v\n%s", err, out)
		}
	})
}
