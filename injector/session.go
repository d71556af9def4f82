package injector

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
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
	// states recycles HMAC states keyed with key and their buffers: the
	// handler decides for every identified page, and hmac.New costs more
	// than the hash itself. Nil in a zero SessionMarker.
	states *sync.Pool
}

// markerState is one goroutine's HMAC state and scratch space.
type markerState struct {
	mac hash.Hash
	in  []byte // the user id, copied: the HMAC takes bytes
	sum [sha256.Size]byte
	enc [markerLen]byte
}

// markerLen is the length of a marker: base64url of 18 bytes of the HMAC.
const markerLen = 24

// NewSessionMarker derives the marker key from the Messenger secret, so that
// no extra configuration is needed and rotating the secret rotates markers.
func NewSessionMarker(secret []byte) SessionMarker {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("caddy-intercom session marker v1"))
	key := mac.Sum(nil)
	return SessionMarker{key: key, states: &sync.Pool{New: func() any { return &markerState{mac: hmac.New(sha256.New, key)} }}}
}

// Value returns the marker for userID.
func (m SessionMarker) Value(userID string) string {
	var v string
	m.with(userID, func(enc []byte) { v = string(enc) })
	return v
}

// with computes userID's marker into a scratch buffer and hands it to f,
// which must not keep it.
func (m SessionMarker) with(userID string, f func(enc []byte)) {
	var st *markerState
	if m.states != nil {
		st = m.states.Get().(*markerState)
		defer func() {
			if cap(st.in) <= 1<<10 {
				m.states.Put(st)
			}
		}()
		st.mac.Reset() // back to the keyed state: nothing of an earlier id remains
	} else {
		st = &markerState{mac: hmac.New(sha256.New, m.key)}
	}
	st.in = append(st.in[:0], userID...)
	st.mac.Write(st.in)
	sum := st.mac.Sum(st.sum[:0])
	base64.RawURLEncoding.Encode(st.enc[:], sum[:18])
	f(st.enc[:])
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
	// The returning user, the common case, allocates nothing: the marker
	// is compared in the scratch buffer and only a new one becomes a string.
	var h Hygiene
	m.with(userID, func(want []byte) {
		switch {
		case marker == "":
			h = Hygiene{SetMarker: string(want)}
		case len(marker) == len(want) && subtle.ConstantTimeCompare([]byte(marker), want) == 1:
			h = Hygiene{}
		default: // another user, or a tampered marker
			h = Hygiene{Shutdown: true, SetMarker: string(want)}
		}
	})
	return h
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
