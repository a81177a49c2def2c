/* Prints the layout cbindings/objfreeze.h gives the table header and index
   entry, one "record field offset size" line each, for tests/core.rs to hold
   against src/format.rs. */
#include <stdio.h>
#include "objfreeze.h"

#define F(rec, type, field) \
    printf("%s %s %u %u\n", rec, #field, (unsigned)offsetof(type, field), (unsigned)sizeof(((type *)0)->field))

int main(void) {
    F("header", objfreeze_table, magic);
    F("header", objfreeze_table, version);
    F("header", objfreeze_table, header_size);
    F("header", objfreeze_table, entry_size);
    F("header", objfreeze_table, count);
    F("header", objfreeze_table, index_offset);
    F("header", objfreeze_table, names_offset);
    F("header", objfreeze_table, names_size);
    F("header", objfreeze_table, data_offset);
    F("header", objfreeze_table, data_size);
    F("header", objfreeze_table, total_size);
    F("header", objfreeze_table, tag_kind);
    F("header", objfreeze_table, tag);
    F("header", objfreeze_table, flags);
    F("header", objfreeze_table, reserved);
    F("header", objfreeze_table, digest);
    F("entry", objfreeze_entry, name_offset);
    F("entry", objfreeze_entry, name_len);
    F("entry", objfreeze_entry, data_offset);
    F("entry", objfreeze_entry, data_size);
    F("entry", objfreeze_entry, flags);
    F("entry", objfreeze_entry, origin_offset);
    F("entry", objfreeze_entry, origin_len);
    F("entry", objfreeze_entry, reserved);
    printf("sizeof header %u\nsizeof entry %u\n", (unsigned)sizeof(objfreeze_table), (unsigned)sizeof(objfreeze_entry));
    printf("const VERSION %u\nconst HEADER_SIZE %u\nconst ENTRY_SIZE %u\nconst ALIGN %u\n", OBJFREEZE_VERSION,
           OBJFREEZE_HEADER_SIZE, OBJFREEZE_ENTRY_SIZE, OBJFREEZE_ALIGN);
    printf("const FLAG_PACKAGE %u\nconst FLAG_ALIAS %u\nconst FLAG_DATA %u\n", OBJFREEZE_FLAG_PACKAGE, OBJFREEZE_FLAG_ALIAS,
           OBJFREEZE_FLAG_DATA);
    printf("const TAG_NONE %u\nconst TAG_CPYTHON %u\nconst TAG_LUA %u\n", OBJFREEZE_TAG_NONE, OBJFREEZE_TAG_CPYTHON,
           OBJFREEZE_TAG_LUA);
    return 0;
}
