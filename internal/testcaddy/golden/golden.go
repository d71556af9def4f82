// Package golden compares the Caddyfile adaptation of test cases with golden
// JSON files. It is apart from testcaddy because it links Caddy's config
// adapter into the test, which the tests that only run the caddy binary (and
// the benchmark command) do not need.
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the caddyfile adapter
)

// update rewrites golden files from the current output instead of comparing
// (go test ./caddymodule/... -run Adapt -update).
var update = flag.Bool("update", false, "rewrite golden files under testdata/ from the current output")

// Adapt adapts every dir/*.caddyfile and compares the indented JSON
// with the .json file next to it. A warning from the adapter fails too: the
// goldens are what the README tells operators to write.
func Adapt(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.caddyfile"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no adaptation cases in %s: %v", dir, err)
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			input, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out, warnings, err := adapter.Adapt(input, map[string]any{"filename": file})
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			for _, w := range warnings {
				t.Errorf("warning: %s:%d: %s", file, w.Line, w.Message)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := strings.TrimSuffix(file, ".caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("adapted JSON differs from %s (run with -update to accept):\n%s", golden, pretty.String())
			}
		})
	}
}
