package tokencheck

import (
	"bytes"
	"crypto/rsa"

	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-intercom/caddy-intercom/injector"
	"github.com/caddy-intercom/caddy-intercom/injector/keys"

	"github.com/golang-jwt/jwt/v5"
)

// This file verifies and diagnoses tokens for the `caddy intercom verify` and
// `decode` commands. Most failed Messenger logins are a token that "looks
// valid" (another workspace's secret, a numeric user_id, sub instead of
// user_id, an expired exp, a Salesforce token without kid…), so the verifiers
// do not stop at the first problem: they report every problem they find, each
// with a one-line fix, in a fixed order. Nothing here ever includes the secret
// or the token in its output.

// Severity ranks a Finding.
type Severity uint8

const (
	// SeverityInfo is a remark; it does not make a token invalid.
	SeverityInfo Severity = iota
	// SeverityWarning is a risk or a likely future failure; the token is
	// still accepted today.
	SeverityWarning
	// SeverityError means Intercom or Salesforce rejects (or cannot be
	// expected to accept) the token.
	SeverityError
)

// String returns "info", "warning" or "error".
func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityError:
		return "error"
	}
	return "severity(" + strconv.Itoa(int(s)) + ")"
}

// Finding codes: stable identifiers of each diagnosis, for tests and for
// tools that parse the verifier's output. The human text may change; these
// do not.
const (
	CodeMalformed          = "malformed"           // not a decodable JWS compact token
	CodeEncoding           = "encoding"            // base64 padding or the standard alphabet instead of base64url
	CodeAlgNone            = "alg_none"            // alg "none": an unsigned token
	CodeAlgUnsupported     = "alg_unsupported"     // alg missing or not one the service accepts
	CodeNoSecret           = "no_secret"           // no secret to check an HS256 signature with
	CodeBadSignature       = "bad_signature"       // the signature does not verify
	CodeNoUserID           = "no_user_id"          // Intercom: no user_id claim
	CodeSubNotUserID       = "sub_not_user_id"     // Intercom: sub present, user_id absent
	CodeUserIDNotString    = "user_id_not_string"  // Intercom: user_id is a number, boolean, …
	CodeUserIDEmpty        = "user_id_empty"       // Intercom: user_id is ""
	CodeUserIDMismatch     = "user_id_mismatch"    // user_id is not the expected one
	CodeUserIDCase         = "user_id_case"        // user_id differs from the expected one only in case
	CodeNoExp              = "no_exp"              // no exp claim
	CodeBadTimeClaim       = "bad_time_claim"      // exp, iat or nbf is not a NumericDate
	CodeExpired            = "expired"             // exp has passed
	CodeExpFarFuture       = "exp_far_future"      // exp further away than MaxLifetime
	CodeIatFuture          = "iat_future"          // iat in the future: clock skew
	CodeNbfFuture          = "nbf_future"          // nbf in the future
	CodeNoKeys             = "no_keys"             // Salesforce: no key to verify with
	CodeNoKid              = "no_kid"              // Salesforce: no kid header
	CodeUnknownKid         = "unknown_kid"         // Salesforce: kid not in the key set
	CodeKeyAlgMismatch     = "key_alg_mismatch"    // Salesforce: the key declares another alg
	CodeWeakKey            = "weak_key"            // Salesforce: RSA key under 2048 bits
	CodeNoX5c              = "no_x5c"              // Salesforce: JWK without x5c certificate
	CodeBadCertificate     = "bad_certificate"     // Salesforce: x5c unreadable or not the JWK's key
	CodeCertificateExpired = "certificate_expired" // Salesforce: the key's certificate has expired
	CodeCertificateExpires = "certificate_expires" // Salesforce: the certificate expires within keys.CertificateExpiryMargin
	CodeCertificateEarly   = "certificate_early"   // Salesforce: the certificate is not valid yet
	CodeNoIssuer           = "no_iss"              // Salesforce: no iss claim
	CodeIssuerMismatch     = "iss_mismatch"        // Salesforce: iss is not the keyset issuer
	CodeIssuerUnchecked    = "iss_unchecked"       // Salesforce: no expected issuer given
	CodeNoSubject          = "no_sub"              // Salesforce: no sub claim
	CodeSubjectNotString   = "sub_not_string"      // Salesforce: sub is not a string
	CodeSubjectMismatch    = "sub_mismatch"        // Salesforce: sub is not the expected one
	CodeSubjectCase        = "sub_case"            // Salesforce: sub differs from the expected one only in case
)

