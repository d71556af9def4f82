#!/usr/bin/env bash
# The project's test command (see README): vet, unit and integration tests
# under the race detector.
set -euo pipefail
cd "$(dirname "$0")"

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 ./...
