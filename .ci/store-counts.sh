#!/usr/bin/env bash
# store-counts.sh FILE: from a gotestsum --jsonfile log (go test -json events), print how
# many subtests named .../sqlite and .../postgres passed (and were skipped), so a run where
# the PostgreSQL half silently did not happen is visible at a glance.
set -euo pipefail

file=${1:-.cache/test.json}
if [[ ! -s $file ]]; then
	echo "store-counts: no test log at $file" >&2
	exit 1
fi

# Events look like {"Time":"...","Action":"pass","Package":"...","Test":"TestX/sqlite",...}.
count() { # action store
	grep -F "\"Action\":\"$1\"" "$file" | grep -cE "\"Test\":\"[^\"]*/$2\"" || true
}

printf 'store subtests passed: sqlite=%d postgres=%d (skipped: sqlite=%d postgres=%d)\n' \
	"$(count pass sqlite)" "$(count pass postgres)" "$(count skip sqlite)" "$(count skip postgres)"
