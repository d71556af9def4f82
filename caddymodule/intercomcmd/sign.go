// sign.go: `caddy intercom sign`, which signs the tokens the handler would sign, offline.

package intercomcmd

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/spf13/cobra"
)

func init() { addSubcommand(cliSignCommand) }

func cliSignCommand() *cobra.Command {
	cmd := cliSubcommand("sign (--user-id ID [--email E] [--name N] [--attr k=v]… [--secret-file F] | --salesforce --key F --kid K --issuer ISS --subject S [--audience A] [--algorithm RS256|RS512]) [--ttl 1h]",
		"Print an Intercom user JWT, or a Salesforce identity token (--salesforce)", `
Signs a token exactly as the intercom handler does and prints it on stdout.
Use it to test Messenger Security or Salesforce user verification by hand, or
to feed "caddy intercom verify".

Intercom (default): an Intercom user JWT (HS256) with the Messenger API
secret, read from INTERCOM_SECRET or --secret-file (one trailing newline is
removed). --attr adds a custom attribute as its own claim and can be repeated;
user_id, email, name, iat and exp cannot be set with --attr.

  INTERCOM_SECRET=… caddy intercom sign --user-id 42 --email ada@example.com \
      --attr plan=pro --ttl 10m

Salesforce (--salesforce): a salesforce_identity_token signed offline with the
private key from --key (PEM, PKCS#1 or PKCS#8, as keygen writes it), with
header kid --kid, and claims iss --issuer, sub --subject, aud --audience (only
when given), iat and exp.

  caddy intercom sign --salesforce --key keys/app-2025.key.pem --kid app-2025 \
      --issuer https://app.example.com --subject 42 \
    | caddy intercom verify --jwks keys/app-2025.jwk.json \
      --issuer https://app.example.com --user-id 42
`, cliSign)
	f := cmd.Flags()
	f.String("user-id", "", "Intercom: the user's id, signed byte for byte (required)")
	f.String("email", "", "Intercom: the user's email")
	f.String("name", "", "Intercom: the user's name")
	f.StringArray("attr", nil, "Intercom: custom attribute `name=value` (repeatable)")
	f.Duration("ttl", injector.DefaultTTL, "token lifetime (whole seconds)")
	f.String("secret-file", "", "Intercom: read the Messenger API secret from this `file` instead of $"+cliSecretEnv)
	f.Bool("salesforce", false, "sign a Salesforce identity token instead of an Intercom user JWT")
	f.String("key", "", "Salesforce: private key PEM `file` (required)")
	f.String("kid", "", "Salesforce: key id, the kid of the key in the keyset (required)")
	f.String("issuer", "", "Salesforce: iss, the keyset's JSON Web Key Issuer (required)")
	f.String("subject", "", "Salesforce: sub, the user's id (required)")
	f.String("audience", "", "Salesforce: aud (optional)")
	f.String("algorithm", "RS256", "Salesforce: RS256 or RS512")
	return cmd
}

// salesforceOnlyFlags and intercomOnlyFlags may not be mixed: a flag of the
// other kind would be silently ignored, and the token signed would not be
// the one the operator asked for.
var (
	salesforceOnlyFlags = []string{"key", "kid", "issuer", "subject", "audience", "algorithm"}
	intercomOnlyFlags   = []string{"user-id", "email", "name", "attr", "secret-file"}
)

func cliSign(c *cobra.Command, args []string) int {
	if len(args) > 0 {
		return cliUsage(c, "sign takes no arguments")
	}
	f := c.Flags()
	salesforce, _ := f.GetBool("salesforce")
	wrong, kind := salesforceOnlyFlags, "--salesforce"
	if salesforce {
		wrong, kind = intercomOnlyFlags, "an Intercom token (without --salesforce)"
	}
	for _, name := range wrong {
		if f.Changed(name) {
			if salesforce {
				return cliUsage(c, "--%s is for %s; --salesforce signs with --key, --kid, --issuer and --subject", name, kind)
			}
			return cliUsage(c, "--%s needs %s", name, kind)
		}
	}
	if salesforce {
		return cliSignSalesforce(c)
	}
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

// cliSignSalesforce signs a Salesforce identity token with the signer the
// handler uses, so that what verify accepts here is what the handler emits.
func cliSignSalesforce(c *cobra.Command) int {
	f := c.Flags()
	keyPath, _ := f.GetString("key")
	kid, _ := f.GetString("kid")
	issuer, _ := f.GetString("issuer")
	subject, _ := f.GetString("subject")
	audience, _ := f.GetString("audience")
	alg, _ := f.GetString("algorithm")
	ttl, _ := f.GetDuration("ttl")
	var missing []string
	for _, n := range []struct{ flag, value string }{{"--key", keyPath}, {"--kid", kid}, {"--issuer", issuer}, {"--subject", subject}} {
		if n.value == "" {
			missing = append(missing, n.flag)
		}
	}
	switch {
	case len(missing) > 0:
		return cliUsage(c, "--salesforce needs %s", strings.Join(missing, ", "))
	case !salesforceAlgorithm(alg):
		return cliUsage(c, "--algorithm %q: Salesforce accepts RS256 or RS512", alg)
	case ttl <= 0 || ttl%time.Second != 0:
		return cliUsage(c, "--ttl must be a positive whole number of seconds")
	}
	pemBytes, err := cliReadFile(keyPath)
	if err != nil {
		return cliFail(c, "--key: %v", err)
	}
	signer, err := injector.NewSalesforceSigner(injector.SalesforceConfig{
		PrivateKeyPEM: pemBytes, KeyID: kid, Issuer: issuer, Audience: audience, Algorithm: alg, TTL: ttl,
	})
	if err != nil {
		return cliFail(c, "%v", err) // never contains key material
	}
	tok, err := signer.Sign(subject)
	if err != nil {
		return cliFail(c, "%v", err)
	}
	fmt.Fprintln(c.OutOrStdout(), tok.Value)
	return cliExitOK
}

// salesforceAlgorithm reports whether Salesforce accepts alg.
func salesforceAlgorithm(alg string) bool {
	_, ok := injector.SalesforceAlgorithm(alg)
	return ok
}
