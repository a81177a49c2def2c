/* objfreeze_fork.h - what the drop-in frozen.c adds for a CPython fork's
 * Python/import.c (3.11-3.14): lookups that binary-search the sorted
 * sections instead of scanning them. See cbindings/cpython/README.md,
 * "Forks: drop-in frozen.c", and look_up_frozen.c next to this file.
 *
 * MIT License. See LICENSE.
 */
#ifndef OBJFREEZE_FORK_H
#define OBJFREEZE_FORK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct _frozen;

/* The entry called `name` in `section`, one of _PyImport_FrozenBootstrap,
   _PyImport_FrozenStdlib or _PyImport_FrozenTest, or NULL. The drop-in's
   sections are sorted, so this is a binary search; any other array (one a
   program swapped in) is scanned to its sentinel. */
const struct _frozen *_PyImport_FrozenSectionFind(const struct _frozen *section, const char *name);

/* 1 if `name` is in _PyImport_FrozenAliases, setting *orig (if orig is not
   NULL) to its origin as CPython spells it: "mod", "<pkg" when the code came
   from package pkg's __init__, or NULL for code with no stdlib source.
   0 if it is no alias. Binary search. */
int _PyImport_FrozenAliasFind(const char *name, const char **orig);

/* With deep freezing (frozen.c built with -DOBJFREEZE_DEEP, CPython 3.14):
   what import.c's unmarshal_frozen_code() calls in place of
   PyMarshal_ReadObjectFromString(data, size). The module's static code
   object when it has one (a new reference), else the unmarshalled data.
   (PyObject is only declared here: the header needs no Python.h.) */
struct _object;
struct _object *_PyObjfreeze_ReadFrozen(const char *data, ptrdiff_t size);

/* And what find_frozen() asks in place of `code[0] == '\0' || size == 0`
   ("no executable code"): the same answer, except that a module of a table
   with a blob is never read for it (its code comes from the blob, and
   reading its first marshal byte would cost a disk read on a cold start). */
int _PyObjfreeze_FrozenEmpty(const unsigned char *code, int size);

#ifdef __cplusplus
}
#endif
#endif /* OBJFREEZE_FORK_H */
