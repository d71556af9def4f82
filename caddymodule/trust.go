package caddymodule

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// identitySource decides whether the request headers that carry identity can
// be believed. A header is something any client can send, so identity read
// from one is honoured only when it was set by someone we trust: a peer in the
// configured ranges, or a handler earlier in the route (`trust route`).
type identitySource struct {
	headers    []string       // canonical names of the identity headers
	ranges     []netip.Prefix // peers allowed to send them
	trustRoute bool           // set by an earlier handler: honour as is
}

// headerPlaceholder matches placeholders that read a request header, in both
// the Caddyfile shorthand and the full form.
var headerPlaceholder = regexp.MustCompile(`\{(?:http\.request\.header|header)\.([^}]+)\}`)

// clientPlaceholder matches request data that no trust setting can vouch for.
var clientPlaceholder = regexp.MustCompile(`\{(?:http\.request\.(?:cookie|uri|orig_uri|body|query)|query|cookie|uri|path)[.}]`)

// newIdentitySource parses `trust` and inspects the identity values for the
// request headers they read.
func newIdentitySource(trust []string, values []string) (identitySource, error) {
	var src identitySource
	for _, v := range values {
		if m := clientPlaceholder.FindString(v); m != "" {
			return src, fmt.Errorf("identity value %q reads %s…, which the client controls and no proxy can vouch for; use a header set by a trusted proxy or forward_auth", v, strings.TrimSuffix(strings.TrimSuffix(m, "."), "}"))
		}
		for _, m := range headerPlaceholder.FindAllStringSubmatch(v, -1) {
			name := http.CanonicalHeaderKey(m[1])
			if !slices.Contains(src.headers, name) {
				src.headers = append(src.headers, name)
			}
		}
	}
	for _, t := range trust {
		switch t {
		case "route":
			src.trustRoute = true
		case "private_ranges":
			// Caddy's list mixes CIDRs and bare addresses (::1).
			for _, cidr := range caddyhttp.PrivateRangesCIDR() {
				p, err := parsePrefix(cidr)
				if err != nil {
					return src, fmt.Errorf("trust: private_ranges: %w", err)
				}
				src.ranges = append(src.ranges, p)
			}
		default:
			p, err := parsePrefix(t)
			if err != nil {
				return src, fmt.Errorf("trust: %q is not a CIDR range, an IP address, private_ranges or route", t)
			}
			src.ranges = append(src.ranges, p)
		}
	}
	if src.trustRoute && len(src.ranges) > 0 {
		return src, errors.New("trust: route cannot be combined with address ranges")
	}
	if len(src.headers) > 0 && !src.trustRoute && len(src.ranges) == 0 {
		return src, fmt.Errorf("trust: required because the identity is read from the request header(s) %s, "+
			"which any client can forge; set `trust <cidr…>` or `trust private_ranges` to the proxies that set them, "+
			"or `trust route` when a handler earlier in the route (forward_auth copy_headers, request_header) sets them",
			strings.Join(src.headers, ", "))
	}
	return src, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// honoured reports whether identity headers on r may be believed.
func (s identitySource) honoured(r *http.Request) bool {
	if len(s.headers) == 0 || s.trustRoute {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range s.ranges {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// strip deletes the identity headers so that neither we nor the upstream
// act on a forged value.
func (s identitySource) strip(h http.Header) {
	for _, name := range s.headers {
		h.Del(name)
	}
}
