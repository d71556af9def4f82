// decode.go: `caddy intercom decode`, a token's header and claims, unverified.

package intercomcmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caddy-intercom/caddy-intercom/injector/tokencheck"
	"github.com/spf13/cobra"
)

func init() { addSubcommand(cliDecodeCommand) }

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
	fmt.Fprintf(&b, "Kind (guessed): %s\n\nHeader:\n%s\n\nClaims:\n%s\n", tokencheck.KindName(d.Kind()), cliIndent(d.RawHeader), cliIndent(d.RawClaims))
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
