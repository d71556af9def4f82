package intercomcmd

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"
	"github.com/caddy-intercom/caddy-intercom/internal/testkeys"
	"github.com/spf13/cobra"

	"github.com/golang-jwt/jwt/v5"
)

// These tests run `caddy intercom …` in process, through the command tree
// that caddycmd builds from the registered command, and check what an
// operator sees: stdout, stderr and the exit code. TestCLIBinarySmoke runs
// the built binary once, to show the registration and the exit codes hold
// through caddycmd.Main; the doctor tests run caddy itself as a binary.

// cliTmp is a directory removed after all tests.
var cliTmp string

// TestMain makes the shared temporary directory and removes the caddy binary
// if a test built one.
func TestMain(m *testing.M) {
	os.Exit(cliTestMain(m))
}

func cliTestMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "caddy-intercom-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	defer testcaddy.Cleanup()
	defer func() { doctorStop() }() // set when a doctor test started caddy
	cliTmp = dir
	return m.Run()
}

// caddyBinary returns the caddy binary under test, built once per process.
func caddyBinary(t *testing.T) string {
	t.Helper()
	bin, err := testcaddy.Binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// cliTestSecret is the Messenger API secret of the tests; no output may ever
// contain it.
const cliTestSecret = "tEsT-sEcReT-0123456789-must-never-be-printed"

type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// newRootCommand builds `caddy` with the registered `intercom` command the
// way caddycmd does (caddyCmdToCobra): Use, Short and Long from the
// registration, then its CobraFunc.
func newRootCommand(t *testing.T) *cobra.Command {
	t.Helper()
	reg, ok := caddycmd.Commands()["intercom"]
	if !ok {
		t.Fatal("the intercom command is not registered with caddycmd")
	}
	cmd := &cobra.Command{Use: reg.Name + " " + reg.Usage, Short: reg.Short, Long: reg.Long}
	reg.CobraFunc(cmd)
	root := &cobra.Command{Use: "caddy", SilenceUsage: true}
	root.AddCommand(cmd)
	return root
}

// exitCode is the status caddycmd.Main exits with for err.
func exitCode(err error) int {
	var st *exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &st):
		return st.code
	}
	return 1
}

// runCLI runs `caddy intercom args…` in process with stdin and the
// environment variables in env (INTERCOM_SECRET is never inherited). It fails
// the test if any output contains cliTestSecret. Tests that call it must not
// be parallel: it sets environment variables.
func runCLI(t *testing.T, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	t.Setenv(cliSecretEnv, "")
	os.Unsetenv(cliSecretEnv)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	root := newRootCommand(t)
	var stdout, stderr bytes.Buffer
	root.SetArgs(append([]string{"intercom"}, args...))
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err := root.Execute()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String(), code: exitCode(err)}
	if strings.Contains(r.stdout+r.stderr, cliTestSecret) {
		t.Fatalf("the secret was printed:\n%s", r)
	}
	return r
}

// runBinary runs `caddy intercom args…` through the built binary.
func runBinary(t *testing.T, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(caddyBinary(t), append([]string{"intercom"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, cliSecretEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("running caddy: %v", err)
	}
	if strings.Contains(r.stdout+r.stderr, cliTestSecret) {
		t.Fatalf("the secret was printed:\n%s", r)
	}
	return r
}

var secretEnv = []string{"INTERCOM_SECRET=" + cliTestSecret}

// expect checks the exit code and that stdout+stderr contain every want.
func (r cliResult) expect(t *testing.T, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\n%s", r.code, code, r)
	}
	all := r.stdout + r.stderr
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("output lacks %q\n%s", w, r)
		}
	}
}

