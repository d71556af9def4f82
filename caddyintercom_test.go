package caddyintercom_test

import (
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
