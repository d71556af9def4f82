package main

import (
	"strings"
	"testing"
)

// TestPrintGoals checks the goals block on made-up rounds: a ratio just
// under the goal is printed as such (not rounded up to the goal next to
// "MISSED"), and (b)/(a++) is given for reference when (a++) ran.
func TestPrintGoals(t *testing.T) {
	rounds := func(rps ...int64) []wrkResult {
		var rs []wrkResult
		for _, n := range rps {
			rs = append(rs, wrkResult{Requests: n, DurationUS: 1e6, P99: 9000})
		}
		return rs
	}
	b := &bencher{
		cfg: config{sizes: []string{"10k", "100k"}, upstreams: []string{goalUpstream}},
		results: map[key][]wrkResult{
			{goalUpstream, "a", "10k"}:   rounds(10000, 10000, 10000),
			{goalUpstream, "a++", "10k"}: rounds(9500, 9500, 9500),
			{goalUpstream, "b", "10k"}:   rounds(9490, 9000, 9600),
			{goalUpstream, "a", "100k"}:  rounds(8000, 8000, 8000),
			{goalUpstream, "b", "100k"}:  rounds(7600, 7700, 7800),
			{goalUpstream, "d", "100k"}:  rounds(7600, 7700, 7800),
		},
	}
	var out strings.Builder
	b.printGoals(&out, nil)
	for _, want := range []string{
		"- 10k: intercom HS256 (b)/(a) = 0.949 (goal ≥ 0.95: MISSED)",
		"  10k, for reference: the handler's own work, (b)/(a++) = 0.999",
		"- 100k: intercom HS256 (b)/(a) = 0.963 (goal ≥ 0.95: met)",
		"- 100k: Salesforce reuse 5m (d)/(b) = 1.000 (goal ≥ 0.95: met)",
		"- 10k: Salesforce reuse 5m (d)/(b) ≥ 0.95: not measured (cases b and d)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("goals block lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "100k, for reference") {
		t.Errorf("(b)/(a++) printed for 100k, where (a++) did not run:\n%s", out.String())
	}
}