func hsToken(t *testing.T, method jwt.SigningMethod, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rsToken(t *testing.T, method jwt.SigningMethod, key *rsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func in(d time.Duration) int64 { return time.Now().Add(d).Unix() }

func TestCLISignVerifyRoundTrip(t *testing.T) {
	r := runCLI(t, secretEnv, "", "sign", "--user-id", "User-42", "--email", "ada@example.com", "--name", "Ada",
		"--attr", "plan=pro", "--attr", "query=a=b,c", "--ttl", "10m")
	r.expect(t, 0)
	token := strings.TrimSpace(r.stdout)
	if strings.Count(r.stdout, "\n") != 1 || strings.Count(token, ".") != 2 {
		t.Fatalf("sign should print exactly one token line:\n%s", r)
	}

	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return []byte(cliTestSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || !parsed.Valid {
		t.Fatalf("signed token does not verify with golang-jwt: %v", err)
	}
	for k, want := range map[string]any{"user_id": "User-42", "email": "ada@example.com", "name": "Ada", "plan": "pro", "query": "a=b,c"} {
		if claims[k] != want {
			t.Errorf("claim %s = %#v, want %#v", k, claims[k], want)
		}
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 600 {
		t.Errorf("exp-iat = %v, want 600 (--ttl 10m)", exp-iat)
	}

	// Argument and stdin both work.
	runCLI(t, secretEnv, "", "verify", "--user-id", "User-42", token).expect(t, 0, "VALID", `user_id    "User-42"`, "verified with the secret from $INTERCOM_SECRET")
	runCLI(t, secretEnv, token+"\n", "verify", "--user-id", "User-42").expect(t, 0, "VALID")
	runCLI(t, secretEnv, token, "verify", "-").expect(t, 0, "VALID")
}

func TestCLISecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte(cliTestSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "", "sign", "--user-id", "42", "--secret-file", path)
	r.expect(t, 0)
	token := strings.TrimSpace(r.stdout)
	// One trailing newline is trimmed: the env secret (no newline) verifies it.
	runCLI(t, secretEnv, token, "verify").expect(t, 0, "VALID")
	// --secret-file wins over the environment.
	runCLI(t, []string{"INTERCOM_SECRET=wrong"}, token, "verify", "--secret-file", path).expect(t, 0, "VALID", "--secret-file "+path)

	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	runCLI(t, nil, "", "sign", "--user-id", "42", "--secret-file", empty).expect(t, 2, "is empty")
	runCLI(t, nil, "", "sign", "--user-id", "42", "--secret-file", filepath.Join(dir, "missing")).expect(t, 2, "no such file")
}

func TestCLIVerifyIntercomDiagnoses(t *testing.T) {
	valid := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"user_id": "42", "iat": in(-10 * time.Second), "exp": in(time.Hour)}
		if edit != nil {
			edit(c)
		}
		return c
	}
	tests := []struct {
		name  string
		token func(t *testing.T) string
		args  []string
		code  int
		want  []string
	}{
		{name: "bad signature: another workspace's secret",
			token: func(t *testing.T) string { return hsToken(t, jwt.SigningMethodHS256, "test-workspace", valid(nil)) },
			code:  1, want: []string{"ERROR    signature does not match this secret", "fix: sign with this workspace's Messenger API secret", "test vs production", "signature  NOT verified", "INVALID (1 error)"}},
		{name: "alg none",
			token: func(t *testing.T) string {
				s, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			code: 1, want: []string{`alg is "none": the token is unsigned`, "fix: sign with HS256"}},
		{name: "alg not HS256",
			token: func(t *testing.T) string { return hsToken(t, jwt.SigningMethodHS512, cliTestSecret, valid(nil)) },
			code:  1, want: []string{`alg is "HS512"; Intercom user JWTs must be HS256`, "fix: sign with HS256"}},
		{name: "no user_id",
			token: func(t *testing.T) string {
				return hsToken(t, jwt.SigningMethodHS256, cliTestSecret, valid(func(c jwt.MapClaims) { delete(c, "user_id") }))
			},
			code: 1, want: []string{"no user_id claim: Intercom rejects tokens without it", `fix: add "user_id"`}},
		{name: "sub but no user_id",
			token: func(t *testing.T) string {
				return hsToken(t, jwt.SigningMethodHS256, cliTestSecret, valid(func(c jwt.MapClaims) { delete(c, "user_id"); c["sub"] = "42" }))
			},
			code: 1, want: []string{`no user_id claim, but sub is "42": Intercom reads user_id, not sub`, `fix: sign the user's id as the "user_id" claim`}},
		{name: "user_id is a number",
			token: func(t *testing.T) string {
				return hsToken(t, jwt.SigningMethodHS256, cliTestSecret, valid(func(c jwt.MapClaims) { c["user_id"] = 42 }))
			},
			code: 1, want: []string{"user_id is a number (42); Intercom expects a string", `fix: sign it as a string: "user_id": "42"`}},
		{name: "user_id of another user",
			token: func(t *testing.T) string { return hsToken(t, jwt.SigningMethodHS256, cliTestSecret, valid(nil)) },
			args:  []string{"--user-id", "43"},
			code:  1, want: []string{`user_id "42" differs from the expected "43"`, "fix: check where the signer reads the user's id"}},
		{name: "user_id differs only in case",
			token: func(t *testing.T) string {
				return hsToken(t, jwt.SigningMethodHS256, cliTestSecret, valid(func(c jwt.MapClaims) { c["user_id"] = "ADA" }))
			},
			args: []string{"--user-id", "ada"},
			code: 1, want: []string{`user_id "ADA" differs only in case from the expected "ada"`, "fix: ids are compared byte for byte"}},
		{name: "expired",
			token: func(t *testing.T) string {
				return hsToken(t, jwt.SigningMethodHS256, cliTestSecret, valid(func(c jwt.MapClaims) {
					c["iat"] = in(-3 * time.Hour)
					c["exp"] = in(-(2*time.Hour + 5*time.Minute + 20*time.Second))
				}))
			},
			code: 1, want: []string{"ERROR    the token expired 2h5m ago", "fix: sign a fresh token on every page load"}},
		{name: "no exp is a warning",
			token: func(t *testing.T) string {
				return hsToken(t, jwt.SigningMethodHS256, cliTestSecret, valid(func(c jwt.MapClaims) { delete(c, "exp") }))
			},
			code: 0, want: []string{"WARNING  no exp claim: the token never expires", "fix: set an expiry", "VALID (1 warning)"}},
		{name: "exp very far in the future is a warning",
			token: func(t *testing.T) string {
				return hsToken(t, jwt.SigningMethodHS256, cliTestSecret, valid(func(c jwt.MapClaims) { c["exp"] = in(90*24*time.Hour + 30*time.Minute) }))
			},
			code: 0, want: []string{"WARNING  exp is 90d0h in the future", "more than the 7d0h this check allows", "fix: use a short lifetime"}},
		{name: "iat in the future",
			token: func(t *testing.T) string {
				return hsToken(t, jwt.SigningMethodHS256, cliTestSecret, valid(func(c jwt.MapClaims) { c["iat"] = in(5*time.Minute + 30*time.Second) }))
			},
			code: 1, want: []string{"ERROR    iat is 5m", "in the future", "the signer's clock is ahead", "fix: synchronise both clocks with NTP"}},
		{name: "malformed",
			token: func(t *testing.T) string { return `"eyJhbGciOiJIUzI1NiJ9"` },
			code:  1, want: []string{"not a decodable JWT", "dot-separated part", "fix: pass the raw token"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.token(t)
			r := runCLI(t, secretEnv, token, append([]string{"verify"}, tc.args...)...)
			r.expect(t, tc.code, tc.want...)
			if strings.Contains(r.stdout+r.stderr, token) {
				t.Errorf("verify echoed the token")
			}
		})
	}
}

// sfKey is key material made by `caddy intercom keygen`, shared by the
// Salesforce tests.
type sfKey struct {
	dir, kid, issuer   string
	keyPath, certPath  string
	jwkPath            string
	key                *rsa.PrivateKey
	cert               *x509.Certificate
	keyPEM, certPEM    []byte
	jwkJSON            []byte
	keygenOutput       cliResult
	keygenStartedAfter time.Time
}

var (
	sfOnce   sync.Once
	sfShared sfKey
)

// keygen runs `caddy intercom keygen` into a fresh directory.
func keygen(t *testing.T, dir, kid, issuer string, extra ...string) sfKey {
	t.Helper()
	k := sfKey{dir: dir, kid: kid, issuer: issuer,
		keyPath:  filepath.Join(dir, kid+".key.pem"),
		certPath: filepath.Join(dir, kid+".cert.pem"),
		jwkPath:  filepath.Join(dir, kid+".jwk.json"),
	}
	k.keygenStartedAfter = time.Now()
	k.keygenOutput = runCLI(t, nil, "", append([]string{"keygen", "--kid", kid, "--issuer", issuer, "--out", dir}, extra...)...)
	if k.keygenOutput.code != 0 {
		t.Fatalf("keygen failed:\n%s", k.keygenOutput)
	}
	var err error
	if k.keyPEM, err = os.ReadFile(k.keyPath); err != nil {
		t.Fatal(err)
	}
	if k.certPEM, err = os.ReadFile(k.certPath); err != nil {
		t.Fatal(err)
	}
	if k.jwkJSON, err = os.ReadFile(k.jwkPath); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(k.keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("key file is not a PKCS#8 PEM: %q", k.keyPEM[:min(len(k.keyPEM), 40)])
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("key file is not PKCS#8: %v", err)
	}
	k.key = priv.(*rsa.PrivateKey)
	cblock, _ := pem.Decode(k.certPEM)
	if cblock == nil || cblock.Type != "CERTIFICATE" {
		t.Fatal("certificate file is not a PEM certificate")
	}
	if k.cert, err = x509.ParseCertificate(cblock.Bytes); err != nil {
		t.Fatal(err)
	}
	return k
}

func sharedKey(t *testing.T) (sfKey, *rsa.PrivateKey) {
	t.Helper()
	sfOnce.Do(func() {
		sfShared = keygen(t, filepath.Join(cliTmp, "shared-keys"), "app-2025", "https://app.example.com")
	})
	if sfShared.key == nil {
		t.Fatal("shared key generation failed in an earlier test")
	}
	return sfShared, testkeys.OtherRSA()
}

// writeCert writes a certificate for key, valid from notBefore to notAfter,
// as dir/kid.cert.pem.
func writeCert(t *testing.T, dir, kid string, key *rsa.PrivateKey, notBefore, notAfter time.Time) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: kid}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, kid+".cert.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCLIVerifySalesforceDiagnoses(t *testing.T) {
	k, other := sharedKey(t)
	dir := t.TempDir()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "u-1", "iss": k.issuer, "iat": in(-10 * time.Second), "exp": in(time.Hour)}
		if edit != nil {
			edit(c)
		}
		return c
	}
	expiring := writeCert(t, filepath.Join(mkdir(t, dir, "expiring")), k.kid, k.key, time.Now().Add(-300*24*time.Hour), time.Now().Add(4*24*time.Hour+time.Hour))
	expired := writeCert(t, filepath.Join(mkdir(t, dir, "expired")), k.kid, k.key, time.Now().Add(-400*24*time.Hour), time.Now().Add(-2*24*time.Hour-time.Hour))

	tests := []struct {
		name  string
		token func(t *testing.T) string
		args  []string
		code  int
		want  []string
	}{
		{name: "valid against the certificate",
			token: func(t *testing.T) string { return rsToken(t, jwt.SigningMethodRS256, k.key, k.kid, claims(nil)) },
			args:  []string{"--certificate", k.certPath, "--issuer", k.issuer, "--user-id", "u-1"},
			code:  0, want: []string{"Salesforce identity token", `signature  verified with key "app-2025"`, "VALID"}},
		{name: "detected by alg without any flag needs a key",
			token: func(t *testing.T) string { return rsToken(t, jwt.SigningMethodRS256, k.key, k.kid, claims(nil)) },
			code:  2, want: []string{"a Salesforce token needs its key"}},
		{name: "no kid",
			token: func(t *testing.T) string { return rsToken(t, jwt.SigningMethodRS256, k.key, "", claims(nil)) },
			args:  []string{"--jwks", k.jwkPath, "--issuer", k.issuer},
			code:  1, want: []string{"ERROR    the header has no kid: Salesforce picks the verification key by kid", `the signature does verify with key "app-2025"`, `fix: set kid to "app-2025"`}},
		{name: "kid not in the JWKS",
			token: func(t *testing.T) string { return rsToken(t, jwt.SigningMethodRS256, other, "app-2024", claims(nil)) },
			args:  []string{"--jwks", k.jwkPath, "--issuer", k.issuer},
			code:  1, want: []string{`kid "app-2024" is not in the key set (known: "app-2025")`, "fix: upload the JWK for this kid"}},
		{name: "alg not RS256/RS512",
			token: func(t *testing.T) string { return rsToken(t, jwt.SigningMethodRS384, k.key, k.kid, claims(nil)) },
			args:  []string{"--jwks", k.jwkPath, "--issuer", k.issuer},
			code:  1, want: []string{`alg is "RS384"; Salesforce requires RS256 or RS512`, "fix: Salesforce accepts RS256 or RS512 only"}},
		{name: "iss is not the keyset issuer",
			token: func(t *testing.T) string {
				return rsToken(t, jwt.SigningMethodRS256, k.key, k.kid, claims(func(c jwt.MapClaims) { c["iss"] = k.issuer + "/" }))
			},
			args: []string{"--jwks", k.jwkPath, "--issuer", k.issuer},
			code: 1, want: []string{`iss "https://app.example.com/" differs from the keyset issuer "https://app.example.com" only by a trailing slash`, "fix: Salesforce compares byte for byte"}},
		{name: "certificate expiring within 10 days",
			token: func(t *testing.T) string { return rsToken(t, jwt.SigningMethodRS256, k.key, k.kid, claims(nil)) },
			args:  []string{"--certificate", expiring, "--issuer", k.issuer},
			code:  0, want: []string{`WARNING  the certificate of key "app-2025" expires in 4d1h`, "fix: rotate: caddy intercom keygen --kid NEW", "VALID (1 warning)"}},
		{name: "certificate expired",
			token: func(t *testing.T) string { return rsToken(t, jwt.SigningMethodRS256, k.key, k.kid, claims(nil)) },
			args:  []string{"--certificate", expired, "--issuer", k.issuer},
			code:  1, want: []string{`ERROR    the certificate of key "app-2025" expired 2d1h ago`, "fix: rotate"}},
		{name: "bad RSA signature",
			token: func(t *testing.T) string { return rsToken(t, jwt.SigningMethodRS256, other, k.kid, claims(nil)) },
			args:  []string{"--certificate", k.certPath, "--issuer", k.issuer},
			code:  1, want: []string{`the RSA signature does not verify with key "app-2025"`, "fix: make private_key and the uploaded certificate/JWK for this kid a pair"}},
		{name: "sub of another user",
			token: func(t *testing.T) string { return rsToken(t, jwt.SigningMethodRS256, k.key, k.kid, claims(nil)) },
			args:  []string{"--jwks", k.jwkPath, "--issuer", k.issuer, "--user-id", "U-1"},
			code:  1, want: []string{`sub "u-1" differs only in case from the expected "U-1"`}},
		{name: "issuer not given is a remark",
			token: func(t *testing.T) string { return rsToken(t, jwt.SigningMethodRS256, k.key, k.kid, claims(nil)) },
			args:  []string{"--jwks", k.jwkPath},
			code:  0, want: []string{`INFO     iss "https://app.example.com" was not compared`, "fix: pass --issuer"}},
		{name: "an Intercom token checked as Salesforce",
			token: func(t *testing.T) string { return hsToken(t, jwt.SigningMethodHS256, cliTestSecret, claims(nil)) },
			args:  []string{"--jwks", k.jwkPath},
			code:  1, want: []string{"this looks like an Intercom user JWT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, tc.token(t), append([]string{"verify"}, tc.args...)...)
			r.expect(t, tc.code, tc.want...)
		})
	}
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	p := filepath.Join(parent, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLIDecode(t *testing.T) {
	token := hsToken(t, jwt.SigningMethodHS256, cliTestSecret, jwt.MapClaims{"user_id": "42", "big": json.Number("12345678901234567890"), "exp": in(time.Hour)})
	r := runCLI(t, nil, "", "decode", token)
	r.expect(t, 0, "Header:\n{\n  \"alg\": \"HS256\",", `"big": 12345678901234567890`, `"user_id": "42"`, "Times:", "exp  ", "NOT checked")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !strings.HasPrefix(lines[0], "UNVERIFIED") || !strings.HasPrefix(lines[len(lines)-1], "UNVERIFIED") {
		t.Errorf("decode output must start and end with an UNVERIFIED marker:\n%s", r)
	}
	// Decoding needs no secret and works on any signature.
	forged := hsToken(t, jwt.SigningMethodHS256, "anyone", jwt.MapClaims{"user_id": "admin"})
	runCLI(t, nil, forged, "decode").expect(t, 0, "UNVERIFIED", `"user_id": "admin"`)
	runCLI(t, nil, "", "decode", "nonsense").expect(t, 1, "not a decodable JWT")
}

func TestCLIKeygen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "keys")
	k := keygen(t, dir, "app-2025", "https://app.example.com", "--bits", "3072")

	k.keygenOutput.expect(t, 0, "Next steps", "upload "+k.jwkPath, "JSON Web Key Issuer = https://app.example.com", "key_id      app-2025")
	for path, mode := range map[string]os.FileMode{k.keyPath: 0o600, k.certPath: 0o644, k.jwkPath: 0o644, dir: 0o700} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %o, want %o", path, got, mode)
		}
	}
	if k.key.N.BitLen() != 3072 {
		t.Errorf("key has %d bits, want 3072", k.key.N.BitLen())
	}
	if !k.cert.PublicKey.(*rsa.PublicKey).Equal(&k.key.PublicKey) {
		t.Error("the certificate does not hold the generated key")
	}
	if k.cert.Subject.CommonName != "https://app.example.com" {
		t.Errorf("CN = %q", k.cert.Subject.CommonName)
	}
	validity := k.cert.NotAfter.Sub(k.keygenStartedAfter)
	if validity < 364*24*time.Hour || validity > 366*24*time.Hour {
		t.Errorf("certificate valid for %v, want about one year", validity)
	}
	if k.cert.NotBefore.After(time.Now()) {
		t.Errorf("certificate not valid yet: %v", k.cert.NotBefore)
	}

	var jwk map[string]any
	if err := json.Unmarshal(k.jwkJSON, &jwk); err != nil {
		t.Fatal(err)
	}
	for member, want := range map[string]any{"kty": "RSA", "kid": "app-2025", "alg": "RS256", "use": "sig", "e": "AQAB"} {
		if jwk[member] != want {
			t.Errorf("JWK %s = %#v, want %#v", member, jwk[member], want)
		}
	}
	if n, _ := jwk["n"].(string); n == "" {
		t.Error("JWK has no n")
	}
	x5c, _ := jwk["x5c"].([]any)
	if len(x5c) != 1 || x5c[0] != toStdBase64(k.cert.Raw) {
		t.Errorf("JWK x5c is not the standard base64 DER certificate: %v", jwk["x5c"])
	}
	assertNoPrivateMembers(t, k.jwkJSON)
	if bytes.Contains(k.jwkJSON, []byte("PRIVATE")) || bytes.Contains(k.jwkJSON, []byte("BEGIN")) {
		t.Error("JWK contains PEM text")
	}

	// Refuses to overwrite without --force, and leaves the files alone.
	r := runCLI(t, nil, "", "keygen", "--kid", "app-2025", "--issuer", "https://app.example.com", "--out", dir)
	r.expect(t, 2, "refusing to overwrite", k.keyPath, "--force")
	for path, before := range map[string][]byte{k.keyPath: k.keyPEM, k.certPath: k.certPEM, k.jwkPath: k.jwkJSON} {
		if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
			t.Errorf("%s changed without --force", path)
		}
	}
	// A single existing file is enough to refuse.
	os.Remove(k.certPath)
	os.Remove(k.jwkPath)
	runCLI(t, nil, "", "keygen", "--kid", "app-2025", "--issuer", "https://app.example.com", "--out", dir).expect(t, 2, "refusing to overwrite")
	if _, err := os.Stat(k.certPath); err == nil {
		t.Error("keygen wrote a certificate although it refused")
	}

	// --force replaces all three with a new key, key still 0600.
	k2 := keygen(t, dir, "app-2025", "https://app.example.com", "--force")
	if k2.key.Equal(k.key) {
		t.Error("--force did not make a new key")
	}
	if st, _ := os.Stat(k2.keyPath); st.Mode().Perm() != 0o600 {
		t.Errorf("replaced key has mode %o", st.Mode().Perm())
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func toStdBase64(b []byte) string {
	out, _ := json.Marshal(b) // encoding/json writes []byte as standard base64
	return strings.Trim(string(out), `"`)
}

// assertNoPrivateMembers fails if a JWK or any key of a JWKS, as raw JSON,
// has a private member.
func assertNoPrivateMembers(t *testing.T, raw []byte) {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, raw)
	}
	keys := []map[string]json.RawMessage{doc}
	if ks, ok := doc["keys"]; ok {
		keys = nil
		if err := json.Unmarshal(ks, &keys); err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			t.Fatal("JWKS has no keys")
		}
	}
	for _, k := range keys {
		for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := k[m]; ok {
				t.Errorf("private member %q in\n%s", m, raw)
			}
		}
	}
}

