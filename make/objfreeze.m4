# objfreeze.m4 - autoconf macro: --with-objfreeze for a CPython (fork) build.
#
# Usage in configure.ac, after CPython's AC_ARG_ENABLE([optimizations], ...):
#
#     m4_include([objfreeze.m4])        (run autoconf with -I path/to/objfreeze/make)
#     OBJFREEZE_CHECK
#
# and in Makefile.pre.in, right after LIBRARY_OBJS is defined:
#
#     WITH_OBJFREEZE=   @WITH_OBJFREEZE@
#     OBJFREEZE=        @OBJFREEZE@
#     OBJFREEZE_TARGET= @OBJFREEZE_TARGET@
#     OBJFREEZE_MK=     @OBJFREEZE_MK@
#     ifneq ($(OBJFREEZE_MK),)
#     include $(OBJFREEZE_MK)
#     endif
#
# The option: --with-objfreeze[=yes|no|auto|PATH]
#   yes   use objfreeze; configure fails if the tool (or its make/cpython.mk)
#         is not found or does not run.
#   no    do not (the stock frozen.c and Python/frozen_modules are used).
#   auto  use it if it is found.
#   PATH  use this tool, as yes does: a value holding a `/` is the tool's
#         path (made absolute), any other value the name of a program on
#         PATH. It takes precedence over OBJFREEZE.
#   not given: auto under --enable-optimizations, else no. So
#   --enable-optimizations turns it on where it can, and
#   --with-objfreeze=no still turns it off.
#
# Precious variables (configure VAR=VALUE, or the environment):
#   OBJFREEZE          the tool; default: `objfreeze` on PATH.
#   OBJFREEZE_MAKEDIR  the directory holding cpython.mk; default: found from
#                      the tool's real location (SRC/target/*/objfreeze gives
#                      SRC/make; PREFIX/bin/objfreeze gives
#                      PREFIX/share/objfreeze/make).
#
# Substituted:
#   WITH_OBJFREEZE     yes or no: what was decided.
#   OBJFREEZE          the tool's path (empty when not used).
#   OBJFREEZE_MK       the cpython.mk to include (empty when not used).
#   OBJFREEZE_TARGET   the host triple in a cross build (tables are written
#                      for it), else empty (the build machine).
#
# MIT License. See LICENSE.

AC_DEFUN([OBJFREEZE_CHECK], [dnl
AC_ARG_WITH([objfreeze],
  [AS_HELP_STRING([--with-objfreeze@<:@=yes|no|auto|PATH@:>@],
    [freeze the frozen modules into read-only objfreeze tables instead of C arrays;
     PATH names the objfreeze tool
     (default: auto with --enable-optimizations, else no)])],
  [], [with_objfreeze=default])
AC_ARG_VAR([OBJFREEZE], [the objfreeze tool])
AC_ARG_VAR([OBJFREEZE_MAKEDIR], [directory holding objfreeze's cpython.mk])

objfreeze_want=$with_objfreeze
AS_CASE([$objfreeze_want],
  [default], [AS_IF([test "x$enable_optimizations" != x && test "x$enable_optimizations" != xno],
                    [objfreeze_want=auto], [objfreeze_want=no])],
  [yes|no|auto], [],
  [*/*], [
    # A path: the Makefile runs the tool from the build directory and
    # readlink below needs a real name, so make it absolute.
    AS_CASE([$with_objfreeze], [/*], [OBJFREEZE=$with_objfreeze],
      [OBJFREEZE=`pwd`/$with_objfreeze])
    objfreeze_want=yes],
  [
    # Any other word names the tool on PATH; a typo of yes/no/auto lands
    # here too, so say what was expected.
    AC_PATH_PROG([objfreeze_named], [$with_objfreeze])
    AS_IF([test "x$objfreeze_named" = x],
      [AC_MSG_ERROR([--with-objfreeze=$with_objfreeze: expected yes, no or auto, or the objfreeze tool (a path, or a program on PATH), but there is no program $with_objfreeze on PATH])])
    OBJFREEZE=$objfreeze_named
    objfreeze_want=yes])
AC_MSG_CHECKING([whether to freeze modules with objfreeze])
AS_IF([test "x$objfreeze_want" = xyes && test "x$OBJFREEZE" != x],
  [AC_MSG_RESULT([yes ($OBJFREEZE)])], [AC_MSG_RESULT([$objfreeze_want])])

WITH_OBJFREEZE=no
OBJFREEZE_MK=
OBJFREEZE_TARGET=
AS_IF([test "x$objfreeze_want" != xno], [
  AS_IF([test "x$OBJFREEZE" = x], [AC_PATH_PROG([OBJFREEZE], [objfreeze])])
  objfreeze_problem=
  AS_IF([test "x$OBJFREEZE" = x],
    [objfreeze_problem="objfreeze was not found on PATH (give --with-objfreeze=/path/to/objfreeze)"],
    [AS_IF(["$OBJFREEZE" --version >/dev/null 2>&1], [],
      [objfreeze_problem="$OBJFREEZE does not run"])])
  AS_IF([test "x$objfreeze_problem" = x], [
    AC_MSG_CHECKING([for objfreeze's cpython.mk])
    AS_IF([test "x$OBJFREEZE_MAKEDIR" = x], [
      # The tool's real location, through symlinks, tells where it was built
      # or installed.
      objfreeze_real=`readlink -f "$OBJFREEZE" 2>/dev/null || echo "$OBJFREEZE"`
      objfreeze_bin=`dirname "$objfreeze_real"`
      for objfreeze_dir in "$objfreeze_bin/../../make" "$objfreeze_bin/../share/objfreeze/make"; do
        AS_IF([test -f "$objfreeze_dir/cpython.mk"], [OBJFREEZE_MAKEDIR=$objfreeze_dir; break])
      done])
    AS_IF([test "x$OBJFREEZE_MAKEDIR" != x && test -f "$OBJFREEZE_MAKEDIR/cpython.mk"], [
      OBJFREEZE_MAKEDIR=`cd "$OBJFREEZE_MAKEDIR" && pwd`
      OBJFREEZE_MK=$OBJFREEZE_MAKEDIR/cpython.mk
      AC_MSG_RESULT([$OBJFREEZE_MK])], [
      AC_MSG_RESULT([no])
      objfreeze_problem="cpython.mk not found (set OBJFREEZE_MAKEDIR=/path/to/objfreeze/make)"])])
  AS_IF([test "x$objfreeze_problem" = x], [WITH_OBJFREEZE=yes],
    [test "x$objfreeze_want" = xyes], [AC_MSG_ERROR([--with-objfreeze=$with_objfreeze: $objfreeze_problem])],
    [AC_MSG_NOTICE([not using objfreeze: $objfreeze_problem])])
])
AS_IF([test "x$WITH_OBJFREEZE" = xyes], [
  AS_IF([test "x$cross_compiling" = xyes], [OBJFREEZE_TARGET=${host:-$host_alias}])
], [OBJFREEZE=])
AC_MSG_CHECKING([whether objfreeze is used])
AC_MSG_RESULT([$WITH_OBJFREEZE])
AC_SUBST([WITH_OBJFREEZE])
AC_SUBST([OBJFREEZE])
AC_SUBST([OBJFREEZE_MK])
AC_SUBST([OBJFREEZE_TARGET])
])
