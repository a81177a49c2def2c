"""Compile one Python source into a .pyc for a frozen module.

Usage: PYTHON cpython-compile.py SOURCE OUT CODE_FILENAME

make/cpython.mk runs this with $(PYTHON_FOR_FREEZE), which may be CPython's
_bootstrap_python: so only builtins, marshal and the always-loaded
_frozen_importlib_external are used. CODE_FILENAME is what tracebacks show,
`<frozen NAME>` as CPython's own freeze step writes (import.c recognises
`<frozen importlib._bootstrap>` frames and hides them). The .pyc header
carries the interpreter's magic and no source mtime, so the output depends
on the source text only.
"""
import marshal
import sys


def write_pyc(source, out, filename):
    with open(source, "rb") as f:
        text = f.read()
    code = compile(text, filename, "exec", dont_inherit=True)
    magic = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
    data = magic + bytes(12) + marshal.dumps(code)
    # One write after compiling: a syntax error leaves no file behind.
    with open(out, "wb") as f:
        f.write(data)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: cpython-compile.py SOURCE OUT CODE_FILENAME")
    write_pyc(*sys.argv[1:])


if __name__ == "__main__":
    main()
