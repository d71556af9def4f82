//go:build e2e

package e2e

import (
	"crypto/rsa"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/internal/testkeys"
)

const endpointPath = "/intercom/jwt"

// Scenario 6a: with a short token lifetime and the token endpoint, the page
// refreshes its token before it expires: the widget gets an update with a
// new JWT that verifies, well within the first token's lifetime.
func TestTokenRefresh(t *testing.T) {
	const ttl = 10 * time.Second
	upstream := newUpstream(t, map[string]webPage{
		"/": {html: htmlPage("Refresh", "", `<h1>Open for longer than a token lives</h1>`)},
	})
	caddy := startCaddy(t, 1, appSite(upstream, "loader", fmt.Sprintf("ttl %ds", int(ttl/time.Second)), "endpoint "+endpointPath))
	tb := newTab(t)
	tb.setUser("alice")
	tb.navigate(caddy.appURL("/"))
	tb.waitBooted()
	boot := wantOneBoot(t, tb.stubCalls(), "alice", "auto")
	first := boot.str("intercom_user_jwt")
	firstExp := expiry(t, verifyIntercomJWT(t, first, "alice"))

	tb.waitFor("(window.__stubCalls || []).some(function (c) { return c.method === 'update'; })", ttl+2*time.Second, "a token refresh")
	calls := tb.stubCalls()
	var update *stubCall
	for i := range calls {
		if calls[i].Method == "update" {
			update = &calls[i]
			break
		}
	}
	next := update.str("intercom_user_jwt")
	if next == first {
		t.Fatalf("refresh delivered the same token again")
	}
	nextExp := expiry(t, verifyIntercomJWT(t, next, "alice"))
	if !nextExp.After(firstExp) {
		t.Errorf("refreshed token expires %s, not after the first one (%s)", nextExp, firstExp)
	}
	if got := update.str("user_id"); got != "alice" {
		t.Errorf("update user_id = %q, want %q", got, "alice")
	}
	at := time.UnixMilli(int64(update.At))
	if !at.Before(firstExp) {
		t.Errorf("update arrived at %s, after the first token expired (%s)", at.Format(time.RFC3339Nano), firstExp)
	}
	if n := tb.requestCount(endpointPath); n < 1 {
		t.Errorf("the page never fetched %s", endpointPath)
	}
	var current string
	tb.eval("window.intercomSettings.intercom_user_jwt", &current)
	if current != next {
		t.Errorf("window.intercomSettings still holds an older token after the refresh")
	}
}

// salesforceFixture writes the shared test key (internal/testkeys) as the
// edge's Salesforce signing key and returns its path and public key.
func salesforceFixture(t *testing.T) (string, *rsa.PublicKey) {
	t.Helper()
	key := testkeys.RSA()
	path := filepath.Join(t.TempDir(), "salesforce.key.pem")
	if err := os.WriteFile(path, testkeys.PKCS8PEM(key), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, &key.PublicKey
}

const (
	sfKeyID  = "e2e-kid"
	sfIssuer = "https://app.example.test"
)

// Scenario 6b: Salesforce asks for a new identity token with
// onEmbeddedMessagingIdentityTokenExpired. A token it accepts is fetched
// and handed over once, signed RS256 with the configured key; tokens it
// rejects (each rejection fires the event again at once) are retried at
// most 3 times, not in an endless loop.
func TestSalesforceTokenExpiry(t *testing.T) {
	keyPath, pub := salesforceFixture(t)
	upstream := newUpstream(t, map[string]webPage{
		"/": {html: htmlPage("Enhanced Chat", `<script src="`+salesforceBootstrap+`"></script>`, `<h1>Salesforce Enhanced Chat</h1>
<script>embeddedservice_bootstrap.init('00De2e', 'e2e_chat', 'https://e2e.my.site.com/ESWe2e', {scrt2URL: 'https://e2e.my.salesforce-scrt.com'});</script>`)},
	})
	caddy := startCaddy(t, 1, appSite(upstream, "endpoint "+endpointPath, `salesforce {
			private_key {file.`+keyPath+`}
			key_id `+sfKeyID+`
			issuer `+sfIssuer+`
		}`))

	type sfCall struct {
		Method string `json:"method"`
		Arg    struct {
			Type  string `json:"identityTokenType"`
			Token string `json:"identityToken"`
		} `json:"arg"`
	}
	setCalls := func(tb *tab) []sfCall {
		var all, set []sfCall
		tb.eval("window.__sfCalls || []", &all)
		for _, c := range all {
			if c.Method == "setIdentityToken" {
				set = append(set, c)
			}
		}
		return set
	}
	open := func(t *testing.T) *tab {
		tb := newTab(t)
		tb.setUser("alice")
		tb.navigate(caddy.appURL("/"))
		var initial string
		tb.eval("window.intercomSettings.salesforce_identity_token", &initial)
		verifySalesforceJWT(t, initial, pub, sfKeyID, sfIssuer, "alice")
		tb.dispatch("onEmbeddedMessagingReady")
		return tb
	}

	t.Run("accepted", func(t *testing.T) {
		tb := open(t)
		tb.dispatch("onEmbeddedMessagingIdentityTokenExpired")
		tb.waitFor("(window.__sfCalls || []).some(function (c) { return c.method === 'setIdentityToken'; })", 5*time.Second, "setIdentityToken")
		tb.quiet()

		set := setCalls(tb)
		if len(set) != 1 {
			t.Fatalf("setIdentityToken called %d times, want once", len(set))
		}
		if set[0].Arg.Type != "JWT" {
			t.Errorf("identityTokenType = %q, want JWT", set[0].Arg.Type)
		}
		verifySalesforceJWT(t, set[0].Arg.Token, pub, sfKeyID, sfIssuer, "alice")
		if n := tb.requestCount(endpointPath); n != 1 {
			t.Errorf("%d fetches of %s for one expiry event, want 1", n, endpointPath)
		}
	})

	t.Run("rejected_retry_cap", func(t *testing.T) {
		tb := open(t)
		// Count the expiry events once the snippet's own listener (added
		// when it ran, so before this one) has handled them.
		tb.eval(`(function () {
  window.__sfMode = 'reject';
  window.__sfExpiries = 0;
  window.addEventListener('onEmbeddedMessagingIdentityTokenExpired', function () { window.__sfExpiries++; });
})()`, nil)
		tb.dispatch("onEmbeddedMessagingIdentityTokenExpired")
		tb.waitFor("(window.__sfCalls || []).filter(function (c) { return c.method === 'setIdentityToken'; }).length >= 3", 5*time.Second, "three setIdentityToken calls")
		// Without a cap the rejections go on for as long as we wait. The
		// third rejection fires a fourth expiry event: once the snippet
		// has handled it and the page is quiet, a fourth fetch would have
		// been sent.
		tb.waitFor("window.__sfExpiries >= 4", 5*time.Second, "the expiry event of the third rejection")
		tb.quiet()

		set := setCalls(tb)
		fetches := tb.requestCount(endpointPath)
		if len(set) != 3 || fetches != 3 {
			t.Fatalf("rejected tokens led to %d setIdentityToken calls and %d fetches of %s, want 3 of each (the cap)", len(set), fetches, endpointPath)
		}
		for _, c := range set {
			verifySalesforceJWT(t, c.Arg.Token, pub, sfKeyID, sfIssuer, "alice")
		}
	})
}
