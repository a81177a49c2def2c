/* objfreeze_layout.c - the layout probe for deep-frozen code objects
 * (CPython 3.12, 3.13 and 3.14).
 *
 * `objfreeze cpython-deep` writes CPython objects (code, str, bytes, tuple,
 * int, float, complex) as static data for one CPython build. It never
 * hard-codes a struct offset: this file is compiled with the build's own
 * compiler and core CFLAGS (cross compilers included) and only *compiled*,
 * never run; the tool reads the numbers and object templates below back out
 * of the resulting object file.
 *
 * What is recorded:
 *   - sizes and field offsets of the objects written, and the build's
 *     configuration (version, pointer size, debug, free-threading);
 *   - where CPython's static singletons sit inside _PyRuntime (small ints,
 *     empty tuple/bytes/str, one-character str and bytes), so frozen
 *     constants point at the very objects CPython uses;
 *   - template objects initialised the way CPython initialises its own
 *     static objects (immortal, statically allocated header, string state
 *     bits, cached hashes unset): the tool copies them byte for byte and
 *     fills in only lengths, data and pointers.
 *
 * Layout of the probe (the tool finds it by its marker in any section):
 *   char     marker[8]   "OFZLAYT\n"
 *   uint32_t one         1, in the target's byte order
 *   uint32_t count       number of values
 *   uint64_t values[count], in the order of OBJFREEZE_LAYOUT_VALUES
 *   templates, at the offsets recorded in the tmpl_* values
 *
 * src/cpython/deep/layout.rs holds the same list of names; a test keeps the
 * two in step.
 *
 * MIT License. See LICENSE.
 */
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#include "Python.h"
#include "pycore_code.h"
#if PY_VERSION_HEX >= 0x030E0000
#include "pycore_interpframe.h" /* FRAME_SPECIALS_SIZE; 3.13: pycore_frame.h */
#else
#include "pycore_frame.h"
#endif
#include "pycore_long.h"
#include "pycore_object.h"
#include "pycore_runtime.h"
#include "pycore_runtime_init.h"
#if PY_VERSION_HEX >= 0x030D0000
#include "opcode_ids.h"
#else
#include "opcode.h"
#endif

#include <stddef.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x030C0000 || PY_VERSION_HEX >= 0x030F0000
#error "objfreeze's layout probe knows the object model of CPython 3.12, 3.13 and 3.14"
#endif
/* 3.14 caches a tuple's hash in the tuple. */
#if PY_VERSION_HEX >= 0x030E0000
#define OBJFREEZE_TUPLE_HASH .ob_hash = -1,
#else
#define OBJFREEZE_TUPLE_HASH
#endif
/* Object headers as CPython initialises its static objects, each followed
   by a comma: 3.12's macros carry their own. */
#if PY_VERSION_HEX >= 0x030D0000
#define OBJFREEZE_HEAD(type) _PyObject_HEAD_INIT(type),
#define OBJFREEZE_VARHEAD(type, size) _PyVarObject_HEAD_INIT(type, size),
#else
#define OBJFREEZE_HEAD(type) _PyObject_HEAD_INIT(type)
#define OBJFREEZE_VARHEAD(type, size) _PyVarObject_HEAD_INIT(type, size)
#endif

#ifdef Py_DEBUG
#define OBJFREEZE_PY_DEBUG 1
#else
#define OBJFREEZE_PY_DEBUG 0
#endif
#ifdef Py_GIL_DISABLED
#define OBJFREEZE_GIL_DISABLED 1
#else
#define OBJFREEZE_GIL_DISABLED 0
#endif
#ifdef Py_TRACE_REFS
#define OBJFREEZE_TRACE_REFS 1
#else
#define OBJFREEZE_TRACE_REFS 0
#endif

/* What _PyCode_Quicken (specialize.c) writes into fresh bytecode, so the
   tool writes code objects already quickened: whether it runs at all, the
   opcodes it looks at, and its inline-cache counters as the build stores
   them (3.12: a uint16_t; 3.13: bit-fields; 3.14: a packed uint16_t). 3.12
   also pairs instructions into superinstructions; 0 marks "none" later
   (0 is CACHE, never such an opcode). */
