"""Compile the running interpreter's own frozen modules as its freeze step did.

Usage: PYTHON cpython-frozen.py OUTDIR

For every module the interpreter freezes (3.11+: _imp._frozen_module_names,
importlib's bootstrap, the startup modules, the __hello__ fixtures), the
source of its origin in the installed stdlib is compiled under its frozen
name with code filename `<frozen ORIGIN>`, as Tools/build/freeze_modules.py
names them (import.c hides `<frozen importlib._bootstrap>` frames). Writes
OUTDIR/NAME.pyc (OUTDIR/NAME/__init__.pyc for a package) and, last,
OUTDIR/args: the `objfreeze build` arguments naming them, one per line
(--alias NAME=ORIGIN:FILE where the two differ). A
module with no installed source (__hello_only__) is left out, with a note.
"""
import _imp
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("cpython_compile", os.path.join(HERE, "cpython-compile.py"))
cpython_compile = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cpython_compile)


def source_of(origin):
    base = os.path.join(sys._stdlib_dir, *origin.split("."))
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: cpython-frozen.py OUTDIR")
    if sys.version_info < (3, 11):
        sys.exit("cpython-frozen.py: Python %d.%d lists no frozen modules (3.11+)" % sys.version_info[:2])
    out = sys.argv[1]
    args = []
    for name in _imp._frozen_module_names():
        _, is_package, origname = _imp.find_frozen(name)
        # "<pkg" is the origin of pkg.__init__ as a plain module: pkg's source.
        origin = (origname or "").lstrip("<")
        source = source_of(origin) if origin else None
        if source is None:
            print("cpython-frozen.py: %s: no installed source (origin %s), left out" % (name, origname), file=sys.stderr)
            continue
        pyc = os.path.join(out, name, "__init__.pyc") if is_package else os.path.join(out, name + ".pyc")
        os.makedirs(os.path.dirname(pyc), exist_ok=True)
        cpython_compile.write_pyc(source, pyc, "<frozen %s>" % origin)
        if origin != name:
            # os.path=posixpath, _frozen_importlib=importlib._bootstrap: the
            # table records the origin (a package's from its __init__ file).
            args.append("--alias %s=%s:%s" % (name, origin, pyc))
        else:
            args.append("%s %s=%s" % ("-p" if is_package else "-m", name, pyc))
    with open(os.path.join(out, "args.tmp"), "w") as f:
        f.write("\n".join(args) + "\n")
    os.replace(os.path.join(out, "args.tmp"), os.path.join(out, "args"))


main()
