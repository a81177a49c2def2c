#!/bin/sh
# Run the cross-built aarch64 pythons under qemu and show what the frozen one
# proves. Usage: run.sh FROZEN STOCK TABLE_OBJECT (QEMU, BUILD_PYTHON and
# OBJFREEZE from the environment). Exits non-zero if any claim fails.
set -eu
frozen=$1 stock=$2 table=$3
out=$(dirname "$frozen")
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. The bytecode must come from the target's Python version: compare the
#    build interpreter with the aarch64 one (the stock link, under qemu).
probe='import sys, importlib.util; print(sys.version.split()[0], int.from_bytes(importlib.util.MAGIC_NUMBER[:2], "little"), sys._stdlib_dir)'
set -- $("$BUILD_PYTHON" -I -S -c "$probe")
build_ver=$1 build_magic=$2
set -- $($QEMU "$stock" -I -S -c "$probe")
target_ver=$1 target_magic=$2 stdlib=$3
echo "build interpreter  : $BUILD_PYTHON (x86_64) Python $build_ver, bytecode magic $build_magic"
echo "target interpreter : $stock (aarch64: python.o + libpython3.11.a) Python $target_ver, bytecode magic $target_magic"
[ "$build_magic" = "$target_magic" ] || fail "bytecode magic differs: rebuild with a build interpreter of Python $target_ver"

# 2. The table: an aarch64 ELF object.
echo "table object       : $table: $(file -b "$table" | cut -d, -f1-2)"
"$OBJFREEZE" inspect --summary "$table" | sed 's/^/                     /'

# 3. Import json and asyncio under qemu, recording every system call.
script='
import sys, platform, json, asyncio
print("running on", platform.machine(), "Python", platform.python_version())
for m in (json, json.decoder, asyncio, asyncio.events):
    ld = m.__spec__.loader
    ld = ld if isinstance(ld, type) else type(ld)
    print(f"  {m.__name__:15} loader={ld.__module__}.{ld.__qualname__}")
    print(" " * 17, f"origin={m.__spec__.origin} __file__={m.__file__}")
async def main():
    await asyncio.sleep(0.01)
    return json.dumps({"asyncio": "ran", "json": "encoded"})
print("  asyncio.run(main()) ->", asyncio.run(main()))
'
count_pyc() { grep -E "\"$stdlib/[^\"]*\.pyc\"" "$1" | grep -c -E '(open|stat|access)' || true; }
count_py() { grep -E "\"$stdlib/[^\"]*\.py\"" "$1" | grep -c -E 'open' || true; }
for which in stock frozen; do
    eval prog=\$$which
    echo
    echo "== $which python: $QEMU -strace $prog -I -S -c '<import json, asyncio; run a coroutine>'"
    $QEMU -strace "$prog" -I -S -c "$script" >"$out/$which.stdout" 2>"$out/$which.strace" ||
        { cat "$out/$which.stdout" "$out/$which.strace" | tail -20; fail "$which python failed"; }
    cat "$out/$which.stdout"
    eval ${which}_pyc=$(count_pyc "$out/$which.strace")
    eval ${which}_py=$(count_py "$out/$which.strace")
    eval echo "\"  file syscalls on stdlib .pyc files: \$${which}_pyc; stdlib .py files opened: \$${which}_py ($out/$which.strace)\""
done

# 4. Frozen code keeps its source path: a traceback from inside json shows
#    the source line (read from the .py only now, to print the error).
echo
echo "== frozen python: an error raised inside json.decoder"
$QEMU "$frozen" -I -S -c 'import json; json.loads("{")' >"$out/traceback.txt" 2>&1 && fail "json.loads did not raise"
sed 's/^/  /' "$out/traceback.txt" | tail -6
grep -q 'File "'"$stdlib"'/json/decoder.py", line [0-9]*, in raw_decode' "$out/traceback.txt" ||
    fail "no json/decoder.py frame in the traceback"

echo
grep -q '^  json  *loader=objfreeze.FrozenSourceLoader$' "$out/frozen.stdout" || fail "json was not imported from the table"
grep -q '^  asyncio  *loader=objfreeze.FrozenSourceLoader$' "$out/frozen.stdout" || fail "asyncio was not imported from the table"
grep -q 'asyncio.run(main()) -> {"asyncio": "ran"' "$out/frozen.stdout" || fail "the coroutine did not run"
[ "$stock_pyc" -gt 0 ] || fail "the stock python touched no stdlib .pyc: the syscall trace proves nothing"
[ "$frozen_pyc" -eq 0 ] || fail "the frozen python touched $frozen_pyc stdlib .pyc files"
echo "OK: the aarch64 python imported json and asyncio from the objfreeze section under qemu"
echo "    (stdlib .pyc file syscalls: frozen 0, stock $stock_pyc)"
