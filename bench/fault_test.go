//go:build soak

package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/bench/harness"
	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"
)

// result is what a client got for one request.
type result struct {
	status  int // 0: no response at all
	header  http.Header
	body    []byte // what arrived before the end or the error
	err     error  // transport or body read error; nil: a clean end
	elapsed time.Duration
}

func (r result) String() string {
	s := "no response"
	if r.status != 0 {
		s = fmt.Sprintf("status %d, %d bytes", r.status, len(r.body))
	}
	if r.err != nil {
		s += ", then error: " + r.err.Error()
	} else {
		s += ", clean end"
	}
	return s + fmt.Sprintf(" (%s)", r.elapsed.Round(10*time.Millisecond))
}

// fetch GETs url as user on a fresh connection and reads the whole body.
func fetch(url, user string, timeout time.Duration) result {
	tr := &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: timeout}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		panic(err)
	}
	req.Header.Set(harness.UserHeader, user)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return result{err: err, elapsed: time.Since(start)}
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && resp.Header.Get("Content-Encoding") == "gzip" {
		// An encoded page passes through untouched; what the client sees is
		// what its decoder makes of it: a corrupt body is a broken one.
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
			body, err = io.ReadAll(zr)
		}
	}
	return result{status: resp.StatusCode, header: resp.Header, body: body, err: err, elapsed: time.Since(start)}
}

// checkWholeOrBroken is the rule for every fault: a client either gets the
// whole page (with exactly one snippet when intercom may inject) or can tell
// that something failed (an error status or a broken body). A 200 that ends
// cleanly with bytes missing is the one thing that must never happen.
func checkWholeOrBroken(t *testing.T, name string, r result, full []byte, intercom bool) {
	t.Helper()
	if r.status < 200 || r.status > 299 || r.err != nil {
		return
	}
	if bytes.Equal(r.body, full) {
		return
	}
	if _, ok := harness.SplitInjection(r.body, full); ok && intercom {
		return
	}
	t.Errorf("%s: a complete-looking %d response of %d bytes that is not the %d-byte page", name, r.status, len(r.body), len(full))
}

// checkErrorResponse: an error status that intercom (or caddy) generated
// instead of the page must be a well-formed response of its own. The
// upstream's headers describe a body that is not sent: a stale
// Content-Length truncates the error response, a Content-Encoding mislabels
// it, and the upstream's caching headers could get a 502 stored.
func checkErrorResponse(t *testing.T, name string, r result) {
	t.Helper()
	if r.status < 500 {
		return
	}
	if r.err != nil {
		t.Errorf("%s: the %d response itself is broken: %v (headers %v)", name, r.status, r.err, r.header)
	}
	for _, h := range []string{"Content-Encoding", "ETag", "Last-Modified", "Cache-Control", "Expires"} {
		if v := r.header.Get(h); v != "" {
			t.Errorf("%s: the %d response carries the upstream's %s: %q", name, r.status, h, v)
		}
	}
}

// faultSites starts one caddy with (a) plain reverse_proxy, (b) intercom and
// (b) with `compression off`, all proxying to upstream with transport
// settings transport, and returns their base URLs by name.
func faultSites(t *testing.T, upstream, transport string) (*testcaddy.Caddy, map[string]string) {
	t.Helper()
	transport = strings.TrimSpace(caddyUpstreamKeepalive + "\n" + transport)
	p := ports(t, 3)
	a, _ := harness.CaseByName("a")
	b, _ := harness.CaseByName("b")
	off := strings.TrimSpace(transport + "\ncompression off")
	sites := []harness.Site{
		{Port: p[0], Upstream: upstream, Case: a, Transport: transport},
		{Port: p[1], Upstream: upstream, Case: b, Transport: transport},
		{Port: p[2], Upstream: upstream, Case: b, Transport: off},
	}
	var cfg strings.Builder
	for _, s := range sites {
		cfg.WriteString(s.Caddyfile())
	}
	c := startCaddy(t, caddyBin, cfg.String(), p...)
	return c, map[string]string{
		"plain":           siteURL(p[0]),
		"intercom":        siteURL(p[1]),
		"intercom-nocomp": siteURL(p[2]),
	}
}

// faultPage is the page the misbehaving upstreams cut, stall and corrupt:
// 100 kB, injection point at about 2.3 kB.
var faultPage = harness.Page(100_000)

// Cut points: inside the head, before the injection point, and well after it.
const (
	cutHead = 1000
	cutBody = 50_000
)

