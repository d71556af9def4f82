//go:build node

// The snippet's behaviour tests run the generated script in Node
// (testdata/snippet/harness.js): go test -tags node ./injector/
package injector

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// nodeResult is what testdata/snippet/harness.js reports.
type nodeResult struct {
	Calls []struct {
		Method string         `json:"method"`
		Arg    map[string]any `json:"arg"`
		Via    string         `json:"via"`
	} `json:"calls"`
	Fetches []struct {
		URL  string         `json:"url"`
		Init map[string]any `json:"init"`
		At   int64          `json:"at"`
	} `json:"fetches"`
	SF []struct {
		Method string `json:"method"`
		Arg    any    `json:"arg"`
	} `json:"sf"`
	Scripts []struct {
		Src   string `json:"src"`
		Nonce string `json:"nonce"`
		Async bool   `json:"async"`
	} `json:"scripts"`
	Widgets        int            `json:"widgets"`
	Settings       map[string]any `json:"settings"`
	TypeofIntercom string         `json:"typeofIntercom"`
	Edge           *struct {
		Loader bool     `json:"loader"`
		Log    []string `json:"log"`
		// Counted from the log.
		Refreshes, RefreshFailures, SFAttempts, Shutdowns int `json:"-"`
	} `json:"edge"`
	Errors []string       `json:"errors"`
	Extra  map[string]any `json:"extra"`
}

func (r *nodeResult) methods() []string {
	var m []string
	for _, c := range r.Calls {
		m = append(m, c.Method+"/"+c.Via)
	}
	return m
}

// runScenario runs ScriptBody(s, opts) through one scenario of the harness.
// Node is required: CI has it, and skipping would let the behaviour rot.
func runScenario(t *testing.T, scenario string, s Settings, opts SnippetOptions) *nodeResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node (Node.js >= 18) is not on PATH: the snippet behaviour tests run the script in Node; install it (Debian: apt-get install -y nodejs)")
	}
	refresh := opts.RefreshIn
	if refresh <= 0 {
		refresh = DefaultRefreshIn
	}
	in, err := json.Marshal(map[string]any{
		"body":     string(ScriptBody(s, opts)),
		"scenario": scenario,
		"params": map[string]any{
			"app_id": s.AppID, "api_base": s.APIBase, "user_id": s.UserID,
			"refresh_ms": refresh.Milliseconds(), "nonce": "pageNonce123",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "snippet", "harness.js"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("harness %s: %v\n%s", scenario, err, stderr.String())
	}
	var r nodeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("harness output: %v\n%s", err, out)
	}
	if len(r.Errors) > 0 {
		t.Errorf("errors in the page: %q", r.Errors)
	}
	if r.Edge == nil {
		t.Fatal("window.__intercomEdge missing")
	}
	for _, entry := range r.Edge.Log {
		switch entry {
		case "refresh":
			r.Edge.Refreshes++
		case "retry":
			r.Edge.RefreshFailures++
		case "sf:ask":
			r.Edge.SFAttempts++
		case "shutdown":
			r.Edge.Shutdowns++
		}
		for _, secret := range []string{s.IntercomUserJWT, s.SalesforceIdentityToken, s.UserHash, "jwt-", "sf-"} {
			if secret != "" && strings.Contains(entry, secret) {
				t.Errorf("log entry %q contains a token", entry)
			}
		}
		if strings.HasPrefix(entry, "error") {
			t.Errorf("script logged %q", entry)
		}
	}
	return &r
}

// trusted is what the page must see for baseSettings (JSON numbers aside).
func trusted(s Settings) map[string]any {
	m := map[string]any{"app_id": s.AppID, "user_id": s.UserID}
	for k, v := range map[string]string{"api_base": s.APIBase, "intercom_user_jwt": s.IntercomUserJWT,
		"email": s.Email, "name": s.Name,
		"salesforce_identity_token": s.SalesforceIdentityToken, "user_hash": s.UserHash} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v\nwant %#v", what, got, want)
	}
}

