package injector

// TEMPORARY stand-ins for the agreed API so the Caddy module compiles while
// the library lands on other branches. Deleted at merge.

import (
	"crypto/rsa"
	"io"
	"time"
)

type Attribute struct{ Name, Value string }
type Identity struct {
	UserID            string
	Email, Name       string
	Attributes        []Attribute
	SalesforceSubject string
}

func (id Identity) Subject() string {
	if id.SalesforceSubject != "" {
		return id.SalesforceSubject
	}
	return id.UserID
}

type Token struct {
	Value               string
	IssuedAt, ExpiresAt time.Time
}

const DefaultTTL = time.Hour

type IntercomConfig struct {
	Secret []byte
	TTL    time.Duration
	Clock  func() time.Time
}
type IntercomSigner struct{}

func NewIntercomSigner(cfg IntercomConfig) (*IntercomSigner, error) { return &IntercomSigner{}, nil }
func (s *IntercomSigner) Sign(id Identity) (Token, error)           { return Token{}, nil }
func (s *IntercomSigner) UserHash(userID string) string             { return "" }
func ValidateAttributeName(name string) error                       { return nil }

type SalesforceConfig struct {
	PrivateKeyPEM []byte
	KeyID, Issuer string
	Audience      string
	Algorithm     string
	TTL           time.Duration
	Clock         func() time.Time
}
type SalesforceSigner struct{}

func NewSalesforceSigner(cfg SalesforceConfig) (*SalesforceSigner, error) { return nil, nil }
func (s *SalesforceSigner) Sign(subject string) (Token, error)            { return Token{}, nil }
func (s *SalesforceSigner) KeyID() string                                 { return "" }
func (s *SalesforceSigner) PublicKey() *rsa.PublicKey                     { return nil }

type Outcome uint8

const (
	Pending Outcome = iota
	Injected
	Fragment
	NoInjectionPoint
)

func (o Outcome) String() string { return "" }

const DefaultScanWindow = 256 << 10

type RewriterOptions struct {
	ScanWindow int
	Decide     func(Outcome)
}
type Rewriter struct{}

func NewRewriter(dst io.Writer, snippet []byte, opts RewriterOptions) *Rewriter { return nil }
func (r *Rewriter) Write(p []byte) (int, error)                              { return 0, nil }
func (r *Rewriter) Close() error                                             { return nil }
func (r *Rewriter) Outcome() Outcome                                         { return 0 }

type Settings struct {
	AppID, APIBase, UserID            string
	IntercomUserJWT                   string
	SalesforceIdentityToken, UserHash string
}
type SnippetOptions struct {
	Loader    bool
	Endpoint  string
	RefreshIn time.Duration
	Shutdown  bool
}

func ScriptBody(s Settings, opts SnippetOptions) []byte { return nil }
func ScriptTag(body []byte, nonce string) []byte        { return nil }
func ScriptHash(body []byte) string                     { return "" }

type CSPPlan struct {
	Nonce      string
	Enforced   []string
	ReportOnly []string
	Changed    bool
}

func PlanCSP(enforced, reportOnly []string, scriptBody []byte) CSPPlan { return CSPPlan{} }

func UserHash(secret []byte, userID string) string { return "" }
