"""Synthetic module sets for the scaling and lookup benchmarks.

  python3 synth.py modules N STDLIB_TSV OUTDIR
      N .pyc modules named pkgJ.mod_I (one package pkgJ per 100 names), each
      holding the marshal data of a real stdlib module (cycled) with a unique
      tail so no two blobs are shared. Writes OUTDIR/pyc/*.pyc, args.txt (for
      `xargs objfreeze build`), all.bin (every blob concatenated) and
      modules.tsv (as stdlib_pyc.py).
  python3 synth.py names N OUTDIR
      N names in the same pattern, each frozen with the same 16-byte blob:
      OUTDIR/args.txt, hits.txt (every name, shuffled), misses.txt (names
      one level below each module: absent) and frozen.c, the same names as
      a `struct _frozen` table in declaration order (what CPython scans).
"""
import os
import random
import sys


def names(n):
    out = []
    i = 0
    while len(out) < n:
        pkg = "pkg%d" % (i // 100)
        if i % 100 == 0:
            out.append((pkg, True))
        else:
            out.append(("%s.mod_%d" % (pkg, i), False))
        i += 1
    return out


def modules(n, tsv, out):
    blobs = []
    magic = None
    with open(tsv) as f:
        for line in f:
            _, _, pyc, raw = line.rstrip("\n").split("\t")
            with open(raw, "rb") as r:
                blobs.append(r.read())
            if magic is None:
                with open(pyc, "rb") as p:
                    magic = p.read(4)
    os.makedirs(os.path.join(out, "pyc"), exist_ok=True)
    args, tsv_lines = [], []
    with open(os.path.join(out, "all.bin"), "wb") as allf:
        for i, (name, pkg) in enumerate(names(n)):
            data = blobs[i % len(blobs)] + b"%08d" % i
            path = os.path.join(out, "pyc", name + ".pyc")
            with open(path, "wb") as f:
                f.write(magic + b"\0" * 12 + data)
            allf.write(data)
            args += ["-p" if pkg else "-m", "%s=%s" % (name, path)]
            tsv_lines.append("%s\t%s\t%s\t-\n" % ("p" if pkg else "m", name, path))
    with open(os.path.join(out, "args.txt"), "w") as f:
        f.write("\n".join(args) + "\n")
    with open(os.path.join(out, "modules.tsv"), "w") as f:
        f.writelines(tsv_lines)


def lookup_names(n, out):
    os.makedirs(out, exist_ok=True)
    blob = os.path.join(out, "blob.bin")
    with open(blob, "wb") as f:
        f.write(b"lookup benchmark")
    ns = names(n)
    rng = random.Random(n)
    with open(os.path.join(out, "args.txt"), "w") as f:
        for name, pkg in ns:
            f.write("%s\n%s=%s\n" % ("-p" if pkg else "-m", name, blob))
    hits = [name for name, _ in ns]
    rng.shuffle(hits)
    misses = [name + ".sub" for name in hits]
    for fn, lst in (("hits.txt", hits), ("misses.txt", misses)):
        with open(os.path.join(out, fn), "w") as f:
            f.write("\n".join(lst) + "\n")
    with open(os.path.join(out, "frozen.c"), "w") as f:
        f.write("struct _frozen {\n    const char *name;\n    const unsigned char *code;\n"
                "    int size;\n    int is_package;\n};\n\n"
                "static const unsigned char blob[16] = \"lookup benchmar\";\n"
                "extern const struct _frozen bench_frozen[];\n"
                "const struct _frozen bench_frozen[] = {\n")
        for name, pkg in ns:
            f.write('    {"%s", blob, 16, %d},\n' % (name, int(pkg)))
        f.write("    {0, 0, 0, 0}\n};\n")
        f.write("extern const int bench_frozen_count;\nconst int bench_frozen_count = %d;\n" % n)


def main():
    if sys.argv[1] == "modules":
        modules(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "names":
        lookup_names(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit("usage: synth.py modules N STDLIB_TSV OUTDIR | names N OUTDIR")


if __name__ == "__main__":
    main()
