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
//		region     us|eu|au (ap: au)
//		api_base   <url>
//		secret     <Messenger API secret>
//		user_id    <value>
//		email      <value>
//		name       <value>
//		attribute  <claim> <value>
//		trust      <cidr…> | private_ranges
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
//
// Every value that is known at parse time is checked here, so that its error
// carries the Caddyfile's file and line: CIDRs, regions, durations, paths,
// attribute names, literal empty values and the identity allowlist.
// Provision and Validate run the same checks on JSON configs.
func (h *Intercom) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()        // directive name
	directive := *d // for errors about the block as a whole
	if d.NextArg() {
		return d.ArgErr()
	}
	// The first identity value that reads a request header: it needs
	// `trust`, which may come later in the block.
	var headerAt *caddyfile.Dispenser
	var headerErr error
	identity := func(sub, v string) error {
		headers, err := checkIdentityValue(identityValue{sub, v})
		if err != nil {
			return d.WrapErr(err)
		}
		if len(headers) > 0 && headerAt == nil {
			at := *d
			headerAt, headerErr = &at, errHeaderNeedsTrust(sub, headers[0])
		}
		return nil
	}
	for d.NextBlock(0) {
		sub := d.Val()
		switch sub {
		case "app_id", "region", "api_base", "secret", "user_id", "email", "name", "endpoint":
			var v string
			if !d.AllArgs(&v) {
				return d.Errf("%s: expects exactly one value", sub)
			}
			if v == "" {
				return d.Errf("%s: empty value", sub)
			}
			var err error
			switch sub {
			case "app_id":
				err = checkAppID(v)
			case "region":
				if _, ok := regionAPIBase(v); !ok {
					err = errUnknownRegion(v)
				}
			case "api_base":
				err = checkAPIBase(v)
			case "endpoint":
				err = checkPath(sub, v)
			case "user_id", "email", "name":
				if err := identity(sub, v); err != nil {
					return err
				}
			}
			if err != nil {
				return d.WrapErr(err)
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
			if err := injector.ValidateAttributeName(claim); err != nil {
				return d.Errf("attribute %s: %w", claim, err)
			}
			if err := identity("attribute "+claim, value); err != nil {
				return err
			}
			h.Attributes[claim] = value
		case "trust":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("trust: expects CIDR ranges or private_ranges")
			}
			for _, t := range args {
				if _, err := parseTrust(t); err != nil {
					return d.WrapErr(err)
				}
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
			if h.Salesforce != nil {
				return d.Errf("salesforce: given twice")
			}
			sf := new(Salesforce)
			block := *d
			if err := sf.unmarshalCaddyfile(d, identity); err != nil {
				return err
			}
			if err := sf.check(); err != nil {
				return block.Errf("salesforce: %w", err)
			}
			h.Salesforce = sf
		default:
			return d.Errf("unrecognized intercom sub-directive %q", sub)
		}
	}
	if headerAt != nil && len(h.Trust) == 0 {
		return headerAt.WrapErr(headerErr)
	}
	// What is missing is reported at the directive.
	if err := h.checkConfig(); err != nil {
		return directive.WrapErr(err)
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

// unmarshalCaddyfile parses the salesforce block; identity checks the
// subject with the enclosing handler's rules.
func (s *Salesforce) unmarshalCaddyfile(d *caddyfile.Dispenser, identity func(sub, v string) error) error {
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
			if args[0] == "" {
				return d.Errf("salesforce previous_certificate: empty value")
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
		if *field == "" {
			return d.Errf("salesforce %s: empty value", sub)
		}
		var err error
		switch sub {
		case "algorithm":
			err = checkAlgorithm(s.Algorithm)
		case "jwks":
			err = checkPath(sub, s.JWKS)
		case "subject":
			if err := identity("salesforce subject", s.Subject); err != nil {
				return err
			}
		}
		if err != nil {
			return d.Errf("salesforce %w", err)
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
