package intercomcmd

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/injector/keys"
	"github.com/caddy-intercom/caddy-intercom/injector/tokencheck"
)

// This file adds `caddy intercom …`: the operator's tools for the tokens the
// module signs and for the key material Salesforce asks for. Exit codes: 0 ok,
// 1 invalid token, 2 usage or I/O error. Secrets come from INTERCOM_SECRET or
// --secret-file, never from a flag value (flags end up in shell history and
// process lists), and are never printed.

// Exit statuses of the `caddy intercom` subcommands.
const (
	cliExitOK      = 0
	cliExitInvalid = 1 // the token is invalid (verify, decode)
	cliExitUsage   = 2 // bad flags or arguments, unreadable files
)

// cliSecretEnv is the environment variable that carries the Messenger API
// secret for sign and verify.
const cliSecretEnv = "INTERCOM_SECRET"

// cliMaxInput bounds what is read from stdin or a small file (token, secret,
// certificate, JWKS): enough for any of them, and no way to exhaust memory.
const cliMaxInput = 1 << 20

// cliKeyIDPattern restricts keygen's kid to a safe file name, since it names
// the files written.
var cliKeyIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "intercom",
		Usage: "<sign|verify|decode|keygen|jwks> [flags]",
		Short: "Signs, verifies and diagnoses Intercom/Salesforce tokens; makes Salesforce keys",
		Long: strings.TrimSpace(`
Operator tools for caddy-intercom.

  sign     print an Intercom user JWT (intercom_user_jwt) for a user
  verify   verify a token and explain every problem, each with a fix
  decode   print a token's header and claims WITHOUT verifying it
  keygen   make a Salesforce signing key, certificate and JWK (with x5c)
  jwks     print a JWKS document for certificates

The Messenger API secret (sign, verify) is read from the INTERCOM_SECRET
environment variable or from --secret-file; it is never a flag value and
never printed.

Exit status: 0 ok, 1 invalid token, 2 usage or I/O error.
`),
		CobraFunc: func(cmd *cobra.Command) {
			cmd.SilenceErrors = true
			cmd.SetFlagErrorFunc(cliFlagError)
			cmd.RunE = func(c *cobra.Command, args []string) error {
				if len(args) == 0 {
					return c.Help()
				}
				return cliExit(cliUsage(c, "unknown subcommand %q", args[0]))
			}
			cmd.AddCommand(cliSignCommand(), cliVerifyCommand(), cliDecodeCommand(), cliKeygenCommand(), cliJWKSCommand())
		},
	})
}

// cliExit turns an exit status into the error that makes caddycmd.Main exit
// with it. Main maps only its own (unexported) error type to a status other
// than 1, and WrapCommandFuncForCobra is the public way to obtain one; it
// logs nothing when the function returns no error. Status 1 is any other
// error, and the commands have already printed their messages.
func cliExit(code int) error {
	switch code {
	case cliExitOK:
		return nil
	case cliExitInvalid:
		return errCLIInvalid
	}
	return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) { return code, nil })(&cobra.Command{}, nil)
}

var errCLIInvalid = errors.New("invalid token")

// cliFlagError reports a flag parsing error as a usage error (status 2).
func cliFlagError(c *cobra.Command, err error) error {
	return cliExit(cliUsage(c, "%v", err))
}

// cliUsage prints a usage error and returns the usage status.
func cliUsage(c *cobra.Command, format string, args ...any) int {
	fmt.Fprintf(c.ErrOrStderr(), "error: %s\nRun '%s --help' for usage.\n", fmt.Sprintf(format, args...), c.CommandPath())
	return cliExitUsage
}

// cliFail prints an I/O or input error and returns the usage status.
func cliFail(c *cobra.Command, format string, args ...any) int {
	fmt.Fprintf(c.ErrOrStderr(), "error: %s\n", fmt.Sprintf(format, args...))
	return cliExitUsage
}

// cliSubcommand builds a subcommand whose run function returns an exit status.
func cliSubcommand(use, short, long string, run func(*cobra.Command, []string) int) *cobra.Command {
	return &cobra.Command{
		Use:           use,
		Short:         short,
		Long:          strings.TrimSpace(long),
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(c *cobra.Command, args []string) error {
			return cliExit(run(c, args))
		},
	}
}

