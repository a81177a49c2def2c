#!/usr/bin/env bash
# objfreeze benchmarks: build speed, scaling, startup, lookup and memory,
# each against the alternatives, all measured in this one invocation on this
# machine. Prints a Markdown report (also saved as target/bench/report.md).
#
#   bash bench/run.sh            full run (several minutes)
#   bash bench/run.sh --quick    a subset (100 stdlib modules, fewer runs) that CI runs
#   bash bench/run.sh --readme   full run, then replace README.md's "Benchmarks" section
#
# Needs (scripts/setup.sh installs them): gcc, binutils (ld), xxd, hyperfine,
# GNU time (/usr/bin/time), valgrind, and CPython 3.11 (PY311, default
# /root/.pyenv/versions/3.11.7/bin/python3.11, else python3.11 on PATH).
# bench/compile.sh (sources) and bench/startup.sh (startup) are run too when
# present; they print their own Markdown sections.
#
# Speed and memory are reported as ratios against an alternative run in the
# same invocation; nothing here asserts a time. The script fails only if a
# step fails (a wrong lookup result, a build error, a missing tool on CI).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
QUICK=0
README=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    --readme) README=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bench: unknown option $a" >&2; exit 2 ;;
  esac
done
if [ "$QUICK" = 1 ] && [ "$README" = 1 ]; then
  echo "bench: --readme takes the figures of a full run; drop --quick" >&2
  exit 2
fi

WORK="${BENCH_DIR:-$ROOT/target/bench}"
mkdir -p "$WORK"
LOG="$WORK/log.txt"
: >"$LOG"
REPORT="$WORK/report.md"
: >"$REPORT"

PY311="${PY311:-/root/.pyenv/versions/3.11.7/bin/python3.11}"
[ -x "$PY311" ] || PY311="$(command -v python3.11 || true)"
PY="$(command -v python3 || echo "$PY311")"

