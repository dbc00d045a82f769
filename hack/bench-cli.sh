#!/usr/bin/env bash
# hack/bench-cli.sh — whole-process timings of the read-only commands on the
# synthetic 1,000-image / 50,000-file workspace (hack/synth): query rdeps,
# warm query hash, affected between two commits differing in one file.
# Prints wall time (min and median of BENCH_RUNS, default 5) and max RSS.
# Needs no daemons.
#
#   hack/bench-cli.sh [DIR]     DIR defaults to /tmp/imgraph-synth-bench
#
# The git history is packed (`git gc`) before timing: `git commit` of 50k
# files otherwise starts an automatic gc in the background, which slows
# `affected` threefold while it runs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PATH:/usr/local/go/bin"
DIR="${1:-/tmp/imgraph-synth-bench}"
RUNS="${BENCH_RUNS:-5}"

# psi: share of the last 60 s in which some task waited for a CPU (other
# work on the machine, possibly outside this container).
psi() { awk '/^some/ { sub("avg60=", "", $3); print $3 "% (avg60)" }' /proc/pressure/cpu 2>/dev/null || echo n/a; }
log() { printf 'bench-cli: %s\n' "$*" >&2; }

go build -o bin/imgraph ./cmd/imgraph
IMGRAPH="$PWD/bin/imgraph"

if [[ ! -f "$DIR/WORKSPACE.star" ]]; then
	log "generating $DIR"
	go run ./hack/synth -out "$DIR" -images 1000 -files 50000 >&2
fi
if [[ ! -d "$DIR/.git" ]]; then
	log "committing $DIR twice (one file changed)"
	(
		cd "$DIR"
		export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
		echo .imgraph/ >.gitignore
		git init -q
		git -c gc.auto=0 add .
		git -c gc.auto=0 commit -qm base
		f="$(git ls-files 'images/*/src/*' | sed -n 1234p)"
		echo "// changed" >>"$f"
		git -c gc.auto=0 commit -qam "change $f"
		git gc -q
	)
fi
# A root: the first image others build on that builds on no in-tree image.
ROOT="$("$IMGRAPH" --workspace "$DIR" query graph --images | awk '$2 == "->" { child[$1] = 1; if (!($3 in seen)) { seen[$3] = 1; order[n++] = $3 } }
	END { for (i = 0; i < n; i++) if (!(order[i] in child)) { print order[i]; exit } }')"
CHANGED="$(git -C "$DIR" log -1 --format=%s)"

# measure NAME CMD...: RUNS whole-process runs; min/median wall, max RSS.
measure() {
	local name="$1" i
	shift
	for ((i = 0; i < RUNS; i++)); do
		/usr/bin/time -f '%e %M' -o /tmp/bench-cli.$$ "$@" >/dev/null
		cat /tmp/bench-cli.$$
	done | python3 -c "
import statistics as st, sys
v=[l.split() for l in sys.stdin]; w=[float(a) for a,_ in v]; m=max(int(b) for _,b in v)
print(f'{\"$name\":<44} wall min {min(w):.2f} s, median {st.median(w):.2f} s, max RSS {m/1024:.0f} MB')"
	rm -f /tmp/bench-cli.$$
}

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), CPU pressure $(psi); workspace $DIR ($(find "$DIR/images" -type f | wc -l) files)"
measure "query rdeps $ROOT" "$IMGRAPH" --workspace "$DIR" query rdeps "$ROOT"
"$IMGRAPH" --workspace "$DIR" query hash //... >/dev/null # fill the stat cache
measure "query hash //... (warm stat cache)" "$IMGRAPH" --workspace "$DIR" query hash //...
measure "affected --base HEAD~1 --head HEAD" "$IMGRAPH" --workspace "$DIR" affected --base HEAD~1 --head HEAD
echo "(affected: $CHANGED; $("$IMGRAPH" --workspace "$DIR" affected --base HEAD~1 --head HEAD | wc -l) images affected)"