// --- sign -----------------------------------------------------------------

func cliSignCommand() *cobra.Command {
	cmd := cliSubcommand("sign --user-id ID [--email E] [--name N] [--attr k=v]… [--ttl 1h] [--secret-file F]",
		"Print an Intercom user JWT (intercom_user_jwt)", `
Signs an Intercom user JWT (HS256) with the Messenger API secret, exactly as
the intercom handler does, and prints it on stdout. Use it to test Messenger
Security by hand or to feed "caddy intercom verify".

The secret is read from INTERCOM_SECRET or --secret-file (one trailing newline
is removed). --attr adds a custom attribute as its own claim and can be
repeated; user_id, email, name, iat and exp cannot be set with --attr.

  INTERCOM_SECRET=… caddy intercom sign --user-id 42 --email ada@example.com \
      --attr plan=pro --ttl 10m
`, cliSign)
	f := cmd.Flags()
	f.String("user-id", "", "the user's id, signed byte for byte (required)")
	f.String("email", "", "the user's email")
	f.String("name", "", "the user's name")
	f.StringArray("attr", nil, "custom attribute `name=value` (repeatable)")
	f.Duration("ttl", injector.DefaultTTL, "token lifetime")
	f.String("secret-file", "", "read the Messenger API secret from this `file` instead of $"+cliSecretEnv)
	return cmd
}

func cliSign(c *cobra.Command, args []string) int {
	if len(args) > 0 {
		return cliUsage(c, "sign takes no arguments")
	}
	f := c.Flags()
	userID, _ := f.GetString("user-id")
	email, _ := f.GetString("email")
	name, _ := f.GetString("name")
	attrs, _ := f.GetStringArray("attr")
	ttl, _ := f.GetDuration("ttl")
	if userID == "" {
		return cliUsage(c, "--user-id is required")
	}
	if ttl <= 0 {
		return cliUsage(c, "--ttl must be positive")
	}
	id := injector.Identity{UserID: userID, Email: email, Name: name}
	seen := map[string]bool{}
	for _, a := range attrs {
		k, v, ok := strings.Cut(a, "=")
		switch {
		case !ok || k == "":
			return cliUsage(c, "--attr %q: want name=value", a)
		case injector.ValidateAttributeName(k) != nil:
			return cliUsage(c, "--attr %s: %v (use --user-id/--email/--name/--ttl)", k, injector.ValidateAttributeName(k))
		case seen[k]:
			return cliUsage(c, "--attr %s given twice", k)
		}
		seen[k] = true
		id.Attributes = append(id.Attributes, injector.Attribute{Name: k, Value: v})
	}
	secret, _, code := cliSecret(c)
	if code != cliExitOK {
		return code
	}
	signer, err := injector.NewIntercomSigner(injector.IntercomConfig{Secret: secret, TTL: ttl})
	if err != nil {
		return cliFail(c, "%v", err)
	}
	tok, err := signer.Sign(id)
	if err != nil {
		return cliFail(c, "%v", err)
	}
	fmt.Fprintln(c.OutOrStdout(), tok.Value)
	return cliExitOK
}

// cliSecret loads the Messenger API secret: --secret-file wins over
// INTERCOM_SECRET because an explicit flag is more deliberate than an
// environment that may be left over from another workspace. It returns where
// the secret came from (never the secret).
func cliSecret(c *cobra.Command) ([]byte, string, int) {
	path, _ := c.Flags().GetString("secret-file")
	if path != "" {
		b, err := cliReadFile(path)
		if err != nil {
			return nil, "", cliFail(c, "--secret-file: %v", err)
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) == 0 {
			return nil, "", cliFail(c, "--secret-file %s is empty", path)
		}
		return b, "--secret-file " + path, cliExitOK
	}
	if v, ok := os.LookupEnv(cliSecretEnv); ok && v != "" {
		return []byte(v), "$" + cliSecretEnv, cliExitOK
	}
	return nil, "", cliUsage(c, "no secret: set %s or pass --secret-file with the Messenger API secret", cliSecretEnv)
}

