//go:build soak

package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/bench/harness"
	"github.com/caddy-intercom/caddy-intercom/internal/testcaddy"
)

const (
	bigPageSize = 100_000_000
	// bigPageRSSTolerance is how much more peak RSS caddy may use serving
	// the 100 MB page with intercom than with plain reverse_proxy. The
	// goal is a few MiB; the bound is generous so that GC timing does not
	// make the test flaky.
	bigPageRSSTolerance = 24 << 20
)

// TestFaultBigPageMemory serves a 100 MB page through a fresh caddy with
// plain reverse_proxy and through another with intercom, two requests at a
// time, twice, and compares their peak RSS (VmHWM): intercom holds only the
// head, so it must stay within a few MiB of plain reverse_proxy.
func TestFaultBigPageMemory(t *testing.T) {
	bin := nonRaceCaddy(t)
	upstream := startUpstream(t, harness.PageHandler())
	peaks := map[string]testcaddy.Memory{}
	for _, name := range []string{"a", "b"} {
		c, _ := harness.CaseByName(name)
		port := ports(t, 1)[0]
		cd := startCaddy(t, bin, harness.Site{Port: port, Upstream: upstream, Case: c, Transport: caddyUpstreamKeepalive}.Caddyfile(), port)
		start, err := cd.Memory()
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() {
					if err := fetchBigPage(siteURL(port)+"/page/100m", fmt.Sprintf("user-%d", i), c.Intercom); err != nil {
						t.Errorf("(%s): %v", name, err)
					}
				})
			}
			wg.Wait()
		}
		m, err := cd.Memory()
		if err != nil {
			t.Fatal(err)
		}
		peaks[name] = m
		t.Logf("(%s) %-15s RSS at start %6.1f MiB, peak %6.1f MiB", name, c.Label, mib(start.RSS), mib(m.PeakRSS))
		cd.Stop()
	}
	a, b := peaks["a"].PeakRSS, peaks["b"].PeakRSS
	t.Logf("peak RSS with intercom − plain reverse_proxy: %+.1f MiB (bound %d MiB)", mib(b)-mib(a), bigPageRSSTolerance>>20)
	if b > a+bigPageRSSTolerance {
		t.Errorf("intercom's peak RSS %.1f MiB exceeds plain reverse_proxy's %.1f MiB by more than %d MiB", mib(b), mib(a), bigPageRSSTolerance>>20)
	}
}

// fetchBigPage reads the whole page, checking its length and, when intercom
// injects, that the snippet is in its head.
func fetchBigPage(url, user string, injected bool) error {
	tr := &http.Transport{DialContext: dialer.DialContext, DisableCompression: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set(harness.UserHeader, user)
	resp, err := (&http.Client{Transport: tr, Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	head, _ := br.Peek(32 << 10)
	hasToken := bytes.Contains(head, []byte(`"intercom_user_jwt":"`))
	n, err := io.Copy(io.Discard, br)
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", n, err)
	}
	switch {
	case hasToken != injected:
		return fmt.Errorf("token in the head: %v, want %v", hasToken, injected)
	case !injected && n != bigPageSize, injected && (n <= bigPageSize || n > bigPageSize+64<<10):
		return fmt.Errorf("%d bytes for a %d-byte page", n, bigPageSize)
	}
	return nil
}
