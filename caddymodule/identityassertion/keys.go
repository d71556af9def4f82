package identityassertion

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// timing holds every interval of the key machinery, so that tests can
// shorten them instead of sleeping.
type timing struct {
	startWait    time.Duration // Provision waits this long for the first fetch
	fetchTimeout time.Duration // one key fetch
	minInterval  time.Duration // least time between two JWKS fetches
	retryMin     time.Duration // first retry while no key was ever fetched
	retryMax     time.Duration // retries while no key was ever fetched stay under this
	retryHave    time.Duration // retry after a failed refresh while old keys are still good
	refreshMin   time.Duration // bounds on the endpoint's Cache-Control max-age
	refreshMax   time.Duration
	refreshDef   time.Duration // refresh period when the endpoint gives no max-age
	albEvery     time.Duration // aws_alb: one per-kid fetch per albEvery…
	albBurst     int           // …with this burst
}

// defaultTiming gives the numbers the README promises: a rotated-in key is
// fetched at most minInterval after the first request that carries it; a key
// server that was down at start is retried at least every retryMax; a flood
// of made-up kids costs at most one JWKS fetch per minInterval (aws_alb: one
// per albEvery after a burst of albBurst).
var defaultTiming = timing{
	startWait:    2 * time.Second,
	fetchTimeout: 5 * time.Second,
	minInterval:  5 * time.Second,
	retryMin:     1 * time.Second,
	retryMax:     8 * time.Second,
	retryHave:    30 * time.Second,
	refreshMin:   5 * time.Minute,
	refreshMax:   24 * time.Hour,
	refreshDef:   time.Hour,
	albEvery:     2500 * time.Millisecond,
	albBurst:     5,
}

// keySource finds the key for a token. Its errors are errUnknownKey,
// errKeysUnavailable or another error that means the token cannot verify.
type keySource interface {
	key(ctx context.Context, t *jwt.Token) (any, error)
	// start begins background fetching; it ends with ctx.
	start(ctx context.Context)
	// waitReady waits up to d for the first successful fetch.
	waitReady(ctx context.Context, d time.Duration) bool
	// fetchCount is the number of key fetches started (for tests).
	fetchCount() int64
}

var (
	errUnknownKey      = errors.New("kid not among the provider's keys")
	errKeysUnavailable = errors.New("no keys fetched from the provider yet")
)

// maxKeyDocument bounds a key response.
const maxKeyDocument = 1 << 20

// newKeyClient is the HTTP client for key fetches: its own transport (roots
// injectable for tests), no redirect to a URL the config could not name.
func newKeyClient(roots *x509.CertPool, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			return checkKeyURL("redirect", req.URL.String())
		},
	}
}

// get fetches url and returns the body (bounded) and the response's
// Cache-Control max-age (0 when absent).
func get(ctx context.Context, client *http.Client, url string) ([]byte, time.Duration, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, 0, err
	}
	req.Header.Set("Accept", "application/json, application/x-pem-file, */*")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyDocument+1))
	if err != nil {
		return nil, 0, resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, resp.StatusCode, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	if len(body) > maxKeyDocument {
		return nil, 0, resp.StatusCode, fmt.Errorf("GET %s: response larger than %d bytes", url, maxKeyDocument)
	}
	return body, maxAge(resp.Header.Get("Cache-Control")), resp.StatusCode, nil
}

// maxAge returns the max-age of a Cache-Control value, 0 when there is none.
func maxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(d)
		if v, ok := strings.CutPrefix(strings.ToLower(d), "max-age="); ok {
			if n, err := strconv.Atoi(strings.Trim(v, `"`)); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return 0
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