// cliReadFile reads a small file (secret, certificate, JWKS), refusing
// anything larger than cliMaxInput.
func cliReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, cliMaxInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > cliMaxInput {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, cliMaxInput)
	}
	return b, nil
}

// cliToken returns the token from the single argument, or from stdin when
// there is none (or it is "-"). Stdin keeps tokens out of shell history.
func cliToken(c *cobra.Command, args []string) (string, int) {
	if len(args) > 1 {
		return "", cliUsage(c, "expected one token, got %d arguments", len(args))
	}
	var tok string
	if len(args) == 1 && args[0] != "-" {
		tok = args[0]
	} else {
		in := c.InOrStdin()
		if f, ok := in.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&fs.ModeCharDevice != 0 {
				return "", cliUsage(c, "no token: pass it as an argument or pipe it on stdin")
			}
		}
		b, err := io.ReadAll(io.LimitReader(in, cliMaxInput+1))
		if err != nil {
			return "", cliFail(c, "reading stdin: %v", err)
		}
		if len(b) > cliMaxInput {
			return "", cliFail(c, "stdin: more than %d bytes, not a token", cliMaxInput)
		}
		tok = string(b)
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", cliUsage(c, "no token: pass it as an argument or pipe it on stdin")
	}
	return tok, cliExitOK
}

// --- verify ---------------------------------------------------------------

func cliVerifyCommand() *cobra.Command {
	cmd := cliSubcommand("verify [--user-id ID] [--secret-file F] [--certificate F]… [--jwks F]… [--issuer ISS] [TOKEN]",
		"Verify a token and explain every problem, each with a fix", `
Verifies an Intercom user JWT or a Salesforce identity token and lists every
problem found, each with a one-line fix. The token is the argument, or stdin
when there is none (or it is "-"); stdin keeps it out of shell history.

Which kind: a Salesforce token when --certificate, --jwks or --issuer is given,
or when its alg is RS256/RS512, or when it has a kid header (and its alg is not
HS*); otherwise an Intercom token.

Intercom tokens are checked with the Messenger API secret from INTERCOM_SECRET
or --secret-file. Salesforce tokens are checked against --certificate (kid =
the file name without .cert.pem/.crt.pem/.pem/.crt, as keygen names it) and/or
--jwks (a JWKS document or a single JWK file such as KID.jwk.json); --issuer is
the keyset's JSON Web Key Issuer. --user-id is the expected user_id (Intercom)
or sub (Salesforce).

exp more than 7 days away and an iat up to 1 minute in the future are
warnings; an iat further in the future is an error (clock skew). A certificate
that expires within 10 days is a warning, an expired one an error.

Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage or I/O error.

  caddy intercom sign --user-id 42 | caddy intercom verify --user-id 42
  caddy intercom verify --jwks keys/k1.jwk.json --issuer https://app.example.com < token.txt
`, cliVerify)
	f := cmd.Flags()
	f.String("user-id", "", "expected user_id (Intercom) or sub (Salesforce)")
	f.String("secret-file", "", "read the Messenger API secret from this `file` instead of $"+cliSecretEnv)
	f.StringArray("certificate", nil, "Salesforce: PEM certificate `file` of a signing key (repeatable)")
	f.StringArray("jwks", nil, "Salesforce: JWKS or single JWK `file` (repeatable)")
	f.String("issuer", "", "Salesforce: expected iss, the keyset's JSON Web Key Issuer")
	return cmd
}