// TestFaultUpstreamReset: the upstream sends part of the page and resets the
// connection, before or after the injection point, with each body framing.
// Caddy must not end the response as if it were complete.
func TestFaultUpstreamReset(t *testing.T) {
	if !bytes.Contains(faultPage[:cutBody], []byte("<script")) || bytes.Contains(faultPage[:cutHead], []byte("<script")) {
		t.Fatal("the cut points do not straddle the injection point")
	}
	routes := map[string]rawHandler{}
	for _, f := range []framing{contentLength, chunked, closeDelimited} {
		for _, cut := range []int{cutHead, cutBody} {
			routes[fmt.Sprintf("/reset/%s/%d", f, cut)] = func(u *rawUpstream, conn *net.TCPConn, _ *http.Request) {
				if writeHeader(conn, f, len(faultPage)) != nil || writeBody(conn, f, faultPage[:cut]) != nil {
					return
				}
				u.wait(conn, 100*time.Millisecond) // let caddy pass on what it can
				reset(conn)
			}
		}
	}
	up := startRawUpstream(t, routes)
	_, sites := faultSites(t, up.addr(), "")
	for _, site := range []string{"plain", "intercom", "intercom-nocomp"} {
		for _, f := range []framing{contentLength, chunked, closeDelimited} {
			for _, cut := range []int{cutHead, cutBody} {
				name := fmt.Sprintf("%s reset/%s/%d", site, f, cut)
				r := fetch(sites[site]+fmt.Sprintf("/reset/%s/%d", f, cut), "user-1", 15*time.Second)
				t.Logf("%-45s %s", name, r)
				checkWholeOrBroken(t, name, r, faultPage, site != "plain")
				checkErrorResponse(t, name, r)
				if r.err == nil && r.status == http.StatusOK {
					t.Errorf("%s: the upstream never sent the whole page, yet the client got a clean 200", name)
				}
			}
		}
	}
}

// TestFaultUpstreamStall: the upstream stops sending before the headers,
// inside the head, or after the injection point. With reverse_proxy's
// response_header_timeout and read_timeout set, every request ends within a
// bounded time with an error status or a broken body, and caddy lets go of
// the upstream connections.
func TestFaultUpstreamStall(t *testing.T) {
	const stall = 20 * time.Second // longer than any timeout below
	routes := map[string]rawHandler{
		"/stall/headers": func(u *rawUpstream, conn *net.TCPConn, _ *http.Request) {
			u.wait(conn, stall)
		},
	}
	for _, cut := range []int{cutHead, cutBody} {
		routes[fmt.Sprintf("/stall/%d", cut)] = func(u *rawUpstream, conn *net.TCPConn, _ *http.Request) {
			if writeHeader(conn, contentLength, len(faultPage)) != nil || writeBody(conn, contentLength, faultPage[:cut]) != nil {
				return
			}
			u.wait(conn, stall)
		}
	}
	up := startRawUpstream(t, routes)
	_, sites := faultSites(t, up.addr(), "response_header_timeout 1s\nread_timeout 1s")
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, site := range []string{"plain", "intercom", "intercom-nocomp"} {
		for _, path := range []string{"/stall/headers", fmt.Sprintf("/stall/%d", cutHead), fmt.Sprintf("/stall/%d", cutBody)} {
			wg.Go(func() {
				name := site + " " + path
				r := fetch(sites[site]+path, "user-1", 15*time.Second)
				mu.Lock()
				defer mu.Unlock()
				t.Logf("%-30s %s", name, r)
				checkWholeOrBroken(t, name, r, faultPage, site != "plain")
				checkErrorResponse(t, name, r)
				if r.elapsed > 10*time.Second {
					t.Errorf("%s: took %s despite 1 s timeouts", name, r.elapsed)
				}
				if path == "/stall/headers" && r.status != http.StatusGatewayTimeout && r.status != http.StatusBadGateway {
					t.Errorf("%s: want 504 (or 502) when no headers come, got %s", name, r)
				}
			})
		}
	}
	wg.Wait()
	waitUpstreamIdle(t, up)
}

// waitUpstreamIdle fails the test unless caddy closes every connection to
// the raw upstream within a few seconds.
func waitUpstreamIdle(t *testing.T, up *rawUpstream) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for up.active.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := up.active.Load(); n > 0 {
		t.Errorf("%d upstream connections still open; handlers running: %v", n, up.running())
	}
}

