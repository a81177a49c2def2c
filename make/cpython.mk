# cpython.mk - freeze a CPython 3.11-3.14 source tree's frozen modules
# through objfreeze instead of Python/frozen_modules/*.h.
#
# Include it from CPython's Makefile (Makefile.pre.in in the source tree)
# anywhere after LIBRARY_OBJS is defined:
#
#     include $(srcdir)/../objfreeze/make/cpython.mk
#
# What it does:
# - compiles every module CPython freezes (importlib's bootstrap, the
#   startup modules, the __hello__/__phello__ test fixtures) with
#   $(PYTHON_FOR_FREEZE), one .pyc per module, as CPython's own freeze step
#   does (code filename `<frozen NAME>`);
# - writes three objfreeze tables from them, with make/objfreeze.mk's
#   objfreeze_object rule: bootstrap, stdlib and test, whose symbols
#   objfreeze_cpython_{bootstrap,stdlib,test} the drop-in frozen.c reads;
# - compiles the drop-in cbindings/cpython/fork/frozen.c with the core's
#   flags, as Python/frozen.c would be;
# - puts those four objects in LIBRARY_OBJS in place of Python/frozen.o, so
#   CPython's own rules put them in libpython (static or shared) and link
#   them into python. Nothing else in the Makefile changes.
#
# Editing one module's source recompiles that .pyc and rebuilds its table
# only; a second make does nothing; make -j is safe (objfreeze.mk).
#
# Variables it reads from CPython's Makefile (configure writes them):
#   srcdir             The source tree: sources are $(srcdir)/Lib/...
#   PYTHON_FOR_FREEZE  The interpreter that compiles the modules: CPython's
#                      ./_bootstrap_python, or the --with-build-python
#                      interpreter of a cross build. It must be the version
#                      being built (frozen.c checks the bytecode magic).
#   FREEZE_MODULE_DEPS What must exist before PYTHON_FOR_FREEZE runs; its
#                      non-.py entries (_bootstrap_python) become
#                      prerequisites of every .pyc (see below).
#   LIBRARY_OBJS       The objects of libpython; Python/frozen.o is replaced.
#   CC, PY_CORE_CFLAGS How core files are compiled (frozen.c is one).
#
# Variables of its own (set before the include, or on the command line):
#   OBJFREEZE_CPYTHON_DIR        Where the .pyc files, tables and frozen.o go.
#                                Default: Python/objfreeze (in the build dir).
#   OBJFREEZE_CPYTHON_LIB        The Lib directory sources are read from.
#                                Default: $(srcdir)/Lib.
#   OBJFREEZE_CPYTHON_BOOTSTRAP  Modules of the bootstrap table, always frozen.
#   OBJFREEZE_CPYTHON_STDLIB     Modules of the stdlib table (what
#                                -X frozen_modules=on adds). Add names here
#                                to freeze more of the standard library.
#   OBJFREEZE_CPYTHON_WHOLE_STDLIB yes: the stdlib table holds the whole
#                                standard library instead of the list above:
#                                every module under $(OBJFREEZE_CPYTHON_LIB)
#                                but OBJFREEZE_CPYTHON_STDLIB_EXCLUDE,
#                                compiled by objfreeze itself with
#                                --python $(PYTHON_FOR_FREEZE) (a bytecode
#                                cache and a depfile: editing one module
#                                recompiles one). Code filenames are the
#                                installed paths, $(LIBDEST)/NAME.py, as the
#                                .pyc files `make install` writes have them,
#                                so tracebacks and inspect find the source;
#                                FrozenImporter gives __file__ the same path.
#                                Default: empty (CPython's own list).
#   OBJFREEZE_CPYTHON_STDLIB_EXCLUDE Globs (objfreeze build --exclude) left
#                                out of the whole stdlib. Default: the test
#                                suites, idlelib, tkinter, turtledemo,
#                                ensurepip, site-packages and the frozen
#                                test fixtures (objfreeze's --stdlib list).
#   OBJFREEZE_CPYTHON_TEST       Modules of the test table (test_frozen,
#                                test_importlib's fixtures).
#       Each list holds NAME or NAME=ORIGIN entries. NAME alone is compiled
#       from ORIGIN=NAME's source: Lib/a/b.py, or Lib/a/b/__init__.py for a
#       package. NAME=ORIGIN freezes ORIGIN's source under NAME and records
#       ORIGIN in the table (os.path=posixpath, _frozen_importlib=
#       importlib._bootstrap); frozen.c makes these CPython's aliases. An
#       ORIGIN holding a `/` is a file under $(srcdir) outside the stdlib
#       (__hello_only__=Tools/freeze/flag.py): frozen only, no origin.
#       NAME is a package if its source is an __init__.py (unless NAME ends
#       in `.__init__`: the package's __init__ as a plain module) or if it
#       is written <NAME>, as in CPython's freeze_modules.py
#       (<__phello_alias__>=__hello__: a package made from a module).
#   OBJFREEZE_CPYTHON_FREEZE_DEPS Prerequisites of every .pyc. Default: the
#                                non-.py words of FREEZE_MODULE_DEPS. Empty
#                                when PYTHON_FOR_FREEZE is an installed
#                                interpreter.
#   OBJFREEZE_CPYTHON_MAGIC      Bytecode magic frozen.c requires of the
#                                tables. Default: read from
#                                $(srcdir)/Include/internal/pycore_magic_number.h
#                                (3.14), else from
#                                $(OBJFREEZE_CPYTHON_LIB)/importlib/_bootstrap_external.py;
#                                empty: frozen.c's built-in release value.
#   OBJFREEZE_CPYTHON_DEEPFREEZE yes: bootstrap and stdlib modules that
#                                Python/deepfreeze also holds run from its
#                                static code objects, as in stock 3.11 and
#                                3.12 (startup as fast as stock). Default:
#                                yes if the Makefile has DEEPFREEZE_OBJS
#                                (3.11, 3.12), else empty.
#   OBJFREEZE_CPYTHON_DEEP       yes: the bootstrap and stdlib tables are also
#                                deep-frozen (`objfreeze cpython-deep`): their
#                                modules linked in as static code objects,
#                                laid out from a probe compiled with $(CC)
#                                and the core flags (so cross builds work),
#                                finished at each module's first import
#                                instead of unmarshalled. Python/import.c is
#                                compiled from a copy with one call swapped
#                                (unmarshal_frozen_code asks frozen.c first).
#                                CPython 3.13 and 3.14; other versions get a
#                                warning and marshal data. Default: empty.
#   OBJFREEZE_CPYTHON_DEEP_FIRST Modules laid out first in the deep-frozen
#                                stdlib (cpython-deep --first): what every
#                                start imports, so a cold start reads them
#                                from few pages. Default: 3.13's and 3.14's
#                                startup modules.
#   OBJFREEZE_CPYTHON_CFLAGS     Extra flags for compiling frozen.c.
#   OBJFREEZE, OBJFREEZE_TARGET, OBJFREEZE_TOOL_DEP, ...  See objfreeze.mk
#                                (a cross build sets OBJFREEZE_TARGET to the
#                                host triple). OBJFREEZE_PYTHON is not used:
#                                the modules arrive as .pyc files.
#
# Set here:
#   OBJFREEZE_CPYTHON_OBJS       The four objects added to LIBRARY_OBJS (seven
#                                with OBJFREEZE_CPYTHON_DEEP: the two blobs
#                                and import.o, which replaces Python/import.o).
# Targets: objfreeze-cpython (just those objects), objfreeze-cpython-clean.