func cliVerify(c *cobra.Command, args []string) int {
	token, code := cliToken(c, args)
	if code != cliExitOK {
		return code
	}
	f := c.Flags()
	userID, _ := f.GetString("user-id")
	certFiles, _ := f.GetStringArray("certificate")
	jwksFiles, _ := f.GetStringArray("jwks")
	issuer, _ := f.GetString("issuer")

	kind := tokencheck.KindIntercom
	decoded, decodeErr := tokencheck.DecodeUnverified(token)
	switch {
	case len(certFiles) > 0 || len(jwksFiles) > 0 || issuer != "":
		kind = tokencheck.KindSalesforce
	case decodeErr == nil:
		kind = decoded.Kind()
	}

	var report tokencheck.Report
	var source string
	switch {
	case decodeErr != nil:
		// Malformed: no key is needed to say so.
		report = tokencheck.VerifyIntercomToken(token, nil, tokencheck.IntercomVerifyOptions{})
		report.Kind = kind
	case kind == tokencheck.KindIntercom:
		secret, from, code := cliSecret(c)
		if code != cliExitOK {
			return code
		}
		source = "the secret from " + from
		report = tokencheck.VerifyIntercomToken(token, secret, tokencheck.IntercomVerifyOptions{UserID: userID})
	default:
		set, code := cliLoadKeys(c, certFiles, jwksFiles)
		if code != cliExitOK {
			return code
		}
		report = tokencheck.VerifySalesforceToken(token, set, tokencheck.SalesforceVerifyOptions{Issuer: issuer, Subject: userID})
		source = fmt.Sprintf("key %q", report.KeyID)
	}
	cliPrintReport(c.OutOrStdout(), report, source, time.Now())
	if !report.Valid {
		return cliExitInvalid
	}
	return cliExitOK
}

// cliLoadKeys reads the Salesforce verification keys from certificate and
// JWKS files.
func cliLoadKeys(c *cobra.Command, certFiles, jwksFiles []string) (keys.JWKS, int) {
	var all keys.JWKS
	from := map[string]string{}
	add := func(k keys.JWK, path string) int {
		if prev, dup := from[k.Kid]; dup {
			return cliFail(c, "kid %q is in both %s and %s", k.Kid, prev, path)
		}
		from[k.Kid] = path
		all.Keys = append(all.Keys, k)
		return cliExitOK
	}
	for _, path := range certFiles {
		cert, code := cliLoadCertificate(c, path)
		if code != cliExitOK {
			return all, code
		}
		k, err := keys.JWKFromCertificate(cert, keys.KeyIDFromPath(path), "")
		if err != nil {
			return all, cliFail(c, "%s: %v", path, err)
		}
		k.Alg = "" // a bare certificate declares no algorithm
		if code := add(k, path); code != cliExitOK {
			return all, code
		}
	}
	for _, path := range jwksFiles {
		b, err := cliReadFile(path)
		if err != nil {
			return all, cliFail(c, "--jwks: %v", err)
		}
		set, err := keys.ParseJWKSet(b)
		if err != nil {
			return all, cliFail(c, "%s: %v", path, err)
		}
		for _, k := range set.Keys {
			if code := add(k, path); code != cliExitOK {
				return all, code
			}
		}
	}
	if len(all.Keys) == 0 {
		return all, cliUsage(c, "a Salesforce token needs its key: pass --certificate KID.cert.pem or --jwks FILE")
	}
	return all, cliExitOK
}

// cliLoadCertificate reads the first certificate of a PEM file.
func cliLoadCertificate(c *cobra.Command, path string) (*x509.Certificate, int) {
	b, err := cliReadFile(path)
	if err != nil {
		return nil, cliFail(c, "%v", err)
	}
	certs, err := keys.ParseCertificatesPEM(b)
	if err != nil {
		return nil, cliFail(c, "%s: %v", path, err)
	}
	if len(certs) > 1 {
		fmt.Fprintf(c.ErrOrStderr(), "note: %s holds %d certificates; using the first\n", path, len(certs))
	}
	return certs[0], cliExitOK
}

