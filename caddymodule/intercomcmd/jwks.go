// jwks.go: `caddy intercom jwks`, a JWKS document for certificates.

package intercomcmd

import (
	"fmt"
	"time"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/injector/keys"
	"github.com/caddy-intercom/caddy-intercom/injector/tokencheck"
	"github.com/spf13/cobra"
)

func init() { addSubcommand(cliJWKSCommand) }

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