// DefaultMaxLifetime is how far in the future exp may lie before the verifier
// warns: 7 days, the lifetime of the Messenger's own session cookie. A token
// that outlives it gains nothing and stays replayable if it leaks; tokens
// signed by the Caddy module live 1 hour by default.
const DefaultMaxLifetime = 7 * 24 * time.Hour

// ClockSkewTolerance is how far in the future iat may be before it is an
// error rather than a warning: clocks a few seconds apart are normal, minutes
// apart shift every expiry and point at a machine without NTP.
const ClockSkewTolerance = time.Minute

// Finding is one diagnosis: what is wrong and how to fix it, each one line.
type Finding struct {
	Severity Severity
	Code     string // one of the Code constants
	Problem  string
	Fix      string // "" when there is nothing to fix
}

// The token kinds are injector.TokenKind's; these name them here.
const (
	// KindIntercom is an intercom_user_jwt (HS256, Messenger API secret).
	KindIntercom = injector.TokenIntercom
	// KindSalesforce is a salesforce_identity_token (RS256/RS512, kid header).
	KindSalesforce = injector.TokenSalesforce
)

// KindName names a token kind for people (injector.TokenKind's String is
// the metric label).
func KindName(k injector.TokenKind) string {
	if k == KindSalesforce {
		return "Salesforce identity token"
	}
	return "Intercom user JWT"
}

// Report is the outcome of verifying a token.
type Report struct {
	Kind   injector.TokenKind
	Header map[string]any // nil when the token could not be decoded; numbers are json.Number
	Claims map[string]any // nil when the token could not be decoded; numbers are json.Number
	// SignatureVerified is true when the signature checked out with the
	// secret or with the key named by KeyID.
	SignatureVerified bool
	KeyID             string    // Salesforce: the kid of the key the signature verified with
	Findings          []Finding // in check order: encoding, alg, signature/keys, identity, times
	// Valid is true when the signature verified and no finding is an error.
	Valid bool
}

// Count returns how many findings have severity s.
func (r Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Has reports whether a finding with the given code is present.
func (r Report) Has(code string) bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Code == code })
}

func (r *Report) add(sev Severity, code, problem, fix string) {
	r.Findings = append(r.Findings, Finding{Severity: sev, Code: code, Problem: problem, Fix: fix})
}

func (r *Report) finish() Report {
	r.Valid = r.SignatureVerified && r.Count(SeverityError) == 0
	return *r
}

// DecodedToken is a JWS compact token split into its parts, without any
// verification.
type DecodedToken struct {
	Header, Claims       map[string]any // JSON objects; numbers are json.Number (exact)
	RawHeader, RawClaims []byte         // the JSON text as sent, for faithful printing
	Signature            []byte
	SigningInput         string    // "header.payload" as sent: what the signature covers
	Notes                []Finding // encoding irregularities tolerated while decoding
}

// DecodeUnverified splits and decodes token without checking its signature,
// for display and diagnosis only. It tolerates base64 padding and the standard
// base64 alphabet (recording a CodeEncoding note) so that such a token can
// still be diagnosed. Errors describe the structure, never the content.
func DecodeUnverified(token string) (DecodedToken, error) {
	var d DecodedToken
	parts := strings.Split(token, ".")
	switch {
	case len(parts) == 5:
		return d, errors.New("the token has 5 dot-separated parts: it is an encrypted JWE, not a signed JWT")
	case len(parts) != 3:
		return d, fmt.Errorf("the token has %d dot-separated part(s), a JWT has 3 (header.claims.signature)", len(parts))
	}
	names := [3]string{"header", "claims", "signature"}
	var raw [3][]byte
	for i, p := range parts {
		b, note, err := diagDecodeSegment(p)
		if err != nil {
			return d, fmt.Errorf("the %s part is not base64url: %v", names[i], err)
		}
		if note != "" {
			d.Notes = append(d.Notes, Finding{
				Severity: SeverityError,
				Code:     CodeEncoding,
				Problem:  fmt.Sprintf("the %s part uses %s; JWTs use unpadded base64url (RFC 7515)", names[i], note),
				Fix:      "sign with a JWT library instead of hand-built base64 (base64url alphabet -_ without = padding)",
			})
		}
		raw[i] = b
	}
	var err error
	if d.Header, err = diagDecodeObject(raw[0]); err != nil {
		return d, fmt.Errorf("the header is not a JSON object: %v", err)
	}
	if d.Claims, err = diagDecodeObject(raw[1]); err != nil {
		return d, fmt.Errorf("the claims are not a JSON object: %v", err)
	}
	d.RawHeader, d.RawClaims, d.Signature = raw[0], raw[1], raw[2]
	d.SigningInput = parts[0] + "." + parts[1]
	return d, nil
}

