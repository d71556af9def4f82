package identityassertion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
)

// verifier checks one assertion. It is built once per config and shared; it
// holds no per-request state.
type verifier struct {
	provider  string
	parser    *jwt.Parser
	validator *jwt.Validator
	issuer    string
	audience  []string
	signers   []string
	userClaim string
	keys      keySource
}

func newVerifier(h *Handler, keys keySource) *verifier {
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(h.Algorithms),
		jwt.WithJSONNumber(),
		// Claims are validated separately below, after the ALB header
		// claims are merged in, so that each failure gets its own result.
		jwt.WithoutClaimsValidation(),
	}
	if h.Provider == providerALB {
		// ALB pads its base64url segments (and signs the padded text),
		// which a strict decoder rejects.
		popts = append(popts, jwt.WithPaddingAllowed())
	}
	vopts := []jwt.ParserOption{
		jwt.WithLeeway(time.Duration(h.Leeway)),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	}
	if h.Issuer != "" {
		vopts = append(vopts, jwt.WithIssuer(h.Issuer))
	}
	if len(h.Audience) > 0 {
		vopts = append(vopts, jwt.WithAudience(h.Audience...))
	}
	return &verifier{
		provider:  h.Provider,
		parser:    jwt.NewParser(popts...),
		validator: jwt.NewValidator(vopts...),
		issuer:    h.Issuer,
		audience:  h.Audience,
		signers:   h.Signer,
		userClaim: h.UserClaim,
		keys:      keys,
	}
}

var errWrongSigner = errors.New("signer is not one of the configured load balancers")

// verify checks raw and returns its claims and user id, or the result that
// says why it was rejected.
func (v *verifier) verify(ctx context.Context, raw string) (jwt.MapClaims, string, string, error) {
	claims := jwt.MapClaims{}
	tok, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		if v.provider == providerALB {
			// Checked before any key fetch: assertions from load
			// balancers that are not ours never cost a fetch.
			signer, _ := t.Header["signer"].(string)
			if !slices.Contains(v.signers, signer) {
				return nil, errWrongSigner
			}
		}
		return v.keys.key(ctx, t)
	})
	if err != nil {
		return nil, "", parseResult(err), err
	}
	if v.provider == providerALB {
		// ALB puts exp and iss in the JWT header; the payload carries the
		// IdP's user claims.
		for _, c := range []string{"exp", "iss"} {
			if _, ok := claims[c]; !ok {
				if hv, ok := tok.Header[c]; ok {
					claims[c] = headerNumber(hv)
				}
			}
		}
	}
	if res, err := v.validate(claims); err != nil {
		return nil, "", res, err
	}
	id := claimString(claims[v.userClaim])
	if id == "" {
		return nil, "", resultMalformed, fmt.Errorf("user claim %q missing or empty", v.userClaim)
	}
	return claims, id, resultValid, nil
}

// headerNumber turns a float64 header value (the header is decoded without
// UseNumber) into a json.Number, as the payload's numbers are.
func headerNumber(v any) any {
	if f, ok := v.(float64); ok {
		return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
	}
	return v
}

// validate checks the registered claims and names the first failure.
func (v *verifier) validate(claims jwt.MapClaims) (string, error) {
	if v.issuer != "" {
		if _, ok := claims["iss"]; !ok {
			return resultWrongIssuer, errors.New("iss missing")
		}
	}
	if len(v.audience) > 0 {
		if _, ok := claims["aud"]; !ok {
			return resultWrongAudience, errors.New("aud missing")
		}
	}
	if _, ok := claims["exp"]; !ok {
		return resultMalformed, errors.New("exp missing")
	}
	err := v.validator.Validate(claims)
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return resultWrongIssuer, err
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return resultWrongAudience, err
	case errors.Is(err, jwt.ErrTokenExpired):
		return resultExpired, err
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return resultNotYetValid, err
	}
	return resultMalformed, err
}

// parseResult maps a parse or signature error to its result.
func parseResult(err error) string {
	switch {
	case errors.Is(err, errWrongSigner):
		return resultWrongSigner
	case errors.Is(err, errUnknownKey):
		return resultUnknownKey
	case errors.Is(err, errKeysUnavailable):
		return resultKeysUnavailable
	case errors.Is(err, jwt.ErrTokenMalformed):
		return resultMalformed
	}
	// A bad signature, a disallowed alg (none, HS256 over a public key), a
	// key of the wrong type for the alg: none of them verifies.
	return resultInvalidSignature
}

// claimString renders a top-level claim as a placeholder value: strings,
// numbers and booleans only.
func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// publish sets {http.auth.user.id} and {http.auth.user.<claim>} for every
// top-level string, number or boolean claim, as Caddy's authentication does.
func publish(repl *caddy.Replacer, claims jwt.MapClaims, id string) {
	for k, v := range claims {
		if k == "id" {
			continue
		}
		switch v.(type) {
		case string, json.Number, bool:
			repl.Set("http.auth.user."+k, claimString(v))
		}
	}
	repl.Set("http.auth.user.id", id)
}
