#!/usr/bin/env bash
# Startup of the frozen python (examples/frozen-python: stdlib imported from
# an objfreeze table) against the stock python relinked the same way without
# a table, in one run: `-I -S -c pass` and an import-heavy command. Wall time
# as the median of interleaved rounds, instructions from callgrind (stable on
# a busy machine), and the file syscalls strace -c counts. Prints a Markdown
# table with ratios (frozen / stock: below 1 is better).
#
#   bash bench/startup.sh                 # CPython 3.11 from pyenv (or python3.11)
#   PYTHON=/root/.pyenv/versions/3.8.18/bin/python3.8 bash bench/startup.sh
#   bash bench/startup.sh --quick         # fewer rounds
#   FROZEN=A STOCK=B LABEL=TEXT bash bench/startup.sh
#                                         # two given pythons instead (e.g.
#                                         # a source build with and without
#                                         # objfreeze); LABEL describes them
#
# Needs make, cc, valgrind, strace; builds the tool if missing.
# Build output goes to stderr; the report to stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/bench/args.sh"
bench_args startup.sh 30 10 "$0" "$@"
for tool in make cc valgrind strace; do
  command -v "$tool" >/dev/null || { echo "startup.sh: $tool is required" >&2; exit 1; }
done

if [ -n "${FROZEN:-}" ] || [ -n "${STOCK:-}" ]; then
  [ -x "${FROZEN:-}" ] && [ -x "${STOCK:-}" ] || { echo "startup.sh: FROZEN and STOCK must both name pythons" >&2; exit 2; }
  PYTHON=$STOCK
  VER=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
else
  VER=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
  OUT="${BENCH_DIR:-$ROOT/target/bench}/startup-$VER"
  [ -x "$ROOT/target/release/objfreeze" ] || cargo build --release --manifest-path "$ROOT/Cargo.toml" >&2
  make -s -C "$ROOT/examples/frozen-python" PYTHON="$PYTHON" OUT="$OUT" >&2
  FROZEN="$OUT/python"
  STOCK="$OUT/python-stock"
  LABEL="Frozen python (\`examples/frozen-python\`: python.o + stdlib table + \`objfreeze_cpython_auto.o\` + libpython$(echo "$VER" | cut -d. -f1-2).a) against the same link without a table (stock)"
fi

HEAVY="import json, argparse, asyncio, email.parser, http.client, typing, dataclasses, subprocess, logging, pathlib, re, tempfile, zipfile, decimal, unittest"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Median wall times in ms of stock and frozen running `-I -S -c "$1"`, in
# interleaved rounds (bench/interleave.py): a machine whose speed drifts
# slows both alike, where back-to-back runs would charge the drift to one.
walls() {
  python3 "$ROOT/bench/interleave.py" "$RUNS" -- "$STOCK" -I -S -c "$1" -- "$FROZEN" -I -S -c "$1" | tr '\n' ' '
  echo
}

# Instructions executed (callgrind's "Collected").
instr() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" -I -S -c "$2" 2>"$TMP/cg.log" >/dev/null
  sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$TMP/cg.log"
}

# File syscalls (strace -c -e trace=file), and all syscalls.
calls() {
  strace -f -c -e trace=file -o "$TMP/sf" "$1" -I -S -c "$2" >/dev/null
  strace -f -c -o "$TMP/sa" "$1" -I -S -c "$2" >/dev/null
  echo "$(awk '/total/ {print $(NF-2)}' "$TMP/sf") $(awk '/total/ {print $(NF-2)}' "$TMP/sa")"
}

ratio() { python3 -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print("%.2f" % (a/b) if b else "-")' "$1" "$2"; }

echo "$LABEL, CPython $VER, \`-I -S\`. Wall: median of $RUNS interleaved rounds (bench/interleave.py); instructions: callgrind; syscalls: strace -c -f. Ratio = frozen / stock."
echo
echo "| command | wall stock ms | wall frozen ms | ratio | instr stock | instr frozen | ratio | file syscalls stock | frozen | all syscalls stock | frozen |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for label in pass heavy; do
  if [ "$label" = pass ]; then code=pass; name='`-c pass`'; else code=$HEAVY; name='`-c "import json, argparse, asyncio, ..."` (15 modules)'; fi
  read -r ws wf < <(walls "$code")
  is=$(instr "$STOCK" "$code")
  if_=$(instr "$FROZEN" "$code")
  read -r fs as < <(calls "$STOCK" "$code")
  read -r ff af < <(calls "$FROZEN" "$code")
  echo "| $name | $ws | $wf | $(ratio "$wf" "$ws") | $is | $if_ | $(ratio "$if_" "$is") | $fs | $ff | $as | $af |"
done