#if PY_VERSION_HEX >= 0x030E0000
#define OBJFREEZE_SPECIALIZATION ENABLE_SPECIALIZATION_FT
#else
#define OBJFREEZE_SPECIALIZATION ENABLE_SPECIALIZATION
#endif
#if PY_VERSION_HEX >= 0x030D0000
typedef _Py_BackoffCounter objfreeze_counter;
#if PY_VERSION_HEX >= 0x030E0000
#define OBJFREEZE_COUNTER(v, b) {.value_and_backoff = (uint16_t)(((v) << BACKOFF_BITS) | (b))}
#else
#define OBJFREEZE_COUNTER(v, b) {.backoff = (b), .value = (v)}
#endif
#define OBJFREEZE_JUMP_COUNTER OBJFREEZE_COUNTER(JUMP_BACKWARD_INITIAL_VALUE, JUMP_BACKWARD_INITIAL_BACKOFF)
#define OBJFREEZE_SUPER(op) 0
#else
typedef uint16_t objfreeze_counter;
#define OBJFREEZE_COUNTER(v, b) (uint16_t)(((v) << ADAPTIVE_BACKOFF_BITS) | (b))
/* JUMP_BACKWARD has no inline cache in 3.12: never used. */
#define OBJFREEZE_JUMP_COUNTER 0
#define OBJFREEZE_SUPER(op) op
#endif

struct objfreeze_layout_templates {
    PyObject head;
    PyASCIIObject str_ascii;
    PyCompactUnicodeObject str_ucs1;
    PyCompactUnicodeObject str_ucs2;
    PyCompactUnicodeObject str_ucs4;
    PyBytesObject bytes;
    PyTupleObject tuple;
    PyCodeObject code;
    /* CPython's static strings, as _PyRuntime holds them: a str equal to
       one of them is written as a pointer to it (interned already). */
    struct _Py_global_strings strings;
    objfreeze_counter quick_warmup; /* adaptive_counter_warmup() */
    objfreeze_counter quick_jump;   /* initial_jump_backoff_counter() */
};

#define RT(member) offsetof(_PyRuntimeState, static_objects.singletons.member)
#define TMPL(member) offsetof(struct objfreeze_layout_templates, member)
#define SIZEOF_RT(member) sizeof(((_PyRuntimeState *)0)->static_objects.singletons.member)