func TestSnippetBehaviour(t *testing.T) {
	base := baseSettings()
	tb := trusted(base)
	sfSettings := base
	sfSettings.SalesforceIdentityToken = testSFToken
	endpoint := SnippetOptions{Endpoint: "/intercom/jwt", RefreshIn: 5 * time.Second}
	withTokens := sfSettings
	withTokens.UserHash = testHash
	emailSettings := base
	emailSettings.Email, emailSettings.Name = "jane@example.com", "Jane"

	tests := []struct {
		scenario string
		s        Settings
		opts     SnippetOptions
		check    func(t *testing.T, r *nodeResult)
	}{
		{"settings_after", base, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			eq(t, "initial settings", r.Extra["initial"], tb)
			eq(t, "settings", r.Settings, with(tb, "custom", "keep", "other", float64(1)))
			eq(t, "settings after delete", r.Extra["heldAfterDelete"], with(tb, "custom", "keep", "other", float64(1)))
			eq(t, "strict-mode delete of a trusted key refused", r.Extra["deleteThrew"], true)
		}},
		{"settings_reference", base, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			eq(t, "user_id read from the page's own reference", r.Extra["heldUserID"], base.UserID)
			eq(t, "settings", r.Settings, with(tb, "custom", "held"))
		}},
		{"settings_var", base, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			eq(t, "settings", r.Settings, with(tb, "custom", "keep"))
			eq(t, "still an accessor", r.Extra["stillAccessor"], true)
		}},
		{"settings_before", base, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			// user_hash was not configured: the page's own stays.
			eq(t, "settings", r.Settings, with(tb, "custom", "keep", "user_hash", "forged"))
		}},
		{"settings_frozen", base, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			eq(t, "settings", r.Settings, with(tb, "custom", "keep"))
		}},
		{"boot_update", base, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			eq(t, "calls", r.methods(), []string{"boot/queue", "update/queue", "update/queue", "update/live", "boot/live", "show/live"})
			eq(t, "queued boot", r.Calls[0].Arg, with(tb, "custom", float64(1)))
			eq(t, "queued update", r.Calls[1].Arg, with(tb, "custom", float64(2)))
			eq(t, "queued bare update", r.Calls[2].Arg, tb)
			eq(t, "update after the widget replaced the queue", r.Calls[3].Arg, with(tb, "custom", float64(3)))
			eq(t, "boot via .call", r.Calls[4].Arg, tb)
			eq(t, "show", r.Calls[5].Arg, map[string]any(nil))
			eq(t, "typeof before", r.Extra["typeofBefore"], "function")
			eq(t, "typeof after", r.Extra["typeofAfter"], "function")
			eq(t, "queue length through the proxy", r.Extra["queued"], float64(3))
			eq(t, "one proxy per function", r.Extra["sameProxy"], true)
			eq(t, "widget's .booted through the proxy", r.Extra["booted"], true)
			eq(t, "settings", r.Settings, with(tb, "custom", "page"))
		}},
		{"loader_none", base, SnippetOptions{Loader: true}, func(t *testing.T, r *nodeResult) {
			if len(r.Scripts) != 1 {
				t.Fatalf("scripts = %+v, want the widget once", r.Scripts)
			}
			eq(t, "widget src", r.Scripts[0].Src, "https://widget.intercom.io/widget/"+testAppID)
			eq(t, "widget nonce (ours, handed on)", r.Scripts[0].Nonce, "pageNonce123")
			eq(t, "async", r.Scripts[0].Async, true)
			eq(t, "calls", r.methods(), []string{"boot/auto"})
			eq(t, "boot", r.Calls[0].Arg, tb)
			eq(t, "edge.loader", r.Edge.Loader, true)
		}},
		{"loader_page_has", base, SnippetOptions{Loader: true}, func(t *testing.T, r *nodeResult) {
			eq(t, "widgets", r.Widgets, 1)
			eq(t, "scripts", len(r.Scripts), 1)
			eq(t, "nonce (the page's loader sets none)", r.Scripts[0].Nonce, "")
			eq(t, "edge.loader", r.Edge.Loader, false)
			eq(t, "calls", r.methods(), []string{"boot/auto"})
			eq(t, "boot", r.Calls[0].Arg, tb)
		}},
		{"loader_page_on_load", base, SnippetOptions{Loader: true}, func(t *testing.T, r *nodeResult) {
			eq(t, "widgets", r.Widgets, 1)
			eq(t, "edge.loader", r.Edge.Loader, false)
		}},
		{"loader_off", base, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			eq(t, "scripts", len(r.Scripts), 0)
			eq(t, "typeof Intercom", r.TypeofIntercom, "undefined")
		}},
		{"refresh", base, endpoint, func(t *testing.T, r *nodeResult) {
			eq(t, "fetches just before RefreshIn", r.Extra["fetchesBeforeDue"], float64(0))
			eq(t, "fetches at RefreshIn", r.Extra["fetchesAtDue"], float64(1))
			eq(t, "fetches at 79 s (80% of 100 s not reached)", r.Extra["fetchesAt79s"], float64(1))
			eq(t, "fetches at 81 s", r.Extra["fetchesAt81s"], float64(2))
			// The page's own origin, never a path relative to a <base>;
			// no redirects, no credentials or responses across origins.
			eq(t, "fetch url", r.Fetches[0].URL, "https://app.example.test/intercom/jwt")
			eq(t, "fetch init", r.Fetches[0].Init, map[string]any{"credentials": "same-origin", "mode": "same-origin",
				"redirect": "error", "cache": "no-store"})
			eq(t, "calls", r.methods(), []string{"boot/auto", "update/live", "update/live"})
			eq(t, "first update", r.Calls[1].Arg, with(tb, "intercom_user_jwt", "jwt-2"))
			eq(t, "second update", r.Calls[2].Arg, with(tb, "intercom_user_jwt", "jwt-3"))
			eq(t, "settings after the first refresh", r.Extra["settingsAfterFirst"], with(tb, "intercom_user_jwt", "jwt-2"))
			eq(t, "refreshes", r.Edge.Refreshes, 2)
		}},
		{"refresh_401", sfSettings, endpoint, func(t *testing.T, r *nodeResult) {
			eq(t, "fetches", len(r.Fetches), 1)
			eq(t, "calls", r.methods(), []string{"boot/auto", "shutdown/live", "boot/live"})
			// After logout the trusted identity is gone: a later boot is anonymous.
			eq(t, "boot after logout", r.Calls[2].Arg, map[string]any{"app_id": testAppID, "api_base": testAPIBase})
			eq(t, "salesforce", len(r.SF), 1)
			eq(t, "clearSession", r.SF[0].Method+"/"+toString(r.SF[0].Arg), "clearSession/true")
			eq(t, "shutdowns", r.Edge.Shutdowns, 1)
			eq(t, "settings", r.Settings, map[string]any{"app_id": testAppID, "api_base": testAPIBase})
		}},
		{"refresh_neterr", base, endpoint, func(t *testing.T, r *nodeResult) {
			var gaps []int64
			for i := 1; i < len(r.Fetches); i++ {
				gaps = append(gaps, r.Fetches[i].At-r.Fetches[i-1].At)
			}
			eq(t, "retry gaps (ms)", gaps, []int64{2000, 4000, 8000, 16000, 32000})
			eq(t, "refreshFailures", r.Edge.RefreshFailures, 6)
			eq(t, "refreshes", r.Edge.Refreshes, 0)
		}},
		{"refresh_recover", base, endpoint, func(t *testing.T, r *nodeResult) {
			eq(t, "fetches after 502, network error, 200", r.Extra["fetchesAfterRecover"], float64(3))
			eq(t, "fetches 81 s later (timed from expires_at)", len(r.Fetches), 4)
			eq(t, "refreshFailures", r.Edge.RefreshFailures, 2)
			eq(t, "refreshes", r.Edge.Refreshes, 2)
			eq(t, "calls", r.methods(), []string{"boot/auto", "update/live", "update/live"})
			eq(t, "update", r.Calls[1].Arg, with(tb, "intercom_user_jwt", "jwt-3"))
		}},
		{"refresh_user_changed", base, endpoint, func(t *testing.T, r *nodeResult) {
			eq(t, "fetches", len(r.Fetches), 1)
			eq(t, "calls", r.methods(), []string{"boot/auto", "shutdown/live"})
			eq(t, "shutdowns", r.Edge.Shutdowns, 1)
		}},
		{"sf_retry", sfSettings, SnippetOptions{Endpoint: "/intercom/jwt", RefreshIn: time.Hour}, func(t *testing.T, r *nodeResult) {
			eq(t, "fetches after a storm of rejections", r.Extra["fetchesAfterStorm"], float64(3))
			eq(t, "fetches while the event keeps firing", r.Extra["fetchesWhileNoisy"], float64(3))
			eq(t, "fetches after 60 s of quiet", r.Extra["fetchesAfterQuiet"], float64(4))
			eq(t, "sfAttempts", r.Edge.SFAttempts, 4)
			eq(t, "setIdentityToken calls", len(r.SF), 4)
			for i, c := range r.SF {
				eq(t, "salesforce call", c.Method, "setIdentityToken")
				eq(t, "salesforce arg", c.Arg, map[string]any{"identityTokenType": "JWT",
					"identityToken": "sf-" + string(rune('1'+i))})
			}
		}},
		{"sf_no_endpoint", sfSettings, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			eq(t, "fetches", len(r.Fetches), 0)
			eq(t, "salesforce calls", len(r.SF), 1)
			eq(t, "salesforce arg", r.SF[0].Arg, map[string]any{"identityTokenType": "JWT", "identityToken": testSFToken})
			eq(t, "sfAttempts", r.Edge.SFAttempts, 1)
		}},
		{"shutdown_before_boot", sfSettings, SnippetOptions{Shutdown: true}, func(t *testing.T, r *nodeResult) {
			eq(t, "calls", r.methods(), []string{"shutdown/queue", "boot/queue"})
			eq(t, "boot", r.Calls[1].Arg, with(trusted(sfSettings), "custom", float64(1)))
			eq(t, "salesforce", len(r.SF), 1)
			eq(t, "clearSession", r.SF[0].Method+"/"+toString(r.SF[0].Arg), "clearSession/true")
			eq(t, "shutdowns", r.Edge.Shutdowns, 1)
		}},
		{"shutdown_loader", base, SnippetOptions{Shutdown: true, Loader: true}, func(t *testing.T, r *nodeResult) {
			eq(t, "calls", r.methods(), []string{"shutdown/queue", "boot/auto"})
			eq(t, "boot", r.Calls[1].Arg, tb)
		}},
		{"shutdown_only", Settings{AppID: testAppID}, SnippetOptions{Shutdown: true, Loader: true}, func(t *testing.T, r *nodeResult) {
			eq(t, "settings before the page's", r.Extra["settingsBefore"], "undefined")
			eq(t, "calls", r.methods(), []string{"shutdown/queue", "boot/queue"})
			eq(t, "the page's anonymous boot, untouched", r.Calls[1].Arg, map[string]any{"app_id": "page"})
			eq(t, "window.Intercom back to a plain property", r.Extra["plainProperty"], true)
			eq(t, "widgets (no loader of ours)", r.Widgets, 1)
			eq(t, "salesforce", len(r.SF), 1)
			eq(t, "shutdowns", r.Edge.Shutdowns, 1)
		}},
		{"refresh_widen", base, endpoint, func(t *testing.T, r *nodeResult) {
			// Only intercom_user_jwt was present at boot: the response's
			// app_id, api_base, user_hash, Salesforce token and email are
			// ignored.
			eq(t, "calls", r.methods(), []string{"boot/auto", "update/live"})
			eq(t, "update", r.Calls[1].Arg, with(tb, "intercom_user_jwt", "jwt-2"))
			eq(t, "settings", r.Settings, with(tb, "intercom_user_jwt", "jwt-2"))
		}},
		{"refresh_widen", withTokens, endpoint, func(t *testing.T, r *nodeResult) {
			// All three tokens were present at boot: all three refresh.
			want := with(trusted(withTokens), "intercom_user_jwt", "jwt-2", "user_hash", "evil-hash",
				"salesforce_identity_token", "evil-sf")
			eq(t, "settings", r.Settings, want)
			eq(t, "update", r.Calls[1].Arg, want)
		}},
		{"redefine", emailSettings, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			eq(t, "attempts", r.Extra["tries"], map[string]any{"defineSettings": "TypeError", "deleteSettings": "TypeError",
				"defineIntercom": "TypeError", "deleteIntercom": "TypeError", "defineKey": "TypeError"})
			locked := map[string]any{"configurable": false, "accessor": true}
			eq(t, "descriptors", r.Extra["descriptors"], map[string]any{"intercomSettings": locked, "Intercom": locked, "user_id": locked})
			te := trusted(emailSettings)
			eq(t, "calls", r.methods(), []string{"boot/queue"})
			eq(t, "boot: edge email and name, not the page's", r.Calls[0].Arg, te)
			eq(t, "settings", r.Settings, with(te, "custom", "keep"))
		}},
		{"settings_proxy", base, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			eq(t, "calls", r.methods(), []string{"boot/auto"})
			eq(t, "auto boot from the settings", r.Calls[0].Arg, with(tb, "custom", "held"))
			eq(t, "settings", r.Settings, with(tb, "custom", "held"))
			eq(t, "the page's own object, locked behind its proxy", r.Extra["heldUserID"], base.UserID)
		}},
		{"queue_push", base, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			eq(t, "pushed through window.Intercom.q: a copy", r.Extra["queuedThroughProxy"], float64(0))
			eq(t, "queued", r.Extra["queued"], float64(2))
			eq(t, "calls", r.methods(), []string{"boot/queue", "update/queue"})
			eq(t, "boot pushed into the queue", r.Calls[0].Arg, with(tb, "custom", float64(1)))
			eq(t, "update pushed as an array-like", r.Calls[1].Arg, tb)
		}},
		{"boot_proxy", base, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			// The method object answers 'show' first, then 'boot': the
			// widget gets the string the snippet judged.
			eq(t, "calls", r.methods(), []string{"boot/queue", "update/queue", "show/queue"})
			eq(t, "boot from a Proxy that throws on inspection", r.Calls[0].Arg, tb)
			eq(t, "update from a Proxy that lies", r.Calls[1].Arg, with(tb, "custom", float64(2)))
		}},
		{"prototype_traps", base, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			eq(t, "setters on Object.prototype reached", r.Extra["stolen"], []any{})
			eq(t, "calls", r.methods(), []string{"boot/queue", "update/live"})
			eq(t, "boot", r.Calls[0].Arg, with(tb, "custom", float64(1)))
			eq(t, "update", r.Calls[1].Arg, with(tb, "custom", float64(2)))
			eq(t, "settings", r.Settings, with(tb, "custom", "keep"))
		}},
		{"page_shutdown", base, endpoint, func(t *testing.T, r *nodeResult) {
			eq(t, "calls", r.methods(), []string{"boot/queue", "shutdown/live", "boot/live", "update/live"})
			eq(t, "boot before", r.Calls[0].Arg, with(tb, "custom", float64(1)))
			eq(t, "anonymous boot, as the page wrote it", r.Calls[2].Arg, map[string]any{"app_id": "x"})
			eq(t, "update, as the page wrote it", r.Calls[3].Arg, map[string]any{"user_id": "next-user"})
			eq(t, "no refresh after the page's shutdown", len(r.Fetches), 0)
			eq(t, "shutdowns by the script", r.Edge.Shutdowns, 0)
			eq(t, "settings", r.Extra["settingsAfterShutdown"], map[string]any{"app_id": testAppID, "api_base": testAPIBase, "user_id": "next-user"})
		}},
		{"hostile", base, SnippetOptions{}, func(t *testing.T, r *nodeResult) {
			eq(t, "settings after null and 5", r.Extra["settingsAfterNull"], tb)
			calls, _ := r.Extra["pageCalls"].([]any)
			want := []any{
				[]any{"boot", tb},
				[]any{"update", tb},
				[]any{"update", tb},
				[]any{"trackEvent", "x"},
			}
			eq(t, "page function calls", calls, want)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			tt.check(t, runScenario(t, tt.scenario, tt.s, tt.opts))
		})
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
