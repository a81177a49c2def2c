#!/usr/bin/env bash
# Run CPython's whole regression suite on two builds of one source tree made
# by scripts/cpython-build.sh (default: stock and objfreeze) and compare the
# sets of tests that did not pass.
#
#   scripts/cpython-regrtest.sh VERSION [VARIANT-A VARIANT-B] [-- REGRTEST-ARGS...]
#
# A variant given as a path (it has a slash) is an executable instead, run
# as it is: e.g. the pythons examples/frozen-python links from an installed
# CPython (python-stock against python-deep); VERSION then only names them.
#
# Each build runs `python -m test -j2` from its build directory (where
# test_embed finds Programs/_testembed), or with INSTALLED=1 the installed
# python (where frozen modules are on by default and the whole-stdlib
# builds' code filenames are the files __file__ names), with its own fresh HOME and temp
# directory and the same environment otherwise. No -u option is given, so
# the suite's network, GUI, audio, large-memory and other opt-in resources
# are off: those tests skip on both builds alike. The summary goes to
# stdout; full logs and the failed lists stay under the tree's directory.
# Exit status: 0 if both builds fail the same tests (and each ran tests).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "cpython-regrtest: $*" >&2; exit 2; }
[ $# -ge 1 ] || die "usage: $0 VERSION [VARIANT-A VARIANT-B] [-- REGRTEST-ARGS...]"
version=$1
shift
a=stock b=objfreeze
if [ $# -ge 2 ] && [ "$1" != -- ]; then a=$1 b=$2; shift 2; fi
[ "${1:-}" = -- ] && shift
extra=("$@")

run_one() { # variant
  local prefix vdir out home exe
  if [[ "$1" == */* ]]; then
    exe=$(realpath "$1")
    [ -x "$exe" ] || die "$1: not an executable"
    out=$(dirname "$exe")/regrtest-$(basename "$exe")
  else
    prefix=$("$repo/scripts/cpython-build.sh" "$version" "$1" | tail -1)
    vdir=$(dirname "$prefix")
    out=$vdir/regrtest${INSTALLED:+-installed}
    exe=$([ "${INSTALLED:-}" = 1 ] && echo "$prefix/bin/python${version%.*}" || echo "$vdir/src/python")
  fi
  rm -rf "$out"
  mkdir -p "$out/home" "$out/tmp"
  (cd "$out/tmp" && env -i PATH="$PATH" LANG=C.UTF-8 HOME="$out/home" TMPDIR="$out/tmp" \
    "$exe" -m test -j2 --slowest "${extra[@]}" >"$out/log" 2>&1) || true
  # A test that timed out can leave children running on (test_threading's
  # spin for hours, and would load every later measurement): none outlives
  # the suite.
  pkill -KILL -f -- "^$exe( |\$)" 2>/dev/null || true
  # The final lists: "2 tests failed:", "1 test altered the execution
  # environment (env changed):", ... each followed by indented names.
  awk '/^[0-9]+ tests? (failed|altered the execution environment|crashed|timed out|failed again)/ {sec=1; next}
       sec && /^    / {for (i = 1; i <= NF; i++) print $i; next}
       {sec=0}' "$out/log" | sort -u >"$out/failed"
  grep -E '^Total tests:|^Result:|^Total test files:|^[0-9,]+ tests? OK\.|^All [0-9]+ tests OK' "$out/log" >"$out/summary" || true
  echo "$out"
}

# Both builds at once, each with -j2: the same load for both.
run_one "$a" >"${TMPDIR:-/tmp}/regrtest-$$.a" &
pa=$!
run_one "$b" >"${TMPDIR:-/tmp}/regrtest-$$.b"
wait $pa || die "the $a run failed"
outa=$(cat "${TMPDIR:-/tmp}/regrtest-$$.a") outb=$(cat "${TMPDIR:-/tmp}/regrtest-$$.b")
rm -f "${TMPDIR:-/tmp}/regrtest-$$".[ab]
for o in "$outa" "$outb"; do
  # 3.12+ print test-case totals; 3.11.2 only the count of passing files.
  grep -Eq '^Total tests: run=[1-9]|^[1-9][0-9,]* tests? OK\.|^All [1-9][0-9]* tests OK' "$o/log" ||
    die "$o/log: no test ran"
done
echo "== $version $a: $(tr '\n' ' ' <"$outa/summary")"
echo "   not passing: $(tr '\n' ' ' <"$outa/failed")"
echo "== $version $b: $(tr '\n' ' ' <"$outb/summary")"
echo "   not passing: $(tr '\n' ' ' <"$outb/failed")"
if cmp -s "$outa/failed" "$outb/failed"; then
  echo "same set of tests not passing on $a and $b"
else
  echo "DIFFERENT sets of tests not passing:"
  diff "$outa/failed" "$outb/failed" || true
  exit 1
fi