/* name, value: the order is the format. */
#define OBJFREEZE_LAYOUT_VALUES(X)                                            \
    X(version_hex, PY_VERSION_HEX)                                            \
    X(pointer_size, sizeof(void *))                                           \
    X(py_debug, OBJFREEZE_PY_DEBUG)                                           \
    X(gil_disabled, OBJFREEZE_GIL_DISABLED)                                   \
    X(trace_refs, OBJFREEZE_TRACE_REFS)                                       \
    X(object_size, sizeof(PyObject))                                          \
    X(ob_type, offsetof(PyObject, ob_type))                                   \
    X(ob_size, offsetof(PyVarObject, ob_size))                                \
    X(gc_head_size, sizeof(PyGC_Head))                                        \
    X(str_ascii_size, sizeof(PyASCIIObject))                                  \
    X(str_compact_size, sizeof(PyCompactUnicodeObject))                       \
    X(str_length, offsetof(PyASCIIObject, length))                            \
    X(bytes_sval, offsetof(PyBytesObject, ob_sval))                           \
    X(tuple_items, offsetof(PyTupleObject, ob_item))                          \
    X(long_tag, offsetof(PyLongObject, long_value.lv_tag))                    \
    X(long_digits, offsetof(PyLongObject, long_value.ob_digit))               \
    X(long_digit_size, sizeof(digit))                                         \
    X(long_shift, PyLong_SHIFT)                                               \
    X(long_non_size_bits, _PyLong_NON_SIZE_BITS)                              \
    X(long_size, sizeof(PyLongObject))                                        \
    X(float_value, offsetof(PyFloatObject, ob_fval))                          \
    X(float_size, sizeof(PyFloatObject))                                      \
    X(complex_value, offsetof(PyComplexObject, cval))                         \
    X(complex_size, sizeof(PyComplexObject))                                  \
    X(code_consts, offsetof(PyCodeObject, co_consts))                         \
    X(code_names, offsetof(PyCodeObject, co_names))                           \
    X(code_exceptiontable, offsetof(PyCodeObject, co_exceptiontable))         \
    X(code_flags, offsetof(PyCodeObject, co_flags))                           \
    X(code_argcount, offsetof(PyCodeObject, co_argcount))                     \
    X(code_posonlyargcount, offsetof(PyCodeObject, co_posonlyargcount))       \
    X(code_kwonlyargcount, offsetof(PyCodeObject, co_kwonlyargcount))         \
    X(code_stacksize, offsetof(PyCodeObject, co_stacksize))                   \
    X(code_firstlineno, offsetof(PyCodeObject, co_firstlineno))               \
    X(code_nlocalsplus, offsetof(PyCodeObject, co_nlocalsplus))               \
    X(code_framesize, offsetof(PyCodeObject, co_framesize))                   \
    X(code_nlocals, offsetof(PyCodeObject, co_nlocals))                       \
    X(code_ncellvars, offsetof(PyCodeObject, co_ncellvars))                   \
    X(code_nfreevars, offsetof(PyCodeObject, co_nfreevars))                   \
    X(code_localsplusnames, offsetof(PyCodeObject, co_localsplusnames))       \
    X(code_localspluskinds, offsetof(PyCodeObject, co_localspluskinds))       \
    X(code_filename, offsetof(PyCodeObject, co_filename))                     \
    X(code_name, offsetof(PyCodeObject, co_name))                             \
    X(code_qualname, offsetof(PyCodeObject, co_qualname))                     \
    X(code_linetable, offsetof(PyCodeObject, co_linetable))                   \
    X(code_firsttraceable, offsetof(PyCodeObject, _co_firsttraceable))        \
    X(code_adaptive, offsetof(PyCodeObject, co_code_adaptive))                \
    X(code_unit_size, sizeof(_Py_CODEUNIT))                                   \
    X(frame_specials, FRAME_SPECIALS_SIZE)                                    \
    X(op_resume, RESUME)                                                      \
    X(op_import_name, IMPORT_NAME)                                            \
    X(op_import_from, IMPORT_FROM)                                            \
    X(op_extended_arg, EXTENDED_ARG)                                          \
    X(op_cache, CACHE)                                                        \
    X(specialization, OBJFREEZE_SPECIALIZATION)                               \
    X(op_load_const, LOAD_CONST)                                              \
    X(op_load_fast, LOAD_FAST)                                                \
    X(op_store_fast, STORE_FAST)                                              \
    X(op_jump_backward, JUMP_BACKWARD)                                        \
    X(op_pop_jump_if_false, POP_JUMP_IF_FALSE)                                \
    X(op_pop_jump_if_true, POP_JUMP_IF_TRUE)                                  \
    X(op_pop_jump_if_none, POP_JUMP_IF_NONE)                                  \
    X(op_pop_jump_if_not_none, POP_JUMP_IF_NOT_NONE)                          \
    X(op_load_const__load_fast, OBJFREEZE_SUPER(LOAD_CONST__LOAD_FAST))       \
    X(op_load_fast__load_const, OBJFREEZE_SUPER(LOAD_FAST__LOAD_CONST))       \
    X(op_load_fast__load_fast, OBJFREEZE_SUPER(LOAD_FAST__LOAD_FAST))         \
    X(op_store_fast__load_fast, OBJFREEZE_SUPER(STORE_FAST__LOAD_FAST))       \
    X(op_store_fast__store_fast, OBJFREEZE_SUPER(STORE_FAST__STORE_FAST))     \
    X(fast_local, CO_FAST_LOCAL)                                              \
    X(fast_cell, CO_FAST_CELL)                                                \
    X(fast_free, CO_FAST_FREE)                                                \
    X(rt_small_ints, RT(small_ints))                                          \
    X(small_neg, _PY_NSMALLNEGINTS)                                           \
    X(small_pos, _PY_NSMALLPOSINTS)                                           \
    X(rt_bytes_empty, RT(bytes_empty))                                        \
    X(rt_bytes_chars, RT(bytes_characters))                                   \
    X(rt_bytes_char_size, SIZEOF_RT(bytes_characters[0]))                     \
    X(rt_tuple_empty, RT(tuple_empty))                                        \
    X(rt_str_empty, RT(strings.literals._py_empty))                           \
    X(rt_str_ascii, RT(strings.ascii))                                        \
    X(rt_str_ascii_size, SIZEOF_RT(strings.ascii[0]))                         \
    X(rt_str_latin1, RT(strings.latin1))                                      \
    X(rt_str_latin1_size, SIZEOF_RT(strings.latin1[0]))                       \
    X(tmpl_base, offsetof(struct objfreeze_layout_probe, templates))         \
    X(tmpl_head, TMPL(head))                                                  \
    X(tmpl_str_ascii, TMPL(str_ascii))                                        \
    X(tmpl_str_ucs1, TMPL(str_ucs1))                                          \
    X(tmpl_str_ucs2, TMPL(str_ucs2))                                          \
    X(tmpl_str_ucs4, TMPL(str_ucs4))                                          \
    X(tmpl_bytes, TMPL(bytes))                                                \
    X(tmpl_tuple, TMPL(tuple))                                                \
    X(tmpl_code, TMPL(code))                                                  \
    X(tmpl_literals, TMPL(strings.literals))                                  \
    X(tmpl_literals_size, sizeof(((struct _Py_global_strings *)0)->literals)) \
    X(tmpl_identifiers, TMPL(strings.identifiers))                            \
    X(tmpl_identifiers_size, sizeof(((struct _Py_global_strings *)0)->identifiers)) \
    X(rt_literals, RT(strings.literals))                                      \
    X(rt_identifiers, RT(strings.identifiers))                                \
    X(tmpl_quick_warmup, TMPL(quick_warmup))                                  \
    X(tmpl_quick_jump, TMPL(quick_jump))                                      \
    X(quick_counter_size, sizeof(objfreeze_counter))                          \
    X(str_align, _Alignof(PyASCIIObject))                                     \
    X(tmpl_size, sizeof(struct objfreeze_layout_templates))

