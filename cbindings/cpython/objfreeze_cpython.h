/* objfreeze_cpython.h - import CPython modules from objfreeze tables.
 *
 * Stock embedding: one call, made before Py_Initialize(), installs tables
 * into PyImport_FrozenModules so that the interpreter imports their modules
 * without touching the file system:
 *
 *     #include <Python.h>
 *     #include "objfreeze_cpython.h"
 *     OBJFREEZE_DECLARE_TABLE(app_modules);        // objfreeze build --symbol app_modules
 *
 *     const objfreeze_table *t[] = {&app_modules};
 *     if (objfreeze_cpython_install(t, 1, 0) < 0) {
 *         fprintf(stderr, "%s\n", objfreeze_cpython_error());
 *         return 1;
 *     }
 *     Py_Initialize();
 *
 * or objfreeze_cpython_install_linked(0) for every table the linker placed
 * in the default section. Compile objfreeze_cpython.c against the Python.h
 * of the interpreter you link: struct _frozen differs between 3.8-3.10,
 * 3.11-3.12 and 3.13+.
 *
 * What it guarantees:
 * - A table is refused, with a message naming it, unless it is sound
 *   (objfreeze_check), holds CPython bytecode, and its tag equals this
 *   interpreter's PyImport_GetMagicNumber(). The check runs before any of
 *   the table's modules can be imported; a refused table is never used.
 * - Module names and bytecode stay in the table's section; only a small
 *   struct _frozen array is allocated (once per install call, never freed,
 *   since the interpreter may be re-initialized).
 * - By default the interpreter's own frozen modules win: a table module of
 *   the same name is skipped, so plain startup runs exactly as before.
 * - Modules behave as if imported from their source files: __file__ is the
 *   code object's co_filename (the source path the table was built with),
 *   __spec__.origin and __cached__ follow from it, packages get
 *   __path__ = [their source directory] (submodules on disk are found),
 *   and the loader is a SourceFileLoader whose get_code() returns the
 *   frozen code, so inspect.getsource(), linecache and tracebacks read the
 *   source. See README.md, "Stock embedding", for how this is done on
 *   3.8-3.10, whose FrozenImporter sets no __file__ at all.
 *
 * MIT License. See LICENSE.
 */
#ifndef OBJFREEZE_CPYTHON_H
#define OBJFREEZE_CPYTHON_H

#include <stddef.h>

#include "../objfreeze.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Table modules take precedence over the interpreter's own frozen modules
   (3.11+: its frozen stdlib; never the importlib bootstrap). */
#define OBJFREEZE_CPYTHON_SHADOW 1u
/* Plain frozen modules: no source-path finder, so __file__ and __path__ are
   whatever this version's FrozenImporter gives (none on 3.8-3.10). */
#define OBJFREEZE_CPYTHON_NO_FINDER 2u

/* Install `n` tables (in priority order: on a name clash the earlier table
   wins). Call before Py_Initialize(); may be called again to add tables.
   Returns the number of modules made importable, or -1 if a table was
   refused (then nothing from this call is installed; see
   objfreeze_cpython_error()). */
int objfreeze_cpython_install(const objfreeze_table *const *tables, size_t n, unsigned flags);

/* The same for every table linked into the program (objfreeze_linked_next). */
int objfreeze_cpython_install_linked(unsigned flags);

/* Deep freezing (CPython 3.12-3.14, libpython linked statically): the
   modules of table `t` are served as the static code objects of `deep`, the
   blob `objfreeze cpython-deep` wrote for it (symbol TABLE_deep), instead of
   being unmarshalled; only the main interpreter uses them. The program also
   links objfreeze_cpython_deep.c, compiled with -DPy_BUILD_CORE and the
   interpreter's internal headers. Call before Py_Initialize(). Returns 0,
   or -1 if the blob does not serve `t` in this interpreter (another table,
   another CPython release, the runtime not linked). */
int objfreeze_cpython_deep(const objfreeze_table *t, void *deep);

/* The same for every blob linked into the ELF section objfreeze_deep, each
   matched with its linked table by digest; OBJFREEZE_CPYTHON_AUTO calls it.
   Returns the number of blobs, or -1. */
int objfreeze_cpython_deep_linked(void);

/* Why the last call failed, or "" if it did not. */
const char *objfreeze_cpython_error(void);

#ifdef __cplusplus
}
#endif
#endif /* OBJFREEZE_CPYTHON_H */