ifndef objfreeze__cpython_included
objfreeze__cpython_included := 1

objfreeze__cpy_make := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
include $(objfreeze__cpy_make)/objfreeze.mk

OBJFREEZE_CPYTHON_DIR ?= Python/objfreeze
OBJFREEZE_CPYTHON_LIB ?= $(srcdir)/Lib
# 3.11-3.13 freeze os.path as an alias of posixpath; 3.14 dropped it.
objfreeze__cpy_os_path := $(if $(filter 3.11 3.12 3.13,$(VERSION)),os.path=posixpath)
OBJFREEZE_CPYTHON_BOOTSTRAP ?= _frozen_importlib=importlib._bootstrap \
  _frozen_importlib_external=importlib._bootstrap_external zipimport
OBJFREEZE_CPYTHON_STDLIB ?= abc codecs io _collections_abc _sitebuiltins \
  genericpath ntpath posixpath $(objfreeze__cpy_os_path) os site stat \
  importlib.util importlib.machinery runpy
OBJFREEZE_CPYTHON_TEST ?= __hello__ __hello_alias__=__hello__ \
  <__phello_alias__>=__hello__ __phello_alias__.spam=__hello__ \
  __phello__ __phello__.__init__=__phello__ __phello__.ham \
  __phello__.ham.__init__=__phello__.ham __phello__.ham.eggs \
  __phello__.spam __hello_only__=Tools/freeze/flag.py
