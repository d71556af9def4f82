package bench

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/caddy-intercom/caddy-intercom/bench/harness"
	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/internal/testkeys"
)

// BenchmarkSalesforceToken compares signing a Salesforce token on every page
// (the default, what Intercom's docs ask) with `reuse 5m` for 1 000 rotating
// users: after the first page of each user, a page costs a cache lookup
// instead of an RSA-2048 signature.
func BenchmarkSalesforceToken(b *testing.B) {
	keyPEM := testkeys.PKCS8PEM(testkeys.RSA())
	signer, err := injector.NewSalesforceSigner(injector.SalesforceConfig{
		PrivateKeyPEM: keyPEM, KeyID: harness.KeyID, Issuer: harness.Issuer, Audience: harness.Audience,
	})
	if err != nil {
		b.Fatal(err)
	}
	subjects := make([]string, 1000)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("user-%d", i)
	}
	token := func(cache *injector.TokenCache, subject string) {
		if cache != nil {
			if _, ok := cache.Get(subject, signer.KeyID()); ok {
				return
			}
		}
		tok, err := signer.Sign(subject)
		if err != nil {
			b.Fatal(err)
		}
		if cache != nil {
			cache.Put(subject, signer.KeyID(), tok)
		}
	}
	b.Run("sign_every_page", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			token(nil, subjects[i%len(subjects)])
			i++
		}
	})
	b.Run("reuse_5m_1000_users", func(b *testing.B) {
		cache := injector.NewTokenCache(5*time.Minute, 0, nil)
		for _, s := range subjects { // steady state: every user seen once
			token(cache, s)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			token(cache, subjects[i%len(subjects)])
			i++
		}
	})
	b.Run("reuse_5m_1000_users_parallel", func(b *testing.B) {
		cache := injector.NewTokenCache(5*time.Minute, 0, nil)
		for _, s := range subjects {
			token(cache, s)
		}
		b.ReportAllocs()
		b.ResetTimer() // RunParallel, unlike b.Loop, does not leave the setup out
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				token(cache, subjects[i%len(subjects)])
				i++
			}
		})
	})
}

// BenchmarkPageInjection is the intercom handler's own work for one page,
// without Caddy: the session marker, signing the HS256 JWT, building the
// script and its tag, planning CSP (the page has none) and streaming the
// page through the Rewriter the way reverse_proxy hands it over (a first
// write of what came with the headers, then 32 KiB writes). "copy" is the
// same page written without the Rewriter, for reference.
func BenchmarkPageInjection(b *testing.B) {
	signer, err := injector.NewIntercomSigner(injector.IntercomConfig{Secret: []byte(harness.Secret)})
	if err != nil {
		b.Fatal(err)
	}
	marker := injector.NewSessionMarker([]byte(harness.Secret))
	for _, size := range []int{10_000, 100_000, 1_000_000} {
		page := harness.Page(size)
		writes := splitWrites(page)
		b.Run(fmt.Sprintf("copy/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for _, p := range writes {
					io.Discard.Write(p)
				}
			}
		})
		b.Run(fmt.Sprintf("inject/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			body := make([]byte, 0, 12<<10)
			tag := make([]byte, 0, 12<<10)
			i := 0
			for b.Loop() {
				user := fmt.Sprintf("user-%d", i%1000)
				i++
				hy := marker.Decide(user, "")
				tok, err := signer.Sign(injector.Identity{UserID: user})
				if err != nil {
					b.Fatal(err)
				}
				body = injector.AppendScriptBody(body[:0], injector.Settings{
					AppID: harness.AppID, APIBase: "https://api-iam.intercom.io", UserID: user, IntercomUserJWT: tok.Value,
				}, injector.SnippetOptions{Shutdown: hy.Shutdown})
				plan := injector.PlanCSP(nil, nil, body)
				tag = injector.AppendScriptTag(tag[:0], body, plan.Nonce)
				rw := injector.NewRewriter(io.Discard, tag, injector.RewriterOptions{})
				for _, p := range writes {
					rw.Write(p)
				}
				if err := rw.Close(); err != nil || rw.Outcome() != injector.Injected {
					b.Fatalf("outcome %v, err %v", rw.Outcome(), err)
				}
			}
		})
	}
}

// splitWrites cuts page the way reverse_proxy writes it: what arrived with
// the response headers (a 4 KiB read buffer minus ~200 bytes of headers),
// then 32 KiB copies.
func splitWrites(page []byte) [][]byte {
	first := min(len(page), 4096-200)
	out := [][]byte{page[:first]}
	for p := page[first:]; len(p) > 0; p = p[min(len(p), 32<<10):] {
		out = append(out, p[:min(len(p), 32<<10)])
	}
	return out
}