// cliPrintReport writes a verification report for people: a summary of the
// token, then one problem line and one fix line per finding, then the verdict.
func cliPrintReport(w io.Writer, r tokencheck.Report, source string, now time.Time) {
	var b strings.Builder
	if r.Header != nil {
		fmt.Fprintf(&b, "%s", r.Kind)
		if alg, ok := r.Header["alg"].(string); ok {
			fmt.Fprintf(&b, ", alg %s", strconv.Quote(alg))
		}
		if kid, ok := r.Header["kid"]; ok {
			fmt.Fprintf(&b, ", kid %s", cliValue(kid))
		}
		b.WriteString("\n")
		names := []string{"user_id", "email", "name"}
		if r.Kind == tokencheck.KindSalesforce {
			names = []string{"sub", "iss", "aud"}
		}
		for _, n := range names {
			if v, ok := r.Claims[n]; ok {
				fmt.Fprintf(&b, "  %-10s %s\n", n, cliValue(v))
			}
		}
		for _, n := range []string{"iat", "exp"} {
			if t, ok := cliTime(r.Claims[n]); ok {
				fmt.Fprintf(&b, "  %-10s %s\n", n, cliWhen(t, now))
			}
		}
		if r.SignatureVerified {
			fmt.Fprintf(&b, "  %-10s verified with %s\n", "signature", source)
		} else {
			fmt.Fprintf(&b, "  %-10s NOT verified\n", "signature")
		}
		b.WriteString("\n")
	} else {
		b.WriteString("not a decodable JWT\n\n")
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%-8s %s\n", strings.ToUpper(f.Severity.String()), f.Problem)
		if f.Fix != "" {
			fmt.Fprintf(&b, "%-8s fix: %s\n", "", f.Fix)
		}
	}
	if len(r.Findings) > 0 {
		b.WriteString("\n")
	}
	verdict := "VALID"
	if !r.Valid {
		verdict = "INVALID"
	}
	var counts []string
	for _, s := range []tokencheck.Severity{tokencheck.SeverityError, tokencheck.SeverityWarning} {
		if n := r.Count(s); n > 0 {
			word := s.String()
			if n > 1 {
				word += "s"
			}
			counts = append(counts, fmt.Sprintf("%d %s", n, word))
		}
	}
	if len(counts) > 0 {
		verdict += " (" + strings.Join(counts, ", ") + ")"
	}
	b.WriteString(verdict + "\n")
	io.WriteString(w, b.String())
}

// cliValue renders a claim value safely for a terminal: strings quoted (so
// control characters are escaped), other values as JSON.
func cliValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return cliSanitize(string(out))
}

// cliTime reads a NumericDate claim.
func cliTime(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e15 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// cliWhen formats t with its distance from now: "2025-01-01T00:00:00Z (5m0s ago)".
func cliWhen(t, now time.Time) string {
	rel := "in " + tokencheck.FormatDuration(t.Sub(now))
	if !t.After(now) {
		rel = tokencheck.FormatDuration(now.Sub(t)) + " ago"
	}
	return t.UTC().Format(time.RFC3339) + " (" + rel + ")"
}

// cliSanitize escapes control characters (other than newline) that a token
// could smuggle into terminal output.
func cliSanitize(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r != '\n' && unicode.IsControl(r) }) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r != '\n' && unicode.IsControl(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// --- decode ---------------------------------------------------------------

func cliDecodeCommand() *cobra.Command {
	return cliSubcommand("decode [TOKEN]",
		"Print a token's header and claims WITHOUT verifying it", `
Prints the header and claims of a JWT, pretty-printed in the order they were
sent, with iat/exp/nbf as dates. Nothing is verified: anyone can write these
values. Use "caddy intercom verify" to check a token.

The token is the argument, or stdin when there is none (or it is "-").
Exit status: 0 decoded, 1 not a decodable JWT, 2 usage error.
`, cliDecode)
}

func cliDecode(c *cobra.Command, args []string) int {
	token, code := cliToken(c, args)
	if code != cliExitOK {
		return code
	}
	d, err := tokencheck.DecodeUnverified(token)
	if err != nil {
		fmt.Fprintf(c.ErrOrStderr(), "error: not a decodable JWT: %v\n", err)
		return cliExitInvalid
	}
	const banner = "UNVERIFIED: decoded WITHOUT checking the signature; anyone can write these values."
	var b strings.Builder
	b.WriteString(banner + "\n")
	fmt.Fprintf(&b, "Kind (guessed): %s\n\nHeader:\n%s\n\nClaims:\n%s\n", d.Kind(), cliIndent(d.RawHeader), cliIndent(d.RawClaims))
	now := time.Now()
	var times []string
	for _, n := range []string{"iat", "nbf", "exp"} {
		if t, ok := cliTime(d.Claims[n]); ok {
			times = append(times, fmt.Sprintf("  %-4s %s", n, cliWhen(t, now)))
		}
	}
	if len(times) > 0 {
		b.WriteString("\nTimes:\n" + strings.Join(times, "\n") + "\n")
	}
	for _, n := range d.Notes {
		fmt.Fprintf(&b, "\nWARNING %s\n        fix: %s\n", n.Problem, n.Fix)
	}
	fmt.Fprintf(&b, "\nSignature: %d bytes, NOT checked\n%s\n", len(d.Signature),
		"UNVERIFIED: run 'caddy intercom verify' to check the signature and claims.")
	io.WriteString(c.OutOrStdout(), b.String())
	return cliExitOK
}

// cliIndent pretty-prints JSON text, keeping its key order and number
// spelling.
func cliIndent(raw []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return cliSanitize(string(raw))
	}
	return cliSanitize(out.String())
}