func TestCLIKeygenRoundTrip(t *testing.T) {
	k, other := sharedKey(t)
	token := rsToken(t, jwt.SigningMethodRS256, k.key, k.kid, jwt.MapClaims{"sub": "u-1", "iss": k.issuer, "iat": in(0), "exp": in(time.Hour)})

	// Against the single JWK file that is uploaded to Salesforce.
	runCLI(t, nil, token, "verify", "--jwks", k.jwkPath, "--issuer", k.issuer, "--user-id", "u-1").
		expect(t, 0, `verified with key "app-2025"`, "VALID")
	// Against the certificate.
	runCLI(t, nil, token, "verify", "--certificate", k.certPath, "--issuer", k.issuer).expect(t, 0, "VALID")

	// Against a JWKS made by `caddy intercom jwks`, during a rotation: the
	// new key signs while the previous certificate is still published.
	newDir := t.TempDir()
	newCert := writeCert(t, newDir, "app-2026", other, time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour))
	r := runCLI(t, nil, "", "jwks", newCert, k.certPath)
	r.expect(t, 0)
	assertNoPrivateMembers(t, []byte(r.stdout))
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || set.Keys[0]["kid"] != "app-2026" || set.Keys[1]["kid"] != "app-2025" {
		t.Fatalf("jwks kids: %v", set.Keys)
	}
	if set.Keys[1]["n"] != mustJSON(t, k.jwkJSON)["n"] || set.Keys[1]["alg"] != "RS256" || set.Keys[1]["use"] != "sig" {
		t.Errorf("jwks key differs from the keygen JWK: %v", set.Keys[1])
	}
	jwksPath := filepath.Join(newDir, "jwks.json")
	if err := os.WriteFile(jwksPath, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	runCLI(t, nil, token, "verify", "--jwks", jwksPath, "--issuer", k.issuer).expect(t, 0, `verified with key "app-2025"`, "VALID")
	newToken := rsToken(t, jwt.SigningMethodRS512, other, "app-2026", jwt.MapClaims{"sub": "u-1", "iss": k.issuer, "exp": in(time.Hour)})
	runCLI(t, nil, newToken, "verify", "--jwks", jwksPath, "--issuer", k.issuer).
		expect(t, 0, `verified with key "app-2026"`, "declared for RS256 but the token uses RS512")
}

