package harness

import (
	"bytes"
	"fmt"
	"html"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/internal/testpages"
)

// pageHead is the head every generated page starts with (testpages.Head).
const pageHead = testpages.Head

const pageTail = "</main>\n<footer>Example App</footer>\n</body>\n</html>\n"

// fillerParagraph is repeated to bring a page to its size.
const fillerParagraph = `<div class="card"><h2>Invoice INV-20931</h2><p>Your plan renews on the first of next month. ` +
	`Usage this period: 18 402 API calls, 3.1 GB transferred, 12 seats. <span class="badge">paid</span></p>` +
	`<table class="data"><tr><th>Item</th><th>Qty</th><th>Amount</th></tr><tr><td>Seats</td><td>12</td><td>$144.00</td></tr></table></div>
`

// PolicyHeaders are the response headers that the page policy puts on an
// injected page in place of the upstream's validators (injector.Page.Apply
// on a page of a returning user), as name, value pairs in the order the
// upstreams send them. The (a++) control serves them from the upstream, so
// that plain reverse_proxy relays a response shaped like (b)'s.
var PolicyHeaders = func() [][2]string {
	hdr := http.Header{}
	new(injector.Page).Apply(hdr)
	var pairs [][2]string
	for _, name := range slices.Sorted(maps.Keys(hdr)) {
		for _, v := range hdr[name] {
			pairs = append(pairs, [2]string{name, v})
		}
	}
	return pairs
}()

// MinPageSize is the smallest page Page can generate.
var MinPageSize = len(pageHead) + 20 + len(pageTail)

// pageHeadFor returns the head of a page of size bytes.
func pageHeadFor(size int) string {
	return strings.Replace(pageHead, "{{SIZE}}", strconv.Itoa(size), 1)
}

// maxCachedPage bounds the pages kept in memory; bigger ones are generated
// as they are written.
const maxCachedPage = 8 << 20

var pageCache sync.Map // int → []byte

// Page returns a generated HTML page of exactly size bytes: the ~2 KiB head
// above, then cards of filler up to the size. Pages up to 8 MiB are cached.
func Page(size int) []byte {
	if size < MinPageSize {
		size = MinPageSize
	}
	if size <= maxCachedPage {
		if p, ok := pageCache.Load(size); ok {
			return p.([]byte)
		}
	}
	b := make([]byte, 0, size)
	b = append(b, pageHeadFor(size)...)
	b = appendFiller(b, size-len(b)-len(pageTail))
	b = append(b, pageTail...)
	if size <= maxCachedPage {
		pageCache.Store(size, b)
	}
	return b
}

// appendFiller appends n bytes of body content: whole cards while they fit,
// then a comment padded to the exact length.
func appendFiller(b []byte, n int) []byte {
	for n >= len(fillerParagraph)+len("<!--  -->\n") {
		b = append(b, fillerParagraph...)
		n -= len(fillerParagraph)
	}
	if n >= len("<!---->") {
		b = append(b, "<!--"...)
		for range n - len("<!---->") {
			b = append(b, '.')
		}
		b = append(b, "-->"...)
	} else {
		for range n {
			b = append(b, '\n')
		}
	}
	return b
}

// ParseSize parses a page size: bytes, or a number with a k or m suffix
// (powers of 1000: 10k is 10 000 bytes, 1m is 1 000 000).
func ParseSize(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1000, s[:len(s)-1]
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "M"):
		mult, s = 1000*1000, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad page size %q", s)
	}
	return n * mult, nil
}

// UserHeader carries the benchmark's user identity; the intercom handler
// reads it with `user_id {http.request.header.X-User}` and `trust 127.0.0.1`.
const UserHeader = "X-User"

// PageHandler is the upstream of the benchmark and the soak test. It serves
// /page/<size> (see ParseSize) as text/html with a Content-Length, and
// /policy-page/<size> the same with PolicyHeaders. With the query ?echo=1 it
// echoes the X-User request header in a meta tag right after <head>, so a
// client can check that a page, and the token injected into it, were made
// for the user who asked.
func PageHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sizeText, policy, ok := cutPagePrefix(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if policy {
			for _, h := range PolicyHeaders {
				w.Header()[h[0]] = []string{h[1]}
			}
		}
		size, err := ParseSize(sizeText)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		size = max(size, MinPageSize)
		var echo string
		if r.URL.Query().Get("echo") == "1" {
			echo = "\n" + EchoMeta(r.Header.Get(UserHeader))
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(size+len(echo)))
		if size <= maxCachedPage {
			page := Page(size)
			if echo == "" {
				w.Write(page)
				return
			}
			at := strings.Index(pageHead, "<head>") + len("<head>")
			w.Write(page[:at])
			w.Write([]byte(echo))
			w.Write(page[at:])
			return
		}
		WriteBigPage(w, size, echo)
	})
}

// EchoMeta is the tag PageHandler echoes the user in.
func EchoMeta(user string) string {
	return `<meta name="bench-user" content="` + html.EscapeString(user) + `">`
}

var bigFiller = sync.OnceValue(func() []byte { return appendFiller(nil, 64<<10) })

// WriteBigPage writes a page of size bytes (plus echo after <head>) in
// 64 KiB writes without holding it in memory.
func WriteBigPage(w http.ResponseWriter, size int, echo string) error {
	head := pageHeadFor(size)
	at := strings.Index(head, "<head>") + len("<head>")
	if _, err := w.Write([]byte(head[:at] + echo + head[at:])); err != nil {
		return err
	}
	rest := size - len(head) - len(pageTail)
	chunk := bigFiller()
	for rest > len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		rest -= len(chunk)
	}
	if _, err := w.Write(appendFiller(nil, rest)); err != nil {
		return err
	}
	_, err := w.Write([]byte(pageTail))
	return err
}

// SplitInjection checks that got is want with exactly one contiguous
// <script>…</script> inserted, and returns the inserted bytes. An empty
// insertion (got == want) is reported as not injected.
func SplitInjection(got, want []byte) (snippet []byte, ok bool) {
	extra := len(got) - len(want)
	if extra <= 0 {
		return nil, false
	}
	i := 0
	for i < len(want) && got[i] == want[i] {
		i++
	}
	// The insertion starts at i or earlier (when the snippet's first
	// bytes equal the page's bytes there); it starts with "<script", which
	// pins it down.
	for start := i; start >= 0 && start >= i-len("<script"); start-- {
		ins := got[start : start+extra]
		if bytes.Equal(got[:start], want[:start]) && bytes.Equal(got[start+extra:], want[start:]) &&
			bytes.HasPrefix(ins, []byte("<script")) && bytes.HasSuffix(ins, []byte("</script>")) {
			return ins, true
		}
	}
	return nil, false
}

// EchoPage is the page PageHandler serves for /page/<size>?echo=1 to user
// (pages up to 8 MiB).
func EchoPage(size int, user string) []byte {
	page := Page(size)
	at := strings.Index(pageHead, "<head>") + len("<head>")
	echo := "\n" + EchoMeta(user)
	b := make([]byte, 0, len(page)+len(echo))
	b = append(b, page[:at]...)
	b = append(b, echo...)
	return append(b, page[at:]...)
}
