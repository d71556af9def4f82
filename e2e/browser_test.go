//go:build e2e

package e2e

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

var (
	//go:embed testdata/widget_stub.js
	widgetStub string
	//go:embed testdata/salesforce_stub.js
	salesforceStub string
)

// The third-party scripts the tests answer themselves.
const (
	widgetPrefix = "https://widget.intercom.io/widget/"
	// salesforceBootstrap is where the test pages load Enhanced Chat from.
	salesforceBootstrap = "https://e2e.my.site.com/ESWe2e/assets/js/bootstrap.min.js"
)

// cspListener runs before any script of every document (it is registered
// with Page.addScriptToEvaluateOnNewDocument, which no CSP can block) and
// records every Content-Security-Policy violation the page reports.
const cspListener = `window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push({directive: e.effectiveDirective || e.violatedDirective, blocked: e.blockedURI, sample: e.sample, disposition: e.disposition});
}, true);`

// scriptTracker runs before any script of every document, like
// cspListener, and gives quiet its page-side signal: window.__scriptsPending()
// counts the external scripts in the document that have neither run (load)
// nor failed (error; a script blocked by CSP or by the test fails).
const scriptTracker = `(function () {
  var settled = new WeakSet();
  var mark = function (e) {
    if (e.target && e.target.tagName === 'SCRIPT') { settled.add(e.target); }
  };
  document.addEventListener('load', mark, true);
  document.addEventListener('error', mark, true);
  var js = /^(|module|(text|application)\/(x-)?(java|ecma)script)$/i;
  Object.defineProperty(window, '__scriptsPending', {value: function () {
    var all = document.querySelectorAll('script[src]');
    var n = 0;
    for (var i = 0; i < all.length; i++) {
      if (js.test((all[i].getAttribute('type') || '').trim()) && !settled.has(all[i])) { n++; }
    }
    return n;
  }});
})();`

// tab is one browser tab in a fresh browser context (its own cookie jar),
// with the widget and Salesforce requests answered by the stubs and a log
// of the requests, console messages and stub deliveries, for assertions and
// for the failure report.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu        sync.Mutex
	requests  []string                     // every request the tab sent: method and URL
	inflight  map[network.RequestID]string // sent, neither finished nor failed yet
	widgets   []string                     // widget URLs answered with the stub
	console   []string
	fetchErrs []string
}

// tabTimeout bounds everything one tab does, so a hung browser fails the
// test instead of the whole run.
const tabTimeout = 90 * time.Second

func newTab(t *testing.T) *tab {
	t.Helper()
	if browserCtx == nil {
		t.Fatal("no browser: TestMain did not start Chromium")
	}
	limit, cancelLimit := context.WithTimeout(browserCtx, tabTimeout)
	ctx, cancel := chromedp.NewContext(limit, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, ctx: ctx, inflight: map[network.RequestID]string{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		cancelLimit()
		wg.Wait()
	})
	t.Cleanup(func() {
		if t.Failed() {
			tb.mu.Lock()
			defer tb.mu.Unlock()
			t.Logf("browser requests:\n  %s", strings.Join(tb.requests, "\n  "))
			t.Logf("browser console:\n  %s", strings.Join(tb.console, "\n  "))
			if len(tb.fetchErrs) > 0 {
				t.Logf("interception errors:\n  %s", strings.Join(tb.fetchErrs, "\n  "))
			}
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}

	paused := chromedp.Events(ctx, fetch.RequestPaused)
	console := chromedp.Console(ctx)
	// Listen, unlike Events, sees the network events in order, and an
	// event the browser sent before the reply to a command before that
	// command returns: what quiet relies on.
	if err := chromedp.Listen(ctx, tb.onNetwork); err != nil {
		t.Fatalf("listening to the tab's network events: %v", err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ev, err := range paused {
			if err != nil {
				return
			}
			tb.answer(ev)
		}
	}()
	go func() {
		defer wg.Done()
		for m, err := range console {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, m.String())
			tb.mu.Unlock()
		}
	}()

	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: widgetPrefix + "*"},
		{URLPattern: "https://e2e.my.site.com/*"},
	}}); err != nil {
		t.Fatalf("enabling request interception: %v", err)
	}
	for _, src := range []string{cspListener, scriptTracker} {
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
			t.Fatalf("installing the page observers: %v", err)
		}
	}
	return tb
}

// onNetwork records the tab's requests and which of them are still in
// flight. It runs in the tab's event loop (chromedp.Listen): it must be fast.
func (tb *tab) onNetwork(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		tb.requests = append(tb.requests, ev.Request.Method+" "+ev.Request.URL)
		tb.inflight[ev.RequestID] = ev.Request.URL // a redirect keeps its ID
	case *network.EventLoadingFinished:
		delete(tb.inflight, ev.RequestID)
	case *network.EventLoadingFailed:
		delete(tb.inflight, ev.RequestID)
	}
}

