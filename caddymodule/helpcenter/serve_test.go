package helpcenter

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
)

// recordingProxy stands in for the reverse_proxy handler.
type recordingProxy struct {
	req *http.Request
	err error
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	p.req = r
	return p.err
}

func newForTest(t *testing.T, forwardAll bool, proxyErr error) (*HelpCenter, *recordingProxy) {
	t.Helper()
	checker, _, _ := newTestHostChecker(t, "app.example.com")
	p := &recordingProxy{err: proxyErr}
	return &HelpCenter{
		originName: "https://custom.intercom.help",
		forwardAll: forwardAll,
		hosts:      checker,
		proxy:      p,
	}, p
}

func TestHelpCenterServeHTTPCookies(t *testing.T) {
	tests := []struct {
		name       string
		forwardAll bool
		cookies    []string // nil: no Cookie header
		want       []string // Cookie header the proxy sees; nil: none
		sameReq    bool     // the request is passed on untouched
	}{
		{"intercom only", false, []string{"app_session=secret; intercom-session-abc=s1", "intercom-id-abc=i1"},
			[]string{"intercom-session-abc=s1; intercom-id-abc=i1"}, false},
		{"nothing left removes the header", false, []string{"app_session=secret"}, nil, false},
		{"only intercom cookies: untouched", false, []string{"intercom-session-abc=s1"}, []string{"intercom-session-abc=s1"}, true},
		{"no cookies: untouched", false, nil, nil, true},
		{"all forwards everything", true, []string{"app_session=secret; intercom-session-abc=s1", "b=2"},
			[]string{"app_session=secret; intercom-session-abc=s1", "b=2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc, p := newForTest(t, tt.forwardAll, nil)
			r := httptest.NewRequest(http.MethodPost, "http://help.example.com/hc/en/search?q=a+b", strings.NewReader("body"))
			r.Header.Set("X-Other", "kept")
			if tt.cookies != nil {
				r.Header["Cookie"] = append([]string(nil), tt.cookies...)
			}
			orig := r.Header.Clone()

			if err := hc.ServeHTTP(httptest.NewRecorder(), r, nil); err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			if got := p.req.Header["Cookie"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("proxy saw Cookie %q, want %q", got, tt.want)
			}
			if (p.req == r) != tt.sameReq {
				t.Errorf("proxy got the original request: %v, want %v", p.req == r, tt.sameReq)
			}
			if !reflect.DeepEqual(r.Header, orig) {
				t.Errorf("original request header changed: %v, was %v", r.Header, orig)
			}
			if p.req.Header.Get("X-Other") != "kept" || p.req.Method != http.MethodPost ||
				p.req.URL.RequestURI() != "/hc/en/search?q=a+b" || p.req.Host != "help.example.com" || p.req.Body != r.Body {
				t.Errorf("proxy request differs beyond Cookie: %s %s host %s header %v", p.req.Method, p.req.URL, p.req.Host, p.req.Header)
			}
		})
	}
}

func TestHelpCenterServeHTTPErrors(t *testing.T) {
	dialErr := errors.New("dial tcp 192.0.2.7:443: connect: connection refused")
	tests := []struct {
		name        string
		err         error
		wantStatus  int
		wantMessage string
	}{
		{"bad gateway names the origin", caddyhttp.Error(http.StatusBadGateway, dialErr), http.StatusBadGateway,
			"intercom_help_center: origin https://custom.intercom.help: " + dialErr.Error()},
		{"gateway timeout names the origin", caddyhttp.Error(http.StatusGatewayTimeout, dialErr), http.StatusGatewayTimeout,
			"intercom_help_center: origin https://custom.intercom.help: "},
		{"client cancel untouched", caddyhttp.Error(499, context.Canceled), 499, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc, _ := newForTest(t, false, tt.err)
			r := httptest.NewRequest(http.MethodGet, "http://help.example.com/", nil)
			err := hc.ServeHTTP(httptest.NewRecorder(), r, nil)
			var he caddyhttp.HandlerError
			if !errors.As(err, &he) {
				t.Fatalf("error %v is not a caddyhttp.HandlerError", err)
			}
			if he.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", he.StatusCode, tt.wantStatus)
			}
			orig := tt.err.(caddyhttp.HandlerError)
			if he.ID != orig.ID || he.Trace != orig.Trace {
				t.Errorf("error ID/trace changed: %q/%q, want %q/%q", he.ID, he.Trace, orig.ID, orig.Trace)
			}
			if !strings.Contains(he.Err.Error(), tt.wantMessage) {
				t.Errorf("error = %q, want it to contain %q", he.Err, tt.wantMessage)
			}
			if tt.wantStatus == 499 && strings.Contains(he.Err.Error(), "origin") {
				t.Errorf("a client cancellation was blamed on the origin: %q", he.Err)
			}
		})
	}
}

