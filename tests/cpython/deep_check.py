"""Run by a deep-frozen python (tests/cpython_src.rs, tests/cpython.rs): for
every module name given, the static code object import serves must equal
what compile() makes of the installed source (for modules not imported
yet, down to the quickened bytecode the interpreter runs), live in the
executable's data (exe_offsets: where, as a section address), and carry
interned names. A subinterpreter must get heap code (it
unmarshals). Prints JSON.

    python deep_check.py [--finder] MODULE...

--finder: a stock CPython with objfreeze_cpython.c, whose table modules
come from objfreeze's finder, not from the frozen-module sections."""
import sys

# Every module an import loads (or tries to) from here on, even a failed
# one (shutil tries compression.zstd on 3.14).
loaded = set()
sys.addaudithook(lambda event, args: loaded.add(args[0]) if event == "import" else None)

import _imp
import importlib.util
import json
import os
import tempfile

try:  # 3.14
    from concurrent import interpreters
except ImportError:  # 3.12, 3.13
    interpreters = None
    try:
        import _interpreters
    except ImportError:
        import _xxsubinterpreters as _interpreters

finder = sys.argv[1:2] == ["--finder"]
names = sys.argv[2:] if finder else sys.argv[1:]


def is_interned(s):
    if hasattr(sys, "_is_interned"):  # 3.13+
        return sys._is_interned(s)
    # 3.12 interns identifiers only ("<module>", qualnames stay as they are,
    # unmarshalled or compiled). sys.intern of an equal, distinct string
    # gives the interned one.
    return len(s) < 2 or not s.isidentifier() or sys.intern((s + ".")[:-1]) is s


def code_of(name):
    """The code import runs for `name`, or None if objfreeze does not serve
    it (--finder: the interpreter's own frozen modules win)."""
    if finder:
        loader = importlib.util.find_spec(name).loader
        if getattr(type(loader), "__module__", None) != "objfreeze":
            return None
        return loader.get_code(name)
    return _imp.get_frozen_object(name)


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


def adaptive_equal(a, b):
    """The bytecode as the interpreter runs it (inline-cache counters and,
    on 3.12, superinstructions), the same for both trees of code objects."""
    ca, cb = list(codes(a)), list(codes(b))
    return len(ca) == len(cb) and all(x._co_code_adaptive == y._co_code_adaptive for x, y in zip(ca, cb))


exe = os.path.realpath(sys.executable)
# Where the executable is loaded: exe_offsets are section addresses.
with open("/proc/self/maps") as f:
    exe_base = min(int(l.split("-")[0], 16) for l in f if l.split()[-1] == exe)
report = {"modules": 0, "equal": 0, "in_binary": 0, "mismatched": [], "not_interned": [], "not_served": 0,
          "fresh": 0, "adaptive_equal": 0, "adaptive_mismatched": [], "exe_offsets": {}}
for name in names:
    co = code_of(name)
    # Code that has run has specialized itself: compare only modules no
    # import has loaded (after code_of, which imports the parent package;
    # a failed import ran code too).
    fresh = name not in loaded and name not in sys.modules
    if co is None:
        report["not_served"] += 1
        continue
    report["modules"] += 1
    report["exe_offsets"][name] = id(co) - exe_base
    path = co.co_filename
    if path.startswith("<frozen "):
        # Compiled as CPython's freeze step names them: `<frozen ORIGIN>`.
        base = os.path.join(sys._stdlib_dir, *path[len("<frozen "):-1].split("."))
        path = base + ".py" if os.path.exists(base + ".py") else os.path.join(base, "__init__.py")
    with open(path, "rb") as f:
        ref = compile(f.read(), co.co_filename, "exec", dont_inherit=True)
    if co == ref:
        report["equal"] += 1
    else:
        report["mismatched"].append(name)
    if fresh:
        report["fresh"] += 1
        if adaptive_equal(co, ref):
            report["adaptive_equal"] += 1
        else:
            report["adaptive_mismatched"].append(name)
    if mapping(id(co)) == exe:
        report["in_binary"] += 1
    for c in codes(co):
        for n in c.co_names + c.co_varnames + (c.co_name, c.co_qualname):
            if not is_interned(n):
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