// Kind guesses which service the token is for: alg HS* is Intercom's;
// RS256/RS512, or any other alg with a kid header, is Salesforce's; the rest
// (alg none, ES256 without kid…) is diagnosed as an Intercom token.
func (d DecodedToken) Kind() injector.TokenKind {
	alg, _ := d.Header["alg"].(string)
	switch {
	case strings.HasPrefix(alg, "HS"):
		return KindIntercom
	case isSalesforceAlg(alg):
		return KindSalesforce
	case d.Header["kid"] != nil:
		return KindSalesforce
	}
	return KindIntercom
}

func diagDecodeSegment(s string) (b []byte, note string, err error) {
	if b, err = base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, "", nil
	}
	var notes []string
	if strings.HasSuffix(s, "=") {
		s = strings.TrimRight(s, "=")
		notes = append(notes, "base64 '=' padding")
	}
	if b, err2 := base64.RawURLEncoding.DecodeString(s); err2 == nil {
		return b, strings.Join(notes, " and "), nil
	}
	if strings.ContainsAny(s, "+/") {
		if b, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
			notes = append(notes, "the standard base64 alphabet (+/)")
			return b, strings.Join(notes, " and "), nil
		}
	}
	var pos base64.CorruptInputError
	if errors.As(err, &pos) {
		return nil, "", fmt.Errorf("invalid character or length at byte %d", int64(pos))
	}
	return nil, "", errors.New("invalid base64url")
}

func diagDecodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, errors.New("invalid JSON")
	}
	if m == nil {
		return nil, errors.New("null")
	}
	if dec.More() {
		return nil, errors.New("trailing data after the object")
	}
	return m, nil
}

