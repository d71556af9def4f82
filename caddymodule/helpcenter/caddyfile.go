package helpcenter

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// parseCaddyfile is the intercom_help_center directive's setup
// function for httpcaddyfile.RegisterHandlerDirective.
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	hc := new(HelpCenter)
	if err := hc.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return hc, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	intercom_help_center [<matcher>] {
//	    region          us|eu|au
//	    origin          <url>
//	    app_domain      <host>
//	    forward_cookies intercom|all
//	    origin_ca       <pem file>
//	    strip_headers   <name...>
//	}
//
// strip_headers may be given more than once; the names add up.
//
// Values are checked here too, so that a mistake is reported with its line
// number rather than only at provisioning.
func (h *HelpCenter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.Errf("intercom_help_center takes no arguments other than a matcher; put its settings in a block")
	}

	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if sub == "strip_headers" {
			if err := h.unmarshalStripHeaders(d, nesting); err != nil {
				return err
			}
			continue
		}
		var field *string
		var check func(string) error
		switch sub {
		case "region":
			field = &h.Region
			check = func(v string) error { _, err := regionOrigin(v); return err }
		case "origin":
			field = &h.Origin
			check = func(v string) error { _, err := parseOrigin(v); return err }
		case "app_domain":
			field = &h.AppDomain
			check = func(v string) error { _, _, err := normalizeAppDomain(v); return err }
		case "forward_cookies":
			field = &h.ForwardCookies
			check = func(v string) error { _, err := parseForwardCookies(v); return err }
		case "origin_ca":
			field = &h.OriginCA
			check = func(string) error { return nil } // read at provisioning
		default:
			return d.Errf("unrecognized subdirective %q: want region, origin, app_domain, forward_cookies, origin_ca or strip_headers", sub)
		}
		if seen[sub] {
			return d.Errf("%s: specified more than once", sub)
		}
		seen[sub] = true

		args := d.RemainingArgs()
		if len(args) != 1 {
			return d.Errf("%s: want exactly one value, got %d", sub, len(args))
		}
		if d.NextBlock(nesting + 1) {
			return d.Errf("%s: takes no block", sub)
		}
		if err := check(args[0]); err != nil {
			return d.WrapErr(err)
		}
		*field = args[0]
	}

	// Whole-configuration checks (required settings, combinations).
	if err := h.Validate(); err != nil {
		return d.WrapErr(err)
	}
	return nil
}

// unmarshalStripHeaders reads one strip_headers line, checking each name
// where it is written.
func (h *HelpCenter) unmarshalStripHeaders(d *caddyfile.Dispenser, nesting int) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("strip_headers: want at least one header name")
	}
	if d.NextBlock(nesting + 1) {
		return d.Errf("strip_headers: takes no block")
	}
	for _, name := range args {
		if err := checkStripHeader(name); err != nil {
			return d.WrapErr(err)
		}
	}
	h.StripHeaders = append(h.StripHeaders, args...)
	return nil
}

var _ caddyfile.Unmarshaler = (*HelpCenter)(nil)