// answer fulfils an intercepted request with a stub, or fails it.
func (tb *tab) answer(ev fetch.EventRequestPaused) {
	u := ev.Request.URL
	var body string
	switch {
	case strings.HasPrefix(u, widgetPrefix):
		appID, err := url.PathUnescape(strings.TrimPrefix(u, widgetPrefix))
		if err != nil {
			appID = ""
		}
		quoted, _ := json.Marshal(appID)
		body = strings.ReplaceAll(widgetStub, "__APP_ID__", string(quoted))
		tb.mu.Lock()
		tb.widgets = append(tb.widgets, u)
		tb.mu.Unlock()
	case u == salesforceBootstrap:
		body = salesforceStub
	}
	var err error
	if body == "" {
		_, err = chromedp.Call(tb.ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
	} else {
		_, err = chromedp.Call(tb.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
			RequestID:    ev.RequestID,
			ResponseCode: 200,
			ResponseHeaders: []*fetch.HeaderEntry{
				{Name: "Content-Type", Value: "application/javascript; charset=utf-8"},
				{Name: "Cache-Control", Value: "no-store"},
			},
			Body: []byte(body),
		})
	}
	if err != nil && tb.ctx.Err() == nil {
		tb.mu.Lock()
		tb.fetchErrs = append(tb.fetchErrs, u+": "+err.Error())
		tb.mu.Unlock()
	}
}

// setUser makes every following request carry userHeader (the trusted
// proxy's identity header); "" makes the browser anonymous.
func (tb *tab) setUser(user string) {
	tb.t.Helper()
	h := network.Headers{}
	if user != "" {
		h[userHeader] = user
	}
	tb.setHeaders(h)
}

func (tb *tab) setHeaders(h network.Headers) {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h}); err != nil {
		tb.t.Fatalf("setting request headers: %v", err)
	}
}

// navigate loads u and waits for its load event; the document must be a 200.
func (tb *tab) navigate(u string) *network.Response {
	tb.t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(u))
	if err != nil {
		tb.t.Fatalf("navigating to %s: %v", u, err)
	}
	if resp == nil || resp.Status != 200 {
		status := int64(0)
		if resp != nil {
			status = resp.Status
		}
		tb.t.Fatalf("navigating to %s: status %d, want 200", u, status)
	}
	return resp
}

// eval evaluates expr in the page and decodes its JSON value into out
// (nil: ignore it). Evaluation through the DevTools protocol is not subject
// to the page's CSP, unlike chromedp.Poll, whose new Function would itself
// be reported as a violation.
func (tb *tab) eval(expr string, out any) {
	tb.t.Helper()
	if err := tb.tryEval(expr, out); err != nil {
		tb.t.Fatalf("evaluating %s: %v", expr, err)
	}
}

func (tb *tab) tryEval(expr string, out any) error {
	js := "(function () { var v = (" + expr + "); return JSON.stringify(v === undefined ? null : v); })()"
	raw, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]byte](js))
	if err != nil {
		return err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("result %s: %w", raw, err)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal([]byte(s), out)
}

// waitFor polls the JavaScript condition cond until it is true, failing
// the test with what after timeout.
func (tb *tab) waitFor(cond string, timeout time.Duration, what string) {
	tb.t.Helper()
	if err := tb.poll(cond, timeout); err != nil {
		tb.t.Fatalf("timed out after %s waiting for %s (%s; last error: %v)", timeout, what, cond, err)
	}
}

// poll is waitFor without the failure: it reports whether cond came true
// (nil) or what the last evaluation said.
func (tb *tab) poll(cond string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		err := tb.tryEval("!!("+cond+")", &ok)
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("condition still false")
			}
			return err
		}
		time.Sleep(pollInterval)
	}
}

// quietTimeout bounds the wait for a quiet page.
const quietTimeout = 15 * time.Second

// quiet waits for a positive signal that the page has nothing left to do:
// its document has loaded, every external script in it has run or failed,
// every request the tab sent has finished or failed, and then the page's
// event loop has gone idle (requestIdleCallback, then one more task) with
// still nothing in flight. Tests call it before asserting that something
// did NOT happen (a second boot, a late CSP report, one fetch too many):
// whatever would cause it has had its turn by then, without a guessed
// sleep. Timers the page sets for later (the token refresh in minutes) are
// not waited for; a test about one waits for its own signal.
func (tb *tab) quiet() {
	tb.t.Helper()
	deadline := time.Now().Add(quietTimeout)
	var busy string
	for {
		var err error
		if busy, err = tb.busy(); err == nil && busy == "" {
			if err = tb.idle(); err == nil {
				// The idle round may have started work of its own.
				if busy, err = tb.busy(); err == nil && busy == "" {
					return
				}
			}
		}
		if err != nil {
			busy = err.Error()
		}
		if time.Now().After(deadline) {
			tb.t.Errorf("the page was still busy after %s: %s", quietTimeout, busy)
			return
		}
		time.Sleep(pollInterval)
	}
}