// IntercomVerifyOptions tunes VerifyIntercomToken.
type IntercomVerifyOptions struct {
	// UserID is the user_id the token should carry; "" skips the comparison.
	UserID string
	// MaxLifetime is how far in the future exp may be without a warning;
	// 0 means DefaultMaxLifetime.
	MaxLifetime time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// VerifyIntercomToken checks an intercom_user_jwt the way Intercom does (HS256
// with the Messenger API secret, a string user_id) and diagnoses every problem
// it finds. An empty secret is reported (CodeNoSecret) and leaves the token
// unverified; the claims are still diagnosed.
func VerifyIntercomToken(token string, secret []byte, opts IntercomVerifyOptions) Report {
	r := Report{Kind: KindIntercom}
	d, ok := diagDecodeInto(&r, token)
	if !ok {
		return r.finish()
	}
	now := diagNow(opts.Clock)
	alg, _ := d.Header["alg"].(string)

	// Algorithm.
	switch {
	case alg == "":
		r.add(SeverityError, CodeAlgUnsupported, "the header has no alg; Intercom requires HS256",
			"sign with HS256 and the Messenger API secret (caddy intercom sign)")
	case strings.EqualFold(alg, "none"):
		r.add(SeverityError, CodeAlgNone, fmt.Sprintf("alg is %q: the token is unsigned and Intercom rejects it", alg),
			"sign with HS256 and the Messenger API secret (caddy intercom sign)")
	case alg == "HS256":
	case alg == "HS384" || alg == "HS512":
		r.add(SeverityError, CodeAlgUnsupported, fmt.Sprintf("alg is %q; Intercom user JWTs must be HS256", alg),
			"sign with HS256 (same secret, different hash)")
	case isSalesforceAlg(alg):
		r.add(SeverityError, CodeAlgUnsupported, fmt.Sprintf("alg is %q; Intercom user JWTs must be HS256 (this looks like a Salesforce identity token)", alg),
			"to check a Salesforce token pass --certificate or --jwks; intercom_user_jwt must be HS256 with the Messenger API secret")
	default:
		r.add(SeverityError, CodeAlgUnsupported, fmt.Sprintf("alg is %q; Intercom user JWTs must be HS256", alg),
			"sign with HS256 and the Messenger API secret (caddy intercom sign)")
	}

	// Signature (HS384/HS512 are still checked, to tell a wrong hash from a
	// wrong secret).
	if method, ok := jwt.GetSigningMethod(alg).(*jwt.SigningMethodHMAC); ok {
		if len(secret) == 0 {
			r.add(SeverityError, CodeNoSecret, "no secret given: the signature was not checked",
				"set INTERCOM_SECRET or pass --secret-file with the Messenger API secret")
		} else if method.Verify(d.SigningInput, d.Signature, secret) == nil {
			r.SignatureVerified = alg == "HS256"
		} else {
			problem, fix := diagHMACMismatch(method, d, secret)
			r.add(SeverityError, CodeBadSignature, problem, fix)
		}
	}

	// Identity.
	diagUserID(&r, d.Claims, opts.UserID)

	// Times.
	diagTimes(&r, d.Claims, now, opts.MaxLifetime)
	return r.finish()
}

// diagHMACMismatch explains a bad HMAC signature, recognising the classic
// trailing-newline mistake on either side.
func diagHMACMismatch(method *jwt.SigningMethodHMAC, d DecodedToken, secret []byte) (string, string) {
	switch {
	case !bytes.Equal(bytes.TrimSpace(secret), secret) && method.Verify(d.SigningInput, d.Signature, bytes.TrimSpace(secret)) == nil:
		return "signature does not match this secret, but it does match it without its surrounding whitespace/newline",
			"remove the trailing newline or spaces from the secret you verify with (or pass it with --secret-file, which trims one newline)"
	case method.Verify(d.SigningInput, d.Signature, append(slices.Clip(secret), '\n')) == nil:
		return "signature does not match this secret, but it matches the secret followed by a newline: the signer read its secret with a trailing newline",
			"strip the trailing newline where the signer loads the secret (e.g. a file written with echo; {file.*} keeps it)"
	}
	return "signature does not match this secret: the token was signed with another key",
		"sign with this workspace's Messenger API secret (Settings > Messenger > Security); another workspace's secret (e.g. test vs production) or a rotated secret gives exactly this"
}

// diagUserID checks the user_id claim of an Intercom token.
func diagUserID(r *Report, claims map[string]any, want string) {
	v, present := claims["user_id"]
	if !present {
		if sub, ok := claims["sub"]; ok {
			r.add(SeverityError, CodeSubNotUserID,
				fmt.Sprintf("no user_id claim, but sub is %s: Intercom reads user_id, not sub", diagShow(sub)),
				"sign the user's id as the \"user_id\" claim (a string); sub is ignored")
		} else {
			r.add(SeverityError, CodeNoUserID, "no user_id claim: Intercom rejects tokens without it",
				"add \"user_id\": \"<the user's id>\" (a string) to the claims")
		}
		return
	}
	s, ok := v.(string)
	if !ok {
		r.add(SeverityError, CodeUserIDNotString,
			fmt.Sprintf("user_id is %s %s; Intercom expects a string", diagTypeName(v), diagShow(v)),
			fmt.Sprintf("sign it as a string: \"user_id\": %s", strconv.Quote(diagPlain(v))))
		return
	}
	if s == "" {
		r.add(SeverityError, CodeUserIDEmpty, "user_id is an empty string",
			"sign the logged-in user's id; send anonymous visitors no token at all")
		return
	}
	diagCompareID(r, "user_id", s, want, CodeUserIDMismatch, CodeUserIDCase)
}

// diagCompareID compares an identity claim with the expected value and
// explains near misses.
func diagCompareID(r *Report, claim, got, want, mismatch, caseOnly string) {
	if want == "" || got == want {
		return
	}
	switch {
	case strings.EqualFold(got, want):
		r.add(SeverityError, caseOnly,
			fmt.Sprintf("%s %q differs only in case from the expected %q", claim, got, want),
			"ids are compared byte for byte: sign the id exactly as your app stores it (no lower- or upper-casing)")
	case strings.TrimSpace(got) == strings.TrimSpace(want):
		r.add(SeverityError, mismatch,
			fmt.Sprintf("%s %q differs from the expected %q only by surrounding whitespace", claim, got, want),
			"ids are compared byte for byte: do not pad or trim the id on one side only")
	default:
		r.add(SeverityError, mismatch,
			fmt.Sprintf("%s %q differs from the expected %q: the token is for another user", claim, got, want),
			"check where the signer reads the user's id (the user_id/subject placeholder) and the id you expected")
	}
}

// diagTimes checks exp, iat and nbf.
func diagTimes(r *Report, claims map[string]any, now time.Time, maxLifetime time.Duration) {
	if maxLifetime <= 0 {
		maxLifetime = DefaultMaxLifetime
	}
	exp, hasExp, okExp := diagTimeClaim(r, claims, "exp", now)
	iat, hasIat, okIat := diagTimeClaim(r, claims, "iat", now)
	nbf, hasNbf, okNbf := diagTimeClaim(r, claims, "nbf", now)

	switch {
	case !hasExp:
		r.add(SeverityWarning, CodeNoExp, "no exp claim: the token never expires, so a leaked token stays valid forever",
			"set an expiry (the intercom directive's ttl, 1h by default)")
	case !okExp:
	case !exp.After(now):
		r.add(SeverityError, CodeExpired,
			fmt.Sprintf("the token expired %s ago (exp %s)", diagDuration(now.Sub(exp)), diagTime(exp)),
			"sign a fresh token on every page load; if it was signed just now, the signer's clock is behind")
	case exp.Sub(now) > maxLifetime:
		problem := fmt.Sprintf("exp is %s in the future (%s), more than the %s this check allows",
			diagDuration(exp.Sub(now)), diagTime(exp), diagDuration(maxLifetime))
		fix := "use a short lifetime (the intercom directive's ttl, 1h by default): pages are re-signed on every load"
		if v, _ := diagNumber(claims["exp"]); v > 1e11 {
			problem = fmt.Sprintf("exp %s looks like milliseconds: as seconds it lies in %d", diagPlain(claims["exp"]), exp.Year())
			fix = "NumericDate is in seconds: divide by 1000 (e.g. Math.floor(Date.now()/1000) + 3600)"
		}
		r.add(SeverityWarning, CodeExpFarFuture, problem, fix)
	}
	if hasIat && okIat && iat.After(now) {
		skew := iat.Sub(now)
		sev := SeverityWarning
		if skew > ClockSkewTolerance {
			sev = SeverityError
		}
		r.add(sev, CodeIatFuture,
			fmt.Sprintf("iat is %s in the future (%s): the signer's clock is ahead of this machine's", diagDuration(skew), diagTime(iat)),
			"synchronise both clocks with NTP (timedatectl set-ntp true)")
	}
	if hasNbf && okNbf && nbf.After(now) {
		r.add(SeverityError, CodeNbfFuture,
			fmt.Sprintf("nbf is %s in the future (%s): the token is not valid yet", diagDuration(nbf.Sub(now)), diagTime(nbf)),
			"drop nbf (neither Intercom nor Salesforce needs it) or synchronise the signer's clock")
	}
}

// diagTimeClaim reads a NumericDate claim; a present but malformed value is
// reported here.
func diagTimeClaim(r *Report, claims map[string]any, name string, now time.Time) (t time.Time, present, ok bool) {
	v, present := claims[name]
	if !present {
		return time.Time{}, false, false
	}
	f, ok := diagNumber(v)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e15 {
		r.add(SeverityError, CodeBadTimeClaim,
			fmt.Sprintf("%s is %s %s, not a NumericDate (seconds since 1970)", name, diagTypeName(v), diagShow(v)),
			fmt.Sprintf("sign %s as an integer number of seconds, e.g. %d for now", name, now.Unix()))
		return time.Time{}, true, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, true
}

func diagNumber(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

// SalesforceVerifyOptions tunes VerifySalesforceToken.
type SalesforceVerifyOptions struct {
	// Issuer is the keyset's "JSON Web Key Issuer"; iss must equal it byte
	// for byte. "" skips the comparison (reported as a remark).
	Issuer string
	// Subject is the sub the token should carry; "" skips the comparison.
	Subject string
	// MaxLifetime is how far in the future exp may be without a warning;
	// 0 means DefaultMaxLifetime.
	MaxLifetime time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// VerifySalesforceToken checks a salesforce_identity_token the way Salesforce
// does (RS256/RS512, the key picked by the kid header, iss equal to the
// keyset's issuer) against keys, and diagnoses every problem it finds,
// including the certificates in the keys' x5c (expired, expiring within
// keys.CertificateExpiryMargin, not matching n/e).
func VerifySalesforceToken(token string, keys keys.JWKS, opts SalesforceVerifyOptions) Report {
	r := Report{Kind: KindSalesforce}
	d, ok := diagDecodeInto(&r, token)
	if !ok {
		return r.finish()
	}
	now := diagNow(opts.Clock)
	alg, _ := d.Header["alg"].(string)
	kid, kidIsString := d.Header["kid"].(string)
	_, hasKid := d.Header["kid"]

	const algFix = "Salesforce accepts RS256 or RS512 only: sign with the RSA private key (salesforce { algorithm RS256 })"
	switch {
	case alg == "":
		r.add(SeverityError, CodeAlgUnsupported, "the header has no alg; Salesforce requires RS256 or RS512", algFix)
	case strings.EqualFold(alg, "none"):
		r.add(SeverityError, CodeAlgNone, fmt.Sprintf("alg is %q: the token is unsigned and Salesforce rejects it", alg), algFix)
	case isSalesforceAlg(alg):
	case strings.HasPrefix(alg, "HS"):
		r.add(SeverityError, CodeAlgUnsupported, fmt.Sprintf("alg is %q; Salesforce requires RS256 or RS512 (this looks like an Intercom user JWT)", alg),
			"to check an Intercom token, drop --certificate/--jwks/--issuer and set INTERCOM_SECRET; a Salesforce token must be RS256/RS512")
	default:
		r.add(SeverityError, CodeAlgUnsupported, fmt.Sprintf("alg is %q; Salesforce requires RS256 or RS512", alg), algFix)
	}
	method, _ := jwt.GetSigningMethod(alg).(*jwt.SigningMethodRSA)

	var kidProblem, kidFix string
	switch {
	case !hasKid:
		kidProblem = "the header has no kid: Salesforce picks the verification key by kid"
		kidFix = "set kid to the id of the uploaded key (salesforce { key_id … }, the KID of caddy intercom keygen)"
	case !kidIsString || kid == "":
		kidProblem = fmt.Sprintf("kid is %s %s, not a key id", diagTypeName(d.Header["kid"]), diagShow(d.Header["kid"]))
		kidFix = "set kid to the id of the uploaded key (salesforce { key_id … }, the KID of caddy intercom keygen)"
	}
	if kidProblem != "" {
		if other := diagFindSigner(d, method, keys); other != "" {
			kidProblem += fmt.Sprintf("; the signature does verify with key %q", other)
			kidFix = fmt.Sprintf("set kid to %q (salesforce { key_id %s })", other, other)
		}
		r.add(SeverityError, CodeNoKid, kidProblem, kidFix)
	}

	switch {
	case len(keys.Keys) == 0:
		r.add(SeverityError, CodeNoKeys, "no keys given: the signature was not checked",
			"pass the key's certificate (--certificate KID.cert.pem) or the keyset (--jwks FILE)")
	case kidProblem != "":
	default:
		if key, found := keys.Find(kid); found {
			diagSalesforceKey(&r, d, method, key, now)
		} else {
			problem := fmt.Sprintf("kid %q is not in the key set (known: %s)", kid, diagKids(keys))
			fix := "upload the JWK for this kid and add it to the keyset, or set key_id to the kid of an uploaded key"
			if other := diagFindSigner(d, method, keys); other != "" {
				problem += fmt.Sprintf("; the signature does verify with key %q", other)
				fix = fmt.Sprintf("the signer uses the right key with the wrong id: set key_id to %q", other)
			}
			r.add(SeverityError, CodeUnknownKid, problem, fix)
		}
	}

	// Claims.
	iss, hasIss := d.Claims["iss"]
	issStr, issIsString := iss.(string)
	switch {
	case !hasIss:
		r.add(SeverityError, CodeNoIssuer, "no iss claim: Salesforce matches iss against the keyset's issuer",
			"set the issuer (salesforce { issuer … }) to the keyset's JSON Web Key Issuer")
	case !issIsString:
		r.add(SeverityError, CodeNoIssuer, fmt.Sprintf("iss is %s %s, not a string", diagTypeName(iss), diagShow(iss)),
			"set the issuer (salesforce { issuer … }) to the keyset's JSON Web Key Issuer")
	case opts.Issuer == "":
		r.add(SeverityInfo, CodeIssuerUnchecked, fmt.Sprintf("iss %q was not compared with the keyset's issuer", issStr),
			"pass --issuer with the keyset's JSON Web Key Issuer to check it")
	case issStr != opts.Issuer:
		why := ""
		switch {
		case strings.TrimRight(issStr, "/") == strings.TrimRight(opts.Issuer, "/"):
			why = " only by a trailing slash"
		case strings.EqualFold(issStr, opts.Issuer):
			why = " only in case"
		case strings.TrimSpace(issStr) == strings.TrimSpace(opts.Issuer):
			why = " only by surrounding whitespace"
		}
		r.add(SeverityError, CodeIssuerMismatch,
			fmt.Sprintf("iss %q differs from the keyset issuer %q%s", issStr, opts.Issuer, why),
			"Salesforce compares byte for byte: make salesforce { issuer } and the keyset's JSON Web Key Issuer identical")
	}

	sub, hasSub := d.Claims["sub"]
	switch subStr, isString := sub.(string); {
	case !hasSub:
		r.add(SeverityError, CodeNoSubject, "no sub claim: Salesforce identifies the user by sub",
			"sign the user's id as sub (salesforce { subject … }, default the user_id)")
	case !isString:
		r.add(SeverityError, CodeSubjectNotString,
			fmt.Sprintf("sub is %s %s; it must be a string", diagTypeName(sub), diagShow(sub)),
			fmt.Sprintf("sign it as a string: \"sub\": %s", strconv.Quote(diagPlain(sub))))
	case subStr == "":
		r.add(SeverityError, CodeNoSubject, "sub is an empty string", "sign the logged-in user's id as sub")
	default:
		diagCompareID(&r, "sub", subStr, opts.Subject, CodeSubjectMismatch, CodeSubjectCase)
	}

	diagTimes(&r, d.Claims, now, opts.MaxLifetime)
	return r.finish()
}

// diagSalesforceKey verifies the signature with the key the kid names and
// checks the key itself.
func diagSalesforceKey(r *Report, d DecodedToken, method *jwt.SigningMethodRSA, key keys.JWK, now time.Time) {
	pub, err := key.PublicKey()
	if err != nil {
		r.add(SeverityError, CodeBadCertificate, err.Error(), "regenerate the JWK from the certificate (caddy intercom jwks CERT.pem)")
		return
	}
	alg := ""
	if method != nil {
		alg = method.Alg()
		if method.Verify(d.SigningInput, d.Signature, pub) == nil {
			r.SignatureVerified = true
			r.KeyID = key.Kid
		} else {
			r.add(SeverityError, CodeBadSignature,
				fmt.Sprintf("the RSA signature does not verify with key %q: the token was signed with another private key", key.Kid),
				"make private_key and the uploaded certificate/JWK for this kid a pair (caddy intercom keygen writes matching files)")
		}
	}
	if key.Alg != "" && alg != "" && key.Alg != alg {
		r.add(SeverityWarning, CodeKeyAlgMismatch,
			fmt.Sprintf("key %q is declared for %s but the token uses %s", key.Kid, key.Alg, alg),
			fmt.Sprintf("sign with %s (salesforce { algorithm %s }) or upload the key with alg %s", key.Alg, key.Alg, alg))
	}
	if bits := pub.N.BitLen(); bits < 2048 {
		r.add(SeverityWarning, CodeWeakKey, fmt.Sprintf("key %q is only %d bits; Salesforce expects at least 2048", key.Kid, bits),
			"generate a 2048-bit or larger key (caddy intercom keygen) and rotate")
	}

	cert, err := key.Certificate()
	switch {
	case err != nil:
		r.add(SeverityError, CodeBadCertificate, err.Error(), "put the DER certificate, standard base64 without PEM lines, in x5c (caddy intercom jwks CERT.pem)")
		return
	case cert == nil:
		r.add(SeverityWarning, CodeNoX5c,
			fmt.Sprintf("key %q has no x5c certificate: a JWK uploaded to a \"Keys\" keyset without it is accepted, but its tokens never verify", key.Kid),
			"upload the JWK with its certificate (caddy intercom keygen writes KID.jwk.json; caddy intercom jwks KID.cert.pem)")
		return
	}
	if certPub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !certPub.Equal(pub) {
		r.add(SeverityError, CodeBadCertificate,
			fmt.Sprintf("key %q: the x5c certificate holds a different public key than n/e", key.Kid),
			"regenerate the JWK from the certificate (caddy intercom jwks CERT.pem)")
	}
	const rotate = "rotate: caddy intercom keygen --kid NEW …, upload the new JWK, switch key_id; keep the old key in the keyset until its tokens expire"
	switch left := cert.NotAfter.Sub(now); {
	case left <= 0:
		r.add(SeverityError, CodeCertificateExpired,
			fmt.Sprintf("the certificate of key %q expired %s ago (%s)", key.Kid, diagDuration(-left), diagTime(cert.NotAfter)), rotate)
	case left < keys.CertificateExpiryMargin:
		r.add(SeverityWarning, CodeCertificateExpires,
			fmt.Sprintf("the certificate of key %q expires in %s (%s); Salesforce wants at least %s of validity", key.Kid, diagDuration(left), diagTime(cert.NotAfter), diagDuration(keys.CertificateExpiryMargin)), rotate)
	}
	if cert.NotBefore.After(now) {
		r.add(SeverityWarning, CodeCertificateEarly,
			fmt.Sprintf("the certificate of key %q is not valid until %s (in %s)", key.Kid, diagTime(cert.NotBefore), diagDuration(cert.NotBefore.Sub(now))),
			"check this machine's clock, or wait before uploading the key")
	}
}

// diagFindSigner returns the kid of the first key that verifies the
// signature, or "".
func diagFindSigner(d DecodedToken, method *jwt.SigningMethodRSA, keys keys.JWKS) string {
	if method == nil {
		return ""
	}
	for _, k := range keys.Keys {
		if pub, err := k.PublicKey(); err == nil && method.Verify(d.SigningInput, d.Signature, pub) == nil {
			return k.Kid
		}
	}
	return ""
}

func diagKids(keys keys.JWKS) string {
	ids := make([]string, len(keys.Keys))
	for i, k := range keys.Keys {
		ids[i] = strconv.Quote(k.Kid)
	}
	return strings.Join(ids, ", ")
}

// diagDecodeInto decodes token into r, reporting a malformed token.
func diagDecodeInto(r *Report, token string) (DecodedToken, bool) {
	d, err := DecodeUnverified(token)
	if err != nil {
		r.add(SeverityError, CodeMalformed, err.Error(),
			"pass the raw token (eyJ….eyJ….…) without quotes, a \"Bearer \" prefix or line breaks")
		return d, false
	}
	r.Header, r.Claims = d.Header, d.Claims
	r.Findings = append(r.Findings, d.Notes...)
	return d, true
}

func diagNow(clock func() time.Time) time.Time {
	if clock == nil {
		return time.Now()
	}
	return clock()
}

// diagTypeName names a JSON value's type with its article, for messages.
func diagTypeName(v any) string {
	switch v.(type) {
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// diagShow renders a claim value for a message: strings quoted, the rest as
// compact JSON, long values shortened.
func diagShow(v any) string {
	if v == nil {
		return "(null)"
	}
	var s string
	if str, ok := v.(string); ok {
		s = strconv.Quote(str)
	} else {
		b, err := json.Marshal(v)
		if err != nil {
			return "(?)"
		}
		s = "(" + string(b) + ")"
	}
	if len(s) > 80 {
		s = s[:77] + "…"
	}
	return s
}

// diagPlain renders a scalar claim value without quotes.
func diagPlain(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// diagTime formats a time for messages: UTC, second precision.
func diagTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// diagDuration formats a duration for people, with at most two units and
// rounded to the smaller one: "42s", "5m30s", "2h5m", "3d4h".
func diagDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	const day = 24 * time.Hour
	if r := d.Round(time.Second); r < time.Minute {
		return fmt.Sprintf("%ds", int64(r/time.Second))
	} else if r < time.Hour {
		return fmt.Sprintf("%dm%ds", int64(r/time.Minute), int64(r%time.Minute/time.Second))
	}
	if r := d.Round(time.Minute); r < day {
		return fmt.Sprintf("%dh%dm", int64(r/time.Hour), int64(r%time.Hour/time.Minute))
	}
	r := d.Round(time.Hour)
	return fmt.Sprintf("%dd%dh", int64(r/day), int64(r%day/time.Hour))
}

// FormatDuration renders d the way the diagnoses do ("42s", "5m30s", "2h5m",
// "3d4h"), so that tools printing times next to a Report read the same.
func FormatDuration(d time.Duration) string { return diagDuration(d) }

// isSalesforceAlg reports whether alg is one Salesforce accepts.
func isSalesforceAlg(alg string) bool {
	_, ok := injector.SalesforceAlgorithm(alg)
	return ok
}
