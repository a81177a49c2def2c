/* look_up_frozen.c - binary-search lookups for a fork's Python/import.c
 * (CPython 3.11-3.14), to use with the drop-in frozen.c next to this file.
 *
 * Stock import.c finds a frozen module by scanning each section with strcmp
 * until the sentinel, and does the same over _PyImport_FrozenAliases. With a
 * whole standard library frozen that is hundreds of compares per lookup,
 * and the path finder's misses pay it too. The drop-in's sections are
 * sorted (each is one objfreeze table), so they can be searched instead.
 *
 * How to apply, in Python/import.c:
 *   1. Near the other includes add:      #include "objfreeze_fork.h"
 *   2. Replace the whole body of the static function look_up_frozen() with
 *      the body of objfreeze_look_up_frozen() below (same signature; keep
 *      the name look_up_frozen).
 *   3. Replace the body of resolve_module_alias() likewise with that of
 *      objfreeze_resolve_module_alias().
 * The order of the sections, the place of PyImport_FrozenModules (after
 * the bootstrap modules, before the stdlib, scanned linearly: embedders
 * hand in unsorted arrays), and the use_frozen() switch behind
 * -X frozen_modules are unchanged, so behaviour is the same; only the
 * cost of a lookup drops from linear to logarithmic.
 *
 * This file is not compiled on its own: it relies on use_frozen(), which
 * import.c defines just above look_up_frozen().
 *
 * MIT License. See LICENSE.
 */
#include "objfreeze_fork.h"

static const struct _frozen *
objfreeze_look_up_frozen(const char *name)
{
    const struct _frozen *p;
    /* Bootstrap modules are always available. */
    p = _PyImport_FrozenSectionFind(_PyImport_FrozenBootstrap, name);
    if (p != NULL) {
        return p;
    }
    /* An embedder's own array comes next, in whatever order it has. */
    if (PyImport_FrozenModules != NULL) {
        for (p = PyImport_FrozenModules; p->name != NULL; p++) {
            if (strcmp(name, p->name) == 0) {
                return p;
            }
        }
    }
    /* The stdlib and test sections follow -X frozen_modules. */
    if (use_frozen()) {
        p = _PyImport_FrozenSectionFind(_PyImport_FrozenStdlib, name);
        if (p != NULL) {
            return p;
        }
        return _PyImport_FrozenSectionFind(_PyImport_FrozenTest, name);
    }
    return NULL;
}

static bool
objfreeze_resolve_module_alias(const char *name,
                               const struct _module_alias *aliases,
                               const char **alias)
{
    const struct _module_alias *entry;
    if (aliases == _PyImport_FrozenAliases) {
        return _PyImport_FrozenAliasFind(name, alias) != 0;
    }
    /* Any other alias array is scanned, as before. */
    for (entry = aliases; entry->name != NULL; entry++) {
        if (strcmp(name, entry->name) == 0) {
            if (alias != NULL) {
                *alias = entry->orig;
            }
            return true;
        }
    }
    return false;
}