// pollInterval is how often waitFor and quiet look again.
const pollInterval = 50 * time.Millisecond

// busy says what the page is still doing ("" when nothing we can see).
func (tb *tab) busy() (string, error) {
	var page string
	err := tb.tryEval(`document.readyState !== 'complete' ? 'document ' + document.readyState :
		(typeof window.__scriptsPending === 'function' && window.__scriptsPending() > 0) ? window.__scriptsPending() + ' script(s) neither run nor failed' : ''`, &page)
	if err != nil || page != "" {
		return page, err
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.inflight) > 0 {
		urls := make([]string, 0, len(tb.inflight))
		for _, u := range tb.inflight {
			urls = append(urls, u)
		}
		return fmt.Sprintf("%d request(s) in flight: %s", len(urls), strings.Join(urls, ", ")), nil
	}
	return "", nil
}

// idle resolves once the page's event loop has had an idle period and one
// more task has run after it.
func (tb *tab) idle() error {
	_, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](`new Promise(function (resolve) {
  var after = function () { setTimeout(function () { resolve(true); }, 0); };
  if (typeof requestIdleCallback === 'function') { requestIdleCallback(after, {timeout: 2000}); } else { setTimeout(after, 0); }
})`, chromedp.EvalAwaitPromise))
	return err
}

// settle is quiet under its old name. The duration is ignored: the wait
// ends on the page's own signals, not after a guessed time.
//
// Deprecated: call quiet.
func (tb *tab) settle(time.Duration) {
	tb.t.Helper()
	tb.quiet()
}

// stubCall is one call the stub widget received.
type stubCall struct {
	Method string          `json:"method"`
	Arg    json.RawMessage `json:"arg"`
	Via    string          `json:"via"`
	At     float64         `json:"at"` // page clock, ms since the epoch
}

// obj decodes the call's argument as an object (nil when it is not one).
func (c stubCall) obj() map[string]any {
	var m map[string]any
	if err := json.Unmarshal(c.Arg, &m); err != nil {
		return nil
	}
	return m
}

func (c stubCall) str(key string) string {
	s, _ := c.obj()[key].(string)
	return s
}

func (c stubCall) String() string {
	return fmt.Sprintf("%s(%s) via %s", c.Method, redactTokens(c.Arg), c.Via)
}

// redactMap is redactTokens for a decoded object.
func redactMap(m map[string]any) string {
	b, _ := json.Marshal(m)
	return redactTokens(b)
}

// redactTokens shortens JWT-looking values in a JSON text so failure
// messages stay readable (the test tokens are not secret).
func redactTokens(raw json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return string(raw)
	}
	for k, v := range m {
		if s, ok := v.(string); ok && strings.Count(s, ".") == 2 && len(s) > 40 {
			m[k] = s[:16] + "…"
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// stubCalls returns what the stub widget recorded in this document.
func (tb *tab) stubCalls() []stubCall {
	tb.t.Helper()
	var calls []stubCall
	tb.eval("window.__stubCalls || []", &calls)
	return calls
}

// widgetRequests is how many widget script requests the tab answered.
func (tb *tab) widgetRequests() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return len(tb.widgets)
}

// widgetURLs returns the widget URLs the tab requested.
func (tb *tab) widgetURLs() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.widgets...)
}

// requestCount counts the requests sent so far whose URL path is path.
func (tb *tab) requestCount(path string) int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	n := 0
	for _, r := range tb.requests {
		_, raw, _ := strings.Cut(r, " ")
		if u, err := url.Parse(raw); err == nil && u.Path == path {
			n++
		}
	}
	return n
}

// cookies returns the cookies the browser would send to u.
func (tb *tab) cookies(u string) map[string]*network.Cookie {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		tb.t.Fatalf("reading cookies: %v", err)
	}
	m := make(map[string]*network.Cookie, len(res.Cookies))
	for _, c := range res.Cookies {
		m[c.Name] = c
	}
	return m
}

// cspViolations returns what the page's securitypolicyviolation listener saw.
func (tb *tab) cspViolations() []map[string]any {
	tb.t.Helper()
	var v []map[string]any
	tb.eval("window.__cspViolations || []", &v)
	return v
}

// dispatch fires a window event in the page, as Salesforce does.
func (tb *tab) dispatch(event string) {
	tb.t.Helper()
	tb.eval(fmt.Sprintf("window.dispatchEvent(new Event(%q))", event), nil)
}

// screenshot captures the viewport as PNG.
func (tb *tab) screenshot() []byte {
	tb.t.Helper()
	buf, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("screenshot: %v", err)
	}
	return buf
}
