package injector

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/caddy-intercom/caddy-intercom/internal/testpages"
)

// benchHead is a ~2 KB head with no script in it, so the scan runs all the
// way to </head>.
var benchHead = func() string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Orders — Acme</title>\n")
	for i := 0; b.Len() < 1500; i++ {
		fmt.Fprintf(&b, "<link rel=\"stylesheet\" href=\"/static/css/part-%d.css?v=1234567\">\n", i)
	}
	b.WriteString("<!-- build 2026-11-21 -->\n<style>\nbody{margin:0;font-family:system-ui,sans-serif}\n")
	for b.Len() < 2000 {
		b.WriteString(".c{color:#333}\n")
	}
	b.WriteString("</style>\n</head>\n<body>\n")
	return b.String()
}()

// benchPage returns a page of about size bytes: benchHead and a body.
func benchPage(size int) []byte {
	row := "<div class=\"row\"><p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p></div>\n"
	page := make([]byte, 0, size+len(row))
	page = append(page, benchHead...)
	for len(page) < size-len("</body></html>\n") {
		page = append(page, row...)
	}
	return append(page, "</body></html>\n"...)
}

// writeChunks writes page to w in chunks of n bytes, as reverse_proxy does
// with its 32 KiB buffer.
func writeChunks(b *testing.B, w io.Writer, page []byte, n int) {
	for rest := page; len(rest) > 0; {
		k := min(n, len(rest))
		if _, err := w.Write(rest[:k]); err != nil {
			b.Fatal(err)
		}
		rest = rest[k:]
	}
}

// rewriterImpl is a Rewriter under benchmark: the head scanner ("scan") or
// the x/net/html tokenizer it replaced ("tokenizer", oracle_test.go), so
// that one run reports both side by side.
type rewriterImpl struct {
	name string
	new  func(dst io.Writer) benchWriter
}

type benchWriter interface {
	io.Writer
	Close() error
	Outcome() Outcome
}

var rewriterImpls = []rewriterImpl{
	{"scan", func(dst io.Writer) benchWriter {
		return NewRewriter(dst, testSnippet, RewriterOptions{Decide: func(Outcome) {}})
	}},
	{"tokenizer", func(dst io.Writer) benchWriter {
		return newTokRewriter(dst, testSnippet, RewriterOptions{Decide: func(Outcome) {}})
	}},
}

// BenchmarkRewriter measures a whole response through the Rewriter in
// 32 KiB writes. Only the ~2 KB head is scanned, so time and allocations
// per op should stay flat as the body grows.
func BenchmarkRewriter(b *testing.B) {
	for _, s := range []struct {
		name string
		size int
	}{{"10KB", 10 << 10}, {"100KB", 100 << 10}, {"1MB", 1 << 20}, {"100MB", 100 << 20}} {
		page := benchPage(s.size) // generated once, reused by every iteration
		for _, impl := range rewriterImpls {
			b.Run(s.name+"/"+impl.name, func(b *testing.B) {
				b.SetBytes(int64(len(page)))
				b.ReportAllocs()
				for b.Loop() {
					r := impl.new(io.Discard)
					writeChunks(b, r, page, 32<<10)
					if err := r.Close(); err != nil || r.Outcome() != Injected {
						b.Fatalf("Close() = %v, outcome %v", err, r.Outcome())
					}
				}
			})
		}
	}
}

// BenchmarkRewriterSmallWrites measures the scan when the head arrives in
// small writes (a chunked upstream that flushes often).
func BenchmarkRewriterSmallWrites(b *testing.B) {
	page := benchPage(10 << 10)
	for _, n := range []int{1, 64, 512} {
		for _, impl := range rewriterImpls {
			b.Run(fmt.Sprintf("%dB/%s", n, impl.name), func(b *testing.B) {
				b.SetBytes(int64(len(page)))
				b.ReportAllocs()
				for b.Loop() {
					r := impl.new(io.Discard)
					writeChunks(b, r, page, n)
					if err := r.Close(); err != nil || r.Outcome() != Injected {
						b.Fatalf("Close() = %v, outcome %v", err, r.Outcome())
					}
				}
			})
		}
	}
}

// pageHead is the head of the bench harness's generated pages, for a
// 100 KB page: meta tags, links, a big <style>, then the <script> where the
// scan decides.
var pageHead = strings.Replace(testpages.Head, "{{SIZE}}", "102400", 1)

// BenchmarkHeadScan measures the head scanner alone: over benchHead (no
// script, the scan runs to </head>) and over the bench harness's page head.
// The goal is 0 allocations per page.
func BenchmarkHeadScan(b *testing.B) {
	for _, c := range []struct{ name, head string }{{"bench", benchHead}, {"page", pageHead}} {
		b.Run(c.name, func(b *testing.B) {
			head := []byte(c.head)
			b.SetBytes(int64(len(head)))
			b.ReportAllocs()
			var s headScanner
			for b.Loop() {
				s = headScanner{}
				s.feed(head, false)
				if s.outcome != Injected {
					b.Fatalf("outcome %v", s.outcome)
				}
				s.release()
			}
		})
	}
}
