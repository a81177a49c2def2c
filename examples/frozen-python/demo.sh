#!/bin/sh
# demo.sh FROZEN STOCK [DEEP]: show what the frozen python proves, next to the
# stock one (and the deep-frozen one, 3.12+).
set -eu
frozen=$1
stock=$2
deep=${3:-}
cmd="import json, argparse, asyncio, email.parser, http.client, typing, dataclasses, subprocess, logging, pathlib, re, tempfile, zipfile, decimal, unittest"

echo "== $frozen: $($frozen -c 'import sys; print(sys.version.split()[0])'), stdlib from its objfreeze table"
$frozen -I -S -c "$cmd
import sys
print('meta_path[1]:    ', sys.meta_path[1])
print('json.__file__:   ', json.__file__)
print('json.__spec__:   ', json.__spec__.origin, '(loader', type(json.__loader__).__name__ + ')')
print('email.__path__:  ', email.__path__)
import inspect
print('inspect.getsource(json.dumps) starts:', inspect.getsource(json.dumps).splitlines()[0])"

echo
echo "== a traceback raised inside a frozen stdlib module shows its source lines"
$frozen -I -S -c "import json; json.loads('{broken')" 2>&1 | sed -n '1,7p' || true

if command -v strace >/dev/null 2>&1; then
  echo
  echo "== file syscalls for the import-heavy command (strace -f -e trace=file)"
  for py in "$frozen" "$stock"; do
    log=$(mktemp)
    strace -f -qq -e trace=file -o "$log" "$py" -I -S -c "$cmd"
    total=$(wc -l < "$log")
    pyc=$(grep -cE '\.pyc?"' "$log" || true)
    echo "$(basename "$py"): $total file syscalls, $pyc of them on a .py/.pyc file"
    rm -f "$log"
  done
else
  echo "(strace not installed: skipping the file syscall count)"
fi

if [ -n "$deep" ]; then
  echo
  echo "== $deep: the same table deep-frozen: code objects are static data in the executable"
  $deep -I -S -c "$cmd
import os, sys
exe, a = os.path.realpath(sys.executable), id(json.dumps.__code__)
static = any(l.split()[-1] == exe and int(l.split('-')[0], 16) <= a < int(l.split()[0].split('-')[1], 16)
             for l in open('/proc/self/maps') if len(l.split()) > 5)
print('json.dumps.__code__ at', hex(a) + ':', 'in the executable' if static else 'on the heap')
assert static, 'not deep-frozen'"
  echo "wall time of the import-heavy command, best of 10:"
  for py in "$stock" "$frozen" "$deep"; do
    best=$("$py" -I -S -c "
import subprocess, sys, time
best = min((lambda t: (subprocess.run([sys.argv[1], '-I', '-S', '-c', sys.argv[2]], check=True), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(10))
print('%.1f ms' % (best * 1000))" "$py" "$cmd")
    echo "  $(basename "$py"): $best"
  done
fi