func mustJSON(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCLIJWKS(t *testing.T) {
	k, other := sharedKey(t)
	dir := t.TempDir()
	soon := writeCert(t, mkdir(t, dir, "soon"), "soon", other, time.Now().Add(-time.Hour), time.Now().Add(3*24*time.Hour))
	dup := writeCert(t, mkdir(t, dir, "dup"), k.kid, other, time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour))

	r := runCLI(t, nil, "", "jwks", "--alg", "RS512", soon)
	r.expect(t, 0, `"kid": "soon"`, `"alg": "RS512"`)
	if !strings.Contains(r.stderr, "expires in 3d0h") || strings.Contains(r.stdout, "warning") {
		t.Errorf("expiry warning must go to stderr only:\n%s", r)
	}
	assertNoPrivateMembers(t, []byte(r.stdout))

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no certificate", nil, "at least one certificate"},
		{"duplicate kid", []string{k.certPath, dup}, "appears twice"},
		{"missing file", []string{filepath.Join(dir, "missing.pem")}, "no such file"},
		{"private key instead of a certificate", []string{k.keyPath}, "found PRIVATE KEY"},
		{"bad alg", []string{"--alg", "HS256", k.certPath}, "use RS256 or RS512"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, "", append([]string{"jwks"}, tc.args...)...)
			r.expect(t, 2, tc.want)
			if r.stdout != "" {
				t.Errorf("stdout not empty on error:\n%s", r)
			}
			if strings.Contains(r.stdout+r.stderr, "BEGIN PRIVATE KEY") || strings.Contains(r.stdout+r.stderr, string(k.keyPEM[40:80])) {
				t.Error("private key material printed")
			}
		})
	}
}

