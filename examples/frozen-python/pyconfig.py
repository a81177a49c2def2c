"""Print, as make assignments, how this interpreter was built and linked.

Run by the Makefile with the chosen PYTHON (3.8 or later)."""
import os
import sys
import sysconfig

v = sysconfig.get_config_var


def flags(*names):
    return " ".join(" ".join(str(v(n) or "").split()) for n in names).strip()


def put(name, value):
    print("%s := %s" % (name, str(value).replace("$", "$$").replace("#", "\\#")))


put("PY_EXE", os.path.realpath(sys.executable))
put("PY_VERSION", "%d.%d" % sys.version_info[:2])
put("PY_PREFIX", sys.prefix)
put("PY_INCLUDE", sysconfig.get_paths()["include"])
put("PY_LIBPL", v("LIBPL"))
put("PY_LIBRARY", v("LIBRARY"))
# What CPython's Makefile puts after libpython when it links python.
put("PY_LIBS", flags("LIBS", "MODLIBS", "SYSLIBS"))
put("PY_LINKFORSHARED", flags("LINKFORSHARED"))
