package identityassertion

import (
	"fmt"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("identity_assertion", parseCaddyfile)
	// After basic_auth and forward_auth, and before encode — and therefore
	// before intercom, which orders itself right after encode. (A plugin may
	// only order itself relative to a standard directive, so "before
	// intercom" is spelled "before encode".)
	httpcaddyfile.RegisterDirectiveOrder("identity_assertion", httpcaddyfile.Before, "encode")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	identity_assertion [<matcher>] {
//		provider   cloudflare_access | google_iap | aws_alb | pomerium | oidc | jwt
//		header     <name>
//		jwks_url   <url>
//		team       <name>
//		issuer     <iss>
//		audience   <aud…>
//		region     <aws region>
//		signer     <alb arn…>
//		user_claim <claim>
//		algorithms <alg…>
//		leeway     <duration>
//		require
//	}
//
// Every value known at parse time is checked here, so that errors carry the
// file and line.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	start := d.Token()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		sub := d.Val()
		switch sub {
		case "provider", "header", "jwks_url", "team", "issuer", "region", "user_claim":
			var v string
			if !d.AllArgs(&v) {
				return d.Errf("%s: expects exactly one value", sub)
			}
			switch sub {
			case "provider":
				if _, ok := providers[v]; !ok {
					return d.Errf("provider: unknown provider %q (want one of %v)", v, providerNames)
				}
				h.Provider = v
			case "header":
				h.Header = v
			case "jwks_url":
				if err := checkKeyURL(sub, v); err != nil {
					return d.Err(err.Error())
				}
				h.JWKSURL = v
			case "team":
				if !teamPattern.MatchString(v) {
					return d.Errf("team: %q is not a Cloudflare team name (the <team> of <team>.cloudflareaccess.com)", v)
				}
				h.Team = v
			case "issuer":
				h.Issuer = v
			case "region":
				if !regionPattern.MatchString(v) {
					return d.Errf("region: %q is not an AWS region name like us-east-1", v)
				}
				h.Region = v
			case "user_claim":
				h.UserClaim = v
			}
		case "audience", "signer", "algorithms":
			vals := d.RemainingArgs()
			if len(vals) == 0 {
				return d.Errf("%s: expects at least one value", sub)
			}
			switch sub {
			case "audience":
				h.Audience = append(h.Audience, vals...)
			case "signer":
				h.Signer = append(h.Signer, vals...)
			case "algorithms":
				for _, a := range vals {
					if err := checkAlgorithm(a); err != nil {
						return d.Err(err.Error())
					}
				}
				h.Algorithms = append(h.Algorithms, vals...)
			}
		case "leeway":
			var v string
			if !d.AllArgs(&v) {
				return d.Errf("leeway: expects exactly one duration")
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("leeway: %v", err)
			}
			if dur < 0 || dur > 5*time.Minute {
				return d.Errf("leeway: %s is outside 0–5m", dur)
			}
			h.Leeway = caddy.Duration(dur)
		case "require":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Require = true
		default:
			return d.Errf("unknown sub-directive %q", sub)
		}
	}
	// What the block as a whole lacks is reported at the directive's line.
	probe := *h
	probe.Audience = slices.Clone(h.Audience)
	probe.applyDefaults()
	if err := probe.checkConfig(); err != nil {
		return fmt.Errorf("identity_assertion: %w, at %s:%d", err, start.File, start.Line)
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
