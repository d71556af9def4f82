package injector

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net"
	"strings"
	"sync"

	"golang.org/x/net/publicsuffix"
)

// MarkerCookie is the cookie in which the edge remembers which user the
// browser last booted the Messenger as. Its name must not start with
// "intercom-": the Help Center proxy forwards those cookies to Intercom.
const MarkerCookie = "caddy_intercom_user"

// SessionMarker computes the marker cookie's value: a keyed hash of the user
// id, so that the cookie neither reveals the id nor can be forged for another
// user without the key.
type SessionMarker struct {
	key []byte
	// macs recycles HMAC states keyed with key: the handler computes a
	// marker for every identified GET, assets included, and hmac.New costs
	// more than the hash itself. Nil in a zero SessionMarker.
	macs *sync.Pool
}

// NewSessionMarker derives the marker key from the Messenger secret, so that
// no extra configuration is needed and rotating the secret rotates markers.
func NewSessionMarker(secret []byte) SessionMarker {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("caddy-intercom session marker v1"))
	key := mac.Sum(nil)
	return SessionMarker{key: key, macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

// Value returns the marker for userID.
func (m SessionMarker) Value(userID string) string {
	var mac hash.Hash
	if m.macs != nil {
		mac = m.macs.Get().(hash.Hash)
		defer m.macs.Put(mac)
		mac.Reset() // back to the keyed state: nothing of an earlier id remains
	} else {
		mac = hmac.New(sha256.New, m.key)
	}
	mac.Write([]byte(userID))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(mac.Sum(sum[:0])[:18])
}

// Hygiene is what a page response must do about the Messenger session left
// in the browser by an earlier page.
type Hygiene struct {
	// Shutdown: shut the Messenger down before any boot, and expire the
	// intercom-session-<app_id> cookie: the session belongs to someone else.
	Shutdown bool
	// SetMarker is the marker value to store ("" = leave it).
	SetMarker string
	// ExpireMarker: delete the marker (the visitor is anonymous now).
	ExpireMarker bool
}

// Decide compares the request's marker with the user the page is served to
// (userID "" = anonymous). Only the marker counts as evidence of an earlier
// identified boot: an Intercom session without one may be a visitor's, which
// Intercom turns into the user's at the next boot and must not be cut.
func (m SessionMarker) Decide(userID, marker string) Hygiene {
	if userID == "" {
		if marker == "" {
			return Hygiene{}
		}
		return Hygiene{Shutdown: true, ExpireMarker: true}
	}
	want := m.Value(userID)
	switch {
	case marker == "":
		return Hygiene{SetMarker: want}
	case hmac.Equal([]byte(marker), []byte(want)):
		return Hygiene{}
	default: // another user, or a tampered marker
		return Hygiene{Shutdown: true, SetMarker: want}
	}
}

// SessionCookieDomain returns the Domain attribute with which the Messenger
// sets its cookies for host: the registrable domain with a leading dot. It
// returns "" for IP addresses, single-label hosts and public suffixes, where
// the cookies are host-only.
func SessionCookieDomain(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || net.ParseIP(strings.Trim(host, "[]")) != nil || !strings.Contains(host, ".") {
		return ""
	}
	domain, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return ""
	}
	return "." + domain
}
