#!/bin/sh
# Run the Lua host with its modules from the table, and the same host without
# the table finding them on disk; exit non-zero if a claim fails.
set -eu
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== the table: $OBJFREEZE inspect out/modules.o"
"$OBJFREEZE" inspect out/modules.o
"$OBJFREEZE" verify out/modules.o >/dev/null || fail "objfreeze verify out/modules.o"

# The sources are on LUA_PATH, so only the table searcher, ahead of the file
# searchers, keeps the host from reading them.
LUA_PATH="$PWD/src/?.lua;$PWD/src/?/init.lua"
export LUA_PATH
trace() {
    if [ -n "$STRACE" ]; then
        "$STRACE" -f -qq -e trace=open,openat,stat,newfstatat,access -o "$1" "$2" >"$1.out"
    else
        "$2" >"$1.out"
    fi
}
for which in host-stock host; do
    echo
    echo "== out/$which (LUA_PATH=$LUA_PATH)"
    trace "out/$which.trace" "out/$which" || { cat "out/$which.trace.out"; fail "out/$which failed"; }
    cat "out/$which.trace.out"
    if [ -n "$STRACE" ]; then
        n=$(grep -v nosuchmod "out/$which.trace" | grep -c '/src/[^"]*\.lua"' || true)
        echo "  module sources under src/ opened or stat'ed: $n (strace)"
        eval "$(echo "$which" | sed 's/host-stock/host_files_stock/; s/^host$/host_files/')=$n"
    fi
done
out=out/host.trace.out
echo
grep -q '^tables installed: 1$' $out || fail "the table was not installed"
grep -q '^hello, world, from mymod' $out || fail "require(\"mymod\") did not run"
grep -q '^  mymod  *loaded from objfreeze table' $out || fail "mymod did not come from the table"
grep -q '^  geometry.vector  *loaded from objfreeze table' $out || fail "geometry.vector did not come from the table"
grep -q "require('nosuchmod') fails; 2nd place looked: no module 'nosuchmod' in objfreeze tables" $out ||
    fail "the table searcher is not first after preload"
grep -q 'error raised in mymod: .*mymod.lua:[0-9]*: mymod.fail was called' $out ||
    fail "no source name and line in the error"
if [ -n "$STRACE" ]; then
    [ "$host_files_stock" -gt 0 ] || fail "the host without a table read no source: the trace proves nothing"
    [ "$host_files" -eq 0 ] || fail "the host read $host_files module sources from disk"
fi
grep -q 'loaded from /' out/host-stock.trace.out || fail "the stock host did not load from disk"
echo "OK: require(\"mymod\") and require(\"geometry.vector\") loaded Lua 5.4 bytecode from the objfreeze table"