OBJFREEZE_CPYTHON_FREEZE_DEPS ?= $(filter-out %.py,$(FREEZE_MODULE_DEPS))
OBJFREEZE_CPYTHON_MAGIC ?= $(or $(shell sed -n 's/^\#define PYC_MAGIC_NUMBER \([0-9][0-9]*\)$$/\1/p' \
  $(srcdir)/Include/internal/pycore_magic_number.h 2>/dev/null),$(shell sed -n \
  's/^MAGIC_NUMBER = (\([0-9]*\)).*/\1/p' $(OBJFREEZE_CPYTHON_LIB)/importlib/_bootstrap_external.py 2>/dev/null))
OBJFREEZE_CPYTHON_WHOLE_STDLIB ?=
OBJFREEZE_CPYTHON_STDLIB_EXCLUDE ?= test tests idle_test idlelib tkinter turtledemo ensurepip \
  site-packages __hello__* __phello__*
OBJFREEZE_CPYTHON_DEEPFREEZE ?= $(if $(strip $(DEEPFREEZE_OBJS)),yes)
OBJFREEZE_CPYTHON_CFLAGS ?=
OBJFREEZE_CPYTHON_DEEP ?=
OBJFREEZE_CPYTHON_DEEP_FIRST ?= codecs encodings encodings.aliases encodings.utf_8 linecache io abc \
  _collections_abc _sitebuiltins genericpath os posixpath site stat
objfreeze__cpy_deep := $(if $(filter yes,$(OBJFREEZE_CPYTHON_DEEP)),$(if $(filter 3.13 3.14,$(VERSION)),yes,$(warning \
  objfreeze: OBJFREEZE_CPYTHON_DEEP=yes: a fork build deep-freezes CPython 3.13 and 3.14, this is $(VERSION): modules stay marshalled (3.12: objfreeze_cpython_deep.c in a stock embedding))))

objfreeze__cpy_fork := $(objfreeze__cpy_make)/../cbindings/cpython/fork
objfreeze__cpy_cbind := $(objfreeze__cpy_make)/../cbindings
objfreeze__cpy_compile := $(objfreeze__cpy_make)/cpython-compile.py

# Parts of one list entry $(1) = NAME, <NAME>, NAME=ORIGIN or <NAME>=ORIGIN.
objfreeze__cpy_raw = $(firstword $(subst =, ,$(1)))
objfreeze__cpy_name = $(subst <,,$(subst >,,$(call objfreeze__cpy_raw,$(1))))
objfreeze__cpy_origin = $(or $(word 2,$(subst =, ,$(1))),$(call objfreeze__cpy_name,$(1)))
# The source of ORIGIN $(1): a file under srcdir, a module, or a package.
objfreeze__cpy_source = $(if $(findstring /,$(1)),$(srcdir)/$(1),$(or \
  $(wildcard $(OBJFREEZE_CPYTHON_LIB)/$(subst .,/,$(1)).py),$(OBJFREEZE_CPYTHON_LIB)/$(subst .,/,$(1))/__init__.py))
