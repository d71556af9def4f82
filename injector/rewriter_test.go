package injector

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite the rewriter golden files and the FuzzRewriter seed corpus")

// testSnippet is a fixed marker, easy to spot in golden files.
var testSnippet = []byte("<script>/*SNIPPET*/</script>")

// tinyWindowPage has its </head> end exactly at byte len(tinyWindowPage); the
// window cases use it to pin the boundary.
const tinyWindowPage = "<!DOCTYPE html><html><head><title>Window</title></head>"

type rewriterCase struct {
	name   string
	in     string
	window int // 0 = default
	want   Outcome
}

// rewriterCases are the golden cases: output in testdata/rewriter/<name>.golden.
var rewriterCases = []rewriterCase{
	// </head> where a naive search would find it.
	{name: "head_in_script_string", want: Injected,
		in: "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>Demo</title>\n" +
			"<script>var s = \"</head><body>\";</script>\n</head>\n<body><p>hi</p></body>\n</html>\n"},
	{name: "head_in_template_script", want: Injected,
		in: "<!DOCTYPE html><html><head><template><script>document.write(\"</head>\")</script>" +
			"<div><body>x</body></div></template><link rel=stylesheet href=a.css></head><body>"},
	{name: "head_in_style", want: Injected,
		in: "<!doctype html><html><head><style>a::after{content:\"</head><body>\"}</style></head><body>"},
	{name: "head_in_title", want: Injected,
		in: "<!DOCTYPE html><html><head><title>a </head> <body> b</title></head><body>"},
	{name: "noscript_in_head", want: Injected,
		in: "<!DOCTYPE html><html><head><noscript><p>enable JS</p></head><script></noscript>" +
			"<meta name=x></head><body>"},
	{name: "head_in_attributes", want: Injected,
		in: "<!DOCTYPE html><html><head><meta name=\"description\" content=\"</head><body><script>\">" +
			"<link rel='alternate' title='</head><p>' href=x><meta name=x content=</head ></head><body>"},
	{name: "empty_title_end_tag_attrs", want: Injected,
		in: "<!DOCTYPE html><html><head><title></title data-note=\"an end tag may carry attributes\"></head><body>"},
	{name: "cdata_in_head", want: Injected,
		in: "<!DOCTYPE html><html><head><![CDATA[</head>]]></head>"},

	// Case.
	{name: "uppercase_script", want: Injected,
		in: "<!DOCTYPE HTML>\n<HTML>\n<HEAD>\n<TITLE>Upper</TITLE>\n<Script SRC=\"app.js\"></Script>\n</HEAD>\n<BODY>\n"},
	{name: "uppercase_head_end", want: Injected,
		in: "<HTML><HEAD><META CHARSET=UTF-8></HeAd><BODY>"},
	{name: "script_self_closing", want: Injected,
		in: "<!DOCTYPE html><head><script/><title>x</title>"},

	// Comments.
	{name: "comments", want: Injected,
		in: "<!DOCTYPE html>\n<!-- </head> <body> <script> -->\n<html><head><!-- a -- b --!><title>x</title><!---->" +
			"<!--></head>--></head><body>"},
	{name: "conditional_comments", want: Injected,
		in: "<!DOCTYPE html>\n<html>\n<head>\n" +
			"<!--[if lt IE 9]><script src=\"html5shiv.js\"></script><![endif]-->\n" +
			"<!--[if IE]><link rel=\"stylesheet\" href=\"ie.css\"><![endif]-->\n" +
			"<![if !IE]><link rel=\"stylesheet\" href=\"modern.css\"><![endif]>\n" +
			"<link rel=\"stylesheet\" href=\"main.css\">\n</head>\n<body class=\"home\">\n</body>\n</html>\n"},
	{name: "conditional_html", want: Injected,
		in: "<!DOCTYPE html>\n<!--[if lt IE 9]><html class=\"ie\"><![endif]-->\n<!--[if gte IE 9]><!--><html><!--<![endif]-->\n" +
			"<head><title>t</title></head><body></body></html>"},

	// Missing head and/or body.
	{name: "no_head", want: Injected,
		in: "<!DOCTYPE html>\n<html>\n<body>\n<h1>Hello</h1>\n</body>\n</html>\n"},
	{name: "no_head_no_body", want: Injected,
		in: "<!DOCTYPE html>\n<title>Tiny</title>\n<p>Hello"},
	{name: "no_body", want: Injected,
		in: "<!DOCTYPE html>\n<html>\n<head>\n<title>Redirect</title>\n" +
			"<meta http-equiv=\"refresh\" content=\"0; url=/next\">\n</head>\n</html>\n"},
	{name: "no_body_unclosed_head", want: NoInjectionPoint,
		in: "<html><head><title>x</title><meta charset=utf-8>\n"},
	{name: "text_in_head", want: Injected,
		in: "<html><head><title>t</title>\nHello world"},
	{name: "doctype_then_text", want: Injected, in: "<!DOCTYPE html>Hello"},
	{name: "end_body_in_head", want: Injected,
		in: "<!DOCTYPE html><html><head><title>x</title></body></html>"},
	{name: "body_only_tag_in_head", want: Injected,
		in: "<!DOCTYPE html><html><head><meta charset=utf-8><textarea></head></textarea>"},
	{name: "custom_element", want: Injected,
		in: "<!DOCTYPE html><html><head><my-widget></my-widget></head>"},
	{name: "svg_first", want: Injected, in: "<!DOCTYPE html><svg><script>x()</script></svg>"},
	{name: "frameset", want: Injected,
		in: "<!DOCTYPE html><html><head><title>f</title><frameset cols=\"50%,50%\"><frame src=a></frameset>"},
	{name: "template_in_head", want: Injected,
		in: "<!DOCTYPE html><html><head><template id=t><div><p>x</p>text</div><template><span></span>" +
			"</template><body></template><meta charset=utf-8></head><body>"},
	{name: "template_unclosed", want: NoInjectionPoint,
		in: "<!DOCTYPE html><html><head><template><div></div></head><body><p>x</p>"},
	{name: "style_with_comment", want: Injected,
		in: "<!DOCTYPE html><html><head><style><!-- a{} --></style><script>"},
	{name: "xml_prolog", want: Injected,
		in: "<?xml version=\"1.0\"?>\n<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>x</title></head>"},
	{name: "crlf", want: Injected,
		in: "<!DOCTYPE html>\r\n<html>\r\n<head>\r\n<title>x</title>\r\n</head>\r\n<body>\r\n</body>\r\n</html>\r\n"},
	{name: "lone_lt_at_end", want: Injected, in: "<!DOCTYPE html><html><head><title>x</title>\n<"},
	{name: "unclosed_tag_at_end", want: NoInjectionPoint, in: "<!DOCTYPE html><html><head><body"},
	{name: "empty", want: NoInjectionPoint, in: ""},
	{name: "whitespace_only", want: NoInjectionPoint, in: " \n\t\r\n"},
	{name: "comment_only", want: NoInjectionPoint, in: "<!-- nothing here -->\n"},

	// BOM and doctype.
	{name: "bom_doctype", want: Injected,
		in: "\ufeff<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><script src=\"a.js\"></script></head>"},
	{name: "bom_body", want: Injected, in: "\ufeff<body><p>x</p></body>"},
	{name: "bom_fragment", want: Fragment, in: "\ufeff<div>x</div>"},
	{name: "bom_only", want: NoInjectionPoint, in: "\ufeff"},
	{name: "partial_bom", want: Fragment, in: "\xef\xbb"},

	// Fragments.
	{name: "fragment_div", want: Fragment,
		in: "<div id=\"result\" hx-swap-oob=\"true\">\n  <p>Saved</p>\n</div>\n"},
	{name: "fragment_tr", want: Fragment, in: "<tr><td>1</td><td>Alice</td></tr>"},
	{name: "fragment_text", want: Fragment, in: "Saved at 12:00"},
	{name: "fragment_after_comment", want: Fragment, in: "\n  <!-- partial -->\n  <li>one</li>"},
	{name: "fragment_script", want: Fragment, in: "<script>htmx.process(document.body)</script><div></div>"},
	{name: "fragment_end_tag_first", want: Fragment, in: "</head></div><div>x</div>"},
	{name: "fragment_lt_text", want: Fragment, in: "a < b"},

	// Scan window.
	{name: "head_over_window", window: 128, want: NoInjectionPoint,
		in: "<!DOCTYPE html><html><head>" + strings.Repeat("<meta name=\"k\" content=\"v\">", 8) + "</head><body>"},
	{name: "comment_over_window", window: 64, want: NoInjectionPoint,
		in: "<!DOCTYPE html><html><head><!-- " + strings.Repeat("x", 100) + " --></head>"},
	{name: "point_ends_at_window", window: len(tinyWindowPage), want: Injected,
		in: tinyWindowPage + "<body>" + strings.Repeat("b", 100)},
	{name: "point_crosses_window", window: len(tinyWindowPage) - 1, want: NoInjectionPoint,
		in: tinyWindowPage + "<body>" + strings.Repeat("b", 100)},
	{name: "fragment_within_window", window: 8, want: Fragment, in: "<p>" + strings.Repeat("x", 100)},

	// Bytes that are not valid UTF-8, and NUL.
	{name: "invalid_utf8", want: Injected,
		in: "<!DOCTYPE html><html><head><title>\xff\xfe caf\xc3</title><meta name=\"\x80\" content='\xc0\xaf'>" +
			"</head><body>\xed\xa0\x80"},
	{name: "invalid_utf8_text", want: Injected, in: "<!DOCTYPE html><html><head>\xff</head>"},
	{name: "invalid_utf8_fragment", want: Fragment, in: "\xfe\xff<p>x</p>"},
	{name: "nul", want: Injected,
		in: "<!DOCTYPE html><html><head><title>a\x00b</title><meta content=\"\x00\"><scr\x00ipt>x</scr\x00ipt></head>"},
	{name: "nul_text", want: Injected, in: "<!DOCTYPE html><html><head>\x00</head>"},

	// A <meta> policy governs only what comes after it: inject before it.
	{name: "meta_csp", want: Injected,
		in: "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>x</title>\n" +
			"<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'self'\">\n<link rel=stylesheet href=a.css>" +
			"<script src=\"/app.js\"></script></head><body>"},
	{name: "meta_csp_case_and_quotes", want: Injected,
		in: "<!DOCTYPE html><HTML><HEAD><META CONTENT='default-src &apos;self&apos;' HTTP-EQUIV=' content-security-POLICY '></HEAD>"},
	{name: "meta_csp_unquoted", want: Injected,
		in: "<!DOCTYPE html><head><meta http-equiv=content-security-policy content=\"script-src 'none'\"/></head>"},
	{name: "meta_csp_report_only", want: Injected,
		in: "<!DOCTYPE html><head><meta http-equiv=\"Content-Security-Policy-Report-Only\" content=\"script-src 'none'\"><title>t</title></head>"},
	{name: "meta_csp_in_template", want: Injected,
		in: "<!DOCTYPE html><head><template><meta http-equiv=\"Content-Security-Policy\" content=\"x\"></template><title>t</title></head>"},
	{name: "meta_csp_in_comment_and_attr", want: Injected,
		in: "<!DOCTYPE html><head><!-- <meta http-equiv=\"Content-Security-Policy\"> --><meta name=\"x\" content='<meta http-equiv=\"Content-Security-Policy\">'></head>"},
	{name: "meta_csp_second_equiv_ignored", want: Injected,
		in: "<!DOCTYPE html><head><meta http-equiv=refresh http-equiv=Content-Security-Policy content=\"0\"><title>t</title></head>"},

	// Foreign content inside templates: <title>, <style> and <script> in
	// <svg> and <math> are not raw text, and <![CDATA[ opens a CDATA section.
	{name: "template_svg_title", want: Injected,
		in: "<!DOCTYPE html><head><template><svg><title></template><script>x()</script>"},
	{name: "template_svg_style", want: Injected,
		in: "<!DOCTYPE html><head><template><svg><style></template><script>x()</script></style></svg></template><link rel=x></head>"},
	{name: "template_svg_cdata", want: Injected,
		in: "<!DOCTYPE html><head><template><svg><![CDATA[</template>]]></svg></template><link rel=x></head>"},
	{name: "template_math_script", want: Injected,
		in: "<!DOCTYPE html><head><template><math><script></template><script>y()</script>"},
	{name: "template_svg_foreignobject_style", want: Injected,
		in: "<!DOCTYPE html><head><template><svg><foreignObject><style></template></style></foreignObject></svg></template></head>"},
	{name: "template_svg_breakout", want: Injected,
		in: "<!DOCTYPE html><head><template><svg><g><div><style></template></style></div></template></head>"},
	{name: "template_svg_self_closing", want: Injected,
		in: "<!DOCTYPE html><head><template><svg/><style></template></style></template><title>t</title></head>"},
	{name: "template_svg_template_element", want: Injected,
		in: "<!DOCTYPE html><head><template><svg><template></template><title></template></svg></template></head>"},
	{name: "template_math_annotation_html", want: Injected,
		in: "<!DOCTYPE html><head><template><math><annotation-xml encoding=\"text/html\"><style></template></style></annotation-xml></math></template></head>"},
	{name: "svg_outside_template", want: Injected,
		in: "<!DOCTYPE html><html><head><title>t</title></head><svg><style></head></style></svg>"},

	// A realistic page; like every case it is also written 1 byte at a time.
	{name: "split_page", want: Injected, in: realisticPage},

	// Character references in text: one that decodes to whitespace is
	// whitespace (a parser drops it before the head, keeps it after our
	// script), any other is text that ends the head.
	{name: "charref_whitespace", want: Injected,
		in: "<HTML>&#9;&#x0A;&#0013&#32;&Tab;&NewLine;\n<title>t</title><body>"},
	{name: "charref_whitespace_at_end", want: NoInjectionPoint, in: "<HTML>&#9"},
	{name: "charref_text", want: Injected, in: "<!DOCTYPE html><html>&#9;&#65;<head>"},
	{name: "charref_not_whitespace", want: Injected, in: "<html>&#x;&#;&Tab&NewLine<head>"},
	{name: "charref_named_text", want: Injected, in: "<html>&nbsp;<head>"},
}

