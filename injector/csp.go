package injector

import "strings"

// CSPPlan says how our inline <script> gets past the page's
// Content-Security-Policy: which nonce to put on it, and the header values
// to send instead of the upstream's.
type CSPPlan struct {
	Nonce      string   // nonce to put on our <script> ("" = none)
	Enforced   []string // new Content-Security-Policy values (same count/order as given)
	ReportOnly []string // new Content-Security-Policy-Report-Only values
	Changed    bool     // some value differs from the input
}

// PlanCSP decides how the inline script scriptBody (the exact text between
// <script> and </script>) is allowed by the response's policies, changing
// them as little as possible. enforced and reportOnly are the values of the
// Content-Security-Policy and Content-Security-Policy-Report-Only headers;
// each value may hold several comma-separated policies, parsed as CSP3's
// "parse a serialized CSP list" does (split on ",", then ";", names
// case-insensitive, the first of duplicate directives wins, directives with
// non-ASCII bytes ignored).
//
// For an inline script the governing directive is script-src-elem, else
// script-src, else default-src; a policy with none of them does not restrict
// it. The nonce is the first valid nonce in an enforced policy's governing
// directive (else in a report-only one): reusing the page's own nonce leaves
// that policy untouched. Every other policy, enforced or report-only, that
// would block the script gets ScriptHash(scriptBody) in its governing
// directive, unless it already allows every inline script ('unsafe-inline'
// with no nonce, hash or 'strict-dynamic' beside it): a hash there would
// switch 'unsafe-inline' off and break the page's own inline scripts.
// 'unsafe-inline' is never added. When the governing directive is
// default-src, a script-src directive with default-src's sources plus the
// hash is appended instead, so that inline styles governed by default-src
// keep behaving as before. A lone 'none' is replaced by the hash (mixed
// with another source it would be ignored anyway).
//
// Only a changed policy is edited, in place inside its header value; every
// other byte of the values is kept. When nothing changes the result holds
// the given slices and Changed is false; the hash is computed only if some
// policy needs it, and with no CSP headers nothing is allocated.
func PlanCSP(enforced, reportOnly []string, scriptBody []byte) CSPPlan {
	plan := CSPPlan{Enforced: enforced, ReportOnly: reportOnly}
	if len(enforced) == 0 && len(reportOnly) == 0 {
		return plan
	}
	plan.Nonce = firstNonce(enforced)
	if plan.Nonce == "" {
		plan.Nonce = firstNonce(reportOnly)
	}
	h := lazyHash{body: scriptBody}
	var changedE, changedR bool
	plan.Enforced, changedE = planValues(enforced, plan.Nonce, &h)
	plan.ReportOnly, changedR = planValues(reportOnly, plan.Nonce, &h)
	plan.Changed = changedE || changedR
	return plan
}

// planValues plans each header value; the input slice is returned as is
// when nothing changes, and never modified (it belongs to the caller's
// header map).
func planValues(values []string, nonce string, h *lazyHash) ([]string, bool) {
	out := values
	changed := false
	for i, v := range values {
		if nv, ok := planValue(v, nonce, h); ok {
			if !changed {
				out = append([]string(nil), values...)
				changed = true
			}
			out[i] = nv
		}
	}
	return out, changed
}

// lazyHash computes ScriptHash once, on first use.
type lazyHash struct {
	body []byte
	h    string
}

func (l *lazyHash) get() string {
	if l.h == "" {
		l.h = ScriptHash(l.body)
	}
	return l.h
}

// Which directive governs inline <script> elements, in order of precedence.
const (
	govNone = iota
	govDefault
	govScript
	govElem
)

// directive is a directive's place in a header value: the name ends at
// nameEnd, the whole (trimmed) directive ends at end.
type directive struct {
	kind         int
	nameEnd, end int
}

// policySpan walks the policies of one header value.
type policySpan struct{ start, end int }

// nextPolicy returns the policy starting at off and the offset after it
// (past the comma), or ok=false at the end of v.
func nextPolicy(v string, off int) (p policySpan, next int, ok bool) {
	if off > len(v) {
		return p, off, false
	}
	end := strings.IndexByte(v[off:], ',')
	if end < 0 {
		return policySpan{off, len(v)}, len(v) + 1, true
	}
	return policySpan{off, off + end}, off + end + 1, true
}

// governing finds the directive that governs inline scripts in the policy
// v[p.start:p.end], following CSP3's parsing (first duplicate wins,
// non-ASCII directives skipped).
func governing(v string, p policySpan) directive {
	var best directive
	var seen [govElem + 1]bool
	for off := p.start; off < p.end; {
		end := strings.IndexByte(v[off:p.end], ';')
		if end < 0 {
			end = p.end
		} else {
			end += off
		}
		ds, de := trimSpan(v, off, end)
		off = end + 1
		if ds == de || !isASCII(v[ds:de]) {
			continue
		}
		ne := ds
		for ne < de && !isCSPSpace(v[ne]) {
			ne++
		}
		kind := directiveKind(v[ds:ne])
		if kind == govNone || seen[kind] {
			continue
		}
		seen[kind] = true
		if kind > best.kind {
			best = directive{kind: kind, nameEnd: ne, end: de}
		}
	}
	return best
}

func directiveKind(name string) int {
	switch {
	case strings.EqualFold(name, "script-src-elem"):
		return govElem
	case strings.EqualFold(name, "script-src"):
		return govScript
	case strings.EqualFold(name, "default-src"):
		return govDefault
	}
	return govNone
}

// sourceInfo is what a directive's source list says about inline scripts.
type sourceInfo struct {
	unsafeInline, strictDynamic, nonceOrHash bool
	nonce                                    string // first valid nonce
	onlyNone                                 bool   // the list is exactly 'none'
	noneStart, noneEnd                       int
}

