// Package caddymodule adapts the injector library to Caddy: the intercom and
// intercom_help_center HTTP handlers, their Caddyfile directives, the
// `caddy intercom` subcommands and the Prometheus metrics.
package caddymodule
