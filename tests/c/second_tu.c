/* A second translation unit that includes objfreeze.h and walks the linked
 * tables: linked with listing.c (built with -DSECOND_TU) it proves the header
 * may be included by several units (COFF: both define the selectany section
 * markers) and, compiled as C++, that it is usable from C++. */
#include "objfreeze.h"

#ifdef __cplusplus
extern "C" {
#endif
int listing_second_tu_count(void);
#ifdef __cplusplus
}
#endif

int listing_second_tu_count(void) {
    const objfreeze_table *t = NULL;
    int n = 0;
    while ((t = objfreeze_linked_next(t)) != NULL) n++;
    return n;
}
