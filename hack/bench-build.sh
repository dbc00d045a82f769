#!/usr/bin/env bash
# hack/bench-build.sh — the build benchmarks of issue 3, on the example
# workspace against the local stack (hack/local-stack.sh), in one invocation:
#
#   (a) no-op `imgraph build //... --push` when everything is up to date,
#       timed as a whole process (target < 1 s);
#   (b) cold parallel build vs. the same solves run one after another
#       (--jobs 1: one node at a time in topological order, as the legacy
#       per-image/per-arch Makefile loop did) — ratio from the same run, over
#       BENCH_ROUNDS pairs alternating which goes first (median reported);
#   (c) share of wall time spent outside BuildKit solves and prebuild steps,
#       (seconds - busy_seconds) / seconds from the JSON summary (target < 5%).
#
# Usage: hack/bench-build.sh            (from anywhere; works in the repo root)
#
# Environment:
#   BENCH_ROUNDS=N     parallel/sequential pairs, alternating order (default 3)
#   BENCH_JOBS=N       --jobs of the parallel runs (default: imgraph's default, 4)
#   BENCH_IN_PLACE=1   build the repository's own tree instead of a fresh copy
#   BENCH_OUT=DIR      keep the JSON summaries here (default /tmp/imgraph-bench-<rand>)
#
# By default the workspace is a fresh copy of the committed tree
# (`git archive HEAD`) with an empty .imgraph/, so the first run is
# prebuild-cold and no other engineer's local publish record or prebuild
# cache is involved. Downloaded .deb files are copied into it (they are
# downloads, not work imgraph does); Go's own build cache is left as it is.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
export PATH="$PATH:/usr/local/go/bin"

hack/local-stack.sh up >&2
eval "$(hack/local-stack.sh env)"
REG="${IMGRAPH_TEST_REGISTRY:?local stack did not export IMGRAPH_TEST_REGISTRY}"

RAND="$(date +%s)-$RANDOM"
OUT="${BENCH_OUT:-/tmp/imgraph-bench-$RAND}"
mkdir -p "$OUT"
JOBS=()
if [[ -n "${BENCH_JOBS:-}" ]]; then JOBS=(--jobs "$BENCH_JOBS"); fi

# psi: share of the last 60 s in which some task waited for a CPU (other
# work on the machine, possibly outside this container).
psi() { awk '/^some/ { sub("avg60=", "", $3); print $3 "% (avg60)" }' /proc/pressure/cpu 2>/dev/null || echo n/a; }
log() { printf 'bench: %s\n' "$*" >&2; }
now() { date +%s.%N; }
py() { python3 -c "$@"; }

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
PSI_START="$(psi)"

log "building bin/imgraph"
go build -o bin/imgraph ./cmd/imgraph
IMGRAPH="$REPO/bin/imgraph"

if [[ "${BENCH_IN_PLACE:-}" == 1 ]]; then
	WS="$REPO"
else
	WS="$(mktemp -d /tmp/imgraph-bench-ws.XXXXXX)"
	trap 'rm -rf "$WS"' EXIT
	git archive HEAD | tar -x -C "$WS"
	if [[ -d "$REPO/.imgraph/cache/prebuild/debs" ]]; then
		mkdir -p "$WS/.imgraph/cache/prebuild"
		cp -a "$REPO/.imgraph/cache/prebuild/debs" "$WS/.imgraph/cache/prebuild/"
	fi
fi
log "workspace: $WS; JSON summaries in $OUT"

pid_of() { hack/local-stack.sh status | awk -v n="$1" '$1 == n { sub("pid=", "", $NF); print $NF }'; }
BK_PID="$(pid_of buildkitd)"
REG_PID="$(pid_of registry)"

# cpu_now: machine-wide busy CPU seconds, then those of buildkitd (with its
# reaped children: runc, QEMU) and of the registry, from /proc.
cpu_now() {
	py "import os
hz=os.sysconf('SC_CLK_TCK')
f=[int(x) for x in open('/proc/stat').readline().split()[1:]]
def proc(pid):
    try: v=open(f'/proc/{pid}/stat').read().rsplit(')',1)[1].split()
    except (OSError, ValueError): return 0
    return sum(int(x) for x in v[11:15])/hz
print((sum(f[:8])-f[3]-f[4])/hz, proc('$BK_PID'), proc('$REG_PID'))"
}

