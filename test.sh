#!/usr/bin/env bash
# The project's test command (see README): every tier of the suite.
#
#   go test ./...            is the quick tier (Go only, ~3 min); this script
#                            adds everything else:
#   vet      go vet with every build tag, gofmt
#   build    ./cmd/caddy built twice, once plain and once with -race; every
#            phase below that runs caddy reuses these two binaries
#   race     go test -race ./... (unit and in-process integration tests; the
#            CLI and validate tests run the -race caddy)
#   node     the snippet's behaviour tests in Node.js (-tags node)
#   soak     the soak, fault and 100 MB memory suites against the -race caddy
#            (memory against the plain one) (-tags soak)
#   fuzz     every fuzz target of every package, on top of its seed corpus;
#            a target that ran zero executions fails
#   e2e      the browser suite in headless Chromium against the -race caddy
#            (-tags e2e)
# Each phase prints its wall time, and the total at the end.
#
# On a fresh Debian machine it first installs what the tests need (Node.js,
# Chromium).
#
#   FUZZTIME=20s        time per fuzz target in a package that links Caddy
#                       (its baseline coverage alone takes seconds)
#   FUZZTIME_FAST=30s   time per fuzz target in a package that does not
#                       (cheap to build and start: fuzzed longer)
#   FUZZTIME=0          skips fuzzing
#   PHASES="vet race"   runs only the named phases (build runs when needed)
set -euo pipefail
cd "$(dirname "$0")"

FUZZTIME=${FUZZTIME:-20s}
FUZZTIME_FAST=${FUZZTIME_FAST:-30s}
PHASES=${PHASES:-vet build race node soak fuzz e2e}
if [ "$FUZZTIME" = "0" ]; then
	FUZZTIME_FAST=0
fi

# --- timing -----------------------------------------------------------------
run_start=$(date +%s)
timings=()
phase_name=""
phase_start=0
phase() {
	phase_end
	phase_name=$1
	phase_start=$(date +%s)
	echo
	echo "== $phase_name"
}
phase_end() {
	if [ -n "$phase_name" ]; then
		local d=$(($(date +%s) - phase_start))
		timings+=("$(printf '%-8s %4ds  (%dm%02ds)' "$phase_name" "$d" $((d / 60)) $((d % 60)))")
		echo "-- $phase_name: ${d}s"
		phase_name=""
	fi
}
summary() {
	local rc=$?
	phase_end
	local d=$(($(date +%s) - run_start))
	echo
	echo "== wall time per phase"
	for line in "${timings[@]}"; do
		echo "   $line"
	done
	printf '   %-8s %4ds  (%dm%02ds)\n' total "$d" $((d / 60)) $((d % 60))
	if [ $rc -eq 0 ]; then
		echo "== PASS"
	else
		echo "== FAIL (exit $rc)"
	fi
	[ -n "${bindir:-}" ] && rm -rf "$bindir"
	return $rc
}
trap summary EXIT

wants() { [[ " $PHASES " == *" $1 "* ]]; }