#define OBJFREEZE_NAME(name, value) objfreeze_layout_##name,
enum { OBJFREEZE_LAYOUT_VALUES(OBJFREEZE_NAME) OBJFREEZE_LAYOUT_COUNT };
#undef OBJFREEZE_NAME

struct objfreeze_layout_probe {
    char marker[8];
    uint32_t one;
    uint32_t count;
    uint64_t values[OBJFREEZE_LAYOUT_COUNT];
    struct objfreeze_layout_templates templates;
};

#define OBJFREEZE_VALUE(name, value) (uint64_t)(value),

/* What CPython's own static strings carry (pycore_runtime_init.h), for each
   storage kind: statically allocated, compact, hash not yet computed. */
#define OBJFREEZE_STR(KIND, ASCII)                                            \
    {                                                                         \
        .ob_base = OBJFREEZE_HEAD(NULL) .length = 0, .hash = -1,              \
        .state = {                                                            \
            .kind = (KIND),                                                   \
            .compact = 1,                                                     \
            .ascii = (ASCII),                                                 \
            .statically_allocated = 1,                                        \
        },                                                                    \
    }

const struct objfreeze_layout_probe objfreeze_cpython_layout = {
    {'O', 'F', 'Z', 'L', 'A', 'Y', 'T', '\n'},
    1,
    OBJFREEZE_LAYOUT_COUNT,
    {OBJFREEZE_LAYOUT_VALUES(OBJFREEZE_VALUE)},
    {
        .head = OBJFREEZE_HEAD(NULL)
        .str_ascii = OBJFREEZE_STR(PyUnicode_1BYTE_KIND, 1),
        .str_ucs1 = {._base = OBJFREEZE_STR(PyUnicode_1BYTE_KIND, 0)},
        .str_ucs2 = {._base = OBJFREEZE_STR(PyUnicode_2BYTE_KIND, 0)},
        .str_ucs4 = {._base = OBJFREEZE_STR(PyUnicode_4BYTE_KIND, 0)},
        .bytes = {.ob_base = OBJFREEZE_VARHEAD(NULL, 0) .ob_shash = -1},
        .tuple = {.ob_base = OBJFREEZE_VARHEAD(NULL, 0) OBJFREEZE_TUPLE_HASH},
        .code = {.ob_base = OBJFREEZE_VARHEAD(NULL, 0)},
        .strings = {.literals = _Py_str_literals_INIT, .identifiers = _Py_str_identifiers_INIT},
        .quick_warmup = OBJFREEZE_COUNTER(ADAPTIVE_WARMUP_VALUE, ADAPTIVE_WARMUP_BACKOFF),
        .quick_jump = OBJFREEZE_JUMP_COUNTER,
    },
};
