// Package caddyintercom is the Caddy plug-in entry of caddy-intercom: it
// registers every module and command of this repository with Caddy, so that
//
//	xcaddy build --with github.com/caddy-intercom/caddy-intercom
//
// builds a Caddy with http.handlers.intercom, http.handlers.intercom_help_center,
// http.handlers.identity_assertion and the `caddy intercom` subcommands. The code lives in the packages it
// imports; this package only names them, as Caddy's own modules/standard does.
package caddyintercom

import (
	// http.handlers.intercom: identified pages at the edge.
	_ "github.com/caddy-intercom/caddy-intercom/caddymodule"
	// http.handlers.intercom_help_center: the Help Center on a custom domain.
	_ "github.com/caddy-intercom/caddy-intercom/caddymodule/helpcenter"
	// http.handlers.identity_assertion: a proxy's signed identity, verified.
	_ "github.com/caddy-intercom/caddy-intercom/caddymodule/identityassertion"
	// `caddy intercom …`: token debugger, key generation, JWKS.
	_ "github.com/caddy-intercom/caddy-intercom/caddymodule/intercomcmd"
)
