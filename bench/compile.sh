#!/usr/bin/env bash
# Compiling a standard library from sources: objfreeze's cold build (empty
# bytecode cache, one compiler worker per CPU) and warm rebuild (nothing
# changed) against one `python -m compileall` process compiling the same
# files. Wall time (median) from hyperfine, and CPU time (user+system,
# children included), which a busy machine disturbs less. Prints a Markdown
# table with ratios.
#
#   bash bench/compile.sh                 # CPython 3.11 from pyenv (or python3.11)
#   PYTHON=/root/.pyenv/versions/3.8.18/bin/python3.8 bash bench/compile.sh
#   bash bench/compile.sh --quick         # fewer hyperfine runs
#
# Needs hyperfine; builds the tool if missing (OBJFREEZE overrides it).
# Progress goes to stderr, the report to stdout; hyperfine's JSON is kept in
# ${BENCH_DIR:-target/bench}/compile-*.json.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/bench/args.sh"
bench_args compile.sh 5 2 "$0" "$@"
command -v hyperfine >/dev/null || { echo "compile.sh: hyperfine missing; run scripts/setup.sh" >&2; exit 1; }
OFZ=${OBJFREEZE:-$ROOT/target/release/objfreeze}
if [ ! -x "$OFZ" ]; then
  (cd "$ROOT" && cargo build --release --quiet) >&2
fi
OUT=${BENCH_DIR:-$ROOT/target/bench}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
VER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# The exact sources objfreeze freezes, from its depfile (which also names
# the interpreter and the directories walked: keep the .py files).
"$OFZ" build -q --stdlib --python "$PYTHON" --no-cache --depfile "$WORK/stdlib.d" -o "$WORK/stdlib.o"
sed -n 's/^  \(.*\.py\)\( \\\)\{0,1\}$/\1/p' "$WORK/stdlib.d" | sed 's/\\ / /g' >"$WORK/files"
N=$(wc -l <"$WORK/files")
CPUS=$(nproc)
echo "compile.sh: Python $VER, $N sources, $CPUS CPUs" >&2

# compileall writes its .pyc files under a private prefix, not into the
# installed library; -f recompiles every run (a cold build).
export PYTHONPYCACHEPREFIX="$WORK/pycache"
hyperfine --runs "$RUNS" --warmup 1 --export-json "$OUT/compile-$VER.json" \
  --prepare "rm -rf '$WORK/cache' '$WORK/pycache'" \
  -n "objfreeze cold" \
  "'$OFZ' build -q --stdlib --python '$PYTHON' --cache-dir '$WORK/cache' -o '$WORK/cold.o'" \
  -n "compileall" \
  "'$PYTHON' -m compileall -q -f -i '$WORK/files'" >&2
# Warm: the cache is filled once; every run then finds every source there.
"$OFZ" build -q --stdlib --python "$PYTHON" --cache-dir "$WORK/warm" -o "$WORK/warm.o"
hyperfine --runs $((RUNS * 4)) --warmup 2 --export-json "$OUT/compile-$VER-warm.json" \
  -n "objfreeze warm" \
  "'$OFZ' build -q --stdlib --python '$PYTHON' --cache-dir '$WORK/warm' -o '$WORK/warm.o'" >&2

"$PYTHON" - "$OUT/compile-$VER.json" "$OUT/compile-$VER-warm.json" "$N" "$VER" "$CPUS" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"] + json.load(open(sys.argv[2]))["results"]
wall = [x["median"] for x in r]
cpu = [x["user"] + x["system"] for x in r]
cold, ca, warm = wall
print("Python %s standard library, %s sources, %s CPUs (`bench/compile.sh`):" % (sys.argv[4], sys.argv[3], sys.argv[5]))
print()
print("| build | wall (median) | CPU (user+sys) | ratio (wall) |")
print("|---|---|---|---|")
print("| `python -m compileall`, one process | %.3f s | %.3f s | 1 |" % (ca, cpu[1]))
print("| objfreeze cold (empty cache, one worker per CPU) | %.3f s | %.3f s | %.2fx faster than compileall |" % (cold, cpu[0], ca / cold))
print("| objfreeze warm (nothing changed) | %.3f s | %.3f s | %.1fx faster than cold (CPU: %.1fx) |" % (warm, cpu[2], cold / warm, cpu[0] / cpu[2]))
EOF
