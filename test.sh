#!/usr/bin/env bash
# The project's test command (see README). On a fresh Debian machine it
# installs what the tests need (Node.js for the snippet's behaviour tests,
# Chromium for the browser suite), then runs vet, the unit and integration
# tests under the race detector (and the soak/fault suite once more against a
# Caddy built with -race), every fuzz target for a bounded time on top of its
# seed corpus, and the end-to-end browser suite.
#
#   FUZZTIME=30s   time per fuzz target (0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")"

FUZZTIME=${FUZZTIME:-30s}

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== go vet"
go vet ./...
go vet -tags e2e ./e2e/

echo "== go test -race"
go test -race -count=1 ./...

echo "== bench: soak and fault tests against caddy itself built with -race"
BENCH_CADDY_RACE=1 go test -count=1 ./bench/

if [ "$FUZZTIME" != "0" ]; then
	for pkg in ./injector ./caddymodule; do
		for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$pkg"/*_test.go | sed 's/^func //' | sort -u); do
			echo "== fuzz $pkg $target ($FUZZTIME)"
			log=$(mktemp)
			if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >"$log" 2>&1; then
				# The whole report: the failing input and where it was saved.
				grep -v '^{"level"' "$log"
				exit 1
			fi
			grep -v '^{"level"' "$log" | tail -n 3
			rm -f "$log"
		done
	done
fi

echo "== end-to-end (headless Chromium)"
go test -tags e2e -count=1 ./e2e/
