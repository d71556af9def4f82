// doctor_page.go: what doctor reads from a page, with the HTML tokenizer of
// golang.org/x/net/html (the grammar browsers use, not regular expressions).

package intercomcmd

import (
	"bytes"
	"encoding/json"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// edgeMarker is in the text of both scripts the module injects (the
// identity snippet and the anonymous shutdown script): the name of the debug
// object they install.
const edgeMarker = "__intercomEdge"

// pageSettings are the trusted intercomSettings the identity snippet carries.
type pageSettings struct {
	AppID                   string `json:"app_id"`
	UserID                  string `json:"user_id"`
	IntercomUserJWT         string `json:"intercom_user_jwt"`
	SalesforceIdentityToken string `json:"salesforce_identity_token"`
	UserHash                string `json:"user_hash"`
}

// pageScript is one <script> element of the page.
type pageScript struct {
	seq      int    // position among the page's tokens
	offset   int    // byte offset of the start tag
	nonce    string // nonce attribute ("" when absent)
	text     string // the element's text, exactly as sent
	ours     bool   // one of the module's scripts
	settings *pageSettings
}

// pageMeta is a <meta> that matters to doctor.
type pageMeta struct {
	seq, offset int
	content     string // the CSP (for a CSP meta)
}

// pageDoc is what doctor knows about a page after one pass of the tokenizer.
type pageDoc struct {
	scripts     []pageScript
	charsets    []pageMeta // <meta charset> and <meta http-equiv=Content-Type>
	csps        []pageMeta // <meta http-equiv=Content-Security-Policy>
	fragment    bool       // content came before any doctype, <html>, <head> or <body>
	injectionAt int        // offset of the module's injection point; -1 when there is none
}

// ours returns the module's scripts on the page, in document order.
func (p *pageDoc) ours() []pageScript {
	var out []pageScript
	for _, s := range p.scripts {
		if s.ours {
			out = append(out, s)
		}
	}
	return out
}

// parsePage tokenizes body once. It also finds where the module's rewriter
// would inject (the first script, <body>, or content after a doctype, <html>
// or <head>), to tell "fragment" and "no injection point" apart from the
// module not running at all.
func parsePage(body []byte) *pageDoc {
	p := &pageDoc{injectionAt: -1}
	z := html.NewTokenizer(bytes.NewReader(body))
	docSeen, decided := false, false
	decide := func(offset int, point bool) {
		if decided {
			return
		}
		decided = true
		if !point {
			p.fragment = true
			return
		}
		p.injectionAt = offset
	}
	offset, seq, template := 0, 0, 0
	var inScript *pageScript
	rawText := false // the next text token is an element's raw text (title, style, …), not content
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		raw := z.Raw()
		start := offset
		offset += len(raw)
		seq++
		if inScript != nil {
			if tt == html.TextToken {
				inScript.text += string(raw)
				continue
			}
			p.scripts = append(p.scripts, *inScript)
			inScript = nil
		}
		wasRaw := rawText
		rawText = false
		switch tt {
		case html.DoctypeToken:
			docSeen = true
		case html.TextToken:
			if !wasRaw && template == 0 && len(bytes.TrimSpace(raw)) > 0 {
				decide(start, docSeen)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			attrs := map[string]string{}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				attrs[string(k)] = string(v)
			}
			switch a {
			case atom.Title, atom.Style, atom.Textarea, atom.Xmp, atom.Iframe, atom.Noembed, atom.Noframes, atom.Noscript, atom.Plaintext:
				rawText = true
			}
			switch a {
			case atom.Html, atom.Head:
				docSeen = true
			case atom.Body:
				docSeen = true
				decide(start, true)
			case atom.Template:
				template++
			case atom.Meta:
				equiv := strings.ToLower(strings.TrimSpace(attrs["http-equiv"]))
				_, charset := attrs["charset"]
				switch {
				case charset || equiv == "content-type":
					p.charsets = append(p.charsets, pageMeta{seq: seq, offset: start})
				case equiv == "content-security-policy" && template == 0:
					p.csps = append(p.csps, pageMeta{seq: seq, offset: start, content: attrs["content"]})
				}
			case atom.Script:
				if template == 0 {
					inScript = &pageScript{seq: seq, offset: start, nonce: attrs["nonce"]}
				}
			}
			if template == 0 && !isHeadOnly(a) {
				decide(start, docSeen)
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Template:
				if template > 0 {
					template--
				}
			case atom.Head, atom.Body, atom.Html:
				if docSeen && template == 0 {
					decide(start, true)
				}
			}
		}
	}
	if inScript != nil {
		p.scripts = append(p.scripts, *inScript)
	}
	for i := range p.scripts {
		s := &p.scripts[i]
		if strings.Contains(s.text, edgeMarker) {
			s.ours = true
			s.settings = extractSettings(s.text)
		}
	}
	return p
}

// isHeadOnly reports whether an element may appear in the head without
// starting the body (the rewriter looks past these).
func isHeadOnly(a atom.Atom) bool {
	switch a {
	case atom.Html, atom.Head, atom.Title, atom.Meta, atom.Link, atom.Style, atom.Base,
		atom.Noscript, atom.Template:
		return true
	}
	return false
}

// extractSettings reads the trusted settings object from the identity
// snippet: the JSON object literal that starts with {"app_id": (the last
// one; the script's own code comes before it). It returns nil for the
// shutdown script, which carries none.
func extractSettings(text string) *pageSettings {
	i := strings.LastIndex(text, `{"app_id":`)
	if i < 0 {
		return nil
	}
	var s pageSettings
	if err := json.NewDecoder(strings.NewReader(text[i:])).Decode(&s); err != nil || s.UserID == "" {
		return nil
	}
	return &s
}