// allowsAllInline is CSP3's "allow all inline" for scripts.
func (s sourceInfo) allowsAllInline() bool {
	return s.unsafeInline && !s.nonceOrHash && !s.strictDynamic
}

// scanSources calls fn for each source expression in v[start:end].
func scanSources(v string, start, end int, fn func(tok string, ts, te int)) {
	for i := start; i < end; {
		for i < end && isCSPSpace(v[i]) {
			i++
		}
		ts := i
		for i < end && !isCSPSpace(v[i]) {
			i++
		}
		if ts < i {
			fn(v[ts:i], ts, i)
		}
	}
}

func inspect(v string, d directive) sourceInfo {
	var s sourceInfo
	n := 0
	scanSources(v, d.nameEnd, d.end, func(tok string, ts, te int) {
		n++
		switch {
		case strings.EqualFold(tok, "'unsafe-inline'"):
			s.unsafeInline = true
		case strings.EqualFold(tok, "'strict-dynamic'"):
			s.strictDynamic = true
		case strings.EqualFold(tok, "'none'"):
			s.noneStart, s.noneEnd = ts, te
		default:
			if nonce, ok := nonceSource(tok); ok {
				s.nonceOrHash = true
				if s.nonce == "" {
					s.nonce = nonce
				}
			} else if isHashSource(tok) {
				s.nonceOrHash = true
			}
		}
	})
	s.onlyNone = n == 1 && s.noneEnd > 0
	return s
}

// hasNonce reports whether the directive lists 'nonce-<nonce>' (keyword
// case-insensitive, value exact).
func hasNonce(v string, d directive, nonce string) bool {
	found := false
	scanSources(v, d.nameEnd, d.end, func(tok string, _, _ int) {
		if n, ok := nonceSource(tok); ok && n == nonce {
			found = true
		}
	})
	return found
}

// hasToken reports whether the directive lists exactly want.
func hasToken(v string, d directive, want string) bool {
	found := false
	scanSources(v, d.nameEnd, d.end, func(tok string, _, _ int) {
		if tok == want {
			found = true
		}
	})
	return found
}

// nonceSource matches CSP's nonce-source: 'nonce-<base64-value>'.
func nonceSource(tok string) (string, bool) {
	const pre = "'nonce-"
	if len(tok) < len(pre)+2 || !strings.EqualFold(tok[:len(pre)], pre) || tok[len(tok)-1] != '\'' {
		return "", false
	}
	val := tok[len(pre) : len(tok)-1]
	return val, validNonce(val)
}

// isHashSource matches CSP's hash-source: 'sha256-…', 'sha384-…', 'sha512-…'.
func isHashSource(tok string) bool {
	const pre = "'shaNNN-"
	if len(tok) < len(pre)+2 || tok[len(tok)-1] != '\'' || tok[0] != '\'' || tok[len(pre)-1] != '-' {
		return false
	}
	alg := tok[1 : len(pre)-1]
	if !strings.EqualFold(alg, "sha256") && !strings.EqualFold(alg, "sha384") && !strings.EqualFold(alg, "sha512") {
		return false
	}
	return validNonce(tok[len(pre) : len(tok)-1])
}

func firstNonce(values []string) string {
	for _, v := range values {
		for p, next, ok := nextPolicy(v, 0); ok; p, next, ok = nextPolicy(v, next) {
			if d := governing(v, p); d.kind != govNone {
				if n := inspect(v, d).nonce; n != "" {
					return n
				}
			}
		}
	}
	return ""
}

// planValue returns the new header value when some policy in v must change.
func planValue(v, nonce string, h *lazyHash) (string, bool) {
	var b strings.Builder
	last := 0 // bytes of v before last are in b
	for p, next, ok := nextPolicy(v, 0); ok; p, next, ok = nextPolicy(v, next) {
		d := governing(v, p)
		if d.kind == govNone {
			continue
		}
		s := inspect(v, d)
		if s.allowsAllInline() || nonce != "" && s.nonce != "" && hasNonce(v, d, nonce) {
			continue
		}
		hash := h.get()
		if hasToken(v, d, hash) {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(v) + len(hash) + 32 + (d.end - d.nameEnd))
		}
		switch {
		case d.kind == govDefault:
			// script-src <default-src's sources> <hash>, appended to the policy.
			at := p.end
			for at > p.start && isCSPSpace(v[at-1]) {
				at--
			}
			b.WriteString(v[last:at])
			if v[at-1] != ';' {
				b.WriteByte(';')
			}
			b.WriteString(" script-src ")
			if !s.onlyNone {
				if vs, ve := trimSpan(v, d.nameEnd, d.end); vs < ve {
					b.WriteString(v[vs:ve])
					b.WriteByte(' ')
				}
			}
			b.WriteString(hash)
			last = at
		case s.onlyNone:
			b.WriteString(v[last:s.noneStart])
			b.WriteString(hash)
			last = s.noneEnd
		default:
			b.WriteString(v[last:d.end])
			b.WriteByte(' ')
			b.WriteString(hash)
			last = d.end
		}
	}
	if b.Len() == 0 {
		return v, false
	}
	b.WriteString(v[last:])
	return b.String(), true
}

// isCSPSpace is ASCII whitespace as CSP uses it (TAB, LF, FF, CR, SPACE).
func isCSPSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func trimSpan(v string, s, e int) (int, int) {
	for s < e && isCSPSpace(v[s]) {
		s++
	}
	for e > s && isCSPSpace(v[e-1]) {
		e--
	}
	return s, e
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
