// Package intercomcmd adds `caddy intercom …`: the operator's tools for the
// tokens the module signs, for the key material Salesforce asks for, and
// `doctor`, which checks a running deployment end to end. Each subcommand
// lives in its own file (sign.go, verify.go, …) and registers itself in that
// file's init with addSubcommand; this file registers the `intercom` command
// with caddycmd.RegisterCommand and a CobraFunc, as Caddy's own commands and
// modules (reverse-proxy, file-server) do.
//
// Exit codes: 0 ok, 1 invalid token (or, for doctor, a problem found), 2 usage,
// I/O or network error. Secrets come from INTERCOM_SECRET or --secret-file,
// never from a flag value (flags end up in shell history and process lists),
// and are never printed.
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
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

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
	cliExitInvalid = 1 // the token is invalid (verify, decode); doctor found a problem
	cliExitUsage   = 2 // bad flags or arguments, unreadable files, network errors
)

// cliSecretEnv is the environment variable that carries the Messenger API
// secret for sign, verify and doctor.
const cliSecretEnv = "INTERCOM_SECRET"

// cliMaxInput bounds what is read from stdin or a small file (token, secret,
// certificate, JWKS): enough for any of them, and no way to exhaust memory.
const cliMaxInput = 1 << 20

// cliKeyIDPattern restricts keygen's kid to a safe file name, since it names
// the files written.
var cliKeyIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// subcommands holds the constructors registered by each subcommand's file.
// They are constructors, not commands, because cobra commands hold parse
// state: every build of the command tree (the binary's, each in-process test's)
// gets fresh ones.
var subcommands []func() *cobra.Command

// addSubcommand registers a `caddy intercom` subcommand; call it from the
// init of the subcommand's file.
func addSubcommand(newCommand func() *cobra.Command) {
	subcommands = append(subcommands, newCommand)
}

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "intercom",
		Usage: "<sign|verify|decode|keygen|jwks|doctor> [flags]",
		Short: "Signs, verifies and diagnoses Intercom/Salesforce tokens; makes Salesforce keys; checks a deployment",
		Long: strings.TrimSpace(`
Operator tools for caddy-intercom.

  sign     print an Intercom user JWT, or (--salesforce) a Salesforce identity token
  verify   verify a token and explain every problem, each with a fix
  decode   print a token's header and claims WITHOUT verifying it
  keygen   make a Salesforce signing key, certificate and JWK (with x5c)
  jwks     print a JWKS document for certificates
  doctor   check a running deployment end to end: injection, tokens, caching,
           CSP, cookies, Help Center

The Messenger API secret (sign, verify, doctor) is read from the
INTERCOM_SECRET environment variable or from --secret-file; it is never a flag
value and never printed.

Exit status: 0 ok, 1 invalid token (doctor: a problem found), 2 usage, I/O or
network error.
`),
		CobraFunc: setupIntercomCommand,
	})
}

// setupIntercomCommand is the CobraFunc of `caddy intercom`: it adds the
// subcommands and makes flag errors usage errors (status 2).
func setupIntercomCommand(cmd *cobra.Command) {
	cmd.SilenceErrors = true
	cmd.SetFlagErrorFunc(cliFlagError)
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		return cliExit(cliUsage(c, "unknown subcommand %q", args[0]))
	}
	for _, newCommand := range subcommands {
		cmd.AddCommand(newCommand())
	}
}

// exitStatus is the error a subcommand returns for a status other than 0. It
// wraps the error that makes caddycmd.Main exit with that status (Main maps
// only its own, unexported error type to a status other than 1, and
// WrapCommandFuncForCobra is the public way to obtain one), and carries the
// status itself for callers that run the command in process (the tests).
type exitStatus struct {
	code int
	err  error
}

func (e *exitStatus) Error() string { return e.err.Error() }
func (e *exitStatus) Unwrap() error { return e.err }

// cliExit turns an exit status into the error that makes caddycmd.Main exit
// with it: nil for 0; for 1 any error (the commands have already printed
// their messages); for more, Caddy's exit error, which logs nothing when the
// wrapped function returns no error.
func cliExit(code int) error {
	switch code {
	case cliExitOK:
		return nil
	case cliExitInvalid:
		return &exitStatus{code: code, err: errCLIInvalid}
	}
	err := caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) { return code, nil })(&cobra.Command{}, nil)
	return &exitStatus{code: code, err: err}
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
