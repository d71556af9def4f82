// Package e2e holds the browser end-to-end tests: a real headless Chromium
// (driven with chromedp) loads pages through the real caddy binary built
// from ./cmd/caddy, in front of upstreams served by the test process. What
// the Messenger does in the user's browser (boot with the signed identity,
// under a strict CSP, across a user switch) can only be seen there.
//
// The Messenger widget and Salesforce's bootstrap cannot be fetched, so the
// tests answer those requests themselves with small stubs (testdata/) that
// record what the page hands them. Chromium's host resolver maps the test
// host names to loopback and everything else to nowhere, so cookie domains
// behave as in production and nothing leaves the machine.
//
// Everything is behind the build tag e2e (this file only carries the
// package documentation). Run with:
//
//	go test -tags e2e -count=1 ./e2e/
//
// E2E_CHROMIUM overrides the browser (default /usr/bin/chromium);
// E2E_UPDATE_SCREENSHOT=1 rewrites docs/demo.png.
// A missing browser or a binary that does not build fails the run.
package e2e
