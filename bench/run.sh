#!/usr/bin/env bash
# bench/run.sh — spine's performance figures (issue #8), written to
# bench/RESULTS.md: medians of RUNS runs, and ratios measured in the same
# run. Usage, from the module root:
#
#   bench/run.sh                       # everything
#   RUNS=5 ONLY="site steps" bench/run.sh
#
# Knobs (environment): RUNS (3), SITE_LOOPS (2000), SITE_RECEIPTS (20000), STEPS (200),
# PLAN_SIZES ("500 5000 20000"), MEM_LOOPS (10000), WORK (scratch on tmpfs:
# /dev/shm/spine-bench), DISK (scratch on disk: bench/.cache/work),
# STATUS_LOOPS (5000), ONLY (subset of: site steps commit plan status mem),
# OUT (bench/RESULTS.md).
#
# Hugo is installed once through the Go module proxy at a pinned version
# into bench/.cache/bin and reused (the build takes ~5 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export GOTOOLCHAIN=local
HUGO_VERSION=v0.165.0
RUNS=${RUNS:-3}
SITE_LOOPS=${SITE_LOOPS:-2000}
SITE_RECEIPTS=${SITE_RECEIPTS:-20000}
STEPS=${STEPS:-200}
PLAN_SIZES=${PLAN_SIZES:-"500 5000 20000"}
MEM_LOOPS=${MEM_LOOPS:-10000}
STATUS_LOOPS=${STATUS_LOOPS:-5000}
WORK=${WORK:-/dev/shm/spine-bench}
DISK=${DISK:-$ROOT/bench/.cache/work}
ONLY=${ONLY:-"site steps commit plan status mem"}
OUT=${OUT:-$ROOT/bench/RESULTS.md}
BIN=$ROOT/bench/.cache/bin
mkdir -p "$BIN" "$WORK" "$DISK"
[ -d /dev/shm ] || { echo "run.sh: no /dev/shm; set WORK to a tmpfs" >&2; WORK=$DISK; }