const realisticPage = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Orders &amp; Invoices — Acme</title>
  <link rel="preconnect" href="https://cdn.example.com">
  <link rel="stylesheet" href="/static/app.css?v=42">
  <style>
    body { font-family: system-ui, sans-serif; margin: 0 }
    .banner::after { content: "</head>"; }
  </style>
  <!-- Google Tag Manager placeholder: <script>gtm()</script> -->
  <noscript><img src="/pixel.gif" alt=""></noscript>
  <script async src="https://www.googletagmanager.com/gtag/js?id=G-XXXX"></script>
  <script>window.dataLayer = window.dataLayer || []; if (a < b && c > d) { x = "</script" + ">"; }</script>
</head>
<body class="orders">
  <header><h1>Orders</h1></header>
  <main>
    <table><tr><td>1</td><td>Widget</td></tr></table>
  </main>
</body>
</html>
`

func goldenPath(name string) string { return filepath.Join("testdata", "rewriter", name+".golden") }

// runRewriter writes in to a Rewriter in the given chunk sizes (cycled; nil
// = one Write) and closes it. It fails the test unless Decide runs exactly
// once, before the first byte reaches dst, with the outcome the Rewriter
// reports. If oracle is set it also checks after every Write that the
// Rewriter decided exactly when a fresh Rewriter given the whole prefix in
// one Write decides: resuming must neither miss nor invent a decision.
func runRewriter(t testing.TB, in []byte, window int, chunks []int, oracle bool) ([]byte, Outcome) {
	t.Helper()
	return runRewriterCharset(t, in, window, chunks, oracle, false)
}

// runRewriterCharset is runRewriter with RewriterOptions.FindCharset.
func runRewriterCharset(t testing.TB, in []byte, window int, chunks []int, oracle, findCharset bool) ([]byte, Outcome) {
	t.Helper()
	var out bytes.Buffer
	dst := &orderedWriter{buf: &out}
	var r *Rewriter
	r = NewRewriter(dst, testSnippet, RewriterOptions{ScanWindow: window, FindCharset: findCharset, Decide: func(o Outcome) {
		dst.decided++
		if out.Len() != 0 {
			t.Errorf("Decide(%v) called after %d bytes were written", o, out.Len())
		}
		if o == Pending {
			t.Errorf("Decide(Pending)")
		}
		if got := r.Outcome(); got != o {
			t.Errorf("Outcome() = %v inside Decide(%v)", got, o)
		}
	}})
	rest, k := in, 0
	for len(rest) > 0 {
		n := len(rest)
		if len(chunks) > 0 {
			n = min(chunks[k%len(chunks)], n)
			k++
		}
		if wn, err := r.Write(rest[:n]); wn != n || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", n, wn, err)
		}
		rest = rest[n:]
		if oracle {
			prefix := in[:len(in)-len(rest)]
			ref := NewRewriter(io.Discard, testSnippet, RewriterOptions{ScanWindow: window, FindCharset: findCharset})
			ref.Write(prefix)
			if got, want := r.Outcome(), ref.Outcome(); got != want {
				t.Fatalf("after %d bytes in chunks %v: outcome %v, but the whole prefix decides %v",
					len(prefix), chunks, got, want)
			}
		}
	}
	if dst.decided > 1 {
		t.Errorf("Decide called %d times before Close", dst.decided)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if dst.decided != 1 {
		t.Errorf("Decide called %d times, want 1", dst.decided)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	return out.Bytes(), r.Outcome()
}

// orderedWriter counts Decide calls so runRewriter can check their order.
type orderedWriter struct {
	buf     *bytes.Buffer
	decided int
}

func (w *orderedWriter) Write(p []byte) (int, error) {
	if w.decided != 1 {
		return 0, fmt.Errorf("write with %d Decide calls so far", w.decided)
	}
	return w.buf.Write(p)
}

// checkSplice fails unless out is in, or (exactly when outcome is Injected)
// in with testSnippet inserted once before a start tag, end tag or text
// token of in, or inside a text token right after its leading whitespace
// (character references that decode to whitespace included). It returns the
// insertion offset, or -1.
func checkSplice(t testing.TB, in, out []byte, outcome Outcome) int {
	t.Helper()
	if outcome != Injected {
		if !bytes.Equal(in, out) {
			t.Fatalf("outcome %v but output differs from input:\n in: %q\nout: %q", outcome, in, out)
		}
		return -1
	}
	if len(out) != len(in)+len(testSnippet) {
		t.Fatalf("Injected: len(out) = %d, want len(in)+len(snippet) = %d", len(out), len(in)+len(testSnippet))
	}
	lcp := 0
	for lcp < len(in) && in[lcp] == out[lcp] {
		lcp++
	}
	at := -1
	for p := lcp; p >= max(0, lcp-len(testSnippet)); p-- {
		if bytes.Equal(out[p:p+len(testSnippet)], testSnippet) && bytes.Equal(out[p+len(testSnippet):], in[p:]) {
			at = p
			break
		}
	}
	if at < 0 {
		t.Fatalf("Injected, but output is not input with the snippet inserted once:\n in: %q\nout: %q", in, out)
	}
	// Tokenize the whole input: the insertion must be at a token boundary,
	// before a token that can start the body or run a script. The bare
	// tokenizer does not know foreign content (it reads <svg><style> as raw
	// text): where a template holds <svg> or <math>, the tree-construction
	// oracle judges instead.
	if err := tokenBoundary(in, at); err != nil {
		if !foreignInTemplate(in) {
			t.Fatalf("%v: %q", err, in)
		}
		if err := checkTree(in, out); err != nil {
			t.Fatalf("%v: %q", err, in)
		}
	}
	return at
}

// tokenBoundary checks with x/net/html's tokenizer that at is the start of
// a start tag, end tag or text token of in.
func tokenBoundary(in []byte, at int) error {
	pos := 0
	if bytes.HasPrefix(in, bom) {
		pos = len(bom)
	}
	z := html.NewTokenizer(bytes.NewReader(in[pos:]))
	for pos < at {
		if z.Next() == html.ErrorToken {
			break
		}
		raw := z.Raw()
		if z.Token().Type == html.TextToken && pos+len(raw) > at && spaceText(in[pos:at], in[at:pos+len(raw)]) {
			return nil // in a text token, after its leading whitespace
		}
		pos += len(raw)
	}
	if pos != at {
		return fmt.Errorf("snippet inserted at %d, inside a token (next boundary %d)", at, pos)
	}
	switch tt := z.Next(); tt {
	case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken, html.TextToken:
	default:
		return fmt.Errorf("snippet inserted before a %v token at %d", tt, at)
	}
	return nil
}

// oldScannerWrong reports whether in holds what the tokenizer-based scanner
// (oracle_test.go) reads wrongly: foreign content in a template, or a
// character reference (one that decodes to whitespace is no injection point,
// but the old scanner saw text).
func oldScannerWrong(in []byte) bool {
	return foreignInTemplate(in) || bytes.Contains(in, []byte("&"))
}

// spaceText reports whether the raw text a decodes to whitespace only and
// ends where a character reference may end: a parser reads a+b as the
// decoded a followed by the decoded b.
func spaceText(a, b []byte) bool {
	da := html.UnescapeString(string(a))
	return !hasNonSpace([]byte(da)) && da+html.UnescapeString(string(b)) == html.UnescapeString(string(a)+string(b))
}

// foreignInTemplate reports whether in may hold foreign content inside a
// template, where the bare tokenizer and a parser read bytes differently.
func foreignInTemplate(in []byte) bool {
	l := bytes.ToLower(in)
	return bytes.Contains(l, []byte("<template")) &&
		(bytes.Contains(l, []byte("<svg")) || bytes.Contains(l, []byte("<math")))
}

// chunkings returns the write patterns every golden case is run with: one
// Write, 1-byte writes, 2- and 3-byte writes, and random splits.
func chunkings(seed uint64, n int) [][]int {
	cs := [][]int{nil, {1}, {2}, {3}, {7, 1}}
	rng := rand.New(rand.NewPCG(seed, 42))
	for range 8 {
		var c []int
		for left := n; left > 0; {
			k := 1 + rng.IntN(max(1, min(left, 64)))
			c = append(c, k)
			left -= k
		}
		cs = append(cs, c)
	}
	return cs
}

func TestRewriterGolden(t *testing.T) {
	for i, tc := range rewriterCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			out, outcome := runRewriter(t, in, tc.window, nil, false)
			if outcome != tc.want {
				t.Errorf("outcome = %v, want %v", outcome, tc.want)
			}
			checkSplice(t, in, out, outcome)
			path := goldenPath(tc.name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestRewriterGolden -update)", err)
			}
			if !bytes.Equal(out, golden) {
				t.Errorf("output differs from %s:\n got: %q\nwant: %q", path, out, golden)
			}
			for _, chunks := range chunkings(uint64(i), len(in)) {
				got, o := runRewriter(t, in, tc.window, chunks, true)
				if o != outcome || !bytes.Equal(got, out) {
					t.Fatalf("chunks %v: outcome %v, output\n%q\nwant outcome %v, output\n%q", chunks, o, got, outcome, out)
				}
			}
		})
	}
}

// TestFuzzSeedCorpus keeps testdata/fuzz/FuzzRewriter in step with the golden
// inputs (regenerated with -update).
func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRewriter")
	for i, tc := range rewriterCases {
		data := "go test fuzz v1\n[]byte(" + strconv.Quote(tc.in) + ")\nuint8(" + strconv.Itoa(i%7) + ")\n"
		path := filepath.Join(dir, tc.name)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestFuzzSeedCorpus -update)", err)
		}
		if string(got) != data {
			t.Errorf("%s is stale (run go test -run TestFuzzSeedCorpus -update)", path)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{
		Pending: "pending", Injected: "injected", Fragment: "fragment",
		NoInjectionPoint: "no_injection_point", Outcome(9): "Outcome(9)",
	} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", o, got, want)
		}
	}
}

// TestRewriterDecidesEarly checks that the outcome is known as soon as the
// deciding token is complete, so the response is not held any longer.
func TestRewriterDecidesEarly(t *testing.T) {
	cases := []struct {
		name, in string
		want     Outcome
	}{
		{"head end", "<!DOCTYPE html><head><title>x</title></head>", Injected},
		{"script", "<html><script", Pending},
		{"script complete", "<html><script>", Injected},
		{"div fragment", "<div>", Fragment},
		{"text fragment", "  hello", Fragment},
		{"lt only", "<", Pending},
		{"end tag opener", "<!DOCTYPE html></", Pending},
		{"text after doctype", "<!DOCTYPE html>\n x", Injected},
		{"whitespace", "<!DOCTYPE html>\n  ", Pending},
		{"bom prefix", "\xef\xbb", Pending},
		{"comment", "<!DOCTYPE html><!-- </head> ", Pending},
		{"style", "<!DOCTYPE html><style></head>", Pending},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRewriter(io.Discard, testSnippet, RewriterOptions{})
			r.Write([]byte(tc.in))
			if got := r.Outcome(); got != tc.want {
				t.Errorf("after Write(%q): outcome %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// TestRewriterBigHeadDefaultWindow runs the default window with a </head>
// that ends exactly at the window and one byte after it, in reverse_proxy-sized
// and odd-sized writes.
func TestRewriterBigHeadDefaultWindow(t *testing.T) {
	pre, post := "<!DOCTYPE html><html><head><style>", "</style></head>"
	page := func(headLen int) []byte {
		css := strings.Repeat("a{b:c} ", headLen/7+1)[:headLen-len(pre)-len(post)]
		return []byte(pre + css + post + "<body>" + strings.Repeat("<p>body</p>", 1000))
	}
	at := page(DefaultScanWindow)
	over := page(DefaultScanWindow + 1)
	for _, chunks := range [][]int{nil, {32 << 10}, {1000, 7}} {
		out, o := runRewriter(t, at, 0, chunks, false)
		if o != Injected || checkSplice(t, at, out, o) != DefaultScanWindow-len("</head>") {
			t.Errorf("</head> ending at the window, chunks %v: outcome %v", chunks, o)
		}
		out, o = runRewriter(t, over, 0, chunks, false)
		if o != NoInjectionPoint || !bytes.Equal(out, over) {
			t.Errorf("</head> ending one byte after the window, chunks %v: outcome %v", chunks, o)
		}
	}
}

// TestRewriterMemoryBounded feeds pages far bigger than the window with no
// injection point in it and checks that no more than the window is held.
func TestRewriterMemoryBounded(t *testing.T) {
	const window = 4 << 10
	pages := map[string][]byte{
		"comment":   []byte("<!DOCTYPE html><html><head><!--" + strings.Repeat("x", 1<<20)),
		"attribute": []byte("<!DOCTYPE html><html><head><meta content=\"" + strings.Repeat("x", 1<<20)),
		"style":     []byte("<!DOCTYPE html><html><head><style>" + strings.Repeat("x", 1<<20)),
		"space":     []byte("<!DOCTYPE html>" + strings.Repeat(" ", 1<<20)),
	}
	for name, page := range pages {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			r := NewRewriter(&out, testSnippet, RewriterOptions{ScanWindow: window})
			for rest := page; len(rest) > 0; {
				n := min(len(rest), 1000)
				r.Write(rest[:n])
				rest = rest[n:]
				if r.hold != nil && len(*r.hold) > window {
					t.Fatalf("holding %d bytes with a %d-byte window", len(*r.hold), window)
				}
			}
			r.Close()
			if r.Outcome() != NoInjectionPoint || !bytes.Equal(out.Bytes(), page) {
				t.Errorf("outcome %v, output equal to input: %v", r.Outcome(), bytes.Equal(out.Bytes(), page))
			}
		})
	}
}

// TestRewriterDoesNotRetainInput checks that bytes held across Writes are
// copied: the caller may reuse its buffer once Write returns.
func TestRewriterDoesNotRetainInput(t *testing.T) {
	page := "<!DOCTYPE html><html><head><title>x</title></head><body>"
	var out bytes.Buffer
	r := NewRewriter(&out, testSnippet, RewriterOptions{})
	buf := make([]byte, 8)
	for rest := page; len(rest) > 0; {
		n := copy(buf, rest)
		r.Write(buf[:n])
		for i := range buf {
			buf[i] = 'X'
		}
		rest = rest[n:]
	}
	r.Close()
	want := strings.Replace(page, "</head>", string(testSnippet)+"</head>", 1)
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestRewriterPassThroughAllocs checks that once decided a Write costs no
// allocation (and so no copy).
func TestRewriterPassThroughAllocs(t *testing.T) {
	r := NewRewriter(io.Discard, testSnippet, RewriterOptions{})
	r.Write([]byte("<!DOCTYPE html><html><head></head>"))
	if r.Outcome() != Injected {
		t.Fatalf("outcome %v", r.Outcome())
	}
	chunk := bytes.Repeat([]byte("<p>x</p>"), 4096)
	if n := testing.AllocsPerRun(100, func() { r.Write(chunk) }); n != 0 {
		t.Errorf("%v allocations per pass-through Write", n)
	}
}

func TestRewriterNilDecide(t *testing.T) {
	var out bytes.Buffer
	r := NewRewriter(&out, testSnippet, RewriterOptions{})
	r.Write([]byte("<div>"))
	r.Write([]byte("x</div>"))
	if err := r.Close(); err != nil || out.String() != "<div>x</div>" || r.Outcome() != Fragment {
		t.Errorf("Close() = %v, output %q, outcome %v", err, out.String(), r.Outcome())
	}
}

func TestRewriterWriteAfterClose(t *testing.T) {
	for _, in := range []string{"<!DOCTYPE html><head>", "<!DOCTYPE html></head>"} {
		r := NewRewriter(io.Discard, testSnippet, RewriterOptions{})
		r.Write([]byte(in))
		r.Close()
		if n, err := r.Write([]byte("x")); n != 0 || !errors.Is(err, errClosed) {
			t.Errorf("Write after Close (%v) = %d, %v; want 0, errClosed", r.Outcome(), n, err)
		}
	}
}

// failWriter fails after accepting limit bytes.
type failWriter struct {
	limit int
	got   []byte
}

var errDst = errors.New("dst broke")

func (w *failWriter) Write(p []byte) (int, error) {
	n := min(len(p), w.limit-len(w.got))
	w.got = append(w.got, p[:n]...)
	if n < len(p) {
		return n, errDst
	}
	return n, nil
}

// TestRewriterDstError checks that a dst error reaches the caller, with a
// count of the caller's bytes that were written, and sticks.
func TestRewriterDstError(t *testing.T) {
	head := "<!DOCTYPE html><html><head>"
	tail := "</head><body>"
	cases := []struct {
		name  string
		limit int
		wantN int
	}{
		{"in held bytes", 5, 0},
		{"in snippet", len(head) + 3, 0},
		{"in new bytes", len(head) + len(testSnippet) + 4, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := &failWriter{limit: tc.limit}
			r := NewRewriter(w, testSnippet, RewriterOptions{})
			if n, err := r.Write([]byte(head)); n != len(head) || err != nil {
				t.Fatalf("first Write = %d, %v", n, err)
			}
			n, err := r.Write([]byte(tail))
			if n != tc.wantN || !errors.Is(err, errDst) {
				t.Errorf("Write = %d, %v; want %d, %v", n, err, tc.wantN, errDst)
			}
			if n, err := r.Write([]byte("x")); n != 0 || !errors.Is(err, errDst) {
				t.Errorf("Write after error = %d, %v", n, err)
			}
			if err := r.Close(); !errors.Is(err, errDst) {
				t.Errorf("Close = %v", err)
			}
		})
	}
}

// TestRewriterPooledBuffersIsolated interleaves rewriters that hold bytes so
// that pooled buffers are reused, and checks none sees another's bytes.
func TestRewriterPooledBuffersIsolated(t *testing.T) {
	for i := range 50 {
		a, b := fmt.Sprintf("<html><head><title>A%d</title>", i), fmt.Sprintf("<html><head><title>B%d</title>", i)
		var outA, outB bytes.Buffer
		ra := NewRewriter(&outA, testSnippet, RewriterOptions{})
		rb := NewRewriter(&outB, testSnippet, RewriterOptions{})
		ra.Write([]byte(a))
		rb.Write([]byte(b))
		ra.Write([]byte("</head>"))
		rb.Close()
		ra.Close()
		if want := a + string(testSnippet) + "</head>"; outA.String() != want {
			t.Fatalf("A: %q, want %q", outA.String(), want)
		}
		if outB.String() != b {
			t.Fatalf("B: %q, want %q", outB.String(), b)
		}
	}
}

// soupPieces are the fragments TestRewriterTokenSoup strings together: the
// openers, closers and near-misses where tokens begin and end, so that
// random splits land on every awkward boundary.
var soupPieces = []string{
	"<!DOCTYPE html>", "<!doctype", "<html>", "<head>", "</head>", "<HEAD>", "</head ", "<body>", "</body>",
	"<div>", "<p>", "</p>", "<br/>", "</br>", "<meta a='>'>", "<link href=\"</head>\">", "<meta x=", "<base>",
	"<title>", "</title>", "</title ", "</titl", "<style>", "</style>", "</STYLE>", "<noscript>", "</noscript>",
	"<template>", "</template>", "<script>", "</script>", "<script/>", "<textarea>", "<noframes>", "</noframes>",
	"<!--", "-->", "--!>", "--", "-", "!", "<!-->", "<!>", "<!x>", "<?xml?>", "<![CDATA[", "]]>", "</>", "</ x>",
	"<!--<script>", "<", ">", "/", "</", "=", "'", "\"",
	" ", "\n", "\r\n", "\t", "x", "hello", "\x00", "\xff", "\xc3", "\ufeff",
}

// TestRewriterTokenSoup runs random strings of soupPieces in random splits
// and windows, checking the splice invariant, that the split does not
// change the result, and (via the oracle) that no decision is delayed.
func TestRewriterTokenSoup(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	iterations := 3000
	if testing.Short() {
		iterations = 300
	}
	for it := range iterations {
		var b strings.Builder
		if rng.IntN(4) == 0 {
			b.WriteString("\ufeff")
		}
		for range 1 + rng.IntN(40) {
			b.WriteString(soupPieces[rng.IntN(len(soupPieces))])
		}
		in := []byte(b.String())
		window := 0
		if rng.IntN(3) == 0 {
			window = 1 + rng.IntN(len(in)+8)
		}
		whole, o := runRewriter(t, in, window, nil, false)
		checkSplice(t, in, whole, o)
		chunks := []int{1}
		if rng.IntN(2) == 0 {
			chunks = []int{1 + rng.IntN(5), 1 + rng.IntN(9), 1 + rng.IntN(3)}
		}
		split, o2 := runRewriter(t, in, window, chunks, true)
		if o2 != o || !bytes.Equal(split, whole) {
			t.Fatalf("iteration %d, window %d, input %q:\nwhole write: %v %q\nchunks %v: %v %q",
				it, window, in, o, whole, chunks, o2, split)
		}
	}
}

// writeLog records each Write it gets.
type writeLog struct{ writes [][]byte }

func (w *writeLog) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// TestRewriterInjectsInOneWrite checks that the start of an injected page
// reaches dst in a single Write with the snippet spliced in, whether it was
// decided in place or after holding bytes; split writes made net/http issue
// an extra write syscall per page. Past maxJoin it falls back to separate
// writes, with the same output.
func TestRewriterInjectsInOneWrite(t *testing.T) {
	head := "<!DOCTYPE html><html><head><title>x</title>"
	rest := "</head><body><p>hello</p></body></html>"
	bigTitle := "<!DOCTYPE html><html><head><title>" + strings.Repeat("x", maxJoin) + "</title>"
	cases := []struct {
		name       string
		chunks     []string
		wantWrites int
	}{
		{"decided in place", []string{head + rest}, 1},
		{"decided after holding", []string{head, rest}, 1},
		{"held in small pieces", []string{head[:5], head[5:20], head[20:], rest}, 1},
		{"beyond maxJoin", []string{bigTitle, rest}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w writeLog
			r := NewRewriter(&w, testSnippet, RewriterOptions{})
			for _, c := range tc.chunks {
				if n, err := r.Write([]byte(c)); n != len(c) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if len(w.writes) != tc.wantWrites {
				t.Errorf("%d writes to dst when the outcome was decided, want %d", len(w.writes), tc.wantWrites)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			in := strings.Join(tc.chunks, "")
			checkSplice(t, []byte(in), bytes.Join(w.writes, nil), r.Outcome())
		})
	}
}

// TestRewriterLinearWork checks that the work of finding the injection point
// is linear in the bytes before it, whatever the write pattern: every byte
// written while Pending is looked at a bounded number of times. It counts
// bytes scanned (not time), with tokens that are long and full of bytes that
// could end a shorter token of their kind ('>' in a tag, "--" and '>' in a
// comment, "</" in raw text).
func TestRewriterLinearWork(t *testing.T) {
	const n = 250 << 10
	long := map[string]string{
		"tag":       "<meta content='" + strings.Repeat("a>b ", n/4) + "'>",
		"comment":   "<!--" + strings.Repeat("a -> b -- c > ", n/14) + "-->",
		"style":     "<style>" + strings.Repeat("a>b</styl </ ", n/13) + "</style>",
		"script":    "<script>" + strings.Repeat("<!-- <script> a-->b </scrip ", n/27) + "</script>",
		"doctype":   "<!DOCTYPE html" + strings.Repeat(" x", n/2) + ">",
		"template":  "<template>" + strings.Repeat("<p a='>'>x</p>", n/14) + "</template>",
		"space":     strings.Repeat(" \n", n/2),
		"attribute": "<link href=\"" + strings.Repeat("=\"'<>/", n/6) + "\">",
	}
	for name, mid := range long {
		for _, size := range []int{1, 16, 1000} {
			t.Run(fmt.Sprintf("%s/%dB", name, size), func(t *testing.T) {
				page := []byte("<!DOCTYPE html><html><head>" + mid + "</head><body>")
				r := NewRewriter(io.Discard, testSnippet, RewriterOptions{})
				for rest := page; len(rest) > 0; {
					k := min(size, len(rest))
					r.Write(rest[:k])
					rest = rest[k:]
				}
				r.Close()
				if r.Outcome() != Injected {
					t.Fatalf("outcome %v", r.Outcome())
				}
				if limit := len(page); r.scanned > limit {
					t.Errorf("%d bytes scanned for a %d-byte page in %d-byte writes; want at most %d",
						r.scanned, len(page), size, limit)
				}
			})
		}
	}
}

// TestRewriterResetIsNew: one Rewriter value, Reset before every response
// (including after a response abandoned while Pending, and after a failed
// one), writes exactly what a fresh NewRewriter writes for every golden case
// and chunking, and decides the same outcome.
func TestRewriterResetIsNew(t *testing.T) {
	var reused Rewriter
	for _, tc := range rewriterCases {
		for i, chunks := range chunkings(7, len(tc.in)) {
			t.Run(fmt.Sprintf("%s/%d", tc.name, i), func(t *testing.T) {
				run := func(r *Rewriter, fresh bool) ([]byte, Outcome, Outcome) {
					var out bytes.Buffer
					var decided Outcome
					opts := RewriterOptions{ScanWindow: tc.window, Decide: func(o Outcome) { decided = o }}
					if fresh {
						r = NewRewriter(&out, testSnippet, opts)
					} else {
						r.Reset(&out, testSnippet, opts)
					}
					in := []byte(tc.in)
					for _, n := range chunks {
						if len(in) == 0 {
							break
						}
						n = min(n, len(in))
						if _, err := r.Write(in[:n]); err != nil {
							t.Fatal(err)
						}
						in = in[n:]
					}
					if len(in) > 0 {
						if _, err := r.Write(in); err != nil {
							t.Fatal(err)
						}
					}
					if err := r.Close(); err != nil {
						t.Fatal(err)
					}
					return out.Bytes(), r.Outcome(), decided
				}
				want, wantOutcome, wantDecided := run(nil, true)
				got, gotOutcome, gotDecided := run(&reused, false)
				if !bytes.Equal(got, want) || gotOutcome != wantOutcome || gotDecided != wantDecided {
					t.Fatalf("after Reset: outcome %v (decided %v), output\n%q\nfresh: outcome %v (decided %v), output\n%q",
						gotOutcome, gotDecided, got, wantOutcome, wantDecided, want)
				}
				// Leave the value mid-response (Pending, holding bytes), as an
				// aborted handler does, or failed: the next Reset starts over.
				var sink bytes.Buffer
				reused.Reset(&sink, testSnippet, RewriterOptions{})
				reused.Write([]byte("<!DOCTYPE html><html><head><title>left pending"))
				if i%2 == 1 {
					reused.Reset(&failWriter{}, testSnippet, RewriterOptions{})
					reused.Write([]byte(tinyWindowPage))
					reused.Close()
				}
			})
		}
	}
}
