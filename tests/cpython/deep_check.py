"""Run by a deep-frozen python (tests/cpython_src.rs): for every module name
given, the static code object import serves must equal what compile() makes
of the installed source, live in the executable's data, and carry interned
names. A subinterpreter must get heap code (it unmarshals). Prints JSON."""
import _imp
import json
import os
import sys
import tempfile

try:  # 3.14
    from concurrent import interpreters
except ImportError:  # 3.13
    interpreters = None
    import _interpreters


def mapping(addr):
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= addr < hi:
                parts = line.split()
                return parts[5] if len(parts) > 5 else "[anon]"
    return None


def codes(co):
    yield co
    for c in co.co_consts:
        if hasattr(c, "co_code"):
            yield from codes(c)


exe = os.path.realpath(sys.executable)
report = {"modules": 0, "equal": 0, "in_binary": 0, "mismatched": [], "not_interned": []}
for name in sys.argv[1:]:
    co = _imp.get_frozen_object(name)
    report["modules"] += 1
    path = co.co_filename
    if path.startswith("<frozen "):
        # A bootstrap-section module, compiled as CPython names them.
        base = os.path.join(sys._stdlib_dir, *name.split("."))
        path = base + ".py" if os.path.exists(base + ".py") else os.path.join(base, "__init__.py")
    with open(path, "rb") as f:
        ref = compile(f.read(), co.co_filename, "exec", dont_inherit=True)
    if co == ref:
        report["equal"] += 1
    else:
        report["mismatched"].append(name)
    if mapping(id(co)) == exe:
        report["in_binary"] += 1
    for c in codes(co):
        for n in c.co_names + c.co_varnames + (c.co_name, c.co_qualname):
            if not sys._is_interned(n):
                report["not_interned"].append(f"{name}:{c.co_qualname}:{n}")

import json as _json  # served deep: its functions' code is static
report["main_json_dumps"] = mapping(id(_json.dumps.__code__)) == exe
with tempfile.TemporaryDirectory() as d:
    out = os.path.join(d, "sub")
    code = (
        "import json, os, sys\n"
        "exe = os.path.realpath(sys.executable)\n"
        "a = id(json.dumps.__code__)\n"
        "hit = any(l.split()[-1] == exe and int(l.split('-')[0], 16) <= a < int(l.split()[0].split('-')[1], 16)\n"
        "          for l in open('/proc/self/maps') if len(l.split()) > 5)\n"
        f"open({out!r}, 'w').write(str(hit) + ' ' + json.dumps([1, 'x']))\n"
    )
    if interpreters is not None:
        interp = interpreters.create()
        interp.exec(code)
        interp.close()
    else:
        interp = _interpreters.create()
        _interpreters.run_string(interp, code)
        _interpreters.destroy(interp)
    with open(out) as f:
        report["subinterpreter"] = f.read()
print(json.dumps(report))