// --- keygen ---------------------------------------------------------------

func cliKeygenCommand() *cobra.Command {
	cmd := cliSubcommand("keygen --kid KID --issuer ISS --out DIR [--bits 2048|3072|4096] [--force]",
		"Make a Salesforce signing key, self-signed certificate and JWK", `
Makes the key material for Salesforce Enhanced Chat user verification:

  DIR/KID.key.pem    RSA private key, PKCS#8, mode 0600: the salesforce private_key
  DIR/KID.cert.pem   self-signed X.509 certificate, valid one year (CN = issuer)
  DIR/KID.jwk.json   public JWK (kty, kid, alg RS256, use sig, n, e, x5c): the
                     file to upload as a Key in Salesforce; no private members

DIR is created (mode 0700) if missing. Existing files are never overwritten
without --force. KID may use letters, digits, '.', '_' and '-'.

  caddy intercom keygen --kid app-2025 --issuer https://app.example.com --out /etc/caddy/salesforce
`, cliKeygen)
	f := cmd.Flags()
	f.String("kid", "", "key id: the token header's kid and the JWK's kid (required)")
	f.String("issuer", "", "the keyset's JSON Web Key Issuer, the tokens' iss (required)")
	f.String("out", "", "output `directory` (required)")
	f.Int("bits", 2048, "RSA key size: 2048, 3072 or 4096")
	f.Bool("force", false, "overwrite existing files")
	return cmd
}