func TestHelpCenterServeHTTPChecksHost(t *testing.T) {
	hc, _ := newForTest(t, false, nil)
	checker, observed, counter := newTestHostChecker(t, "app.example.com")
	hc.hosts = checker
	for _, host := range []string{"help.example.org", "help.example.org", "help.example.com"} {
		r := httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil)
		if err := hc.ServeHTTP(httptest.NewRecorder(), r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if observed.Len() != 1 || counterValue(t, counter) != 1 {
		t.Errorf("got %d warnings, counter %v; want 1 and 1", observed.Len(), counterValue(t, counter))
	}
}

func TestRegisterMetrics(t *testing.T) {
	if err := registerMetrics(nil); err != nil {
		t.Errorf("nil registry: %v", err)
	}
	reg := prometheus.NewPedanticRegistry()
	for i := range 2 { // a second handler in the same config load
		if err := registerMetrics(reg); err != nil {
			t.Fatalf("registration %d: %v", i, err)
		}
	}
	if err := registerMetrics(prometheus.NewPedanticRegistry()); err != nil {
		t.Errorf("new registry after a reload: %v", err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
		if f.GetName() == "caddy_intercom_help_center_domain_mismatch_total" && len(f.GetMetric()[0].GetLabel()) != 0 {
			t.Errorf("metric has labels %v", f.GetMetric()[0].GetLabel())
		}
	}
	if !reflect.DeepEqual(names, []string{"caddy_intercom_help_center_domain_mismatch_total"}) {
		t.Errorf("gathered %v", names)
	}

	// A different collector under the same name is a real conflict.
	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "caddy_intercom_help_center_domain_mismatch_total", Help: "x"}))
	if err := registerMetrics(clash); err == nil {
		t.Error("a conflicting collector was silently accepted")
	}
}

// TestNewProxy pins the reverse_proxy configuration built for each
// kind of origin: TLS named after the origin, the Host restored, no buffering.
func TestNewProxy(t *testing.T) {
	tests := []struct {
		origin    string
		ca        []string
		dial      string
		transport string
	}{
		{"https://custom.eu.intercom.help", nil, "custom.eu.intercom.help:443",
			`{"protocol":"http","tls":{"server_name":"custom.eu.intercom.help"}}`},
		{"https://localhost:8443", []string{"Q0E="}, "localhost:8443",
			`{"protocol":"http","tls":{"ca":{"provider":"inline","trusted_ca_certs":["Q0E="]},"server_name":"localhost"}}`},
		{"http://egress.internal", nil, "egress.internal:80", `{"protocol":"http"}`},
		{"http://[2001:db8::1]:8080", nil, "[2001:db8::1]:8080", `{"protocol":"http"}`},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			u, err := parseOrigin(tt.origin)
			if err != nil {
				t.Fatal(err)
			}
			rp := newProxy(u, tt.ca, []string{"remote-user", "Authorization", "X-Auth-Email"})
			if len(rp.Upstreams) != 1 || rp.Upstreams[0].Dial != tt.dial {
				t.Errorf("upstreams %+v, want one dialing %s", rp.Upstreams, tt.dial)
			}
			if got := string(rp.TransportRaw); got != tt.transport {
				t.Errorf("transport %s\nwant %s", got, tt.transport)
			}
			if got := rp.Headers.Request.Set["Host"]; !reflect.DeepEqual(got, []string{"{http.request.host}"}) {
				t.Errorf("Host set to %q, want the request's host", got)
			}
			if got, want := rp.Headers.Request.Delete, []string{"Authorization", "Proxy-Authorization", "Remote-User", "X-Auth-Email"}; !reflect.DeepEqual(got, want) {
				t.Errorf("deleted request headers %q, want %q", got, want)
			}
			if rp.RequestBuffers != 0 || rp.ResponseBuffers != 0 {
				t.Errorf("buffering enabled: request %d, response %d", rp.RequestBuffers, rp.ResponseBuffers)
			}
		})
	}
}
