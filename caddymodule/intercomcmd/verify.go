// verify.go: `caddy intercom verify`, the token debugger.

package intercomcmd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-intercom/caddy-intercom/injector/tokencheck"
	"github.com/spf13/cobra"
)

func init() { addSubcommand(cliVerifyCommand) }

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

// cliPrintReport writes a verification report for people: a summary of the
// token, then one problem line and one fix line per finding, then the verdict.
func cliPrintReport(w io.Writer, r tokencheck.Report, source string, now time.Time) {
	var b strings.Builder
	if r.Header != nil {
		b.WriteString(tokencheck.KindName(r.Kind))
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