func cliKeygen(c *cobra.Command, args []string) int {
	if len(args) > 0 {
		return cliUsage(c, "keygen takes no arguments")
	}
	f := c.Flags()
	kid, _ := f.GetString("kid")
	issuer, _ := f.GetString("issuer")
	dir, _ := f.GetString("out")
	bits, _ := f.GetInt("bits")
	force, _ := f.GetBool("force")
	switch {
	case kid == "" || issuer == "" || dir == "":
		return cliUsage(c, "--kid, --issuer and --out are required")
	case !cliKeyIDPattern.MatchString(kid):
		return cliUsage(c, "--kid %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", kid)
	case bits != 2048 && bits != 3072 && bits != 4096:
		return cliUsage(c, "--bits %d: use 2048, 3072 or 4096", bits)
	}
	keyPath := filepath.Join(dir, kid+".key.pem")
	certPath := filepath.Join(dir, kid+".cert.pem")
	jwkPath := filepath.Join(dir, kid+".jwk.json")
	if !force {
		var existing []string
		for _, p := range []string{keyPath, certPath, jwkPath} {
			if _, err := os.Lstat(p); err == nil {
				existing = append(existing, p)
			}
		}
		if len(existing) > 0 {
			return cliFail(c, "refusing to overwrite %s (use --force to replace them)", strings.Join(existing, ", "))
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cliFail(c, "%v", err)
	}
	key, err := keys.GenerateSalesforceKey(keys.SalesforceKeyOptions{Bits: bits, KeyID: kid, Issuer: issuer})
	if err != nil {
		return cliFail(c, "%v", err)
	}
	jwk, err := json.MarshalIndent(key.JWK, "", "  ")
	if err != nil {
		return cliFail(c, "%v", err)
	}
	for _, out := range []struct {
		path string
		data []byte
		mode fs.FileMode
	}{
		{keyPath, key.PrivateKeyPEM, 0o600},
		{certPath, key.CertificatePEM, 0o644},
		{jwkPath, append(jwk, '\n'), 0o644},
	} {
		if err := cliWriteFile(out.path, out.data, out.mode, force); err != nil {
			return cliFail(c, "%v", err)
		}
	}
	absKey, err := filepath.Abs(keyPath)
	if err != nil {
		absKey = keyPath
	}
	fmt.Fprintf(c.OutOrStdout(), `Wrote:
  %[1]s   private key (PKCS#8, mode 0600): keep it secret, never upload it
  %[2]s   certificate, valid until %[3]s
  %[4]s   public JWK with x5c: the file to upload to Salesforce

Next steps:
  1. Salesforce Setup > Quick Find "User Verification" > Enhanced Chat User Verification:
     New Key: name it %[5]s, activate it, upload %[4]s (one key per upload).
  2. New Keyset: JSON Web Key Issuer = %[6]s (byte for byte, no extra trailing slash),
     Type = Keys, add the key %[5]s.
  3. Messaging Settings > your channel > Add User Verification > select the keyset.
  4. Caddyfile, inside intercom { … }:
       salesforce {
           private_key {file.%[7]s}
           key_id      %[5]s
           issuer      %[6]s
       }
  5. Check a token: caddy intercom verify --jwks %[4]s --issuer %[6]s TOKEN
  Rotate before %[3]s: run keygen with a new --kid, upload it, switch key_id,
  and keep the old key in the keyset until its last tokens have expired.
`, keyPath, certPath, key.Certificate.NotAfter.UTC().Format("2006-01-02"), jwkPath, kid, issuer, absKey)
	return cliExitOK
}

// cliWriteFile writes a new file with mode. Without force it never replaces
// an existing file (O_EXCL, so a file created meanwhile is not clobbered);
// with force it replaces atomically through a temporary file, so a reader
// never sees half a key.
func cliWriteFile(path string, data []byte, mode fs.FileMode, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// --- jwks -----------------------------------------------------------------

func cliJWKSCommand() *cobra.Command {
	cmd := cliSubcommand("jwks [--alg RS256|RS512] CERT.pem…",
		"Print a JWKS document for certificates", `
Prints a JWKS document ({"keys":[…]}) with the public key of each certificate,
its x5c, alg and use "sig": what a Salesforce "Endpoint URL" keyset fetches,
for example to publish the current and the previous key during a rotation.

Each key's kid is its file's base name without .cert.pem, .crt.pem, .pem or
.crt (the first that matches): keygen's KID.cert.pem gives kid KID. Rename a
file to choose its kid. Certificates expiring within 10 days are reported on
stderr. Only public members are printed.

  caddy intercom jwks keys/app-2026.cert.pem keys/app-2025.cert.pem > jwks.json
`, cliJWKS)
	cmd.Flags().String("alg", "RS256", "the keys' alg: RS256 or RS512")
	return cmd
}

func cliJWKS(c *cobra.Command, args []string) int {
	if len(args) == 0 {
		return cliUsage(c, "give at least one certificate file")
	}
	alg, _ := c.Flags().GetString("alg")
	if _, ok := injector.SalesforceAlgorithm(alg); !ok {
		return cliUsage(c, "--alg %q: use RS256 or RS512", alg)
	}
	now := time.Now()
	jwks := make([]keys.JWK, 0, len(args))
	for _, path := range args {
		cert, code := cliLoadCertificate(c, path)
		if code != cliExitOK {
			return code
		}
		kid := keys.KeyIDFromPath(path)
		k, err := keys.JWKFromCertificate(cert, kid, alg)
		if err != nil {
			return cliFail(c, "%s: %v", path, err)
		}
		switch left := cert.NotAfter.Sub(now); {
		case left <= 0:
			fmt.Fprintf(c.ErrOrStderr(), "warning: %s (kid %q) expired %s ago\n", path, kid, tokencheck.FormatDuration(-left))
		case left < keys.CertificateExpiryMargin:
			fmt.Fprintf(c.ErrOrStderr(), "warning: %s (kid %q) expires in %s; Salesforce wants at least 10 days\n", path, kid, tokencheck.FormatDuration(left))
		}
		jwks = append(jwks, k)
	}
	doc, err := keys.JWKSDocument(jwks...)
	if err != nil {
		return cliFail(c, "%v", err)
	}
	c.OutOrStdout().Write(doc)
	return cliExitOK
}
