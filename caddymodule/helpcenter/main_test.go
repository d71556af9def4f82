package helpcenter

// The Help Center is usually configured beside the intercom handler (the
// subpath setup): the tests load both.
import _ "github.com/caddy-intercom/caddy-intercom/caddymodule"
