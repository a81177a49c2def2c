"""Write the C-array form of a set of frozen modules, the way CPython's own
build freezes modules: one header per module holding its marshal data as a
`const unsigned char[]` of decimal bytes, and one C file that includes them
all and defines a `struct _frozen` table pointing at them.

  python3 gen_carrays.py MODULES.TSV OUTDIR [SYMBOL]

MODULES.TSV lines are `m|p <TAB> name <TAB> file.pyc <TAB> file.bin`; the
.bin (marshal data without the .pyc header) is what gets embedded. Writes
OUTDIR/frozen_modules/*.h and OUTDIR/frozen.c. The table is an extern array
SYMBOL (default bench_frozen), ended by a null entry, with SYMBOL_count.
"""
import os
import re
import sys

PER_LINE = 16


def c_name(i, name):
    return "_Py_M__%d_%s" % (i, re.sub(r"[^A-Za-z0-9_]", "_", name))


def write_array(path, var, data):
    rows = []
    for at in range(0, len(data), PER_LINE):
        rows.append("    " + ",".join(map(str, data[at:at + PER_LINE])) + ",\n")
    with open(path, "w") as f:
        f.write("static const unsigned char %s[] = {\n" % var)
        f.writelines(rows)
        f.write("};\n")


def main():
    tsv, out = sys.argv[1], sys.argv[2]
    sym = sys.argv[3] if len(sys.argv) > 3 else "bench_frozen"
    hdrs = os.path.join(out, "frozen_modules")
    os.makedirs(hdrs, exist_ok=True)
    mods = []
    with open(tsv) as f:
        for i, line in enumerate(f):
            kind, name, _pyc, raw = line.rstrip("\n").split("\t")
            with open(raw, "rb") as r:
                data = r.read()
            var = c_name(i, name)
            write_array(os.path.join(hdrs, "%s.h" % var), var, data)
            mods.append((name, var, kind == "p"))
    with open(os.path.join(out, "frozen.c"), "w") as f:
        for _, var, _ in mods:
            f.write('#include "frozen_modules/%s.h"\n' % var)
        f.write("\nstruct _frozen {\n    const char *name;\n"
                "    const unsigned char *code;\n    int size;\n    int is_package;\n};\n\n")
        f.write("extern const struct _frozen %s[];\n" % sym)
        f.write("extern const int %s_count;\n" % sym)
        f.write("const struct _frozen %s[] = {\n" % sym)
        for name, var, pkg in mods:
            f.write('    {"%s", %s, (int)sizeof(%s), %d},\n' % (name, var, var, int(pkg)))
        f.write("    {0, 0, 0, 0}\n};\n")
        f.write("const int %s_count = %d;\n" % (sym, len(mods)))


if __name__ == "__main__":
    main()
