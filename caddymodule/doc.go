// Package caddymodule is the http.handlers.intercom Caddy module: the
// handler (identity from trusted sources, the token endpoint, the JWKS
// path), its Caddyfile directive, a thin response writer that sequences the
// injector's page policy, and the Prometheus metrics. The Help Center
// handler and the `caddy intercom` subcommands live in the helpcenter and
// intercomcmd subpackages.
package caddymodule
