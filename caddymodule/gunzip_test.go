package caddymodule

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-intercom/caddy-intercom/injector"
)

// turnRecorder is a ResponseWriter that fails the test when it is used
// outside a call the handler's goroutine is making (inCall), the way
// reverse_proxy's own use of the response after the body would collide with
// a decoder goroutine writing to it.
type turnRecorder struct {
	*httptest.ResponseRecorder
	inCall  atomic.Bool
	misused atomic.Int32
}

func (r *turnRecorder) check() {
	if !r.inCall.Load() {
		r.misused.Add(1)
	}
}
func (r *turnRecorder) Header() http.Header         { r.check(); return r.ResponseRecorder.Header() }
func (r *turnRecorder) WriteHeader(code int)        { r.check(); r.ResponseRecorder.WriteHeader(code) }
func (r *turnRecorder) Write(p []byte) (int, error) { r.check(); return r.ResponseRecorder.Write(p) }

func (r *turnRecorder) call(f func()) {
	r.inCall.Store(true)
	defer r.inCall.Store(false)
	f()
}

// newTestInjectingWriter builds the handler state an injecting writer needs,
// without Caddy.
func newTestInjectingWriter(t *testing.T, w http.ResponseWriter) *injectingWriter {
	t.Helper()
	signer, err := injector.NewIntercomSigner(injector.IntercomConfig{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := registerMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &Intercom{AppID: testAppID, apiBase: apiBases["us"], intercom: signer, logger: zap.NewNop(), metrics: m}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	return newInjectingWriter(w, r, h, injector.Identity{UserID: "alice"}, "")
}

// TestGunzipWritesOnlyInsideCalls feeds a gzip page in small writes, with
// pauses between them in which a decoder goroutine could act on its own, and
// checks that the response is only ever touched within the handler's calls
// (Write, finish), and that the page comes out whole and injected. Under the
// race detector it also catches a decoder that touches the response
// concurrently with the handler reading its headers, which reverse_proxy
// does after the body: that was a data race on the header map (found by
// bench/'s fault tests with caddy built with -race).
func TestGunzipWritesOnlyInsideCalls(t *testing.T) {
	// Text that does not compress to nothing, so the gzip body takes many
	// writes.
	var text strings.Builder
	for i := range 6000 {
		fmt.Fprintf(&text, "<p>%x</p>\n", uint32(i)*2654435761)
	}
	page := "<!doctype html><html><head><title>t</title></head><body>" + text.String() + "</body></html>"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(page))
	zw.Close()

	rec := &turnRecorder{ResponseRecorder: httptest.NewRecorder()}
	iw := newTestInjectingWriter(t, rec)
	defer iw.release()
	rec.call(func() {
		h := iw.Header()
		h.Set("Content-Type", "text/html")
		h.Set("Content-Encoding", "gzip")
		iw.WriteHeader(http.StatusOK)
	})
	writes := 0
	for b := gz.Bytes(); len(b) > 0; b = b[min(len(b), 512):] {
		rec.call(func() {
			iw.Write(b[:min(len(b), 512)])
			// What reverse_proxy does after the body (for trailers):
			// under -race, a decoder goroutine that set headers on its
			// own would be reported here.
			iw.Header().Get("Trailer")
		})
		writes++
		time.Sleep(200 * time.Microsecond) // a chance for a goroutine to misbehave
	}
	if writes < 50 {
		t.Fatalf("only %d writes: the test needs a gzip body that takes many", writes)
	}
	var err error
	rec.call(func() { err = iw.finish(nil) })
	if err != nil {
		t.Fatal(err)
	}
	if n := rec.misused.Load(); n != 0 {
		t.Errorf("the response was used %d times outside the handler's calls", n)
	}
	body := rec.Body.String()
	if !strings.Contains(body, `"intercom_user_jwt":"`) || !strings.HasSuffix(body, "</body></html>") {
		t.Errorf("page not injected or not whole (%d bytes)", len(body))
	}
	if got := strings.Replace(body, body[strings.Index(body, "<script"):strings.Index(body, "</script>")+len("</script>")], "", 1); got != page {
		t.Errorf("the decoded page differs from the original")
	}
	if ce := rec.Header().Get("Content-Encoding"); ce != "" {
		t.Errorf("Content-Encoding %q on the decoded page", ce)
	}
}

// TestGunzipAbort checks that abandoning a response mid-body (reverse_proxy
// aborting) stops the decoder, before and after it started.
func TestGunzipAbort(t *testing.T) {
	g := newGunzipPipe()
	g.abort() // never started: must not wait for a goroutine

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bytes.Repeat([]byte("<p>x</p>"), 10000))
	zw.Close()
	var out bytes.Buffer
	g = newGunzipPipe()
	g.start(&out)
	g.Write(gz.Bytes()[:gz.Len()/2])
	done := make(chan struct{})
	go func() { g.abort(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("abort did not stop the decoder")
	}
}