# timed NAME CMD...: run CMD with stdout to $OUT/NAME.json and stderr to
# $OUT/NAME.err; print the whole-process wall time in seconds and keep the
# CPU seconds used meanwhile (machine, buildkitd, registry, imgraph) in
# $OUT/NAME.cpu. A failed build aborts the benchmark: its figures would
# mean nothing.
timed() {
	local name="$1" t0 t1 c0 c1 rc=0
	shift
	c0="$(cpu_now)"
	t0="$(now)"
	/usr/bin/time -f '%U %S' -o "$OUT/$name.time" "$@" >"$OUT/$name.json" 2>"$OUT/$name.err" || rc=$?
	t1="$(now)"
	c1="$(cpu_now)"
	if [[ $rc -ne 0 ]]; then
		log "$name failed (exit $rc): $*"
		tail -n 30 "$OUT/$name.err" >&2
		exit 1
	fi
	py "a='$c0'.split(); b='$c1'.split(); u,s=open('$OUT/$name.time').read().split()[-2:]
print(' '.join(f'{float(y)-float(x):.2f}' for x,y in zip(a,b)), f'{float(u)+float(s):.2f}')" >"$OUT/$name.cpu"
	py "print(f'{$t1 - $t0:.3f}')"
}

# field NAME KEY: a top-level number of a JSON summary.
field() { py "import json; print(f'{json.load(open(\"$OUT/$1.json\"))[\"$2\"]:.3f}')"; }

# outside NAME: (seconds - busy_seconds) / seconds of a summary, in percent.
outside() {
	py "import json; s=json.load(open('$OUT/$1.json')); print(f'{100*(s[\"seconds\"]-s[\"busy_seconds\"])/s[\"seconds\"]:.1f}')"
}

common=(--workspace "$WS" build //... --push --allow-missing-platforms --progress quiet --output json)

# 1. Warm the prebuild cache (Go cross-compiles, .deb extraction) so the
#    parallel/sequential comparison is about solves only.
log "warm-up: prebuild-inclusive build into $REG/bench-warm-$RAND"
warm_wall="$(timed warm "$IMGRAPH" --registry "$REG/bench-warm-$RAND" "${common[@]}" "${JOBS[@]}")"

# 2./3. Cold parallel build and the sequential baseline (--jobs 1: the same
#    solves one at a time, in topological order). Both are short and the
#    machine may be shared, so they run in ROUNDS pairs, alternating which
#    goes first; each run pushes to its own fresh repository prefix.
ROUNDS="${BENCH_ROUNDS:-3}"
par_walls=() seq_walls=()
for ((r = 1; r <= ROUNDS; r++)); do
	order=(par seq)
	if ((r % 2 == 0)); then order=(seq par); fi
	for kind in "${order[@]}"; do
		if [[ $kind == par ]]; then
			log "round $r: cold parallel build (--no-cache) into $REG/bench-par-$RAND-$r"
			par_walls+=("$(timed "par$r" "$IMGRAPH" --registry "$REG/bench-par-$RAND-$r" "${common[@]}" --no-cache "${JOBS[@]}")")
		else
			log "round $r: sequential build (--jobs 1 --no-cache) into $REG/bench-seq-$RAND-$r"
			seq_walls+=("$(timed "seq$r" "$IMGRAPH" --registry "$REG/bench-seq-$RAND-$r" "${common[@]}" --no-cache --jobs 1)")
		fi
	done
done
LAST_PAR="$REG/bench-par-$RAND-$ROUNDS"

# 4. No-op: the parallel command again, everything up to date. The first
#    rerun is not counted; then three timed runs.
log "no-op reruns against $LAST_PAR"
noop_first="$(timed noop0 "$IMGRAPH" --registry "$LAST_PAR" "${common[@]}" "${JOBS[@]}")"
noop=()
for i in 1 2 3; do
	noop+=("$(timed "noop$i" "$IMGRAPH" --registry "$LAST_PAR" "${common[@]}" "${JOBS[@]}")")
done
read -r noop_min noop_med < <(py "import statistics as s; v=[${noop[0]},${noop[1]},${noop[2]}]; print(f'{min(v):.3f} {s.median(v):.3f}')")

# 5. For context: a no-op without the local publish record (a fresh CI
#    checkout), where the plan asks the registry about every node.
rec="$WS/.imgraph/cache/published.json"
norec_wall=n/a
if [[ "$WS" != "$REPO" && -f "$rec" ]]; then
	rm -f "$rec"
	norec_wall="$(timed noop-norecord "$IMGRAPH" --registry "$LAST_PAR" "${common[@]}" "${JOBS[@]}")"
fi

checks=(warm noop3)
for ((r = 1; r <= ROUNDS; r++)); do checks+=("par$r" "seq$r"); done
for n in "${checks[@]}"; do
	py "import json,sys; s=json.load(open('$OUT/$n.json'))
bad=[x['id'] for x in s['nodes'] if x['state'] not in ('built','up to date','not built')]
if '$n'=='noop3' and s['built']: bad.append(f'{s[\"built\"]} node(s) rebuilt in a no-op')
if bad: sys.exit('$n: unexpected: '+', '.join(bad))" || exit 1
done

LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -g | awk '/Mem:/{print $2}') GiB RAM"
echo "load average (1/5/15 min): at start $LOAD_START, at end $LOAD_END; CPU pressure at start $PSI_START, at end $(psi)"
echo "workspace: $WS ($(if [[ $WS == "$REPO" ]]; then echo in place; else echo "fresh copy of $(git rev-parse --short HEAD)"; fi)); bin/imgraph from the working tree at $(git describe --always --dirty)"
echo "parallel runs: --jobs ${BENCH_JOBS:-4 (default)}; sequential: --jobs 1 = one solve at a time in topological order, like the legacy loop"
echo "nodes: $(py "import json; s=json.load(open('$OUT/par1.json')); print(f'{s[\"built\"]} built, {s[\"not_built\"]} not built (no Windows builder), {len(s.get(\"manifest_lists\") or [])} manifest lists')")"
echo
# solve_s is the sum of per-node solve times; solve_s / busy_s is how many ran at once on average.
# CPU seconds while the run lasted: the whole machine, buildkitd (+ runc,
# QEMU), the registry, imgraph itself; machine minus the rest is other work.
printf '%-44s %7s %7s %7s %7s %8s | %6s %6s %6s %6s\n' RUN wall_s seconds busy_s solve_s outside% cpu:all bkd reg imgr
row() {
	local cpu
	read -r -a cpu <"$OUT/$3.cpu"
	printf '%-44s %7s %7s %7s %7s %8s | %6s %6s %6s %6s\n' "$1" "$2" "$(field "$3" seconds)" "$(field "$3" busy_seconds)" "$(field "$3" solve_seconds)" "$(outside "$3")" "${cpu[@]}"
}
row "warm-up (prebuild-inclusive, BuildKit cache)" "$warm_wall" warm
for ((r = 1; r <= ROUNDS; r++)); do
	row "round $r cold parallel (--no-cache)" "${par_walls[$((r - 1))]}" "par$r"
	row "round $r cold sequential (--jobs 1 --no-cache)" "${seq_walls[$((r - 1))]}" "seq$r"