# Non-empty if entry $(1) is a package.
objfreeze__cpy_ispkg = $(if $(findstring <,$(call objfreeze__cpy_raw,$(1))),pkg,$(if \
  $(filter %.__init__,$(call objfreeze__cpy_name,$(1))),,$(filter %/__init__.py,$(call \
  objfreeze__cpy_source,$(call objfreeze__cpy_origin,$(1))))))
# The .pyc of entry $(1) for table $(2); objfreeze takes a package from a
# file named __init__.
objfreeze__cpy_pyc = $(OBJFREEZE_CPYTHON_DIR)/$(2)/$(call objfreeze__cpy_name,$(1))$(if $(call objfreeze__cpy_ispkg,$(1)),/__init__).pyc
# The objfreeze build flags for that entry.
objfreeze__cpy_flags = $(if $(findstring =,$(1)),--alias $(call objfreeze__cpy_name,$(1))=$(call \
  objfreeze__cpy_origin,$(1)):$(call objfreeze__cpy_pyc,$(1),$(2)),$(if $(call objfreeze__cpy_ispkg,$(1)),-p,-m) $(call \
  objfreeze__cpy_name,$(1))=$(call objfreeze__cpy_pyc,$(1),$(2)))
# The code filename: `<frozen ORIGIN>`, or `<frozen NAME>` for a file origin.
objfreeze__cpy_codename = <frozen $(if $(findstring /,$(call objfreeze__cpy_origin,$(1))),$(call \
  objfreeze__cpy_name,$(1)),$(call objfreeze__cpy_origin,$(1)))>

# The rule compiling entry $(1) for table $(2).
define objfreeze__cpy_pyc_rule
$(call objfreeze__cpy_pyc,$(1),$(2)): $(call objfreeze__cpy_source,$(call objfreeze__cpy_origin,$(1))) $(objfreeze__cpy_compile) $(OBJFREEZE_CPYTHON_FREEZE_DEPS)
	@mkdir -p $$(@D)
	$$(PYTHON_FOR_FREEZE) $(objfreeze__cpy_compile) $$< $$@ '$(call objfreeze__cpy_codename,$(1))'
endef

# A deep-frozen ELF build never reads its tables' bytecode at run time
# (only the indexes): written --writable, the tables are laid out with the
# data, after the code, and a cold start reads code, data and indexes
# together instead of megabytes of bytecode between them.
objfreeze__cpy_writable := $(if $(objfreeze__cpy_deep),$(if $(filter darwin% cygwin% win%,$(MACHDEP)),,--writable))

# Table $(1) (bootstrap, stdlib, test) from list $(2).
define objfreeze__cpy_table
$(foreach e,$(2),$(eval $(call objfreeze__cpy_pyc_rule,$(e),$(1))))
$(eval $(call objfreeze_object,$(OBJFREEZE_CPYTHON_DIR)/$(1).o,--symbol objfreeze_cpython_$(1) $(objfreeze__cpy_writable) \
  $(foreach e,$(2),$(call objfreeze__cpy_flags,$(e),$(1))),$(foreach e,$(2),$(call objfreeze__cpy_pyc,$(e),$(1)))))
endef

