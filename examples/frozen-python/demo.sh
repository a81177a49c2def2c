#!/bin/sh
# demo.sh FROZEN STOCK: show what the frozen python proves, next to the stock one.
set -eu
frozen=$1
stock=$2
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
