package injector

// TEMPORARY stand-ins for the agreed API so the Caddy module compiles while
// the library lands on other branches. Deleted at merge.

import (
	"io"
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
