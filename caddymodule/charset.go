package caddymodule

import (
	"mime"
	"strings"
)

// namesCharset reports whether a Content-Type names a charset (or is not
// parseable, in which case we leave it alone). When it names none, the page's
// own <meta charset> decides, and the injection must not push that <meta> out
// of the first 1024 bytes where browsers look for it; the rewriter then
// reports the declared charset at Decide time and withCharset adds it.
func namesCharset(contentType string) bool {
	if !strings.Contains(strings.ToLower(contentType), "charset") {
		return false
	}
	_, params, err := mime.ParseMediaType(contentType)
	return err != nil || params["charset"] != ""
}

// withCharset returns contentType with the charset parameter added.
func withCharset(contentType, charset string) string {
	return strings.TrimRight(strings.TrimSpace(contentType), ";") + "; charset=" + charset
}