SUMMARY="$WORK/summary.md"
: >"$SUMMARY"
note() { echo "bench: $*" >&2; }
# target: one row of the summary (what, measured, verdict).
target() { echo "| $1 | $2 | $3 |" >>"$SUMMARY"; }
out() { echo "$*" >>"$REPORT"; }
need() {
  local missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [ -n "$PY311" ] || missing+=(python3.11)
  if [ ${#missing[@]} -gt 0 ]; then
    note "missing ${missing[*]}; run scripts/setup.sh"
    exit 1
  fi
}
need gcc ld readelf xxd hyperfine /usr/bin/time valgrind cargo

PYENV=/root/.pyenv/versions
if [ "$QUICK" = 1 ]; then
  STDLIB_LIMIT=100 FAST_RUNS=5 SCALES="10 100 1000" LOOKUPS="1000" ROUNDS=3
  STARTUP_PYTHONS="$PY311"
else
  STDLIB_LIMIT="" FAST_RUNS=20 SCALES="10 100 1000 10000" LOOKUPS="1000 10000" ROUNDS=7
  STARTUP_PYTHONS="$PY311 ${PY313:-$PYENV/3.13.0/bin/python3.13}"
fi

note "building objfreeze (release)"
(cd "$ROOT" && cargo build --release --quiet)
OF="$ROOT/target/release/objfreeze"
CFLAGS=(-O2 -Wall -Wextra -pedantic -I "$ROOT/cbindings")

# ---- measuring ------------------------------------------------------------

# hf RUNS CMD: wall time of CMD by hyperfine (no shell in between).
# Sets HF_MIN and HF_MED (seconds) and HF_CPU (mean user+system seconds).
hf() {
  hyperfine -N --style none --warmup 1 --runs "$1" --export-json "$WORK/hf.json" "$2" >>"$LOG" 2>&1
  read -r HF_MIN HF_MED HF_CPU < <("$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(r["min"], r["median"], r["user"] + r["system"])' "$WORK/hf.json")
}

# tv CMD...: one run under GNU time. Sets TV_WALL, TV_CPU (s), TV_RSS (MiB).
tv() {
  /usr/bin/time -v -o "$WORK/tv.txt" "$@" >>"$LOG" 2>&1
  read -r TV_WALL TV_CPU TV_RSS < <(awk -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
    /User time/ { c += $2 } /System time/ { c += $2 }
    /Maximum resident set size/ { r = $2 / 1024 }
    END { printf "%.3f %.3f %.1f\n", w, c, r }' "$WORK/tv.txt")
}

# Arithmetic on decimal strings.
calc() { awk "BEGIN { printf \"$1\n\", $2 }"; }
ms() { calc "%.1f" "$1 * 1000"; }
mib() { calc "%.1f" "$(stat -c %s "$1") / 1048576"; }
# verdict "VALUE OP LIMIT": met or missed; no VALUE (a row --quick leaves out): not measured.
verdict() {
  case "${1%% *}" in
    '' | *[!0-9.]*) echo "not measured" ;;
    *) if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "**missed**"; fi ;;
  esac
}

# ---- inputs ---------------------------------------------------------------

STD="$WORK/stdlib${STDLIB_LIMIT:+-$STDLIB_LIMIT}"
if [ ! -s "$STD/modules.tsv" ]; then
  note "compiling the $($PY311 -c 'import sys; print(sys.version.split()[0])') stdlib into $STD (not timed)"
  rm -rf "$STD"
  "$PY311" "$ROOT/bench/stdlib_pyc.py" "$STD" $STDLIB_LIMIT
fi
# `objfreeze build` arguments, one per line, fed by xargs (10,000 modules
# exceed what a shell line should carry); -x fails rather than split a build.
XARGS=(xargs -x -s 2000000 -d '\n' -a)
XARGS_STR="xargs -x -s 2000000 -d '\\n' -a"
# The build as one command line for hyperfine: direct when the arguments fit
# in one (about 100 KB, no spaces), else through xargs (about 1 ms more).
of_cmd() { # ARGS.TXT OUTPUT
  if [ "$(wc -c <"$1")" -lt 100000 ] && ! grep -q ' ' "$1"; then
    echo "$OF build -q -o $2 $(tr '\n' ' ' <"$1")"
  else
    echo "$XARGS_STR $1 $OF build -q -o $2"
  fi
}
awk -F'\t' '{ printf "-%s\n%s=%s\n", $1, $2, $3 }' "$STD/modules.tsv" >"$STD/args.txt"
cut -f4 "$STD/modules.tsv" | xargs cat >"$STD/all.bin"
NMOD=$(wc -l <"$STD/modules.tsv")
BYTES_MIB=$(mib "$STD/all.bin")

# ---- 1. build from bytecode -----------------------------------------------

note "1. build: $NMOD modules, $BYTES_MIB MiB of bytecode"
cd "$STD"
hf "$FAST_RUNS" "$(of_cmd args.txt objfreeze.o)"
OF_MIN=$HF_MIN OF_CPU=$HF_CPU
tv "${XARGS[@]}" args.txt "$OF" build -q -o objfreeze.o
OF_RSS=$TV_RSS
"$OF" verify objfreeze.o >>"$LOG"

# The same build writing a new file: replacing an existing one by rename
# costs extra on ext4, which first flushes the new file's data (auto_da_alloc).
hyperfine -N --style none --warmup 1 --runs "$FAST_RUNS" --prepare "rm -f fresh.o" \
  --export-json "$WORK/hf.json" "$(of_cmd args.txt fresh.o)" >>"$LOG" 2>&1
FRESH_MIN=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["results"][0]["min"])' "$WORK/hf.json")
rm -f fresh.o

hf "$FAST_RUNS" "ld -r -b binary -o binary.o all.bin"
LD_MIN=$HF_MIN LD_CPU=$HF_CPU
tv ld -r -b binary -o binary.o all.bin
LD_RSS=$TV_RSS

rm -rf carrays xxd && mkdir -p xxd
tv "$PY" "$ROOT/bench/gen_carrays.py" modules.tsv carrays
GEN_WALL=$TV_WALL GEN_CPU=$TV_CPU GEN_RSS=$TV_RSS
tv gcc -O2 -c carrays/frozen.c -o carrays/frozen.o
CC_WALL=$TV_WALL CC_CPU=$TV_CPU CC_RSS=$TV_RSS

# xxd names each array after its file; one translation unit includes them all.
cat >xxd/gen.sh <<'EOF'
set -e
while IFS="$(printf '\t')" read -r _ name _ raw; do
  xxd -i -n "m_$(echo "$name" | tr . _)" "$raw" >"xxd/$name.c"
  echo "#include \"$name.c\"" >>xxd/all.c
done <modules.tsv
EOF
tv bash xxd/gen.sh
XG_WALL=$TV_WALL XG_CPU=$TV_CPU XG_RSS=$TV_RSS
tv gcc -O2 -c xxd/all.c -o xxd/all.o
XC_WALL=$TV_WALL XC_CPU=$TV_CPU XC_RSS=$TV_RSS

row() { # route wall cpu rss output
  out "| $1 | $(ms "$2") | $(ms "$3") | $4 | $5 | $(calc "%.2f" "$2 / $OF_MIN")x |"
}
out "### 1. Build an object from already-compiled bytecode"
out ""
out "CPython $($PY311 -c 'import sys; print(sys.version.split()[0])') standard library (test suites, idlelib, tkinter, turtledemo, ensurepip excluded): $NMOD modules, $BYTES_MIB MiB of marshal data. Wall: best of $FAST_RUNS runs (hyperfine) for the fast routes, one run for the others; CPU is user+system; peak RSS from \`/usr/bin/time -v\`."
out ""
out "| route | wall ms | CPU ms | peak RSS MiB | output MiB | wall vs objfreeze |"
out "|---|---:|---:|---:|---:|---:|"
row "**objfreeze build** (.pyc in, indexed table out)" "$OF_MIN" "$OF_CPU" "$OF_RSS" "$(mib objfreeze.o)"
out "| objfreeze build, no existing output to replace | $(ms "$FRESH_MIN") | | | | $(calc "%.2f" "$FRESH_MIN / $OF_MIN")x |"
row "\`ld -r -b binary\` of the concatenated bytes (no index; lower bound)" "$LD_MIN" "$LD_CPU" "$LD_RSS" "$(mib binary.o)"
row "C arrays as CPython freezes them: generate (\`bench/gen_carrays.py\`)" "$GEN_WALL" "$GEN_CPU" "$GEN_RSS" "$(calc "%.1f" "$(du -sb carrays | cut -f1) / 1048576") (C)"
row "C arrays: \`gcc -O2 -c\` (one TU, \`struct _frozen\` table)" "$CC_WALL" "$CC_CPU" "$CC_RSS" "$(mib carrays/frozen.o)"
row "\`xxd -i\`, one run per module" "$XG_WALL" "$XG_CPU" "$XG_RSS" "$(calc "%.1f" "$(du -sb xxd | cut -f1) / 1048576") (C)"
row "\`xxd -i\` arrays: \`gcc -O2 -c\` (one TU)" "$XC_WALL" "$XC_CPU" "$XC_RSS" "$(mib xxd/all.o)"
out ""
R_LD=$(calc "%.2f" "$OF_MIN / $LD_MIN")
R_CC=$(calc "%.0f" "$CC_WALL / $OF_MIN")
R_CCALL=$(calc "%.0f" "($GEN_WALL + $CC_WALL) / $OF_MIN")
out "- objfreeze vs \`ld -r -b binary\`: **${R_LD}x** the wall time, $(calc "%.2f" "$OF_CPU / $LD_CPU")x the CPU time (target <= 2x wall: $(verdict "$R_LD <= 2"))."
R_LD_CPU=$(calc "%.2f" "$OF_CPU / $LD_CPU")
target "Build the stdlib object from bytecode: wall vs \`ld -r -b binary\` <= 2x" "${R_LD}x (CPU: ${R_LD_CPU}x)" "$(verdict "$R_LD <= 2")"
target "... vs the gcc C-array route: >= 500x faster" "${R_CC}x (gcc alone), ${R_CCALL}x (with generation)" "$(verdict "$R_CC >= 500")"
R_LD_FRESH=$(calc "%.2f" "$FRESH_MIN / $LD_MIN")
R_CC_FRESH=$(calc "%.0f" "$CC_WALL / $FRESH_MIN")
target "... the same two, writing a new output (no rename over an existing file, which ext4 makes flush the new data first)" "${R_LD_FRESH}x ld; ${R_CC_FRESH}x faster than gcc" "$(verdict "$R_LD_FRESH <= 2 && $R_CC_FRESH >= 500")"
target "... peak RSS <= 64 MiB" "$OF_RSS MiB" "$(verdict "$OF_RSS <= 64")"
out "- gcc C-array route vs objfreeze: **${R_CC}x** slower compiling alone, ${R_CCALL}x with generation (target >= 500x: $(verdict "$R_CC >= 500"))."
out "- Writing a new output instead of replacing one: $(ms "$FRESH_MIN") ms, ${R_LD_FRESH}x \`ld -r -b binary\` and ${R_CC_FRESH}x faster than gcc. The difference is ext4 (auto_da_alloc) flushing the new object's data when the atomic rename replaces an old one, so that a power loss cannot leave an empty object under the old name; \`ld\` replaces its output in place without that."
out "- objfreeze peak RSS: **$OF_RSS MiB** (target <= 64 MiB: $(verdict "$OF_RSS <= 64")); the gcc route peaks at $CC_RSS MiB."
out ""
cd "$ROOT"

# ---- 1b. from sources (bench/compile.sh, when present) --------------------

if [ -f "$ROOT/bench/compile.sh" ]; then
  note "1b. build from sources: bench/compile.sh"
  out "### 1b. Build from sources"
  out ""
  PYTHON="$PY311" OBJFREEZE="$OF" BENCH_DIR="$WORK" bash "$ROOT/bench/compile.sh" $([ "$QUICK" = 1 ] && echo --quick) >"$WORK/compile.txt" 2>>"$LOG"
  cat "$WORK/compile.txt" >>"$REPORT"
  out ""
fi

# ---- 2. scaling -------------------------------------------------------------

note "2. scaling: $SCALES synthetic modules"
out "### 2. Scaling"
out ""
out "Synthetic modules \`pkgJ.mod_I\` (a package per 100), each a real stdlib module's marshal data with a unique tail, so nothing is shared. Wall: best of hyperfine runs; the phases come from \`cargo bench --bench phases\` (the library's steps timed in process; best of 5 processes)."
out ""
out "| modules | MiB in | objfreeze wall ms | us per module | peak RSS MiB | ld -r -b binary ms | vs ld | read inputs ms | lay out table ms | write object ms |"
out "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
(cd "$ROOT" && cargo bench --bench phases --no-run --quiet 2>>"$LOG")
for n in $SCALES; do
  S="$WORK/synth-$n"
  if [ ! -s "$S/args.txt" ]; then
    rm -rf "$S"
    "$PY" "$ROOT/bench/synth.py" modules "$n" "$STD/modules.tsv" "$S"
  fi
  cd "$S"
  runs=$FAST_RUNS
  [ "$n" -ge 10000 ] && runs=5
  hf "$runs" "$(of_cmd args.txt objfreeze.o)"
  s_min=$HF_MIN
  tv "${XARGS[@]}" args.txt "$OF" build -q -o objfreeze.o
  s_rss=$TV_RSS
  hf "$runs" "ld -r -b binary -o binary.o all.bin"
  l_min=$HF_MIN
  # One build per process, as objfreeze runs: a second build in the same
  # process would reuse freed memory and miss the page faults.
  phases=$(for _ in 1 2 3 4 5; do (cd "$ROOT" && cargo bench --bench phases --quiet -- "$S/args.txt" 1 2>>"$LOG"); done)
  ph() { echo "$phases" | awk -v k="$1" '$1 == k && (m == "" || $2 < m) { m = $2 } END { print m }'; }
  out "| $n | $(mib all.bin) | $(ms "$s_min") | $(calc "%.1f" "$s_min * 1e6 / $n") | $s_rss | $(ms "$l_min") | $(calc "%.2f" "$s_min / $l_min")x | $(ph read_inputs_ms) | $(ph write_table_ms) | $(ph write_object_ms) |"
  rm -f objfreeze.o binary.o
done
out ""
out "Laying out the table includes its BLAKE3 digest; writing the object includes the atomic rename."
out ""
cd "$ROOT"

# ---- 3. startup (bench/startup.sh, when present) --------------------------

# Cold page cache: the same two pythons startup.sh built, the page cache
# dropped before every run (root only; the full run only, since it slows the
# whole machine for a moment).
cold_start() { # PYTHON
  local dir heavy ver
  [ "$QUICK" = 0 ] && [ -w /proc/sys/vm/drop_caches ] || return 0
  ver=$("$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
  dir="$WORK/startup-$ver"
  [ -x "$dir/python" ] && [ -x "$dir/python-stock" ] || return 0
  heavy=$(sed -n 's/^HEAVY="\(.*\)"$/\1/p' "$ROOT/bench/startup.sh")
  out "Cold page cache ($ver): \`sync; echo 3 > /proc/sys/vm/drop_caches\` before each of 5 runs; hyperfine mean ± sd."
  out ""
  out "| command | stock ms | frozen ms | ratio |"
  out "|---|---:|---:|---:|"
  for code in pass "$heavy"; do
    hyperfine -N --style none --runs 5 --prepare "sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'" \
      --export-json "$WORK/cold.json" "$dir/python-stock -I -S -c '$code'" "$dir/python -I -S -c '$code'" >>"$LOG" 2>&1
    read -r s sd f fd < <("$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(*("%.1f" % (x[k] * 1e3) for x in r for k in ("mean", "stddev")))' "$WORK/cold.json")
    label='`-c pass`'
    [ "$code" = pass ] || label='import-heavy (as above)'
    out "| $label | $s ± $sd | $f ± $fd | $(calc "%.2f" "$f / $s") |"
  done
  out ""
}

if [ -f "$ROOT/bench/startup.sh" ]; then
  out "### 3. Startup"
  out ""
  for py in $STARTUP_PYTHONS; do
    [ -x "$py" ] || { note "startup: $py not installed, skipped"; continue; }
    note "3. startup: bench/startup.sh with $py"
    PYTHON="$py" bash "$ROOT/bench/startup.sh" $([ "$QUICK" = 1 ] && echo --quick) >"$WORK/startup.txt" 2>>"$LOG"
    cat "$WORK/startup.txt" >>"$REPORT"
    out ""
    # Its rows: | command | wall stock | wall frozen | ratio | ...
    v=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    r_pass=$(awk -F'|' 'index($2, "-c pass") { gsub(/ /, "", $5); print $5; exit }' "$WORK/startup.txt")
    r_heavy=$(awk -F'|' 'index($2, "import json") { gsub(/ /, "", $5); print $5; exit }' "$WORK/startup.txt")
    target "Startup $v, import-heavy: frozen/stock wall <= 0.85" "${r_heavy:-?}" "$(verdict "${r_heavy:-9} <= 0.85")"
    target "Startup $v, \`-c pass\`: frozen/stock wall <= 1.0" "${r_pass:-?}" "$(verdict "${r_pass:-9} <= 1.0")"
    cold_start "$py"
  done
fi

# ---- 3b. startup of a source build with the whole stdlib frozen ----------
# scripts/cpython-build.sh's stock and stdlib builds of one CPython tree (the
# tests build them; a run without them builds them, several minutes each).
FORK_VERSION="${FORK_VERSION:-3.14.7}"
if [ -x "$ROOT/scripts/cpython-build.sh" ]; then
  note "3b. fork build startup: CPython $FORK_VERSION stock vs whole stdlib frozen"
  fstock=$("$ROOT/scripts/cpython-build.sh" "$FORK_VERSION" stock 2>>"$LOG" | tail -1)
  fwhole=$("$ROOT/scripts/cpython-build.sh" "$FORK_VERSION" stdlib 2>>"$LOG" | tail -1)
  fminor=${FORK_VERSION%.*}
  out "### 3b. Startup of a CPython source build with the whole stdlib frozen"
  out ""
  FROZEN="$fwhole/bin/python$fminor" STOCK="$fstock/bin/python$fminor" \
    LABEL="CPython $FORK_VERSION built from source with \`OBJFREEZE_CPYTHON_WHOLE_STDLIB=yes\` (make/cpython.mk; the installed python, frozen modules on) against the stock build of the same tree (installed, .pyc files from make install)" \
    bash "$ROOT/bench/startup.sh" $([ "$QUICK" = 1 ] && echo --quick) >"$WORK/startup-fork.txt" 2>>"$LOG"
  cat "$WORK/startup-fork.txt" >>"$REPORT"
  out ""
  r_heavy=$(awk -F'|' 'index($2, "import json") { gsub(/ /, "", $5); print $5; exit }' "$WORK/startup-fork.txt")
  i_heavy=$(awk -F'|' 'index($2, "import json") { gsub(/ /, "", $8); print $8; exit }' "$WORK/startup-fork.txt")
  target "Fork build $fminor, whole stdlib, import-heavy: wall / instructions vs stock" "${r_heavy:-?} / ${i_heavy:-?}" "(reported)"
fi

# ---- 3c. deep freezing --------------------------------------------------------
# The same tree a third way: the stdlib tables deep-frozen (static code objects).
if [ -x "$ROOT/scripts/cpython-build.sh" ]; then
  note "3c. deep freezing: CPython $FORK_VERSION stock vs table vs deep"
  out "### 3c. Deep freezing: static code objects instead of unmarshalling"
  out ""
  FORK_VERSION="$FORK_VERSION" bash "$ROOT/bench/deep.sh" $([ "$QUICK" = 1 ] && echo --quick) >"$WORK/deep.txt" 2>>"$LOG"
  cat "$WORK/deep.txt" >>"$REPORT"
  out ""
  # Columns: command, measure, stock, table, deep, deep/stock, deep/table.
  deep_ratio() { awk -F'|' -v c="$1" -v m="$2" -v k="$3" 'index($2, c) && index($3, m) { gsub(/ /, "", $k); print $k; exit }' "$WORK/deep.txt"; }
  target "Deep, import-heavy: instructions vs stock <= 0.80 (vs table)" "$(deep_ratio import instructions 7) ($(deep_ratio import instructions 8))" "$(verdict "$(deep_ratio import instructions 7) <= 0.80")"
  target "Deep, import-heavy: wall warm vs stock <= 0.80 (vs table)" "$(deep_ratio import "wall warm" 7) ($(deep_ratio import "wall warm" 8))" "$(verdict "$(deep_ratio import "wall warm" 7) <= 0.80")"
  target "Deep, import-heavy: wall cold vs stock <= 0.80 (vs table)" "$(deep_ratio import "wall cold" 7) ($(deep_ratio import "wall cold" 8))" "$(verdict "$(deep_ratio import "wall cold" 7) <= 0.80")"
  target "Deep, import-heavy: wall cold, read-ahead 128 KB, vs stock <= 0.80 (vs table)" "$(deep_ratio import "read-ahead 128" 7) ($(deep_ratio import "read-ahead 128" 8))" "$(verdict "$(deep_ratio import "read-ahead 128" 7) <= 0.80")"
  target "Deep, \`-c pass\`: instructions vs stock <= 0.95 (vs table)" "$(deep_ratio pass instructions 7) ($(deep_ratio pass instructions 8))" "$(verdict "$(deep_ratio pass instructions 7) <= 0.95")"
  target "Deep, \`-c pass\`: wall warm vs stock <= 0.95 (vs table)" "$(deep_ratio pass "wall warm" 7) ($(deep_ratio pass "wall warm" 8))" "$(verdict "$(deep_ratio pass "wall warm" 7) <= 0.95")"
  target "Deep, \`-c pass\`: wall cold vs stock <= 0.95 (vs table)" "$(deep_ratio pass "wall cold" 7) ($(deep_ratio pass "wall cold" 8))" "$(verdict "$(deep_ratio pass "wall cold" 7) <= 0.95")"
  target "Deep, \`-c pass\`: wall cold, read-ahead 128 KB, vs stock <= 0.95 (vs table)" "$(deep_ratio pass "read-ahead 128" 7) ($(deep_ratio pass "read-ahead 128" 8))" "$(verdict "$(deep_ratio pass "read-ahead 128" 7) <= 0.95")"
  target "Deep, import-heavy: private dirty vs stock (vs table)" "$(deep_ratio import "dirty" 7) ($(deep_ratio import "dirty" 8))" "(reported)"
fi

# ---- 3d. deep freezing in a stock CPython 3.12 ------------------------------
# No source tree: the installed 3.12's python.o and libpython3.12.a relinked
# (examples/frozen-python), alone, with the table, with table and blob.
PY312=$(ls -d /root/.pyenv/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$PY312" ]; then
  note "3d. deep freezing: stock CPython 3.12 relinked, stock vs table vs deep"
  out "### 3d. Deep freezing in a stock CPython 3.12 (no source change)"
  out ""
  EMBED=3.12 EMBED_PYTHON="$PY312" bash "$ROOT/bench/deep.sh" $([ "$QUICK" = 1 ] && echo --quick) >"$WORK/deep312.txt" 2>>"$LOG"
  cat "$WORK/deep312.txt" >>"$REPORT"
  out ""
  deep312() { awk -F'|' -v c="$1" -v m="$2" -v k="$3" 'index($2, c) && index($3, m) { gsub(/ /, "", $k); print $k; exit }' "$WORK/deep312.txt"; }
  for m in instructions "wall warm" "wall cold" "read-ahead 128"; do
    target "Deep 3.12 (stock embedding), import-heavy: $m vs stock <= 0.80 (vs table)" "$(deep312 import "$m" 7) ($(deep312 import "$m" 8))" "$(verdict "$(deep312 import "$m" 7) <= 0.80")"
  done
  for m in instructions "wall warm" "wall cold" "read-ahead 128"; do
    target "Deep 3.12 (stock embedding), \`-c pass\`: $m vs stock <= 0.95 (vs table)" "$(deep312 pass "$m" 7) ($(deep312 pass "$m" 8))" "$(verdict "$(deep312 pass "$m" 7) <= 0.95")"
  done
fi

# ---- 4. lookup --------------------------------------------------------------

note "4. lookup: $LOOKUPS names"
out "### 4. Lookup"
out ""
out "\`objfreeze_find\` (binary search, \`cbindings/objfreeze.h\`) vs the linear \`strcmp\` scan of a \`struct _frozen\` array that CPython does, in one C program (\`bench/lookup.c\`, gcc -O2). Hits: every name, shuffled; misses: \`NAME.sub\` for every name. ns per lookup, best of $ROUNDS rounds of >= 20 ms; instructions per lookup from callgrind (independent of machine load)."
out ""
out "| names | query | objfreeze_find ns | linear scan ns | speedup | objfreeze_find instr | linear scan instr |"
out "|---:|---|---:|---:|---:|---:|---:|"
for n in $LOOKUPS; do
  L="$WORK/lookup-$n"
  rm -rf "$L"
  "$PY" "$ROOT/bench/synth.py" names "$n" "$L"
  cd "$L"
  "${XARGS[@]}" args.txt "$OF" build --interp none -o table.o
  gcc "${CFLAGS[@]}" -Wno-array-bounds "$ROOT/bench/lookup.c" frozen.c table.o -o lookup 2>>"$LOG"
  ./lookup hits.txt misses.txt "$ROUNDS" >ns.txt
  valgrind --tool=callgrind --callgrind-out-file=cg.out '--toggle-collect=cg_*' \
    ./lookup hits.txt misses.txt count >>"$LOG" 2>&1
  callgrind_annotate --inclusive=yes --threshold=100 cg.out >cg.txt 2>>"$LOG"
  nq=$(( n < 1000 ? n : 1000 ))
  # Inclusive instructions of one pass over nq queries, per query.
  ir() { awk -v f="$1" -v n="$nq" 'index($0, ":" f " ") { gsub(",", "", $1); printf "%.0f\n", $1 / n; exit }' cg.txt; }
  for kind in hit miss; do
    a=$(awk -v k=$kind '$1 == "objfreeze_find" && $2 == k { print $3 }' ns.txt)
    b=$(awk -v k=$kind '$1 == "linear_strcmp" && $2 == k { print $3 }' ns.txt)
    out "| $n | $kind | $a | $b | $(calc "%.0f" "$b / $a")x | $(ir "cg_objfreeze_$kind") | $(ir "cg_linear_$kind") |"
  done
  [ "$n" = 1000 ] && LOOKUP_1000=$(awk '$1 == "objfreeze_find" { if ($3 > m) m = $3 } END { print m }' ns.txt)
  cd "$ROOT"
done
out ""
out "- objfreeze_find at 1,000 names: **${LOOKUP_1000} ns** worst of hit/miss (target <= 100 ns: $(verdict "$LOOKUP_1000 <= 100"))."
target "Lookup at 1,000 names <= 100 ns (worst of hit/miss)" "$LOOKUP_1000 ns" "$(verdict "$LOOKUP_1000 <= 100")"
out ""

# ---- 5. memory --------------------------------------------------------------

note "5. memory: private dirty pages"
out "### 5. Memory: private dirty pages of the table in a PIE executable"
out ""
out "\`bench/dirty.c\`, linked \`-pie\`, reads every module, then sums Private_Dirty over the \`/proc/self/smaps\` mappings that overlap the table's address range. The executable is synced to disk first (a freshly written file's page-cache pages count as dirty until written back)."
out ""
out "| modules | table | table KiB | mappings | Rss KiB | Private_Clean KiB | Private_Dirty KiB | relocations in the executable |"
out "|---:|---|---:|---:|---:|---:|---:|---:|"
dirty_row() { # label binary
  sync "$2"
  "$2" >"$2.txt"
  DIRTY_TXT="$2.txt"
  d() { awk -v k="$1" '$1 == k { print $2 }' "$DIRTY_TXT"; }
  out "| $(d modules) | $1 | $(calc "%.1f" "$(d table_bytes) / 1024") | $(d mappings) | $(d rss_kb) | $(d private_clean_kb) | $(d private_dirty_kb) | $(readelf -rW "$2" | grep -c ' R_' || true) |"
  LAST_DIRTY=$(d private_dirty_kb)
}
cd "$STD"
gcc "${CFLAGS[@]}" -Wno-array-bounds -fPIE -pie -DOBJFREEZE "$ROOT/bench/dirty.c" objfreeze.o -o dirty-objfreeze 2>>"$LOG"
gcc "${CFLAGS[@]}" -fPIE -pie "$ROOT/bench/dirty.c" carrays/frozen.o -o dirty-frozen 2>>"$LOG"
dirty_row "objfreeze (stdlib)" "$STD/dirty-objfreeze"
OF_DIRTY=$LAST_DIRTY
dirty_row "\`struct _frozen\` pointers (stdlib)" "$STD/dirty-frozen"
for n in $LOOKUPS; do
  L="$WORK/lookup-$n"
  cd "$L"
  # The lookup sets carry 16-byte modules: the index and names dominate.
  gcc "${CFLAGS[@]}" -Wno-array-bounds -fPIE -pie -DOBJFREEZE "$ROOT/bench/dirty.c" table.o -o dirty-objfreeze 2>>"$LOG"
  gcc "${CFLAGS[@]}" -fPIE -pie "$ROOT/bench/dirty.c" frozen.c -o dirty-frozen 2>>"$LOG"
  dirty_row "objfreeze (synthetic names)" "$L/dirty-objfreeze"
  OF_DIRTY=$((OF_DIRTY + LAST_DIRTY))
  dirty_row "\`struct _frozen\` pointers (synthetic names)" "$L/dirty-frozen"
done
cd "$ROOT"
out ""
out "- Private dirty table pages with objfreeze: **$OF_DIRTY KiB** over all rows (target 0: $(verdict "$OF_DIRTY == 0"))."
target "Private dirty table pages in a PIE: 0" "$OF_DIRTY KiB" "$(verdict "$OF_DIRTY == 0")"
out ""

# ---- the report -------------------------------------------------------------

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
HEADER="Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`bash bench/run.sh$([ "$QUICK" = 1 ] && echo ' --quick')\` on $(nproc) CPUs ($CPU_MODEL), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
{
  echo "$HEADER"
  echo
  [ "$QUICK" = 1 ] && echo "Quick mode: a 100-module subset and fewer runs, to keep the script working; the targets are set for the full run." && echo
  echo "| target | measured | |"
  echo "|---|---|---|"
  cat "$SUMMARY"
  echo
  cat "$REPORT"
} >"$REPORT.tmp" && mv "$REPORT.tmp" "$REPORT"
cat "$REPORT"

if [ "$README" = 1 ]; then
  "$PY" - "$ROOT/README.md" "$REPORT" <<'EOF'
import sys
readme, report = sys.argv[1], open(sys.argv[2]).read().strip()
text = open(readme).read()
lines = text.split("\n")
section = ["## Benchmarks", "", "`bash bench/run.sh` (full) or `bash bench/run.sh --quick` (what CI runs) prints this report; `bash bench/run.sh --readme` refreshes this section.", "", report, ""]
start = next((i for i, l in enumerate(lines) if l.strip() == "## Benchmarks"), None)
if start is None:
    lines += [""] + section
else:
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    lines[start:end] = section
open(readme, "w").write("\n".join(lines).rstrip("\n") + "\n")
EOF
  note "README.md: Benchmarks section updated"
fi