// TestFaultClientDisconnect: clients go away while caddy holds the head
// (the upstream is slow to reach the injection point) and while a big page
// streams, with Go's transport decoding gzip and with gzip passed through
// (compression off). Afterwards caddy's goroutines are back to their
// baseline and every upstream connection is closed.
func TestFaultClientDisconnect(t *testing.T) {
	big := harness.Page(8_000_000)
	bigGz, _ := gzipWithCut(big, 1000)
	headGz, headAt := gzipWithCut(faultPage, cutHead)
	routes := map[string]rawHandler{
		"/slow-head": func(u *rawUpstream, conn *net.TCPConn, _ *http.Request) {
			if writeHeader(conn, contentLength, len(faultPage)) != nil || writeBody(conn, contentLength, faultPage[:cutHead]) != nil {
				return
			}
			if u.wait(conn, 5*time.Second) {
				writeBody(conn, contentLength, faultPage[cutHead:])
			}
		},
		"/slow-head-gzip": func(u *rawUpstream, conn *net.TCPConn, _ *http.Request) {
			if writeHeader(conn, contentLength, len(headGz), "Content-Encoding: gzip") != nil || writeBody(conn, contentLength, headGz[:headAt]) != nil {
				return
			}
			if u.wait(conn, 5*time.Second) {
				writeBody(conn, contentLength, headGz[headAt:])
			}
		},
		"/big": func(u *rawUpstream, conn *net.TCPConn, _ *http.Request) {
			if writeHeader(conn, contentLength, len(big)) != nil {
				return
			}
			for p := big; len(p) > 0; p = p[min(len(p), 64<<10):] {
				if writeBody(conn, contentLength, p[:min(len(p), 64<<10)]) != nil {
					return
				}
			}
		},
		"/big-gzip": func(u *rawUpstream, conn *net.TCPConn, _ *http.Request) {
			if writeHeader(conn, contentLength, len(bigGz), "Content-Encoding: gzip") == nil {
				writeBody(conn, contentLength, bigGz)
			}
		},
	}
	up := startRawUpstream(t, routes)
	c, sites := faultSites(t, up.addr(), "")
	baseline, err := c.Goroutines()
	if err != nil {
		t.Fatal(err)
	}

	const clients = 16
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for _, site := range []string{"plain", "intercom", "intercom-nocomp"} {
		for _, path := range []string{"/slow-head", "/slow-head-gzip"} {
			for i := range clients {
				wg.Go(func() { // give up while caddy still holds the head
					r := fetch(sites[site]+path, fmt.Sprintf("user-%d", i), 300*time.Millisecond)
					if r.err == nil {
						errs <- fmt.Sprintf("%s %s: the client should have timed out, got %s", site, path, r)
					}
				})
			}
		}
		for _, path := range []string{"/big", "/big-gzip"} {
			for i := range clients {
				wg.Go(func() { // read 200 kB of a streaming page, then hang up
					if err := readSomeAndHangUp(sites[site]+path, fmt.Sprintf("user-%d", i), 200<<10); err != nil {
						errs <- fmt.Sprintf("%s %s: %v", site, path, err)
					}
				})
			}
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	waitUpstreamIdle(t, up)
	after := waitGoroutines(t, c, baseline, goroutineSlack)
	t.Logf("%d clients hung up; caddy goroutines: baseline %d, after %d", 3*4*clients, baseline, after)
}

// readSomeAndHangUp reads n bytes of the page and closes the connection.
func readSomeAndHangUp(url, user string, n int64) error {
	tr := &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true, DisableCompression: true}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set(harness.UserHeader, user)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		// Passed through encoded (compression off): n bytes of the page
		// are what the client's decoder makes of the stream.
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return err
		}
		body = zr
	}
	got, err := io.CopyN(io.Discard, body, n)
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", got, err)
	}
	return nil // the deferred Close hangs up mid-body
}

// TestFaultCorruptGzip: the upstream says Content-Encoding: gzip and sends
// garbage, a stream corrupted before or after the injection point, a
// truncated stream that ends cleanly, or a bad checksum. With Go's transport
// decoding (the default: intercom drops Accept-Encoding, so the transport
// asks for gzip itself and decodes it) a client never gets a 200 that ends
// cleanly with part of the page; with `compression off` the encoded body
// passes through untouched, as with plain reverse_proxy, and the client's
// own decoder finds the damage.
func TestFaultCorruptGzip(t *testing.T) {
	garbage := bytes.Repeat([]byte("this is not gzip "), 200)
	bodies := map[string][]byte{"/gz/garbage": garbage}
	for _, cut := range []int{cutHead, cutBody} {
		gz, at := gzipWithCut(faultPage, cut)
		corrupt := append(bytes.Clone(gz[:at]), bytes.Repeat([]byte{0xff}, 4000)...)
		bodies[fmt.Sprintf("/gz/corrupt/%d", cut)] = corrupt
		bodies[fmt.Sprintf("/gz/truncated/%d", cut)] = gz[:at]
	}
	gz, _ := gzipWithCut(faultPage, cutHead)
	badCRC := bytes.Clone(gz)
	badCRC[len(badCRC)-8] ^= 0xff
	bodies["/gz/bad-crc"] = badCRC
	bodies["/gz/ok"] = gz // the control: a good gzip body comes out whole

	routes := map[string]rawHandler{}
	for path, body := range bodies {
		routes[path] = func(_ *rawUpstream, conn *net.TCPConn, _ *http.Request) {
			if writeHeader(conn, contentLength, len(body), "Content-Encoding: gzip", `ETag: "gz1"`,
				"Last-Modified: Mon, 02 Jan 2006 15:04:05 GMT", "Cache-Control: public, max-age=3600") == nil {
				writeBody(conn, contentLength, body)
			}
		}
	}
	up := startRawUpstream(t, routes)
	_, sites := faultSites(t, up.addr(), "")
	for _, site := range []string{"plain", "intercom", "intercom-nocomp"} {
		for path := range bodies {
			name := site + " " + path
			r := fetch(sites[site]+path, "user-1", 15*time.Second)
			t.Logf("%-35s %s", name, r)
			if site == "plain" && path != "/gz/ok" && r.status == http.StatusOK && r.err == nil {
				// Plain reverse_proxy with compression off would pass
				// the gzip through; with the default it decodes and must
				// fail like the others.
				t.Logf("   (plain reverse_proxy)")
			}
			checkWholeOrBroken(t, name, r, faultPage, site != "plain")
			checkErrorResponse(t, name, r)
			if path == "/gz/ok" {
				// Only Go's transport decodes for intercom; an encoded body
				// is never rewritten.
				injected := site == "intercom"
				if _, ok := harness.SplitInjection(r.body, faultPage); r.err != nil || r.status != http.StatusOK || injected != ok {
					t.Errorf("%s: a good gzip page should come out whole (injected: %v): %s", name, injected, r)
				}
			} else if r.status == http.StatusOK && r.err == nil && path != "/gz/bad-crc" {
				t.Errorf("%s: a corrupt gzip body gave a clean 200", name)
			}
		}
	}
}

