// Command caddy is Caddy with its standard modules plus caddy-intercom.
//
// Build it with `go build ./cmd/caddy`; `caddy list-modules` then shows
// http.handlers.intercom and http.handlers.intercom_help_center next to Caddy's own handlers.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-intercom/caddy-intercom"
)

func main() {
	caddycmd.Main()
}
