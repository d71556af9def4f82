package helpcenter

import (
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// intercomCookiePrefix starts the name of every cookie the Intercom Messenger
// sets (intercom-session-<app_id>, intercom-device-id-<app_id>,
// intercom-id-<app_id>), which are what the Help Center and Tickets Portal
// use to recognise a signed-in user.
const intercomCookiePrefix = "intercom-"

// filterIntercomCookies keeps only the intercom-* cookies of a request's
// Cookie header lines. The browser sends every cookie of the registrable
// domain to the Help Center host, including the app's own session cookie,
// which must not be handed to a third party.
//
// Pairs are split like http.Request.Cookies does (on ';', trimmed with
// textproto.TrimString, empty parts skipped, names must be tokens) but kept byte-for-byte, quotes and
// all. When nothing is dropped it reports changed == false and the header
// should be forwarded as it is. Otherwise kept is the single header value
// to forward ("" means: send no Cookie header).
func filterIntercomCookies(lines []string) (kept string, changed bool) {
	size, drop := 0, false
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			part = textproto.TrimString(part)
			if part == "" {
				continue
			}
			if isIntercomCookiePair(part) {
				size += len(part) + 2
			} else {
				drop = true
			}
		}
	}
	if !drop {
		return "", false
	}
	if size == 0 {
		return "", true
	}

	var b strings.Builder
	b.Grow(size - 2)
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			part = textproto.TrimString(part)
			if part == "" || !isIntercomCookiePair(part) {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part)
		}
	}
	return b.String(), true
}

// isIntercomCookiePair reports whether a trimmed name=value pair is an
// Intercom cookie. Names are case-sensitive, as cookie names are.
func isIntercomCookiePair(pair string) bool {
	name, _, _ := strings.Cut(pair, "=")
	name = textproto.TrimString(name) // "intercom-x =1" is intercom-x to net/http
	return strings.HasPrefix(name, intercomCookiePrefix) && httpguts.ValidHeaderFieldName(name)
}
