#!/usr/bin/env bash
# Deep freezing against its alternatives, one CPython source tree built three
# ways by scripts/cpython-build.sh: stock (.pyc files), the whole stdlib in an
# objfreeze table (marshal data, unmarshalled at import) and the same with
# the tables deep-frozen (static code objects, fixed up at first import).
# For `-c pass` and an import-heavy command: instructions (callgrind), wall
# time warm and with the page cache dropped before each run (interleaved rounds, bench/interleave.py), and
# the private dirty memory the process has after the command
# (/proc/self/smaps_rollup). Then what deep freezing adds to the build: the
# time to write the blobs, their size, and the linked python's relative
# relocations. Prints Markdown; ratios are against stock and the table.
#
#   bash bench/deep.sh [--quick]             CPython 3.14.7 (FORK_VERSION)
#   EMBED=3.12 bash bench/deep.sh [--quick]  a stock CPython 3.12 (3.12-3.14;
#       EMBED_PYTHON, default the pyenv python3.12), no source change: the three
#       pythons of examples/frozen-python (python.o and libpython3.12.a
#       relinked alone, with the stdlib table, with the table and its blob)
#
# Cold runs need root (echo 3 > /proc/sys/vm/drop_caches); without it they
# are reported as not measured.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/bench/args.sh"
bench_args deep.sh 60 10 "$0" "$@"
for tool in hyperfine valgrind readelf; do
  command -v "$tool" >/dev/null || { echo "deep.sh: $tool is required" >&2; exit 1; }
done
if [ -n "${EMBED:-}" ]; then
  PY=${EMBED_PYTHON:-$(ls -d /root/.pyenv/versions/"$EMBED".*/bin/python"$EMBED" 2>/dev/null | sort -V | tail -1)}
  [ -x "$PY" ] || { echo "deep.sh: no python$EMBED (set EMBED_PYTHON)" >&2; exit 1; }
  OUT="$ROOT/target/bench/frozen-python-$EMBED"
  make -s -C "$ROOT/examples/frozen-python" PYTHON="$PY" OUT="$OUT" OBJFREEZE="$ROOT/target/release/objfreeze" >&2
  STOCK=$OUT/python-stock TABLE=$OUT/python DEEP=$OUT/python-deep
  [ -x "$DEEP" ] || { echo "deep.sh: $PY: examples/frozen-python built no python-deep (3.12-3.14 only)" >&2; exit 1; }
  LAYOUT=$OUT/layout.o TABLE_OBJ=$OUT/stdlib.o BLOB=$OUT/stdlib-deep.o
  DESC="CPython $("$PY" -c 'import sys; print(sys.version.split()[0])') as installed (pyenv), no source change: examples/frozen-python links python.o and libpython$EMBED.a three ways: **stock** (alone: .pyc files, and CPython's own deep-frozen startup modules), **table** (with the stdlib table and objfreeze_cpython.c: marshal data) and **deep** (also the table's blob and objfreeze_cpython_deep.c)."
else
  VERSION="${FORK_VERSION:-3.14.7}"
  MINOR=${VERSION%.*}
  build() { "$ROOT/scripts/cpython-build.sh" "$VERSION" "$1" | tail -1; }
  STOCK="$(build stock)/bin/python$MINOR"
  TABLE="$(build stdlib)/bin/python$MINOR"
  DEEP_PREFIX="$(build deep)"
  DEEP="$DEEP_PREFIX/bin/python$MINOR"
  DEEP_OBJS="$(dirname "$DEEP_PREFIX")/src/Python/objfreeze"
  LAYOUT=$DEEP_OBJS/layout.o TABLE_OBJ=$DEEP_OBJS/stdlib.o BLOB=$DEEP_OBJS/stdlib-deep.o
  DESC="CPython $VERSION from source three ways: **stock** (installed, .pyc files), **table** (the whole stdlib in an objfreeze table: \`OBJFREEZE_CPYTHON_WHOLE_STDLIB=yes\`, marshal data) and **deep** (the same tables deep-frozen: \`OBJFREEZE_CPYTHON_DEEP=yes\`)."
fi

