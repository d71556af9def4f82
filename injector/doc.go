// Package injector is the Caddy-free core of caddy-intercom: the verified
// identity, the Intercom and Salesforce token signers, the streaming HTML
// rewriter, the intercomSettings snippet and Content-Security-Policy planning.
//
// Nothing here imports Caddy, so the pieces can be tested, fuzzed and
// benchmarked on their own and reused by the operator tooling.
package injector