want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
log() { echo "run.sh: $*" >&2; }
now_ns() { date +%s%N; }
# ms_since START_NS
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
# median of the numbers given as arguments
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# per_s N MS: N items in MS milliseconds, per second (one division: no
# rounded intermediate may round a figure over its goal).
per_s() { awk -v n="$1" -v ms="$2" 'BEGIN { if (ms == 0) print "n/a"; else printf "%.1f", n * 1000 / ms }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
met() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { ok = (op == "<=") ? (v <= g) : (op == "<") ? (v < g) : (v >= g); print ok ? "met" : "**not met**" }'; }

# --- preflight -------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
	log "installing GNU time (peak RSS)"
	(apt-get install -y time >/dev/null 2>&1 || sudo apt-get install -y time >/dev/null 2>&1) || true
fi
[ -x /usr/bin/time ] || { echo "run.sh: /usr/bin/time (GNU time) is required: apt-get install time" >&2; exit 1; }
command -v git >/dev/null || { echo "run.sh: git is required" >&2; exit 1; }

log "building spine and the bench tools"
go build -o "$BIN/spine" ./cmd/spine
go build -o "$BIN/gen" ./bench/gen
go build -o "$BIN/bare" ./bench/bare
go build -o "$BIN/fsyncprobe" ./bench/fsyncprobe
go build -o "$BIN/statfloor" ./bench/statfloor
if want site && ! "$BIN/hugo" version 2>/dev/null | grep -q "${HUGO_VERSION#v}"; then
	log "installing Hugo $HUGO_VERSION into $BIN (about 5 minutes)"
	GOBIN=$BIN go install "github.com/gohugoio/hugo@$HUGO_VERSION"
fi
SPINE=$BIN/spine

# gen_repo DIR LOOPS RECEIPTS: generate once (kept between runs of run.sh).
gen_repo() {
	if [ ! -f "$1/.gen-done" ]; then
		rm -rf "$1"
		log "generating $2 loops / $3 receipts in $1"
		"$BIN/gen" -loops "$2" -receipts "$3" -out "$1"
		touch "$1/.gen-done"
		echo .gen-done >>"$1/.git/info/exclude"
	fi
}

ROWS=()   # markdown table rows: figure | goal | measured | ratio | status
NOTES=()
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 |"); }

# --- site build vs Hugo and the bare renderer ---------------------------------
if want site; then
	# The same loop documents, no receipts: what Hugo and bare can render too.
	R=$WORK/site-$SITE_LOOPS-noreceipts
	gen_repo "$R" "$SITE_LOOPS" -1
	rm -rf "$ROOT/bench/hugo/content"
	"$BIN/bare" -repo "$R" -hugo-content "$ROOT/bench/hugo/content"
	sp=() ; spc=() ; hu=() ; ba=() ; spd=()
	for i in $(seq "$RUNS"); do
		# cold: without the document cache (a fresh clone, or a new spine)
		rm -rf "$WORK/out-spine" "$R/.git/spine/docs.cache" "$R/.git/spine/site"; t=$(now_ns)
		(cd "$R" && "$SPINE" site build --out "$WORK/out-spine" >/dev/null); spc+=("$(ms_since "$t")")
		rm -rf "$WORK/out-spine"; t=$(now_ns)
		(cd "$R" && "$SPINE" site build --out "$WORK/out-spine" >/dev/null); sp+=("$(ms_since "$t")")
		rm -rf "$WORK/out-hugo"; t=$(now_ns)
		"$BIN/hugo" --quiet --source "$ROOT/bench/hugo" --destination "$WORK/out-hugo" >/dev/null; hu+=("$(ms_since "$t")")
		rm -rf "$WORK/out-bare"; t=$(now_ns)
		"$BIN/bare" -repo "$R" -out "$WORK/out-bare" >/dev/null; ba+=("$(ms_since "$t")")
		rm -rf "$DISK/out-spine"; t=$(now_ns)
		(cd "$R" && "$SPINE" site build --out "$DISK/out-spine" >/dev/null); spd+=("$(ms_since "$t")")
		# The disk build's 2,400 files are written back before the next
		# run: else that write-back (kernel threads, on the same 2 cores)
		# runs during the next iteration's first, cold, build.
		sync
	done
	msp=$(median "${sp[@]}"); mspc=$(median "${spc[@]}"); mhu=$(median "${hu[@]}"); mba=$(median "${ba[@]}"); mspd=$(median "${spd[@]}")
	files=$(find "$WORK/out-spine" -type f | wc -l)
	ps_sp=$(per_s "$SITE_LOOPS" "$msp"); ps_spc=$(per_s "$SITE_LOOPS" "$mspc"); ps_hu=$(per_s "$SITE_LOOPS" "$mhu"); ps_ba=$(per_s "$SITE_LOOPS" "$mba")
	r_hu=$(ratio "$mhu" "$msp"); r_huc=$(ratio "$mhu" "$mspc"); r_ba=$(ratio "$mba" "$msp"); r_bac=$(ratio "$mba" "$mspc")
	row "site build, $SITE_LOOPS loops without receipts, tmpfs, document cache cold (spine ${mspc} ms, $files files; Hugo ${mhu} ms)" "≥ 2× Hugo pages/s" "spine $ps_spc loop pages/s, Hugo $ps_hu" "$r_huc×" "$(met "$r_huc" ">=" 2)"
	row "same, document cache warm (spine ${msp} ms; disk ${mspd} ms)" "≥ 2× Hugo pages/s" "spine $ps_sp loop pages/s, Hugo $ps_hu" "$r_hu×" "$(met "$r_hu" ">=" 2)"
	row "same, spine vs bare goldmark+html/template (cold; warm)" "≥ 0.67× bare pages/s" "bare $ps_ba pages/s (${mba} ms)" "$r_bac×; $r_ba×" "$(met "$r_bac" ">=" 0.67); $(met "$r_ba" ">=" 0.67)"

	# Issue #4: the full site of loops with their receipts, and an
	# incremental rebuild after one loop changed.
	R=$WORK/site-$SITE_LOOPS-r$SITE_RECEIPTS
	gen_repo "$R" "$SITE_LOOPS" "$SITE_RECEIPTS"
	full=(); fulld=(); fullc=(); rss=(); rssc=()
	for i in $(seq "$RUNS"); do
		# A fresh output folder with no state folder (.git/spine), as in
		# a fresh clone (CI): every document and receipt read and decoded
		# afresh, for the pages and for the step states (until session
		# 18 the receipt index, receipts.idx, was left warm here).
		rm -rf "$WORK/out-full" "$R/.git/spine"; t=$(now_ns)
		(cd "$R" && /usr/bin/time -f '%M' -o "$WORK/full-rss.txt" "$SPINE" site build --out "$WORK/out-full" >/dev/null); fullc+=("$(ms_since "$t")")
		rssc+=("$(( $(tail -1 "$WORK/full-rss.txt") / 1024 ))")
		# The same with the state caches warm (a host that built before).
		rm -rf "$WORK/out-full"; t=$(now_ns)
		(cd "$R" && /usr/bin/time -f '%M' -o "$WORK/full-rss.txt" "$SPINE" site build --out "$WORK/out-full" >/dev/null); full+=("$(ms_since "$t")")
		rss+=("$(( $(tail -1 "$WORK/full-rss.txt") / 1024 ))")
		rm -rf "$DISK/out-full"; t=$(now_ns)
		(cd "$R" && "$SPINE" site build --out "$DISK/out-full" >/dev/null); fulld+=("$(ms_since "$t")")
	done
	mfull=$(median "${full[@]}"); mfulld=$(median "${fulld[@]}"); mfullc=$(median "${fullc[@]}"); mrss=$(median "${rss[@]}"); mrssc=$(median "${rssc[@]}")
	files=$(find "$WORK/out-full" -type f | wc -l)
	ps_full=$(per_s "$SITE_LOOPS" "$mfull"); ps_fullc=$(per_s "$SITE_LOOPS" "$mfullc")
	row "full site build, $SITE_LOOPS loops + $SITE_RECEIPTS receipts, fresh output folder on tmpfs, state caches (.git/spine) warm (${mfull} ms, $files files; disk ${mfulld} ms)" "≥ 1,000 loop pages/s" "$ps_full loop pages/s" "$(awk -v a="$ps_full" 'BEGIN{printf "%.3f", a / 1000}')× goal" "$(met "$ps_full" ">=" 1000)"
	row "same, no state folder (.git/spine removed, as in a fresh clone: every document and receipt read and decoded; ${mfullc} ms)" "≥ 1,000 loop pages/s" "$ps_fullc loop pages/s" "$(awk -v a="$ps_fullc" 'BEGIN{printf "%.3f", a / 1000}')× goal" "$(met "$ps_fullc" ">=" 1000)"
	row "peak RSS of those builds (caches warm; cold)" "≤ 300 MB" "$mrss MB; $mrssc MB" "$(ratio "$mrss" 300)×; $(ratio "$mrssc" 300)× goal" "$(met "$mrss" "<=" 300); $(met "$mrssc" "<=" 300)"
	inc=(); floor=(); start=()
	f=$(find "$R/loops" -name '*.md' -print -quit)
	for i in $(seq "$RUNS"); do
		echo "Edited in run $i." >>"$f"
		t=$(now_ns); (cd "$R" && "$SPINE" site build --out "$WORK/out-full" >/dev/null); inc+=("$(ms_since "$t")")
		# What limits it: a process that only looks at every input
		# (statfloor), and spine's own start (\`spine version\`).
		t=$(now_ns); floor_out=$("$BIN/statfloor" -repo "$R"); floor+=("$(ms_since "$t")")
		t=$(now_ns); "$SPINE" version >/dev/null; start+=("$(ms_since "$t")")
	done
	(cd "$R" && git checkout -q -- loops)
	minc=$(median "${inc[@]}"); r_inc=$(awk -v a="$minc" -v b="$mfull" 'BEGIN{printf "%.4f", a/b}')
	row "incremental rebuild, one loop changed (whole \`spine site build\` process)" "< 5% of full" "${minc} ms (full ${mfull} ms)" "$(awk -v r="$r_inc" 'BEGIN{printf "%.1f%%", r*100}')" "$(met "$r_inc" "<" 0.05)"
	mfloor=$(median "${floor[@]}"); mstart=$(median "${start[@]}")
	row "its floor: a process that only lstat's every input a page depends on (statfloor: ${floor_out}); spine's own start (\`spine version\`) ${mstart} ms" "—" "${mfloor} ms" "$(awk -v a="$mfloor" -v b="$mfull" 'BEGIN{printf "%.1f%%", a/b*100}') of full" "—"

	# The same change seen by \`spine site serve\` (a long-lived process
	# that watches its inputs): BenchmarkServeRebuild copies the repository,
	# serves it, edits one loop document per iteration and reports the
	# rebuild's median time and its share of a full build measured in the
	# same run.
	bout=$(SPINE_BENCH_REPO=$R go test -run '^$' -bench '^BenchmarkServeRebuild$' -benchtime "$((RUNS * 5))x" ./cmd/spine 2>&1 | grep '^BenchmarkServeRebuild' || true)
	srb=$(echo "$bout" | awk '{for (i = 1; i < NF; i++) if ($(i+1) == "rebuild-ms") print $i}')
	sfull=$(echo "$bout" | awk '{for (i = 1; i < NF; i++) if ($(i+1) == "full-ms") print $i}')
	spct=$(echo "$bout" | awk '{for (i = 1; i < NF; i++) if ($(i+1) == "%-of-full") print $i}')
	if [ -n "$spct" ]; then
		row "incremental rebuild in \`spine site serve\`, one loop changed (file watcher)" "< 5% of full" "${srb} ms (full ${sfull} ms, same run)" "${spct}%" "$(met "$spct" "<" 5)"
	else
		NOTES+=("BenchmarkServeRebuild gave no figures: $bout")
	fi
	# CPU that an idle \`spine site serve\` uses (watching, nothing changes).
	"$SPINE" --repo "$R" site serve --addr 127.0.0.1:0 --out "$WORK/out-serve" >"$WORK/serve.txt" 2>&1 &
	spid=$!
	for _ in $(seq 600); do grep -q serving "$WORK/serve.txt" && break; sleep 0.1; done
	sleep 1
	tck=$(getconf CLK_TCK)
	c0=$(awk '{print $14 + $15}' "/proc/$spid/stat"); sleep 10; c1=$(awk '{print $14 + $15}' "/proc/$spid/stat")
	kill "$spid"; wait "$spid" 2>/dev/null || true
	rm -rf "$WORK/out-serve"
	idle=$(awk -v a="$c0" -v b="$c1" -v t="$tck" 'BEGIN{printf "%.1f", (b - a) * 1000 / t / 10}')
	row "idle \`spine site serve\` of that site (CPU over 10 s, nothing changing)" "—" "${idle} ms CPU per second" "—" "—"
fi

# --- per-step overhead ---------------------------------------------------------
if want steps; then
	steps_once() { # BASE -> prints "spine_ms sh_ms"
		local d; d=$(mktemp -d "$1/steps-XXXXXX")
		git init -q -b main "$d"
		mkdir -p "$d/loops"
		{
			printf -- '---\nloop_id: LOOP-BENCH-STEPS\nstatus: active\n---\n# LOOP-BENCH-STEPS\n\n### Stage 1: Steps\n\n'
			for i in $(seq "$STEPS"); do printf '```sh {name=t%03d}\ntrue\n```\n\n' "$i"; done
		} >"$d/loops/LOOP-BENCH-STEPS.md"
		for i in $(seq "$STEPS"); do echo true; done >"$d/steps.sh"
		(cd "$d" && git add -A && git -c user.name=b -c user.email=b@x commit -qm init)
		local t s1 s2
		t=$(now_ns); (cd "$d" && SPINE_STATE_DIR="$d/.git/spine" "$SPINE" run >/dev/null 2>&1 || true); s1=$(ms_since "$t")
		t=$(now_ns); sh "$d/steps.sh"; s2=$(ms_since "$t")
		rm -rf "$d"
		echo "$s1 $s2"
	}
	for where in disk shm; do
		base=$DISK; [ $where = shm ] && base=$WORK
		per=()
		for i in $(seq "$RUNS"); do
			read -r a b < <(steps_once "$base")
			per+=("$(awk -v a="$a" -v b="$b" -v n="$STEPS" 'BEGIN{printf "%.2f", (a-b)/n}')")
		done
		m=$(median "${per[@]}")
		fs=$("$BIN/fsyncprobe" -dir "$base" -n 50 | awk '/fsync_ms/{print $2}')
		sp=$("$BIN/fsyncprobe" -dir "$base" -n 50 -spawn | awk '/spawn_ms/{print $2}')
		row "per-step overhead, $STEPS \`true\` steps ($where; fsync ${fs} ms, spawn of sh -c true ${sp} ms)" "≤ 5 ms/step" "${m} ms/step" "$(ratio "$m" 5)× goal" "$(met "$m" "<=" 5)"
	done
fi

# --- commit cost vs repository size ----------------------------------------------
if want commit; then
	go test ./internal/gitx -run '^$' -bench CommitFiles -benchtime 20x -count "$RUNS" >"$WORK/commit-bench.txt"
	# the sub-benchmark's name ends in -GOMAXPROCS: match it whole.
	med_bench() { awk -v n="^BenchmarkCommitFiles/$1-[0-9]+\$" '$1 ~ n {print $3}' "$WORK/commit-bench.txt" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
	g20=$(med_bench "files=20/gitx"); g20k=$(med_bench "files=20000/gitx")
	s20=$(med_bench "files=20/split-gitx"); s20k=$(med_bench "files=20000/split-gitx")
	gf20=$(med_bench "files=20/gitx-fresh"); gf20k=$(med_bench "files=20000/gitx-fresh")
	sf20=$(med_bench "files=20/split-gitx-fresh"); sf20k=$(med_bench "files=20000/split-gitx-fresh")
	c20=$(med_bench "files=20/git-cli"); c20k=$(med_bench "files=20000/git-cli")
	r=$(ratio "$g20k" "$g20"); rs=$(ratio "$s20k" "$s20"); rc=$(ratio "$c20k" "$c20")
	rf=$(ratio "$gf20k" "$gf20"); rsf=$(ratio "$sf20k" "$sf20")
	ms2() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f ms vs %.1f ms", a/1e6, b/1e6}'; }
	row "commit one stage (9 files), 20,000 vs 20-file repo, gitx.CommitFiles, core.splitIndex true (README), later commits of a process" "ratio ≤ 1.5" "$(ms2 "$s20" "$s20k")" "$rs" "$(met "$rs" "<=" 1.5)"
	row "same, first commit of a process (repository opened afresh: a run that commits one stage)" "ratio ≤ 1.5" "$(ms2 "$sf20" "$sf20k")" "$rsf" "$(met "$rsf" "<=" 1.5)"
	row "same, default plain index (rewritten whole on every commit), later commits of a process" "ratio ≤ 1.5" "$(ms2 "$g20" "$g20k")" "$r" "$(met "$r" "<=" 1.5)"
	row "same, plain index, first commit of a process" "ratio ≤ 1.5" "$(ms2 "$gf20" "$gf20k")" "$rf" "$(met "$rf" "<=" 1.5)"
	row "same with git add && git commit" "(reference)" "$(awk -v a="$c20" -v b="$c20k" 'BEGIN{printf "%.1f ms vs %.1f ms", a/1e6, b/1e6}')" "$rc" "-"
fi

# --- planning at scale -----------------------------------------------------------
if want plan; then
	prev_ms=""; prev_n=""
	for n in $PLAN_SIZES; do
		R=$WORK/plan-$n
		gen_repo "$R" "$n" $((n * 10))
		cold=(); warm=()
		for i in $(seq "$RUNS"); do
			rm -f "$R/.git/spine/receipts.idx" "$R/.git/spine/receipts.idx.json" "$R/.git/spine/docs.cache"
			t=$(now_ns); (cd "$R" && "$SPINE" plan >/dev/null || true); cold+=("$(ms_since "$t")")
			t=$(now_ns); (cd "$R" && "$SPINE" plan >/dev/null || true); warm+=("$(ms_since "$t")")
		done
		mc=$(median "${cold[@]}"); mw=$(median "${warm[@]}")
		pending=$(cd "$R" && "$SPINE" plan --json | grep -c '"state": "pending"' || true)
		growth="-"
		[ -n "$prev_ms" ] && growth="$(ratio "$mw" "$prev_ms")× for $(ratio "$n" "$prev_n")× loops"
		goal="(growth: linear or better)"; status="-"
		if [ "$n" = 5000 ]; then goal="≤ 1 s"; status=$(met "$mw" "<=" 1000); fi
		row "spine plan, $n loops, $((n * 10)) receipts, $pending pending (receipt index and document cache cold: ${mc} ms)" "$goal" "${mw} ms cached" "$growth" "$status"
		prev_ms=$mw; prev_n=$n
	done
fi

# --- status (issue #2) -------------------------------------------------------------
if want status; then
	R=$WORK/status-$STATUS_LOOPS
	# Loop documents only (-receipts -1: none, completed loops' manual steps
	# ticked), as issue #2 measures the document model.
	gen_repo "$R" "$STATUS_LOOPS" -1
	mb=$(find "$R/loops" -name '*.md' -printf '%s\n' | awk '{s+=$1} END {printf "%.1f", s/1048576}')
	cold=(); warm=()
	for i in $(seq "$RUNS"); do
		rm -f "$R/.git/spine/docs.cache"
		t=$(now_ns); (cd "$R" && "$SPINE" status --json >/dev/null); cold+=("$(ms_since "$t")")
		t=$(now_ns); (cd "$R" && "$SPINE" status --json >/dev/null); warm+=("$(ms_since "$t")")
	done
	mc=$(median "${cold[@]}"); mw=$(median "${warm[@]}")
	row "spine status --json, $STATUS_LOOPS loops ($mb MB), document cache cold (first run, or after an upgrade)" "≤ 1 s" "${mc} ms" "$(ratio "$mc" 1000)× goal" "$(met "$mc" "<=" 1000)"
	row "same, document cache warm (unchanged documents)" "≤ 1 s" "${mw} ms" "$(ratio "$mw" 1000)× goal" "$(met "$mw" "<=" 1000)"
fi

# --- memory ------------------------------------------------------------------------
if want mem; then
	R=$WORK/mem-$MEM_LOOPS
	gen_repo "$R" "$MEM_LOOPS" 0
	# First without the state folder (a fresh clone: every receipt read),
	# then with what that build recorded (receipts.bin, sums.json, the
	# document cache and the receipt index: mapped, they count too).
	for state in cold warm; do
		rm -rf "$WORK/out-mem"
		[ "$state" = cold ] && rm -rf "$R/.git/spine"
		(cd "$R" && /usr/bin/time -v "$SPINE" site build --out "$WORK/out-mem") 2>"$WORK/mem-$state.txt" >/dev/null
		kb=$(awk -F: '/Maximum resident set size/{gsub(/ /,"",$2); print $2}' "$WORK/mem-$state.txt")
		mb=$((kb / 1024))
		row "peak RSS, site build of $MEM_LOOPS loops, state $state" "≤ 500 MB" "$mb MB" "$(ratio "$mb" 500)× goal" "$(met "$mb" "<=" 500)"
	done
fi

# --- RESULTS.md -----------------------------------------------------------------------
{
	echo "# spine benchmark results (bench/run.sh)"
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- machine: $(nproc) CPU, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM"
	echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- $(go version), $("$BIN/hugo" version 2>/dev/null | cut -d' ' -f1-2 || echo "no hugo"), git $(git --version | cut -d' ' -f3), spine $(git rev-parse --short HEAD)"
	echo "- medians of $RUNS runs; ratios from the same run; site output on tmpfs ($WORK) unless noted"
	echo
	echo "| figure | goal | measured | ratio | status |"
	echo "|---|---|---|---|---|"
	printf '%s\n' "${ROWS[@]}"
	for n in "${NOTES[@]}"; do echo "- $n"; done
} >"$OUT.new"
if [ -f "$OUT" ] && grep -q '^## Analysis' "$OUT"; then
	# keep the hand-written analysis below the table
	sed -n '/^## Analysis/,$p' "$OUT" | { echo; cat; } >>"$OUT.new"
fi
mv "$OUT.new" "$OUT"
log "wrote $OUT"
cat "$OUT"
