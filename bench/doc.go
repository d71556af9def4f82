// Package bench holds the proof-under-load suite of caddy-intercom: the soak
// test and the fault tests run the real caddy binary (built from cmd/caddy
// once per test run) against local upstreams, on loopback ports the OS hands
// out, with caddy's admin endpoint on a free port for /metrics and
// /debug/pprof. The benchmark command is in bench/cmd/bench and the shared
// plumbing in bench/harness.
//
//	go test ./bench/                      # short soak (~12 s) + fault tests
//	SOAK=long go test -run TestSoak ./bench/ -v
//	go test -run TestSoak ./bench/ -soak.duration=5m -v
//	BENCH_CADDY_RACE=1 go test ./bench/   # caddy itself built with -race
package bench
