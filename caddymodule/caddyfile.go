package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-intercom/caddy-intercom/injector"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("intercom", parseIntercom)
	// After encode, so that encode compresses our output; and after
	// basic_auth/forward_auth, which come before encode, so that the
	// identity they establish exists when we run.
	httpcaddyfile.RegisterDirectiveOrder("intercom", httpcaddyfile.After, "encode")
}

func parseIntercom(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Intercom)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	intercom [<matcher>] {
//		app_id     <workspace id>
//		region     us|eu|au
//		api_base   <url>
//		secret     <Messenger API secret>
//		user_id    <value>
//		email      <value>
//		name       <value>
//		attribute  <claim> <value>
//		trust      <cidr…> | private_ranges | route
//		ttl        <duration>
//		user_hash
//		loader
//		endpoint   <path>
//		salesforce {
//			private_key <PEM>
//			key_id      <kid>
//			issuer      <iss>
//			subject     <value>
//			audience    <aud>
//			algorithm   RS256|RS512
//			ttl         <duration>
//			reuse       <duration>
//			cache_size  <n>
//			certificate <PEM>
//			previous_certificate <PEM> [<kid>]
//			jwks        <path>
//		}
//	}
func (h *Intercom) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		sub := d.Val()
		switch sub {
		case "app_id", "region", "api_base", "secret", "user_id", "email", "name", "endpoint":
			var v string
			if !d.AllArgs(&v) {
				return d.Errf("%s: expects exactly one value", sub)
			}
			if _, ok := apiBases[v]; sub == "region" && !ok {
				return d.Errf("region: unknown region %q (want us, eu or au)", v)
			}
			*h.stringField(sub) = v
		case "attribute":
			var claim, value string
			if !d.AllArgs(&claim, &value) {
				return d.Errf("attribute: expects a claim name and a value")
			}
			if h.Attributes == nil {
				h.Attributes = make(map[string]string)
			}
			if _, dup := h.Attributes[claim]; dup {
				return d.Errf("attribute: claim %q given twice", claim)
			}
			h.Attributes[claim] = value
		case "trust":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("trust: expects CIDR ranges, private_ranges or route")
			}
			h.Trust = append(h.Trust, args...)
		case "ttl":
			dur, err := parseDuration(d, sub)
			if err != nil {
				return err
			}
			h.TTL = dur
		case "user_hash", "loader":
			if d.NextArg() {
				return d.Errf("%s: takes no value", sub)
			}
			if sub == "user_hash" {
				h.UserHash = true
			} else {
				h.Loader = true
			}
		case "salesforce":
			if d.NextArg() {
				return d.Errf("salesforce: expects a block, not a value")
			}
			sf := new(Salesforce)
			if err := sf.unmarshalCaddyfile(d); err != nil {
				return err
			}
			h.Salesforce = sf
		default:
			return d.Errf("unrecognized intercom sub-directive %q", sub)
		}
	}
	return nil
}

func (h *Intercom) stringField(name string) *string {
	switch name {
	case "app_id":
		return &h.AppID
	case "region":
		return &h.Region
	case "api_base":
		return &h.APIBase
	case "secret":
		return &h.Secret
	case "user_id":
		return &h.UserID
	case "email":
		return &h.Email
	case "endpoint":
		return &h.Endpoint
	default: // "name"
		return &h.Name
	}
}

func (s *Salesforce) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		var field *string
		switch sub {
		case "private_key":
			field = &s.PrivateKey
		case "key_id":
			field = &s.KeyID
		case "issuer":
			field = &s.Issuer
		case "subject":
			field = &s.Subject
		case "audience":
			field = &s.Audience
		case "certificate":
			field = &s.Certificate
		case "jwks":
			field = &s.JWKS
		case "previous_certificate":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.Errf("salesforce previous_certificate: expects a PEM and optionally its key id")
			}
			prev := PreviousCertificate{Certificate: args[0]}
			if len(args) == 2 {
				prev.KeyID = args[1]
			}
			s.PreviousCertificates = append(s.PreviousCertificates, prev)
			continue
		case "algorithm":
			field = &s.Algorithm
		case "ttl", "reuse":
			dur, err := parseDuration(d, "salesforce "+sub)
			if err != nil {
				return err
			}
			if sub == "ttl" {
				s.TTL = dur
			} else {
				s.Reuse = dur
			}
			continue
		case "cache_size":
			var v string
			if !d.AllArgs(&v) {
				return d.Errf("salesforce cache_size: expects one number")
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return d.Errf("salesforce cache_size: %q is not a positive number", v)
			}
			s.CacheSize = n
			continue
		default:
			return d.Errf("unrecognized salesforce sub-directive %q", sub)
		}
		if !d.AllArgs(field) {
			return d.Errf("salesforce %s: expects exactly one value", sub)
		}
		if _, ok := injector.SalesforceAlgorithm(s.Algorithm); sub == "algorithm" && !ok {
			return d.Errf("salesforce algorithm: %q is not supported (want RS256 or RS512)", s.Algorithm)
		}
	}
	return nil
}

func parseDuration(d *caddyfile.Dispenser, sub string) (caddy.Duration, error) {
	var v string
	if !d.AllArgs(&v) {
		return 0, d.Errf("%s: expects one duration", sub)
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil {
		return 0, d.Errf("%s: bad duration %q: %v", sub, v, err)
	}
	if dur <= 0 {
		return 0, d.Errf("%s: duration must be positive, got %q", sub, v)
	}
	return caddy.Duration(dur), nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Intercom)(nil)
