// Package injector is the Caddy-free request path of caddy-intercom, in the
// order a page goes through it:
//
//   - identity.go: the verified user (Identity), as resolved by the adapter;
//   - intercom_token.go, salesforce_token.go, token.go, token_cache.go: the
//     Intercom and Salesforce signers and Tokens, which signs one page's
//     tokens with sign-or-reuse from the bounded TokenCache;
//   - session.go: the session marker and the hygiene decision;
//   - page.go: the page policy — which responses are pages (IsHTML) and what
//     an injected page's headers become (Page.Apply: Content-Length,
//     validators, caching, CSP, cookies);
//   - snippet.go (generated from snippet.js), settings_json.go: the script
//     and its settings;
//   - csp.go: how the script gets past the page's Content-Security-Policy;
//   - rewriter.go (I/O, pooling) and headscan.go (the HTML grammar): the
//     streaming rewriter and the head scanner that finds the injection
//     point.
//
// Nothing here imports Caddy or the tooling subpackages (tokencheck, keys),
// so the pieces can be tested, fuzzed and benchmarked on their own.
package injector
