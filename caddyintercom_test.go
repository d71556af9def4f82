package caddyintercom_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddy-intercom/caddy-intercom"
)

// TestImportRegistersEverything is what `xcaddy build --with
// github.com/caddy-intercom/caddy-intercom` relies on: importing the root
// package alone registers every module and the intercom command.
func TestImportRegistersEverything(t *testing.T) {
	for _, id := range []string{"http.handlers.intercom", "http.handlers.intercom_help_center", "http.handlers.identity_assertion"} {
		if _, err := caddy.GetModule(id); err != nil {
			t.Errorf("module %s is not registered: %v", id, err)
		}
	}
	if _, ok := caddycmd.Commands()["intercom"]; !ok {
		t.Error("the intercom command is not registered")
	}
}

// TestInjectorIsCaddyFree keeps the layout's promise: the request path in
// injector imports neither Caddy nor the tooling subpackages, so it can be
// read, tested and fuzzed without them.
func TestInjectorIsCaddyFree(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./injector").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/caddyserver/") ||
			strings.HasPrefix(dep, "github.com/caddy-intercom/caddy-intercom/") && dep != "github.com/caddy-intercom/caddy-intercom/injector" {
			t.Errorf("injector depends on %s", dep)
		}
	}
}
