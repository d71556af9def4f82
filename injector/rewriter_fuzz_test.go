package injector

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzRewriter checks the Rewriter's contract on arbitrary bytes: the output
// is the input, or the input with the snippet inserted once before a tag or
// text token (and then the outcome is Injected); the result does not depend
// on how the body is split into Writes; it never panics. chunk picks the
// split: 0 is one byte per Write, otherwise random sizes up to chunk; the
// charset lookahead (RewriterOptions.FindCharset) must not change it. Each
// input also runs with a small scan window, derived from chunk, so the
// window limit is exercised.
//
// The seed corpus in testdata/fuzz/FuzzRewriter holds the golden inputs.
func FuzzRewriter(f *testing.F) {
	f.Add([]byte(realisticPage), uint8(0))
	f.Add([]byte("<!DOCTYPE html><html><head><title>x</title></head><body>"), uint8(3))
	f.Fuzz(func(t *testing.T, page []byte, chunk uint8) {
		chunks := []int{1}
		if chunk > 0 {
			rng := rand.New(rand.NewPCG(uint64(chunk), uint64(len(page))))
			chunks = make([]int, 16)
			for i := range chunks {
				chunks[i] = 1 + rng.IntN(int(chunk))
			}
		}
		// The oracle re-scans every prefix: keep it to inputs where that
		// stays cheap.
		oracle := len(page) <= 2048
		for _, window := range []int{0, 8 + int(chunk)} {
			whole, o := runRewriter(t, page, window, nil, false)
			checkSplice(t, page, whole, o)
			split, o2 := runRewriter(t, page, window, chunks, oracle)
			if o2 != o || !bytes.Equal(split, whole) {
				t.Fatalf("window %d: whole write gives %v %q; chunks %v give %v %q",
					window, o, whole, chunks, o2, split)
			}
			// Looking ahead for a <meta> charset may delay the decision,
			// never change it.
			cs, o3 := runRewriterCharset(t, page, window, chunks, oracle, true)
			if o3 != o || !bytes.Equal(cs, whole) {
				t.Fatalf("window %d, FindCharset: chunks %v give %v %q, want %v %q",
					window, chunks, o3, cs, o, whole)
			}
		}
	})
}
