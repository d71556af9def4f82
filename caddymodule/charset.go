package caddymodule

import (
	"mime"
	"strings"

	"github.com/caddy-intercom/caddy-intercom/injector"
)

// namesCharset reports whether a Content-Type names a charset (or is not
// parseable, in which case we leave it alone). When it names none, the page's
// own <meta charset> decides, and the injection must not push that <meta> out
// of the first 1024 bytes where browsers look for it; the rewriter then
// reports the declared charset at Decide time and withCharset adds it.
func namesCharset(contentType string) bool {
	if !containsFoldASCII(contentType, "charset") { // no allocation on the common path
		return false
	}
	// The usual "text/html; charset=utf-8": a single, unquoted, non-empty
	// charset parameter names a charset whether or not it would parse
	// (unparseable is left alone too), so ParseMediaType's map is not needed.
	if _, param, ok := strings.Cut(contentType, ";"); ok {
		param = strings.TrimSpace(param)
		if len(param) > len("charset=") && injector.EqualFoldASCII(param[:len("charset=")], "charset=") &&
			param[len("charset=")] != '"' && !strings.ContainsAny(param, ";\"") {
			return true
		}
	}
	_, params, err := mime.ParseMediaType(contentType)
	return err != nil || params["charset"] != ""
}

// withCharset returns contentType with the charset parameter added.
func withCharset(contentType, charset string) string {
	return strings.TrimRight(strings.TrimSpace(contentType), ";") + "; charset=" + charset
}