HEAVY="import json, argparse, asyncio, email.parser, http.client, typing, dataclasses, subprocess, logging, pathlib, re, tempfile, zipfile, decimal, unittest"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
COLD=1
if ! (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then COLD=0; fi
# A cold start reads the executable through page faults, each reading the
# file around it as far as the disk's read-ahead allows: the kernel default
# is 128 KB, some virtual disks set megabytes, and then a larger executable
# costs more however little of it runs. Cold rows are measured with the
# disk's setting and, if it differs, with 128 KB (put back afterwards).
RA_FILE=""
dev=$(basename "$(df --output=source "$DEEP" | tail -1)")
for q in "/sys/class/block/$dev/queue" "/sys/class/block/$dev/../queue"; do
  [ -w "$q/read_ahead_kb" ] && { RA_FILE=$q/read_ahead_kb; break; }
done
RA_DISK=$([ -n "$RA_FILE" ] && cat "$RA_FILE" || echo "?")
[ -n "$RA_FILE" ] && trap 'echo "$RA_DISK" >"$RA_FILE"; rm -rf "$TMP"' EXIT

# The disk's read counters (requests completed, KB read) around one cold
# run of each python: what a cold start costs, counted rather than timed, so
# a noisy shared disk does not blur it. One line: stock, table, deep, each
# as "requests KB".
STAT_FILE="/sys/class/block/$dev/stat"
reads() {
  local py a b
  for py in "$STOCK" "$TABLE" "$DEEP"; do
    sync && echo 3 >/proc/sys/vm/drop_caches
    read -r -a a <"$STAT_FILE"
    "$py" -I -S -c "$1" >/dev/null
    read -r -a b <"$STAT_FILE"
    echo "$((b[0] - a[0])) $(((b[2] - a[2]) / 2))"
  done
}
# Rows for both counters; $1 = the read-ahead's label.
read_rows() {
  local r
  mapfile -t r < <(reads "$code")
  # shellcheck disable=SC2086 # "requests KB" split on purpose
  set -- "$1" ${r[0]} ${r[1]} ${r[2]}
  row "disk reads cold, read-ahead $1" "$2" "$4" "$6"
  row "KB read cold, read-ahead $1" "$3" "$5" "$7"
}

instr() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" -I -S -c "$2" 2>"$TMP/cg" >/dev/null
  sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$TMP/cg"
}
# Median wall ms of `PY -I -S -c "$1"` for stock, table and deep, one line
# each, in interleaved rounds (bench/interleave.py); $2 = cold drops the page
# cache before each run.
walls() {
  local runs=$RUNS flag=()
  if [ "${2:-}" = cold ]; then
    runs=$((RUNS / 3 > 3 ? RUNS / 3 : 3))
    flag=(--cold)
  fi
  python3 "$ROOT/bench/interleave.py" "${flag[@]}" "$runs" -- "$STOCK" -I -S -c "$1" \
    -- "$TABLE" -I -S -c "$1" -- "$DEEP" -I -S -c "$1" | paste -sd' '
}
# Private dirty kB after the command ran.
dirty() {
  "$1" -I -S -c "$2
for l in open('/proc/self/smaps_rollup'):
    if l.startswith('Private_Dirty:'): print(l.split()[1])"
}
ratio() { python3 -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print("%.3f" % (a/b) if b else "-")' "$1" "$2"; }

echo "$DESC \`-I -S\`; instructions: callgrind; wall: median of $RUNS interleaved rounds warm (bench/interleave.py), a third as many cold (page cache dropped before each run); disk reads and KB read: the block device's counters around one cold run (/sys/class/block/DEV/stat: every file read, shared libraries too); dirty: Private_Dirty kB after the command."
echo
echo "| command | measure | stock | table | deep | deep/stock | deep/table |"
echo "|---|---|---:|---:|---:|---:|---:|"
# --quick: `-c pass` only (the import-heavy rows take most of the time).
labels="pass heavy"
[ "$QUICK" = 1 ] && labels=pass
for label in $labels; do
  if [ "$label" = pass ]; then code=pass; name='`-c pass`'; else code=$HEAVY; name='import-heavy (15 modules)'; fi
  row() { # measure name, three values
    echo "| $name | $1 | $2 | $3 | $4 | $(ratio "$4" "$2") | $(ratio "$4" "$3") |"
  }
  row instructions "$(instr "$STOCK" "$code")" "$(instr "$TABLE" "$code")" "$(instr "$DEEP" "$code")"
  # shellcheck disable=SC2046 # three numbers, split on purpose
  row "wall warm ms" $(walls "$code")
  if [ "$COLD" = 1 ]; then
    # shellcheck disable=SC2046
    row "wall cold ms, read-ahead $RA_DISK KB" $(walls "$code" cold)
    [ -r "$STAT_FILE" ] && read_rows "$RA_DISK KB"
    # --quick: one read-ahead, the disk's.
    if [ -n "$RA_FILE" ] && [ "$RA_DISK" != 128 ] && [ "$QUICK" = 0 ]; then
      echo 128 >"$RA_FILE"
      # shellcheck disable=SC2046
      row "wall cold ms, read-ahead 128 KB" $(walls "$code" cold)
      [ -r "$STAT_FILE" ] && read_rows "128 KB"
      echo "$RA_DISK" >"$RA_FILE"
    fi
  else
    echo "| $name | wall cold ms | not measured: cannot drop the page cache (not root) | | | | |"
  fi
  row "private dirty kB" "$(dirty "$STOCK" "$code")" "$(dirty "$TABLE" "$code")" "$(dirty "$DEEP" "$code")"
done
echo
relacount() { readelf -d "$1" | awk '/RELACOUNT/ {print $NF}'; }
hyperfine -N --style none --warmup 1 --runs 5 --export-json "$TMP/w.json" \
  "$ROOT/target/release/objfreeze cpython-deep --layout $LAYOUT $TABLE_OBJ -o $TMP/d.o" >/dev/null 2>&1
write_ms=$(python3 -c 'import json,sys; print("%.0f" % (json.load(open(sys.argv[1]))["results"][0]["mean"]*1e3))' "$TMP/w.json")
summary=$("$ROOT/target/release/objfreeze" cpython-deep -v --layout "$LAYOUT" "$TABLE_OBJ" -o "$TMP/d.o" 2>&1 |
  sed 's/^objfreeze: [^:]*: //')
echo "Writing the stdlib blob (\`objfreeze cpython-deep\`): $write_ms ms; $summary. Object file $(stat -c %s "$BLOB") bytes, relocations in it: $(readelf -r "$BLOB" | grep -c R_ || true). R_*_RELATIVE in the linked python: stock $(relacount "$STOCK"), table $(relacount "$TABLE"), deep $(relacount "$DEEP")."
