#!/bin/sh
# Build (or reuse) the static cross python, give it a target filesystem with
# an empty lib/python3.X, run it under qemu with syscall tracing and show
# what it proves. Usage: run.sh REPO VERSION TRIPLE OUTDIR (QEMU and
# OBJFREEZE from the environment). Exits non-zero if any claim fails.
set -eu
repo=$1 version=$2 triple=$3 out=$4
minor=${version%.*}
fail() { echo "FAIL: $*" >&2; exit 1; }

exe=$("$repo/scripts/cpython-cross.sh" "$version" "$triple" | tail -1)
build_python=$("$repo/scripts/cpython-build.sh" "$version" stock | tail -1)/bin/python$minor
echo "cross python : $exe"
linked=statically
readelf -l "$exe" | grep -q INTERP && linked=dynamically
echo "               $(file -b "$exe" | cut -d, -f1-2), $linked linked, $(wc -c <"$exe") bytes"
"$OBJFREEZE" inspect --summary "$exe" | sed 's/^/               /'

# The target filesystem: the executable and an empty stdlib directory.
rm -rf "$out"
mkdir -p "$out/root/bin" "$out/root/lib/python$minor"
cp "$exe" "$out/root/bin/python$minor"
root=$(cd "$out/root" && pwd)
echo "target root  : $root, holding: $(cd "$root" && find . -type f)"

script='
import sys, os, json, asyncio, decimal
async def coro():
    await asyncio.sleep(0.01)
    return json.dumps({"ran": "asyncio", "sum": sum(range(10))})
print("machine      :", os.uname().machine, "Python", sys.version.split()[0])
print("json.dumps   :", json.dumps({"x": [1, 2.5, None]}))
print("asyncio.run  :", asyncio.run(coro()))
print("Decimal(1)/7 :", decimal.Decimal(1) / 7, "(" + ("C _decimal" if "_decimal" in sys.modules else "_pydecimal") + ")")
print("json         : origin", json.__spec__.origin, "__file__", json.__file__)
ld = decimal.__loader__
print("decimal      : loader", ld.__name__ if isinstance(ld, type) else type(ld).__name__)
print("sys.prefix   :", sys.prefix)
exe, a = os.path.realpath(sys.executable), id(json.dumps.__code__)
static = any(l.split()[-1] == exe and int(l.split("-")[0], 16) <= a < int(l.split()[0].split("-")[1], 16)
             for l in open("/proc/self/maps") if len(l.split()) > 5)
print("json code    :", "static data in the executable (deep-frozen)" if static else "on the heap (unmarshalled)")
'
echo
echo "== env -i PYTHONHOME=$root $QEMU -strace $root/bin/python$minor -c '<import json, asyncio, decimal ...>'"
env -i PYTHONHOME="$root" $QEMU -strace -D "$out/trace.log" "$root/bin/python$minor" -c "$script" \
  >"$out/stdout" 2>"$out/stderr" || { cat "$out/stdout" "$out/stderr"; fail "the cross python failed"; }
cat "$out/stdout"
[ -s "$out/stderr" ] && { echo "stderr:"; cat "$out/stderr"; }
calls=$(grep -c '^[0-9]* [a-z_0-9]*(' "$out/trace.log" || true)
files=$(grep -c -E '^[0-9]+ (open|openat|stat|newfstatat|statx|access|faccessat|readlinkat)\(' "$out/trace.log" || true)
modfiles=$(grep -c -E '"[^"]*\.(py|pyc|so)"' "$out/trace.log" || true)
echo "syscalls     : $calls, $files on files, $modfiles on .py/.pyc/.so files ($out/trace.log)"

# The build python says what the answers must be.
want=$("$build_python" -I -c "$script" | grep -E '^(json.dumps|asyncio.run|Decimal)')
got=$(grep -E '^(json.dumps|asyncio.run|Decimal)' "$out/stdout")
[ "$got" = "$want" ] || fail "results differ from the build python's:
$want"
[ "$modfiles" -eq 0 ] || fail "$modfiles syscalls on module files"
[ "$(cd "$root" && find . -type f)" = "./bin/python$minor" ] || fail "files appeared under $root"
grep -q "^decimal      : loader FrozenImporter" "$out/stdout" || fail "decimal not from the frozen table"
if [ -n "${OBJFREEZE_CROSS_DEEP:-}" ]; then
  grep -q "^json code    : static" "$out/stdout" || fail "OBJFREEZE_CROSS_DEEP set, yet json's code is not static"
fi

# Control: without its frozen stdlib the same executable must fail, and the
# trace must show it looking in the empty tree.
env -i PYTHONHOME="$root" $QEMU -strace -D "$out/control.log" "$root/bin/python$minor" -X frozen_modules=off \
  -c pass >/dev/null 2>"$out/control.stderr" && fail "it started with frozen modules off and no stdlib"
grep -q "No module named 'encodings'" "$out/control.stderr" || { cat "$out/control.stderr"; fail "the control failed otherwise"; }
looked=$(grep -c "\"$root/lib/python$minor" "$out/control.log" || true)
[ "$looked" -gt 0 ] || fail "the control trace shows no search of $root/lib/python$minor"
echo "control      : -X frozen_modules=off fails ($(grep -m1 "^ModuleNotFoundError" "$out/control.stderr")), $looked syscalls in $root/lib/python$minor"
echo "OK: the $triple python ran json, asyncio and decimal with no stdlib file on its filesystem"