# The modules arrive compiled: no --python for these three rules.
objfreeze__cpy_saved_python := $(OBJFREEZE_PYTHON)
OBJFREEZE_PYTHON :=
objfreeze__cpy_goal := $(.DEFAULT_GOAL)
$(eval $(call objfreeze__cpy_table,bootstrap,$(strip $(OBJFREEZE_CPYTHON_BOOTSTRAP))))
ifeq ($(strip $(OBJFREEZE_CPYTHON_WHOLE_STDLIB)),yes)
# One objfreeze run compiles the whole tree (its own workers and cache);
# the depfile makes an edited module rebuild this table only.
OBJFREEZE_PYTHON := $(PYTHON_FOR_FREEZE)
$(eval $(call objfreeze_object,$(OBJFREEZE_CPYTHON_DIR)/stdlib.o,--symbol objfreeze_cpython_stdlib $(objfreeze__cpy_writable) \
  --tree $(OBJFREEZE_CPYTHON_LIB) $(foreach g,$(OBJFREEZE_CPYTHON_STDLIB_EXCLUDE),--exclude '$(g)') \
  --prefix-map $(abspath $(OBJFREEZE_CPYTHON_LIB))=$(LIBDEST) $(if $(objfreeze__cpy_os_path),--alias $(objfreeze__cpy_os_path)),$(OBJFREEZE_CPYTHON_FREEZE_DEPS)))
OBJFREEZE_PYTHON :=
else
$(eval $(call objfreeze__cpy_table,stdlib,$(strip $(OBJFREEZE_CPYTHON_STDLIB))))
endif
$(eval $(call objfreeze__cpy_table,test,$(strip $(OBJFREEZE_CPYTHON_TEST))))
OBJFREEZE_PYTHON := $(objfreeze__cpy_saved_python)

$(OBJFREEZE_CPYTHON_DIR)/frozen.o: $(objfreeze__cpy_fork)/frozen.c $(objfreeze__cpy_fork)/objfreeze_fork.h $(objfreeze__cpy_fork)/objfreeze_prefetch.h \
    $(objfreeze__cpy_cbind)/objfreeze.h
	@mkdir -p $(@D)
	$(CC) -c $(PY_CORE_CFLAGS) -I$(objfreeze__cpy_cbind) -I$(objfreeze__cpy_fork) \
	  $(if $(strip $(OBJFREEZE_CPYTHON_MAGIC)),-DOBJFREEZE_CPYTHON_MAGIC=$(strip $(OBJFREEZE_CPYTHON_MAGIC))) \
	  $(if $(filter yes,$(OBJFREEZE_CPYTHON_DEEPFREEZE)),-DOBJFREEZE_DEEPFREEZE) \
	  $(if $(objfreeze__cpy_deep),-DOBJFREEZE_DEEP) \
	  $(OBJFREEZE_CPYTHON_CFLAGS) -o $@ $<

# The linker places sections in the order it meets them. With deep freezing
# the blobs come before the (writable) tables, so the blobs' start (the
# modules every start and most programs import) lies right after the
# program's data, where a cold start's first reads already go. The small
# tables come first: every start reads each table's index, and the indexes
# then lie together at the start of the tables' section.
OBJFREEZE_CPYTHON_OBJS := $(OBJFREEZE_CPYTHON_DIR)/frozen.o \
  $(if $(objfreeze__cpy_deep),$(OBJFREEZE_CPYTHON_DIR)/bootstrap-deep.o $(OBJFREEZE_CPYTHON_DIR)/stdlib-deep.o) \
  $(OBJFREEZE_CPYTHON_DIR)/bootstrap.o $(OBJFREEZE_CPYTHON_DIR)/test.o $(OBJFREEZE_CPYTHON_DIR)/stdlib.o
objfreeze__cpy_replaced := Python/frozen.o

ifeq ($(objfreeze__cpy_deep),yes)
$(OBJFREEZE_CPYTHON_DIR)/frozen.o: $(objfreeze__cpy_fork)/objfreeze_deep.h $(objfreeze__cpy_fork)/objfreeze_deep_rt.h
# The layout probe: compiled, never run, so a cross compiler serves too.
$(OBJFREEZE_CPYTHON_DIR)/layout.o: $(objfreeze__cpy_fork)/objfreeze_layout.c pyconfig.h
	@mkdir -p $(@D)
	$(CC) -c $(PY_CORE_CFLAGS) -o $@ $<
