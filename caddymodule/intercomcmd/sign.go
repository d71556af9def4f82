// sign.go: `caddy intercom sign`, which signs the tokens the handler would sign, offline.

package intercomcmd

import (
	"fmt"
	"strings"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/spf13/cobra"
)

func init() { addSubcommand(cliSignCommand) }

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
