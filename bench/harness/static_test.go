package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStaticServer checks the static upstream against net/http's client and
// a raw connection: the same bytes as PageHandler, Content-Length, keep-alive
// across requests, HEAD without a body, 404 off the page paths and 400 for
// requests it does not handle.
func TestStaticServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewStaticServer(ln)
	t.Cleanup(func() { s.Close() })
	base := "http://" + s.Addr()

	tests := []struct {
		method, path string
		status       int
		body         []byte
	}{
		{"GET", "/page/10k", 200, Page(10000)},
		{"GET", "/page/10000?x=1", 200, Page(10000)},
		{"GET", "/page/100k", 200, Page(100000)},
		{"GET", "/page/1", 200, Page(MinPageSize)},
		{"HEAD", "/page/10k", 200, nil},
		{"GET", "/policy-page/10k", 200, Page(10000)},
		{"HEAD", "/policy-page/10k", 200, nil},
		{"GET", "/policy-page/", 404, nil},
		{"GET", "/other", 404, nil},
		{"GET", "/page/x", 404, nil},
		{"POST", "/page/10k", 400, nil},
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var reqBody io.Reader
			if tt.method == "POST" {
				reqBody = bytes.NewReader([]byte("x"))
			}
			req, _ := http.NewRequest(tt.method, base+tt.path, reqBody)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if !bytes.Equal(body, tt.body) {
				t.Errorf("body of %d bytes, want %d", len(body), len(tt.body))
			}
			if tt.status == 200 {
				want := fmt.Sprint(len(tt.body))
				if tt.method == "HEAD" {
					want = fmt.Sprint(len(Page(10000)))
				}
				if got := resp.Header.Get("Content-Length"); got != want {
					t.Errorf("Content-Length %q, want %s", got, want)
				}
				if resp.Header.Get("Date") == "" {
					t.Errorf("headers %v: want Date", resp.Header)
				}
				checkValidators(t, resp.Header, strings.HasPrefix(tt.path, "/policy-page/"))
			}
		})
	}

	t.Run("PageHandler", func(t *testing.T) {
		for _, policy := range []bool{false, true} {
			path := map[bool]string{false: "/page/10k", true: "/policy-page/10k"}[policy]
			rec := httptest.NewRecorder()
			PageHandler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			if !bytes.Equal(rec.Body.Bytes(), Page(10000)) {
				t.Errorf("%s: %d bytes, want Page(10000)", path, rec.Body.Len())
			}
			if policy {
				checkValidators(t, rec.Header(), true)
			}
		}
	})

	t.Run("keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for i := range 3 {
			fmt.Fprintf(c, "GET /page/10k HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(body, Page(10000)) {
				t.Fatalf("request %d: %d bytes, %v", i, len(body), err)
			}
		}
		fmt.Fprintf(c, "GET /page/10k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		if !resp.Close {
			t.Error("the last response does not say Connection: close")
		}
		if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("after Connection: close, read %d bytes, %v; want EOF", n, err)
		}
	})
}

// checkValidators checks that a page response carries the nginx-like
// validators, or, for a /policy-page/, exactly PolicyHeaders in their place.
func checkValidators(t *testing.T, hdr http.Header, policy bool) {
	t.Helper()
	if !policy {
		if hdr.Get("ETag") == "" || hdr.Get("Last-Modified") == "" {
			t.Errorf("headers %v: want ETag and Last-Modified", hdr)
		}
		return
	}
	if hdr.Get("ETag") != "" || hdr.Get("Last-Modified") != "" || hdr.Get("Accept-Ranges") != "" {
		t.Errorf("policy page headers %v: validators present", hdr)
	}
	if len(PolicyHeaders) < 5 {
		t.Fatalf("PolicyHeaders %v: want at least the four no-store headers and Vary", PolicyHeaders)
	}
	for _, h := range PolicyHeaders {
		if got := hdr.Values(h[0]); len(got) != 1 || got[0] != h[1] {
			t.Errorf("%s: %q, want %q", h[0], got, h[1])
		}
	}
}
