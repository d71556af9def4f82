// Package bench holds the proof-under-load suite of caddy-intercom: the soak
// test, the fleet test (three instances behind a round-robin caddy) and the
// fault and memory tests run the real caddy binary (built from
// cmd/caddy once per test run by internal/testcaddy, or handed in by
// test.sh) against local upstreams, on loopback ports the OS hands out, with
// caddy's admin endpoint on a free port for /metrics and /debug/pprof. They
// take minutes and serve 100 MB pages, so they are behind the build tag
// `soak`; a plain `go test ./...` only compiles the benchmarks. The
// benchmark command is in bench/cmd/bench and the shared cases and pages in
// bench/harness.
//
//	go test -tags soak ./bench/                      # short soak (~12 s) + fleet + fault + memory tests
//	go test -tags soak -run TestFleet ./bench/ -v    # the fleet alone (~10 s)
//	SOAK=long go test -tags soak -run TestSoak ./bench/ -v
//	go test -tags soak -run TestSoak ./bench/ -soak.duration=5m -v
//	CADDY_INTERCOM_TEST_RACE=1 go test -tags soak ./bench/   # caddy itself built with -race
package bench
