"""Compile the running interpreter's standard library into a bench directory.

Run with the interpreter to benchmark (e.g. python3.11). Writes, under OUT:
  pyc/NAME.pyc   one .pyc per module (its co_filename is the real source path)
  raw/NAME.bin   the same marshal data without the 16-byte .pyc header
  modules.tsv    one line per module: m|p, dotted name, .pyc path, .bin path
Nothing is written into the interpreter's own tree. Usage:
  python3.X stdlib_pyc.py OUT [LIMIT]
LIMIT keeps the first LIMIT modules in sorted order (packages are kept for
every module kept, so the set stays importable as a tree).
"""
import importlib.util
import marshal
import os
import sys
import sysconfig

# What a frozen stdlib leaves out: test suites, GUI and demo packages,
# bundled wheels, third-party packages.
EXCLUDE_DIRS = {"test", "tests", "idle_test", "idlelib", "tkinter", "turtledemo",
                "ensurepip", "site-packages", "__pycache__", "__phello__"}


def modules(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDE_DIRS)
        rel = os.path.relpath(dirpath, root)
        parts = [] if rel == "." else rel.split(os.sep)
        if parts and "__init__.py" not in filenames:
            dirnames[:] = []  # not a package: nothing under it is importable by name
            continue
        for f in sorted(filenames):
            if not f.endswith(".py"):
                continue
            stem = f[:-3]
            if stem == "__init__":
                if parts:
                    yield ".".join(parts), True, os.path.join(dirpath, f)
            elif "." not in stem and "-" not in stem or stem.startswith("_sysconfigdata"):
                yield ".".join(parts + [stem]), False, os.path.join(dirpath, f)


def main():
    out = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    root = sysconfig.get_paths()["stdlib"]
    mods = sorted(modules(root))
    if limit is not None:
        keep = mods[:limit]
        names = {n for n, _, _ in keep}
        pk = {n: (n, p, s) for n, p, s in mods if p}
        for n in list(names):
            while "." in n:
                n = n.rsplit(".", 1)[0]
                if n not in names:
                    names.add(n)
                    keep.append(pk[n])
        mods = sorted(keep)
    os.makedirs(os.path.join(out, "pyc"), exist_ok=True)
    os.makedirs(os.path.join(out, "raw"), exist_ok=True)
    magic = importlib.util.MAGIC_NUMBER
    lines = []
    for name, pkg, src in mods:
        with open(src, "rb") as f:
            source = f.read()
        try:
            code = compile(source, src, "exec", dont_inherit=True)
        except SyntaxError:
            continue  # e.g. lib2to3 test data; not importable anyway
        data = marshal.dumps(code)
        pyc = os.path.join(out, "pyc", name + ".pyc")
        raw = os.path.join(out, "raw", name + ".bin")
        with open(pyc, "wb") as f:
            f.write(magic + b"\0" * 12 + data)
        with open(raw, "wb") as f:
            f.write(data)
        lines.append(f"{'p' if pkg else 'm'}\t{name}\t{pyc}\t{raw}\n")
    with open(os.path.join(out, "modules.tsv"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