# --- setup ------------------------------------------------------------------
missing=()
if wants node; then command -v node >/dev/null 2>&1 || missing+=(nodejs); fi
if wants e2e; then command -v chromium >/dev/null 2>&1 || missing+=(chromium); fi
if [ ${#missing[@]} -gt 0 ]; then
	phase setup
	echo "installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- vet --------------------------------------------------------------------
if wants vet; then
	phase vet
	unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
	if [ -n "$unformatted" ]; then
		echo "not gofmt'ed:"
		echo "$unformatted"
		exit 1
	fi
	go vet ./...
	go vet -tags node,soak,e2e ./...
fi

# --- build: one plain and one -race caddy for every phase that runs one -----
bindir=$(mktemp -d "${TMPDIR:-/tmp}/caddy-intercom-test.XXXXXX")
plain_bin=$bindir/caddy
race_bin=$bindir/caddy-race
if wants race || wants soak || wants e2e; then
	phase build
	go build -o "$plain_bin" ./cmd/caddy
	go build -race -o "$race_bin" ./cmd/caddy
fi
# internal/testcaddy takes the binaries from here instead of building them.
export CADDY_INTERCOM_TEST_BINARY=$race_bin
export CADDY_INTERCOM_TEST_PLAIN_BINARY=$plain_bin

# --- race -------------------------------------------------------------------
if wants race; then
	phase race
	go test -race -count=1 ./...
fi

# --- node -------------------------------------------------------------------
if wants node; then
	phase node
	go test -tags node -count=1 ./injector/
fi

# --- soak -------------------------------------------------------------------
if wants soak; then
	phase soak
	go test -tags soak -count=1 ./bench/
fi

# --- fuzz -------------------------------------------------------------------
# fuzz_status prints the last status line of a `go test -fuzz` log, if any.
fuzz_status() {
	grep -E '^fuzz: elapsed: ' "$1" | tail -n 1 || true
}

# fuzz_check fails unless the log shows executions: the last status line of
# `go test -fuzz` must be "execs: N" with N > 0. A run that was still
# gathering its baseline coverage when the time ran out ("0/8 completed")
# and then printed PASS fuzzed nothing.
fuzz_check() {
	local log=$1
	local last
	last=$(fuzz_status "$log")
	if [ -z "$last" ]; then
		echo "no fuzzing status line: the target did not fuzz"
		return 1
	fi
	if [[ "$last" =~ execs:\ ([0-9]+) ]]; then
		if [ "${BASH_REMATCH[1]}" -gt 0 ]; then
			return 0
		fi
		echo "zero executions: $last"
		return 1
	fi
	echo "fuzzing never started (still at: ${last#fuzz: })"
	return 1
}

# fuzz_run runs one target as go test -fuzz would: in the package directory
# (a failing input goes to its testdata/fuzz), with the shared corpus cache.
fuzz_run() {
	local dir=$1 bin=$2 target=$3 fuzztime=$4 cache=$5 log=$6
	(cd "$dir" && "$bin" -test.paniconexit0 -test.run='^$' -test.fuzz="^${target}\$" \
		-test.fuzztime="$fuzztime" -test.fuzzcachedir="$cache") >"$log" 2>&1
}

# coordinator_race recognises go1.26's fuzzing coordinator race at the end
# of a timed -fuzztime (go.dev/issue/75804, fixed in Go 1.27): the run fails
# with a bare "context deadline exceeded", no input written, no panic, no
# test failure. On a loaded 2-core machine it can hit the same target twice
# in a row, so such a run is repeated for the number of executions it
# reached, counted ("Nx") rather than timed: that form sets no deadline, so
# the race cannot recur, while a real finding still writes its input and
# fails.
coordinator_race() {
	local log=$1
	grep -q '^    context deadline exceeded$' "$log" &&
		! grep -qE 'Failing input written|^panic:|_test\.go:[0-9]+:' "$log"
}

# fuzz_execs prints the executions of a run's last status line, as the
# count form of -fuzztime ("Nx"), or the fallback $2 when it reached none.
fuzz_execs() {
	local log=$1 fallback=$2
	if [[ "$(fuzz_status "$log")" =~ execs:\ ([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]; then
		echo "${BASH_REMATCH[1]}x"
	else
		echo "$fallback"
	fi
}

if wants fuzz && [ "$FUZZTIME" != "0" ]; then
	phase fuzz
	gocache=$(go env GOCACHE)
	# Every package with a fuzz target, found in its test files.
	mapfile -t fuzz_dirs < <(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | xargs -r -n1 dirname | sort -u)
	for dir in "${fuzz_dirs[@]}"; do
		pkg=./${dir#./}
		importpath=$(go list "$pkg")
		# Packages that link Caddy take long to build instrumented and to
		# start a worker: fuzz their targets for FUZZTIME, the rest longer.
		fuzztime=$FUZZTIME_FAST
		deps=$(go list -deps -test "$pkg")
		if grep -qx 'github.com/caddyserver/caddy/v2' <<<"$deps"; then
			fuzztime=$FUZZTIME
		fi
		# One instrumented test binary per package serves all its targets
		# (go test -fuzz would link it again for each).
		fuzzbin=$bindir/fuzz-${importpath//\//_}.test
		go test -c -fuzz=. -o "$fuzzbin" "$pkg"
		mapfile -t targets < <(grep -hoE '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u)
		for target in "${targets[@]}"; do
			echo "-- fuzz $pkg $target ($fuzztime)"
			log=$(mktemp)
			if ! fuzz_run "$dir" "$fuzzbin" "$target" "$fuzztime" "$gocache/fuzz/$importpath" "$log" &&
				! { coordinator_race "$log" && again=$(fuzz_execs "$log" "$fuzztime") &&
					echo "(go.dev/issue/75804: the fuzz coordinator's deadline race, no input at fault; running $target again for -fuzztime $again)" &&
					fuzz_run "$dir" "$fuzzbin" "$target" "$again" "$gocache/fuzz/$importpath" "$log"; }; then
				# The whole report: the failing input and where it was saved.
				grep -v '^{"level"' "$log"
				rm -f "$log"
				echo "FAIL: $pkg $target"
				exit 1
			fi
			if ! fuzz_check "$log"; then
				grep -v '^{"level"' "$log"
				rm -f "$log"
				echo "FAIL: $pkg $target ran no fuzzing executions in $fuzztime (raise FUZZTIME)"
				exit 1
			fi
			fuzz_status "$log"
			rm -f "$log"
		done
	done
fi

# --- e2e --------------------------------------------------------------------
if wants e2e; then
	phase e2e
	go test -tags e2e -count=1 ./e2e/
fi