func TestCLIUsageErrors(t *testing.T) {
	token := hsToken(t, jwt.SigningMethodHS256, cliTestSecret, jwt.MapClaims{"user_id": "42"})
	tests := []struct {
		name  string
		env   []string
		stdin string
		args  []string
		want  string
	}{
		{"secret as a flag value", nil, "", []string{"sign", "--user-id", "42", "--secret", cliTestSecret}, "unknown flag: --secret"},
		{"unknown flag", secretEnv, token, []string{"verify", "--bogus"}, "unknown flag: --bogus"},
		{"unknown subcommand", nil, "", []string{"frobnicate"}, `unknown subcommand "frobnicate"`},
		{"verify without a token", secretEnv, "", []string{"verify"}, "no token"},
		{"verify with two tokens", secretEnv, "", []string{"verify", token, token}, "expected one token"},
		{"verify an Intercom token without a secret", nil, token, []string{"verify"}, "no secret: set INTERCOM_SECRET or pass --secret-file"},
		{"verify with a missing JWKS file", nil, token, []string{"verify", "--jwks", "/nonexistent/jwks.json"}, "no such file"},
		{"sign without --user-id", secretEnv, "", []string{"sign"}, "--user-id is required"},
		{"sign without a secret", nil, "", []string{"sign", "--user-id", "42"}, "no secret"},
		{"sign with a reserved attribute", secretEnv, "", []string{"sign", "--user-id", "42", "--attr", "user_id=43"}, "would shadow the token's own \"user_id\" claim"},
		{"sign with a malformed attribute", secretEnv, "", []string{"sign", "--user-id", "42", "--attr", "plan"}, "want name=value"},
		{"sign with a bad ttl", secretEnv, "", []string{"sign", "--user-id", "42", "--ttl", "-1h"}, "--ttl must be positive"},
		{"keygen without flags", nil, "", []string{"keygen"}, "required"},
		{"keygen with a path in the kid", nil, "", []string{"keygen", "--kid", "../evil", "--issuer", "i", "--out", t.TempDir()}, "--kid"},
		{"keygen with 1024 bits", nil, "", []string{"keygen", "--kid", "k", "--issuer", "i", "--out", t.TempDir(), "--bits", "1024"}, "use 2048, 3072 or 4096"},
		{"decode without a token", nil, "", []string{"decode"}, "no token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, tc.stdin, tc.args...)
			r.expect(t, 2, tc.want)
			if !strings.HasPrefix(r.stderr, "error: ") {
				t.Errorf("usage errors go to stderr, starting with \"error: \":\n%s", r)
			}
		})
	}
}

