// keygen.go: `caddy intercom keygen`, Salesforce key material.

package intercomcmd

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddy-intercom/caddy-intercom/injector/keys"
	"github.com/spf13/cobra"
)

func init() { addSubcommand(cliKeygenCommand) }

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
  5. Try it offline (tokens go through stdin, never on the command line):
       caddy intercom sign --salesforce --key %[1]s --kid %[5]s \
           --issuer %[6]s --subject test-user \
         | caddy intercom verify --jwks %[4]s --issuer %[6]s --user-id test-user
     A token copied from a page: caddy intercom verify --jwks %[4]s --issuer %[6]s < token.txt
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
