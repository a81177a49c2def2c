# objfreeze.mk - GNU make rules that freeze bytecode into a linkable object.
#
# Usage (GNU make 3.82 or later):
#
#     include path/to/objfreeze/make/objfreeze.mk
#     OBJFREEZE_PYTHON := python3.11
#     $(eval $(call objfreeze_object,build/app_frozen.o,--manifest app.toml))
#     $(eval $(call objfreeze_object,build/pkg.o,--tree src/pkg --symbol pkg_modules))
#     app: main.o build/app_frozen.o build/pkg.o ; $(CC) -o $@ $^
#
# $(call objfreeze_object,OUT,FLAGS[,PREREQUISITES]) defines the rule that
# writes the object OUT by running `$(OBJFREEZE) build -o OUT FLAGS` plus the
# flags the variables below select. FLAGS says what goes in: `--manifest
# FILE.toml`, `--tree DIR`, `--stdlib`, `-m NAME=FILE`, `-p NAME=FILE`, ...
# (anything `objfreeze build` takes; see `objfreeze build --help`). Objects
# linked into one program need distinct --symbol names (C finds them all
# through objfreeze_linked_next, whatever their names). A comma
# cannot appear in FLAGS itself: put such a value in a variable. The
# optional PREREQUISITES are inputs that other rules generate (e.g. .luac or
# .pyc files): make brings them up to date first. Inputs that exist already
# need not be listed: the depfile names them after the first build.
#
# What it guarantees:
# - the tool writes a depfile (OUT.d) listing every file it read, which is
#   included here: editing one source rebuilds OUT and nothing else, and a
#   second make finds nothing to do;
# - the full command is recorded in OUT.cmd: changing FLAGS or a variable
#   below (another target, another interpreter) rebuilds OUT too;
# - OUT is written atomically by the tool, and rules share no temporary
#   files, so `make -j` is safe.
#
# Variables. Set them before the $(eval $(call objfreeze_object,...)) lines
# (or on the command line, or in the environment): each rule reads them when
# it is defined.
#
#   OBJFREEZE            The objfreeze executable. Default: target/release/objfreeze
#                        of the source tree this file belongs to if it is
#                        built, else `objfreeze` found on PATH, else that
#                        target/release/objfreeze, built with cargo first.
#   OBJFREEZE_TARGET     Target triple of the object (--target), as rustc or
#                        clang spell it, e.g. aarch64-unknown-linux-gnu.
#                        Empty (the default): the build machine.
#   OBJFREEZE_PYTHON     The build interpreter that compiles .py sources
#                        (--python). It must be the same Python version as
#                        the interpreter that will run the table (in a cross
#                        build: a build-machine python of the target's
#                        version). Empty (the default): no --python is
#                        passed, which suits tables that need no compiling
#                        (.pyc inputs, Lua, raw bytecode) and manifests that
#                        name their `python` (a --python would override it).
#   OBJFREEZE_CACHE_DIR  Bytecode cache directory (--cache-dir), so a rebuild
#                        recompiles only changed sources. Empty (the default):
#                        the tool's own default, the user's cache directory.
#   OBJFREEZE_FLAGS      Extra flags for every build, e.g. `--optimize 2` or
#                        `--prefix-map $(CURDIR)=/usr/lib/app`. Default: empty.
#   OBJFREEZE_TOOL_DEP   A file every object depends on, so rebuilding the
#                        tool rebuilds the objects. Default: $(OBJFREEZE) when
#                        it names an existing file or the in-tree tool (built
#                        if missing); empty for a tool found on PATH.
#
# Set by this file, for the user's rules:
#
#   OBJFREEZE_OBJECTS      Every OUT defined so far.
#   OBJFREEZE_CLEAN_FILES  Those objects with their .d and .cmd files, for
#                          `clean: ; rm -f $(OBJFREEZE_CLEAN_FILES)`.

ifndef objfreeze__included
objfreeze__included := 1

# The source tree holding this file (make/..), without a trailing slash.
objfreeze__root := $(patsubst %/,%,$(dir $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))))

objfreeze__intree := $(objfreeze__root)/target/release/objfreeze
OBJFREEZE ?= $(if $(wildcard $(objfreeze__intree)),$(objfreeze__intree),$(or $(shell command -v objfreeze 2>/dev/null),$(objfreeze__intree)))
OBJFREEZE_TARGET ?=
OBJFREEZE_PYTHON ?=
OBJFREEZE_CACHE_DIR ?=
OBJFREEZE_FLAGS ?=
OBJFREEZE_TOOL_DEP ?= $(if $(findstring /,$(OBJFREEZE)),$(if $(filter $(objfreeze__intree),$(OBJFREEZE)),$(OBJFREEZE),$(wildcard $(OBJFREEZE))))

OBJFREEZE_OBJECTS :=
OBJFREEZE_CLEAN_FILES :=

# The command that builds $(1) from flags $(2), as it will run.
objfreeze__command = $(OBJFREEZE) build -o $(1) --depfile $(1).d \
  $(if $(strip $(OBJFREEZE_TARGET)),--target $(OBJFREEZE_TARGET)) \
  $(if $(strip $(OBJFREEZE_PYTHON)),--python $(OBJFREEZE_PYTHON)) \
  $(if $(strip $(OBJFREEZE_CACHE_DIR)),--cache-dir $(OBJFREEZE_CACHE_DIR)) \
  $(OBJFREEZE_FLAGS) $(2)

# Non-empty when the word lists $(1) and $(2) differ (kbuild's check: cheap,
# and blind only to reordered or repeated words).
objfreeze__differ = $(strip $(filter-out $(strip $(1)),$(strip $(2)))$(filter-out $(strip $(2)),$(strip $(1))))

# Text for a make file: `$` and `#` escaped, then single-quoted for the shell.
objfreeze__saved = '$(subst ','\'',$(subst #,\#,$(subst $$,$$$$,$(1))))'

.PHONY: objfreeze__force
objfreeze__goal := $(.DEFAULT_GOAL)
objfreeze__force:
# Neither built nor on PATH: build the tool from this source tree.
$(objfreeze__intree):
	cargo build --release --manifest-path $(objfreeze__root)/Cargo.toml
.DEFAULT_GOAL := $(objfreeze__goal)

# $(call objfreeze_object,OUT,FLAGS[,PREREQUISITES]): the rule for one object
# (use with $(eval)). It leaves make's default goal as it was.
define objfreeze_object
objfreeze__goal := $$(.DEFAULT_GOAL)
OBJFREEZE_OBJECTS += $(1)
OBJFREEZE_CLEAN_FILES += $(1) $(1).d $(1).cmd
objfreeze_cmd_new_$(1) := $(strip $(call objfreeze__command,$(1),$(2)))
-include $(1).d
-include $(1).cmd
$(1): $(3) $$(OBJFREEZE_TOOL_DEP) $$(if $$(call objfreeze__differ,$$(objfreeze_cmd_$(1)),$$(objfreeze_cmd_new_$(1))),objfreeze__force)
	@mkdir -p $$(@D)
	$$(objfreeze_cmd_new_$$@)
	@printf '%s\n' $$(call objfreeze__saved,objfreeze_cmd_$$@ := $$(objfreeze_cmd_new_$$@)) > $$@.cmd.tmp && mv -f $$@.cmd.tmp $$@.cmd
.DEFAULT_GOAL := $$(objfreeze__goal)
endef

endif
