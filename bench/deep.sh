#!/usr/bin/env bash
# Deep freezing against its alternatives, one CPython source tree built three
# ways by scripts/cpython-build.sh: stock (.pyc files), the whole stdlib in an
# objfreeze table (marshal data, unmarshalled at import) and the same with
# the tables deep-frozen (static code objects, fixed up at first import).
# For `-c pass` and an import-heavy command: instructions (callgrind), wall
# time warm and with the page cache dropped before each run (hyperfine), and
# the private dirty memory the process has after the command
# (/proc/self/smaps_rollup). Then what deep freezing adds to the build: the
# time to write the blobs, their size, and the linked python's relative
# relocations. Prints Markdown; ratios are against stock and the table.
#
#   bash bench/deep.sh [--quick]             CPython 3.14.7 (FORK_VERSION)
#   EMBED=3.12 bash bench/deep.sh [--quick]  a stock CPython 3.12 (3.12-3.14;
#       PYTHON, default the pyenv python3.12), no source change: the three
#       pythons of examples/frozen-python (python.o and libpython3.12.a
#       relinked alone, with the stdlib table, with the table and its blob)
#
# Cold runs need root (echo 3 > /proc/sys/vm/drop_caches); without it they
# are reported as not measured.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/bench/args.sh"
bench_args deep.sh 30 10 "$0" "$@"
for tool in hyperfine valgrind readelf; do
  command -v "$tool" >/dev/null || { echo "deep.sh: $tool is required" >&2; exit 1; }
done
if [ -n "${EMBED:-}" ]; then
  PY=${PYTHON:-$(ls -d /root/.pyenv/versions/"$EMBED".*/bin/python"$EMBED" 2>/dev/null | sort -V | tail -1)}
  [ -x "$PY" ] || { echo "deep.sh: no python$EMBED (set PYTHON)" >&2; exit 1; }
  OUT="$ROOT/target/bench/frozen-python-$EMBED"
  make -s -C "$ROOT/examples/frozen-python" PYTHON="$PY" OUT="$OUT" OBJFREEZE="$ROOT/target/release/objfreeze" >&2
  STOCK=$OUT/python-stock TABLE=$OUT/python DEEP=$OUT/python-deep
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

instr() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" -I -S -c "$2" 2>"$TMP/cg" >/dev/null
  sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$TMP/cg"
}
# Mean wall ms of `$1 -I -S -c "$2"`; $3 = cold to drop the page cache first.
wall() {
  local prep=()
  [ "${3:-}" = cold ] && prep=(--prepare "sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'")
  local runs=$RUNS
  [ "${3:-}" = cold ] && runs=$((RUNS / 3 > 3 ? RUNS / 3 : 3))
  hyperfine -N --style none --warmup 2 --runs "$runs" "${prep[@]}" --export-json "$TMP/h.json" \
    "$1 -I -S -c '$2'" >/dev/null 2>>"$TMP/hyperfine.log"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.2f" % (r["mean"]*1e3))' "$TMP/h.json"
}
# Private dirty kB after the command ran.
dirty() {
  "$1" -I -S -c "$2
for l in open('/proc/self/smaps_rollup'):
    if l.startswith('Private_Dirty:'): print(l.split()[1])"
}
ratio() { python3 -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print("%.3f" % (a/b) if b else "-")' "$1" "$2"; }

echo "$DESC \`-I -S\`; instructions: callgrind; wall: hyperfine mean of $RUNS runs warm, fewer cold (page cache dropped before each run); dirty: Private_Dirty kB after the command."
echo
echo "| command | measure | stock | table | deep | deep/stock | deep/table |"
echo "|---|---|---:|---:|---:|---:|---:|"
for label in pass heavy; do
  if [ "$label" = pass ]; then code=pass; name='`-c pass`'; else code=$HEAVY; name='import-heavy (15 modules)'; fi
  row() { # measure name, three values
    echo "| $name | $1 | $2 | $3 | $4 | $(ratio "$4" "$2") | $(ratio "$4" "$3") |"
  }
  row instructions "$(instr "$STOCK" "$code")" "$(instr "$TABLE" "$code")" "$(instr "$DEEP" "$code")"
  row "wall warm ms" "$(wall "$STOCK" "$code")" "$(wall "$TABLE" "$code")" "$(wall "$DEEP" "$code")"
  if [ "$COLD" = 1 ]; then
    row "wall cold ms" "$(wall "$STOCK" "$code" cold)" "$(wall "$TABLE" "$code" cold)" "$(wall "$DEEP" "$code" cold)"
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