# The bootstrap section runs whole at every start: all of it first.
$(OBJFREEZE_CPYTHON_DIR)/bootstrap-deep.o: OBJFREEZE_CPYTHON_DEEP_FIRST = _frozen_importlib \
  _frozen_importlib_external zipimport
$(OBJFREEZE_CPYTHON_DIR)/%-deep.o: $(OBJFREEZE_CPYTHON_DIR)/%.o $(OBJFREEZE_CPYTHON_DIR)/layout.o $(OBJFREEZE_TOOL_DEP)
	$(OBJFREEZE) cpython-deep $(if $(strip $(OBJFREEZE_TARGET)),--target $(OBJFREEZE_TARGET)) \
	  $(foreach m,$(OBJFREEZE_CPYTHON_DEEP_FIRST),--first $(m)) \
	  --layout $(OBJFREEZE_CPYTHON_DIR)/layout.o $< -o $@
# import.c with unmarshal_frozen_code's one unmarshal call going through
# frozen.c, and find_frozen's "no code" test asking frozen.c too: it reads
# the first byte of the marshal data, and a deep-frozen module's is never
# read otherwise (on a cold start, every such read costs a disk read). Its
# lookups search frozen.c's sorted sections (fork/import.awk): a scan of
# the whole stdlib's was 1% of an import-heavy start's instructions. The
# build stops unless each change is made exactly once.
$(OBJFREEZE_CPYTHON_DIR)/import.c: $(srcdir)/Python/import.c $(objfreeze__cpy_make)/cpython.mk $(objfreeze__cpy_fork)/import.awk
	@mkdir -p $(@D)
	sed -e 's/PyMarshal_ReadObjectFromString(info->data, info->size)/_PyObjfreeze_ReadFrozen(info->data, info->size)/' \
	  -e "s/p->code\[0\] == '\\\\0' || p->size == 0/_PyObjfreeze_FrozenEmpty(p->code, p->size)/" $< | \
	  awk -f $(objfreeze__cpy_fork)/import.awk >$@.tmp || { rm -f $@.tmp; exit 1; }
	@test "$$(grep -c '_PyObjfreeze_ReadFrozen(info->data, info->size)' $@.tmp)" = 1 && \
	  test "$$(grep -c '_PyObjfreeze_FrozenEmpty(p->code, p->size)' $@.tmp)" = 1 || \
	  { echo "$<: unmarshal_frozen_code's unmarshal call or find_frozen's empty-code test not found once: this import.c is not 3.13's or 3.14's" >&2; rm -f $@.tmp; exit 1; }
	mv $@.tmp $@
$(OBJFREEZE_CPYTHON_DIR)/import.o: $(OBJFREEZE_CPYTHON_DIR)/import.c $(objfreeze__cpy_fork)/objfreeze_fork.h \
    $(objfreeze__cpy_fork)/look_up_frozen.c
	$(CC) -c $(PY_CORE_CFLAGS) -I$(srcdir)/Python -I$(objfreeze__cpy_fork) -include $(objfreeze__cpy_fork)/objfreeze_fork.h -o $@ $<
OBJFREEZE_CPYTHON_OBJS += $(OBJFREEZE_CPYTHON_DIR)/import.o
objfreeze__cpy_replaced += Python/import.o
endif

# LIBRARY_OBJS stays recursively expanded (it names variables set later in
# CPython's Makefile); only Python/frozen.o (and with deep freezing
# Python/import.o) is swapped for our objects.
$(eval objfreeze__cpy_library_objs = $(value LIBRARY_OBJS))
LIBRARY_OBJS = $(filter-out $(objfreeze__cpy_replaced),$(objfreeze__cpy_library_objs)) $(OBJFREEZE_CPYTHON_OBJS)

.PHONY: objfreeze-cpython objfreeze-cpython-clean
objfreeze-cpython: $(OBJFREEZE_CPYTHON_OBJS)
objfreeze-cpython-clean:
	rm -rf $(OBJFREEZE_CPYTHON_DIR)
.DEFAULT_GOAL := $(objfreeze__cpy_goal)

endif