done
row "no-op, first rerun (not counted)" "$noop_first" noop0
for i in 1 2 3; do row "no-op #$i" "${noop[$((i - 1))]}" "noop$i"; done
if [[ "$norec_wall" != n/a ]]; then row "no-op without local publish record" "$norec_wall" noop-norecord; fi
echo

pars="$(IFS=,; echo "${par_walls[*]}")"
seqs="$(IFS=,; echo "${seq_walls[*]}")"
outs="$(for ((r = 1; r <= ROUNDS; r++)); do outside "par$r"; done | paste -sd,)"
echo "(a) no-op as a whole process: min ${noop_min} s, median ${noop_med} s (target < 1 s)"
py "import statistics as st
p=[$pars]; q=[$seqs]
r=[b/a for a,b in zip(p,q)]
print(f'(b) sequential / parallel wall time: per round '+', '.join(f'{x:.2f}' for x in r)+f' (median {st.median(r):.2f}); medians {st.median(q):.2f} s / {st.median(p):.2f} s = {st.median(q)/st.median(p):.2f}')"
py "import statistics as st
o=[$outs]
print(f'(c) outside solves+prebuild, cold parallel: median {st.median(o):.1f}% (rounds: '+', '.join(f'{x:.1f}' for x in o)+'; target < 5%);')"
echo "    no-op: $(outside noop3)% of $(field noop3 seconds) s (nothing to solve: all of it is load, hash, plan, publish)"
echo "    the prebuild cache was warmed by the first run, so Go cross-compiles are in neither (b) nor (c)"
echo
echo "slowest nodes of round 1's parallel run (node seconds = its prebuild + solve + push, not time queued):"
py "import json; s=json.load(open('$OUT/par1.json'))
for n in sorted(s['nodes'], key=lambda n: -n['seconds'])[:6]: print(f'  {n[\"seconds\"]:6.2f}s  {n[\"id\"]}')"
echo "node seconds summed by architecture, round 1's sequential run:"
py "import json,collections; s=json.load(open('$OUT/seq1.json')); c=collections.Counter()
for n in s['nodes']: c[n['id'].split('@')[1].split('/')[1]]+=n['seconds']
print('  '+', '.join(f'{k} {v:.1f}s' for k,v in c.most_common()))"
echo "node seconds summed by image, round 1's sequential run:"
py "import json,collections; s=json.load(open('$OUT/seq1.json')); c=collections.Counter()
for n in s['nodes']: c[n['id'].split('@')[0]]+=n['seconds']
print('  '+', '.join(f'{k} {v:.1f}s' for k,v in c.most_common()))"
