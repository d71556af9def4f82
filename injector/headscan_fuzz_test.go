package injector

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// runTokRewriter runs in through the old, tokenizer-based Rewriter (the
// oracle in oracle_test.go) in one Write.
func runTokRewriter(in []byte) ([]byte, Outcome) {
	var out bytes.Buffer
	r := newTokRewriter(&out, testSnippet, RewriterOptions{})
	r.Write(in)
	r.Close()
	return out.Bytes(), r.Outcome()
}

// FuzzScannerDifferential compares the head scanner with the tokenizer-based
// scanner it replaced (oracle_test.go), the new one in random chunkings. They
// must agree on the outcome and the output, except where the input holds
// foreign content (<svg>, <math>) inside a <template>, which the old one reads
// wrongly (<title>, <style>, <script> there as raw text, <![CDATA[ as a
// comment), or a character reference, which the old one takes for text even
// when it decodes to whitespace. There the new one must be right by the tree-construction oracle:
// when it injects, html.Parse sees the same tree plus our script before every
// other; when it declines and the old one injected, either the old injection
// fails the tree oracle or the new one said it could not tell (unsure).
// Whenever the new one injects, the tree oracle must hold as well.
func FuzzScannerDifferential(f *testing.F) {
	for _, tc := range rewriterCases {
		if tc.window == 0 {
			f.Add([]byte(tc.in), uint8(len(tc.in)%13))
		}
	}
	for _, s := range soupPieces {
		f.Add([]byte("<!DOCTYPE html><head><template><svg>"+s+"</template><title>t</title>"), uint8(3))
	}
	f.Fuzz(func(t *testing.T, page []byte, chunk uint8) {
		chunks := []int{1}
		if chunk > 0 {
			rng := rand.New(rand.NewPCG(uint64(chunk), uint64(len(page))))
			chunks = make([]int, 8)
			for i := range chunks {
				chunks[i] = 1 + rng.IntN(int(chunk))
			}
		}
		got, o := runRewriter(t, page, 0, chunks, false)
		checkSplice(t, page, got, o)
		if o == Injected {
			if err := checkTree(page, got); err != nil && !errors.Is(err, errParserLost) {
				t.Fatalf("tree oracle: %v\ninput %q", err, page)
			}
		}
		want, wo := runTokRewriter(page)
		if o == wo && bytes.Equal(got, want) {
			return
		}
		if !oldScannerWrong(page) {
			t.Fatalf("new scanner %v %q\nold scanner %v %q\ninput %q", o, got, wo, want, page)
		}
		if o != Injected && wo == Injected && checkTree(page, want) == nil {
			r := NewRewriter(io.Discard, testSnippet, RewriterOptions{})
			r.Write(page)
			r.Close()
			if !r.scan.unsure {
				t.Fatalf("new scanner declines (%v), old one injects correctly: %q\ninput %q", o, want, page)
			}
		}
	})
}