// TestFaultHeadBeyondScanWindow: a page whose head runs past the 256 KiB scan
// window before any injection point passes through byte for byte, with its
// validators, whatever the framing; a control page whose injection point is
// just inside the window is injected.
func TestFaultHeadBeyondScanWindow(t *testing.T) {
	pages := map[string][]byte{
		"/style/300k":   bigHeadPage("<style>", ".a{color:red}\n", 300<<10, "</style>"),
		"/comment/300k": bigHeadPage("<!--", "padding padding\n", 300<<10, "-->"),
		"/style/200k":   bigHeadPage("<style>", ".a{color:red}\n", 200<<10, "</style>"),
	}
	upstream := startUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("ETag", `"v1"`)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		}
		for p := page; len(p) > 0; p = p[min(len(p), 8<<10):] { // 8 KiB writes, like a real app
			w.Write(p[:min(len(p), 8<<10)])
		}
	}))
	c, sites := faultSites(t, upstream, "")
	for _, path := range []string{"/style/300k", "/comment/300k", "/style/200k"} {
		for _, query := range []string{"", "?chunked=1"} {
			name := path + query
			before, err := c.Metrics()
			if err != nil {
				t.Fatal(err)
			}
			resp, body := get(t, sites["intercom"]+path+query, "user-1")
			after, err := c.Metrics()
			if err != nil {
				t.Fatal(err)
			}
			outcome := func(o string) float64 {
				k := `caddy_intercom_responses_total{app_id="` + harness.AppID + `",outcome="` + o + `"}`
				return after[k] - before[k]
			}
			page := pages[path]
			if path == "/style/200k" {
				if _, ok := harness.SplitInjection(body, page); !ok || outcome("injected") != 1 {
					t.Errorf("%s: the control page (injection point inside the window) was not injected", name)
				}
				continue
			}
			if !bytes.Equal(body, page) {
				t.Errorf("%s: the page changed (%d bytes in, %d out)", name, len(page), len(body))
			}
			if etag := resp.Header.Get("ETag"); etag != `"v1"` {
				t.Errorf("%s: ETag %q, want the upstream's", name, etag)
			}
			if cl := resp.Header.Get("Content-Length"); query == "" && cl != strconv.Itoa(len(page)) {
				t.Errorf("%s: Content-Length %q, want %d", name, cl, len(page))
			}
			if outcome("no_injection_point") != 1 {
				t.Errorf("%s: not counted as no_injection_point", name)
			}
		}
	}
}

// bigHeadPage is a document whose head holds open, filler up to n bytes and
// close before the first script.
func bigHeadPage(open, filler string, n int, close string) []byte {
	var b bytes.Buffer
	b.WriteString("<!doctype html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n" + open + "\n")
	for b.Len() < n {
		b.WriteString(filler)
	}
	b.WriteString(close + "\n<script src=\"/app.js\"></script>\n</head>\n<body>\n<p>hello</p>\n</body>\n</html>\n")
	return b.Bytes()
}

// get fetches url as user and fails the test on any error.
func get(t *testing.T, url, user string) (*http.Response, []byte) {
	t.Helper()
	r := fetch(url, user, 30*time.Second)
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("GET %s: %s", url, r)
	}
	return &http.Response{StatusCode: r.status, Header: r.header}, r.body
}