// TestCLISecretNeverPrinted runs every command that touches the secret,
// including failing ones, and checks the secret appears in no output (runCLI
// checks it on every run; this test makes sure the paths that handle the
// secret are all exercised).
func TestCLISecretNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	os.WriteFile(path, []byte(cliTestSecret+"\n"), 0o600)
	good := strings.TrimSpace(runCLI(t, secretEnv, "", "sign", "--user-id", "42").stdout)
	withNewline := hsToken(t, jwt.SigningMethodHS256, cliTestSecret+"\n", jwt.MapClaims{"user_id": "42", "exp": in(time.Hour)})
	// A token whose claims contain the secret must not make verify print it
	// either: verify shows only the identity claims.
	leaky := hsToken(t, jwt.SigningMethodHS256, cliTestSecret, jwt.MapClaims{"user_id": "42", "note": cliTestSecret, "exp": in(time.Hour)})
	runs := []struct {
		env   []string
		stdin string
		args  []string
	}{
		{secretEnv, good, []string{"verify"}},
		{secretEnv, good, []string{"verify", "--user-id", "43"}},
		{nil, good, []string{"verify", "--secret-file", path}},
		{[]string{"INTERCOM_SECRET=" + cliTestSecret + "\n"}, good, []string{"verify"}},
		{secretEnv, withNewline, []string{"verify"}},
		{secretEnv, leaky, []string{"verify"}},
		{[]string{"INTERCOM_SECRET=wrong"}, good, []string{"verify"}},
		{secretEnv, "", []string{"sign", "--user-id", "42", "--attr", "exp=1"}},
		{secretEnv, "garbage", []string{"verify"}},
	}
	for _, run := range runs {
		runCLI(t, run.env, run.stdin, run.args...) // fails on a leak
	}
	runCLI(t, secretEnv, withNewline, "verify").expect(t, 1, "matches the secret followed by a newline")
}

