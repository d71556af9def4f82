//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestQuietWaitsForLateWork checks the barrier the other tests use to show
// that something did NOT happen: quiet returns only after work the page
// starts late (a script inserted from a timer after the load event, served
// slowly; a fetch that the script starts when it runs, also slow) has been
// done, without a sleep in the test.
func TestQuietWaitsForLateWork(t *testing.T) {
	const delay = 700 * time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, htmlPage("Late work", "", `<h1>Late work</h1>
<script>
window.addEventListener('load', function () {
  setTimeout(function () {
    var s = document.createElement('script');
    s.src = '/slow.js';
    document.head.appendChild(s);
  }, 0);
});
</script>`))
	})
	mux.HandleFunc("/slow.js", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay) // the slow upstream under test, not a barrier
		w.Header().Set("Content-Type", "application/javascript")
		fmt.Fprint(w, `window.__late = 'script';
fetch('/slow-data').then(function (r) { return r.text(); }).then(function (t) { window.__late = t; });`)
	})
	mux.HandleFunc("/slow-data", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		fmt.Fprint(w, "fetched")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	caddy := startCaddy(t, 1, appSite(srv.Listener.Addr().String()))

	tb := newTab(t)
	tb.setUser("alice")
	tb.navigate(caddy.appURL("/"))
	tb.quiet()
	var late string
	tb.eval("window.__late || ''", &late)
	if late != "fetched" {
		t.Fatalf("quiet returned before the page's late work was done: __late = %q, want %q", late, "fetched")
	}
}
