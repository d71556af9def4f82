package injector

// TEMPORARY stand-ins for the agreed API so the Caddy module compiles while
// the library lands on other branches. Deleted at merge.

import (
	"io"
	"time"
)

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
func (r *Rewriter) Write(p []byte) (int, error)                                 { return 0, nil }
func (r *Rewriter) Close() error                                                { return nil }
func (r *Rewriter) Outcome() Outcome                                            { return 0 }

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
