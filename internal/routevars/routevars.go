// Package routevars names the Caddy request variables through which the
// module's handlers tell each other what happened to a request in the same
// route. It exists so that caddymodule (http.handlers.intercom) does not have
// to import caddymodule/helpcenter, nor the reverse, just to share a name.
package routevars

import (
	"context"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// HelpCenter is the Caddy variable ({http.vars.intercom_help_center}) that
// intercom_help_center sets to the boolean true on every request it proxies
// to the Help Center origin.
//
// The intercom handler checks it when the response header is written and
// then leaves the response untouched: no script, no identity, no session
// cookies, no header changes. Without it the README's subpath setup
// (intercom_help_center /support* next to intercom in one site) would inject
// the user's identity into Intercom's own Help Center pages. Only the bool
// set by the handler counts; a string set with the vars directive does not.
const HelpCenter = "intercom_help_center"

// MarkHelpCenter records on the request's context that its response comes
// from the Help Center origin. A context without Caddy's variable table (a
// request that did not come through a Caddy server) is left alone.
func MarkHelpCenter(ctx context.Context) {
	caddyhttp.SetVar(ctx, HelpCenter, true)
}

// ServedByHelpCenter reports whether intercom_help_center marked the request
// with MarkHelpCenter.
func ServedByHelpCenter(ctx context.Context) bool {
	v, _ := caddyhttp.GetVar(ctx, HelpCenter).(bool)
	return v
}
