package caddyintercom_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// caddyfileBlock matches a fenced ```caddyfile block of the README.
var caddyfileBlock = regexp.MustCompile("(?ms)^```caddyfile\n(.*?)^```")

// TestReadmeCaddyfiles adapts every Caddyfile block of the README, as an
// operator who copies it would: each must adapt without error or warning and
// be formatted as `caddy fmt` writes it (caddy run warns otherwise). A block
// that is only a directive or a site body is wrapped in a site first.
func TestReadmeCaddyfiles(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := caddyfileBlock.FindAllSubmatch(readme, -1)
	if len(blocks) < 4 {
		t.Fatalf("found %d caddyfile blocks in README.md; the pattern is broken", len(blocks))
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	for i, m := range blocks {
		block := m[1]
		name := firstLine(block)
		t.Run(name, func(t *testing.T) {
			if formatted := caddyfile.Format(block); !bytes.Equal(formatted, block) {
				t.Errorf("block %d is not formatted as caddy fmt writes it:\n%s", i+1, formatted)
			}
			input := wrapInSite(block)
			_, warnings, err := adapter.Adapt(input, map[string]any{"filename": "README.md"})
			if err != nil {
				t.Fatalf("block %d does not adapt: %v\n%s", i+1, err, input)
			}
			for _, w := range warnings {
				t.Errorf("block %d: warning: line %d: %s", i+1, w.Line, w.Message)
			}
		})
	}
}

// wrapInSite makes a fragment (an intercom directive, or the salesforce
// block of one) into a whole, formatted Caddyfile; a block that starts with
// a site address or global options is one already. The check of the
// formatting runs on the block as written, before this.
func wrapInSite(block []byte) []byte {
	first := firstLine(block)
	if strings.HasPrefix(first, "{") || strings.Contains(strings.Fields(first + " x")[0], ".") {
		return block
	}
	// An elided intercom block ("# …") stands for the required
	// sub-directives, which the parser insists on.
	if first == "intercom {" && bytes.Contains(block, []byte("\t# …\n")) {
		block = bytes.Replace(block, []byte("\t# …\n"), []byte("\tapp_id a\n\tsecret s\n\tuser_id {http.auth.user.id}\n"), 1)
	}
	if strings.HasPrefix(first, "salesforce") {
		block = append([]byte("intercom {\n\tapp_id a\n\tsecret s\n\tuser_id {http.auth.user.id}\n"), indent(block)...)
		block = append(block, "}\n"...)
	}
	site := append([]byte("example.com {\n"), indent(block)...)
	return append(site, "\treverse_proxy 127.0.0.1:9\n}\n"...)
}

func indent(b []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.TrimSpace(line) != "" {
			out.WriteByte('\t')
		}
		out.WriteString(line)
	}
	return out.Bytes()
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}

// TestReadmeTokenCommands runs the README's "Debugging tokens" commands as
// written, with the real binary as `caddy` on PATH, in a directory holding
// the files they read (made by keygen and sign, as an operator would).
func TestReadmeTokenCommands(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Debugging tokens")
	if !ok {
		t.Fatal(`README.md has no "## Debugging tokens" section`)
	}
	m := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(section)
	if m == nil {
		t.Fatal("no sh block in the Debugging tokens section")
	}
	bin, err := testcaddy.Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	binDir := filepath.Join(dir, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(binDir, "caddy")); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, script string) string {
		t.Helper()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n--- script\n%s\n--- output\n%s", err, script, out)
		}
		return string(out)
	}
	// The files the commands read: a key pair as keygen writes it, a token
	// "copied from a page", a Salesforce token for user 42.
	run(t, `export INTERCOM_SECRET='…'
caddy intercom keygen --kid app-2025 --issuer https://app.example.com --out keys >/dev/null
caddy intercom sign --user-id 42 > copied-token.txt
caddy intercom sign --salesforce --key keys/app-2025.key.pem --kid app-2025 --issuer https://app.example.com --subject 42 > sf-token.txt`)
	out := run(t, m[1])
	for _, want := range []string{"VALID", `"user_id": "42"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the README's commands printed no %q:\n%s", want, out)
		}
	}
}
