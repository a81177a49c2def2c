/* Prints the layout cbindings/cpython/fork/objfreeze_deep.h gives the
   deep-frozen blob's records, one "record field offset size" line each, and
   its constants, for tests/core.rs to hold against src/cpython/deep/format.rs. */
#include <stddef.h>
#include <stdio.h>
#include "objfreeze_deep.h"

#define F(rec, type, field) \
    printf("%s %s %u %u\n", rec, #field, (unsigned)offsetof(type, field), (unsigned)sizeof(((type *)0)->field))
#define EXTERN(sym) printf("extern %d %s\n", (int)OBJFREEZE_DEEP_EXTERN_##sym, #sym);

int main(void) {
    F("header", objfreeze_deep, magic);
    F("header", objfreeze_deep, version);
    F("header", objfreeze_deep, python_hex);
    F("header", objfreeze_deep, nmodules);
    F("header", objfreeze_deep, nfixups);
    F("header", objfreeze_deep, nrelocs);
    F("header", objfreeze_deep, modules);
    F("header", objfreeze_deep, total_size);
    F("header", objfreeze_deep, first_end);
    F("header", objfreeze_deep, nstrings);
    F("header", objfreeze_deep, table_digest);
    F("module", objfreeze_deep_module, data_offset);
    F("module", objfreeze_deep_module, code);
    F("module", objfreeze_deep_module, fixups);
    F("module", objfreeze_deep_module, nfixups);
    F("module", objfreeze_deep_module, relocs);
    F("module", objfreeze_deep_module, nrelocs);
    F("module", objfreeze_deep_module, state);
    F("module", objfreeze_deep_module, start);
    F("module", objfreeze_deep_module, reach);
    F("fixup", objfreeze_deep_fixup, slot);
    F("fixup", objfreeze_deep_fixup, target);
    printf("sizeof header %u\nsizeof module %u\nsizeof fixup %u\n", (unsigned)sizeof(objfreeze_deep),
           (unsigned)sizeof(objfreeze_deep_module), (unsigned)sizeof(objfreeze_deep_fixup));
    printf("magic %s", OBJFREEZE_DEEP_MAGIC);
    printf("const VERSION %u\nconst KIND_MASK %u\n", OBJFREEZE_DEEP_VERSION, OBJFREEZE_DEEP_KIND_MASK);
    printf("kind INTERN %d\nkind FROZENSET %d\nkind SLICE %d\nkind CODE %d\nkind COPY %d\n", OBJFREEZE_DEEP_INTERN,
           OBJFREEZE_DEEP_FROZENSET, OBJFREEZE_DEEP_SLICE, OBJFREEZE_DEEP_CODE, OBJFREEZE_DEEP_COPY);
    printf("state RELOCATED %u\nstate BUSY %u\nstate READY %u\n", OBJFREEZE_DEEP_RELOCATED, OBJFREEZE_DEEP_BUSY,
           OBJFREEZE_DEEP_READY);
    OBJFREEZE_DEEP_EXTERN_LIST(EXTERN)
    printf("externs %d\n", (int)OBJFREEZE_DEEP_EXTERNS);
    return 0;
}
