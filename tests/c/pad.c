/* Four zero bytes at 64-byte alignment in the default table section, linked
 * between tables: the linker pads before them and after them, so the
 * linker-collected walk must step over padding to reach the next table.
 * `retain` (SHF_GNU_RETAIN, as objfreeze's own sections carry) keeps them
 * through lld's --gc-sections, which drops unreferenced sections even when
 * __start_/__stop_ bound them. */
#if defined(__APPLE__)
#define PAD_SECTION "__TEXT,__objfreeze"
#define PAD_KEEP used
#elif defined(_WIN32)
#define PAD_SECTION ".objfrz$m"
#define PAD_KEEP used
#else
#define PAD_SECTION "objfreeze"
#define PAD_KEEP used, retain
#endif
__attribute__((section(PAD_SECTION), aligned(64), PAD_KEEP))
static const unsigned char objfreeze_test_pad[4] = {0};
