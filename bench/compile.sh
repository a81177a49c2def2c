#!/usr/bin/env bash
# Compiling a standard library: objfreeze's cold build (empty bytecode cache,
# one compiler worker per CPU) and warm rebuild (nothing changed) against one
# `python -m compileall` process compiling the same files.
#
# Usage: bench/compile.sh [PYTHON] [RUNS]
#   PYTHON  default /root/.pyenv/versions/3.11.7/bin/python3.11
#   RUNS    hyperfine runs per command, default 5
# Environment: OBJFREEZE (default target/release/objfreeze, built if missing),
#   BENCH_OUT (directory for results, default bench/out).
#
# Writes BENCH_OUT/compile-<version>.md (hyperfine's table) and .json, and
# prints the cold/compileall and cold/warm ratios.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${1:-/root/.pyenv/versions/3.11.7/bin/python3.11}
runs=${2:-5}
out=${BENCH_OUT:-$here/bench/out}
ofz=${OBJFREEZE:-$here/target/release/objfreeze}
if [ ! -x "$ofz" ]; then
  (cd "$here" && cargo build --release --quiet)
fi
command -v hyperfine >/dev/null || { echo "compile.sh: hyperfine not installed (bash scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# The exact sources objfreeze freezes, from its depfile (which also names
# the interpreter and the directories walked: keep only .py files).
"$ofz" build -q --stdlib --python "$py" --no-cache --depfile "$work/stdlib.d" -o "$work/stdlib.o"
sed -n 's/^  \(.*\.py\)\( \\\)\{0,1\}$/\1/p' "$work/stdlib.d" | sed 's/\\ / /g' >"$work/files"
n=$(wc -l <"$work/files")
echo "compile.sh: Python $ver, $n sources, $(nproc) CPUs"

# compileall writes its .pyc files under a private prefix, not into the
# installed library; -f recompiles every time (a cold build).
export PYTHONPYCACHEPREFIX="$work/pycache"
hyperfine --runs "$runs" --warmup 1 \
  --export-markdown "$out/compile-$ver.md" --export-json "$out/compile-$ver.json" \
  --prepare "rm -rf '$work/cache' '$work/pycache'" \
  -n "objfreeze cold (empty cache)" \
  "'$ofz' build -q --stdlib --python '$py' --cache-dir '$work/cache' -o '$work/cold.o'" \
  -n "python -m compileall (one process)" \
  "'$py' -m compileall -q -f -i '$work/files'"
# Warm: the cache is filled once, then every run finds every source there.
"$ofz" build -q --stdlib --python "$py" --cache-dir "$work/warm" -o "$work/warm.o"
hyperfine --runs $((runs * 4)) --warmup 2 \
  --export-markdown "$out/compile-$ver-warm.md" --export-json "$out/compile-$ver-warm.json" \
  -n "objfreeze warm (nothing changed)" \
  "'$ofz' build -q --stdlib --python '$py' --cache-dir '$work/warm' -o '$work/warm.o'"

# Medians of wall time, and mean CPU time (user+system, children included),
# which a busy machine disturbs less; and the ratios the README quotes.
"$py" - "$out/compile-$ver.json" "$out/compile-$ver-warm.json" "$n" "$ver" <<'EOF' | tee "$out/compile-$ver-summary.txt"
import json, sys
r = json.load(open(sys.argv[1]))["results"] + json.load(open(sys.argv[2]))["results"]
(cold, ca, warm) = [x["median"] for x in r]
(ccold, cca, cwarm) = [x["user"] + x["system"] for x in r]
print("Python %s stdlib, %s sources; wall (median) and CPU (user+sys, mean):" % (sys.argv[4], sys.argv[3]))
print("  objfreeze cold build   %7.3f s wall %7.3f s CPU" % (cold, ccold))
print("  compileall, 1 process  %7.3f s wall %7.3f s CPU  (cold objfreeze %.2fx faster)" % (ca, cca, ca / cold))
print("  objfreeze warm rebuild %7.3f s wall %7.3f s CPU  (%.1fx faster than cold; %.1fx in CPU)" % (warm, cwarm, cold / warm, ccold / cwarm))
EOF