// TestCLIBinarySmoke runs the subcommands through the built binary once: the
// command is registered in the binary, caddycmd.Main maps the statuses 0, 1
// and 2, and stdin reaches the command.
func TestCLIBinarySmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds caddy")
	}
	r := runBinary(t, secretEnv, "", "sign", "--user-id", "42")
	r.expect(t, 0)
	token := strings.TrimSpace(r.stdout)
	runBinary(t, secretEnv, token, "verify", "--user-id", "42").expect(t, 0, "VALID")
	runBinary(t, secretEnv, token, "verify", "--user-id", "43").expect(t, 1, "INVALID")
	r = runBinary(t, nil, "", "sign", "--user-id", "42")
	r.expect(t, 2, "no secret")
	if !strings.HasPrefix(r.stderr, "error: ") {
		t.Errorf("usage errors go to stderr, starting with \"error: \":\n%s", r)
	}
	runBinary(t, nil, "", "--help").expect(t, 0, "sign", "verify", "decode", "keygen", "jwks", "doctor")
}

// TestCLISignSalesforce signs Salesforce tokens offline with keygen's key
// and checks them with golang-jwt and with verify, through stdin.
func TestCLISignSalesforce(t *testing.T) {
	k, _ := sharedKey(t)
	base := []string{"sign", "--salesforce", "--key", k.keyPath, "--kid", k.kid, "--issuer", k.issuer, "--subject", "User-7"}
	tests := []struct {
		name      string
		extra     []string
		alg       string
		ttl       float64
		wantAud   any
		verifyArg []string
	}{
		{name: "defaults", alg: "RS256", ttl: 3600},
		{name: "RS512, audience and ttl", extra: []string{"--algorithm", "RS512", "--audience", "https://login.salesforce.com", "--ttl", "2m"},
			alg: "RS512", ttl: 120, wantAud: "https://login.salesforce.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, "", append(base, tc.extra...)...)
			r.expect(t, 0)
			token := strings.TrimSpace(r.stdout)
			if strings.Count(r.stdout, "\n") != 1 || strings.Count(token, ".") != 2 {
				t.Fatalf("sign should print exactly one token line:\n%s", r)
			}
			claims := jwt.MapClaims{}
			parsed, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return &k.key.PublicKey, nil },
				jwt.WithValidMethods([]string{tc.alg}))
			if err != nil || !parsed.Valid {
				t.Fatalf("token does not verify with golang-jwt as %s: %v", tc.alg, err)
			}
			if parsed.Header["kid"] != k.kid {
				t.Errorf("kid = %v, want %s", parsed.Header["kid"], k.kid)
			}
			if claims["sub"] != "User-7" || claims["iss"] != k.issuer || claims["aud"] != tc.wantAud {
				t.Errorf("claims = %v", claims)
			}
			if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != tc.ttl {
				t.Errorf("exp-iat = %v, want %v", exp-iat, tc.ttl)
			}
			runCLI(t, nil, token, "verify", "--jwks", k.jwkPath, "--issuer", k.issuer, "--user-id", "User-7").
				expect(t, 0, `verified with key "app-2025"`, `sub        "User-7"`, "VALID")
			runCLI(t, nil, token, "verify", "--jwks", k.jwkPath, "--issuer", k.issuer, "--user-id", "User-8").expect(t, 1, "INVALID")
		})
	}

	usage := []struct {
		name string
		args []string
		want string
	}{
		{"missing flags", []string{"sign", "--salesforce", "--key", k.keyPath}, "--salesforce needs --kid, --issuer, --subject"},
		{"bad algorithm", append(append([]string{}, base...), "--algorithm", "RS384"), "Salesforce accepts RS256 or RS512"},
		{"fractional ttl", append(append([]string{}, base...), "--ttl", "1500ms"), "whole number of seconds"},
		{"Intercom flag with --salesforce", append(append([]string{}, base...), "--user-id", "7"), "--user-id is for an Intercom token"},
		{"Salesforce flag without --salesforce", []string{"sign", "--user-id", "7", "--kid", "k"}, "--kid needs --salesforce"},
		{"missing key file", []string{"sign", "--salesforce", "--key", filepath.Join(t.TempDir(), "nope.pem"), "--kid", "k", "--issuer", "i", "--subject", "s"}, "no such file"},
		{"certificate instead of a key", []string{"sign", "--salesforce", "--key", k.certPath, "--kid", "k", "--issuer", "i", "--subject", "s"}, "salesforce signer"},
	}
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, secretEnv, "", tc.args...)
			r.expect(t, 2, tc.want)
			if r.stdout != "" || strings.Contains(r.stderr, "PRIVATE KEY") {
				t.Errorf("unexpected output:\n%s", r)
			}
		})
	}
}

// TestCLIKeygenNextStepsUseStdin: keygen's advice never puts a token on the
// command line (shell history), and its sign | verify pipeline works as
// printed.
func TestCLIKeygenNextStepsUseStdin(t *testing.T) {
	k, _ := sharedKey(t)
	out := k.keygenOutput.stdout
	if strings.Contains(out, "TOKEN") {
		t.Errorf("keygen suggests a token argument:\n%s", out)
	}
	for _, want := range []string{
		"caddy intercom sign --salesforce --key " + k.keyPath + " --kid " + k.kid,
		"| caddy intercom verify --jwks " + k.jwkPath + " --issuer " + k.issuer + " --user-id test-user",
		"< token.txt",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("keygen's next steps lack %q:\n%s", want, out)
		}
	}
	tok := runCLI(t, nil, "", "sign", "--salesforce", "--key", k.keyPath, "--kid", k.kid, "--issuer", k.issuer, "--subject", "test-user")
	tok.expect(t, 0)
	runCLI(t, nil, tok.stdout, "verify", "--jwks", k.jwkPath, "--issuer", k.issuer, "--user-id", "test-user").expect(t, 0, "VALID")
}
