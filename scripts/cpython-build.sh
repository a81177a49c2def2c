#!/usr/bin/env bash
# Build a real CPython source tree, stock or with objfreeze in its build, and
# print the install prefix on the last line of stdout.
#
#   scripts/cpython-build.sh VERSION VARIANT [CONFIGURE-ARGS...]
#
# VERSION  3.11.2 or 3.13.5 (Debian's pristine upstream tarballs, fetched with
#          `apt-get source --download-only`; scripts/setup.sh adds the
#          deb-src entry), or 3.14.7 (../shared/cpython-src/Python-3.14.7.tar.xz).
#          OBJFREEZE_CPYTHON_TARBALL names another tarball for any version.
# VARIANT  stock      the tree as released
#          objfreeze  one include line in Makefile.pre.in (make/cpython.mk):
#                     CPython's frozen modules come from objfreeze tables
#          stdlib     as objfreeze, with OBJFREEZE_CPYTHON_WHOLE_STDLIB=yes:
#                     the whole standard library frozen into the build
#          deep       as stdlib, with OBJFREEZE_CPYTHON_DEEP=yes: the frozen
#                     modules also linked in as static code objects (3.13, 3.14)
#          startdeep  as objfreeze (CPython's own frozen modules only), with
#                     OBJFREEZE_CPYTHON_DEEP=yes
#
# Trees live under $OBJFREEZE_CPYTHON_BUILDS (default target/cpython), one per
# tarball digest and variant, so a second run with the same tarball reuses
# the build: stock is built once; objfreeze variants run `make install` again
# only when the objfreeze binary, make/ fragments or fork C files changed.
# Compiles go through ccache when it is installed, with the trees' common
# parent as base directory, so the variants of one tarball share objects.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "cpython-build: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: $0 VERSION VARIANT [CONFIGURE-ARGS...]"
version=$1 variant=$2
shift 2
case "$variant" in stock | objfreeze | stdlib | deep | startdeep) ;; *) die "unknown variant '$variant' (stock, objfreeze, stdlib, deep, startdeep)" ;; esac
builds=${OBJFREEZE_CPYTHON_BUILDS:-$repo/target/cpython}
jobs=${JOBS:-$(nproc)}
mkdir -p "$builds/dl"

tarball=${OBJFREEZE_CPYTHON_TARBALL:-}
if [ -z "$tarball" ]; then
  case "$version" in
    3.14.7) tarball=$repo/../shared/cpython-src/Python-3.14.7.tar.xz ;;
    3.11.2 | 3.13.5)
      minor=${version%.*}
      tarball=$(ls "$builds/dl/python${minor}_${version}".orig.tar.{xz,gz} 2>/dev/null | head -1 || true)
      if [ -z "$tarball" ]; then
        # Debian's orig tarball is the upstream release; the exact Debian
        # revision only matters for its own patches, which are not used.
        case "$minor" in
          3.11) specs=("python3.11/bookworm") ;;
          3.13) specs=("python3.13=3.13.5-2+deb13u5" "python3.13/trixie") ;;
        esac
        dl=$(mktemp -d "$builds/dl/.apt.XXXXXX")
        ok=""
        for s in "${specs[@]}"; do
          if (cd "$dl" && apt-get source --download-only -qq "$s" >&2); then ok=1; break; fi
        done
        [ -n "$ok" ] || { rm -rf "$dl"; die "apt-get source ${specs[*]} failed (run scripts/setup.sh for the deb-src entry)"; }
        orig=$(ls "$dl/python${minor}_${version}".orig.tar.{xz,gz} 2>/dev/null | head -1 || true)
        [ -n "$orig" ] || { ls "$dl" >&2; rm -rf "$dl"; die "no python${minor}_${version}.orig.tar.* among the downloaded files"; }
        tarball=$builds/dl/${orig##*/}
        mv "$orig" "$tarball"
        rm -rf "$dl"
      fi
      ;;
    *) die "unknown version '$version' (3.11.2, 3.13.5, 3.14.7; or set OBJFREEZE_CPYTHON_TARBALL)" ;;
  esac
fi
[ -f "$tarball" ] || die "$tarball: no such tarball"
digest=$(sha256sum "$tarball" | cut -c1-16)
base=$builds/$version-$digest
vdir=$base/$variant
src=$vdir/src
prefix=$vdir/install
config_args=(--prefix="$prefix" --without-ensurepip "$@")
stamp="$version $variant $digest ${config_args[*]}"
mkdir -p "$base"
# One build per tree at a time: tests and benchmarks may ask concurrently.
exec 9>"$base/$variant.lock"
flock 9

if [ ! -f "$vdir/.configured" ] || [ "$(cat "$vdir/.configured")" != "$stamp" ]; then
  rm -rf "$vdir"
  mkdir -p "$src"
  tar -xf "$tarball" -C "$src" --strip-components=1
  [ -f "$src/Makefile.pre.in" ] || die "$tarball: not a CPython source tree (no Makefile.pre.in)"
  if [ "$variant" != stock ]; then
    # The one line a fork adds: right after LIBRARY_OBJS's definition.
    awk -v mk="$repo/make/cpython.mk" -v whole="$(case $variant in stdlib | deep) echo yes ;; esac)" \
      -v deep="$(case $variant in deep | startdeep) echo yes ;; esac)" '
      { print }
      /^LIBRARY_OBJS=/ { inlib = 1 }
      inlib && !/\\$/ {
        inlib = 0
        if (whole != "") print "OBJFREEZE_CPYTHON_WHOLE_STDLIB = yes"
        if (deep != "") print "OBJFREEZE_CPYTHON_DEEP = yes"
        print "include " mk
        done = 1
      }
      END { if (!done) exit 1 }' "$src/Makefile.pre.in" >"$src/Makefile.pre.in.new" ||
      die "$src/Makefile.pre.in: no LIBRARY_OBJS definition to put the include after"
    mv "$src/Makefile.pre.in.new" "$src/Makefile.pre.in"
  fi
  cc=gcc
  if command -v ccache >/dev/null; then
    cc="ccache gcc"
    export CCACHE_BASEDIR=$builds CCACHE_NOHASHDIR=1
  fi
  # The variants of one tarball configure alike but for --prefix: the first
  # leaves its autoconf cache for the others (30 s down to 3 s here). Each
  # gets a copy, so concurrent builds never write one cache file; other
  # compilers or configure arguments (--enable-optimizations, ...) get their
  # own cache.
  cache=$base/config.cache.$(printf '%s\n' "$cc" "$@" | sha256sum | cut -c1-16)
  [ -f "$cache" ] && cp "$cache" "$vdir/config.cache"
  (cd "$src" && CC="$cc" ./configure --cache-file="$vdir/config.cache" "${config_args[@]}" >"$vdir/configure.log" 2>&1) ||
    { tail -30 "$vdir/configure.log" >&2; die "configure failed: $vdir/configure.log"; }
  if [ ! -f "$cache" ]; then
    cp "$vdir/config.cache" "$cache.$$" && mv -f "$cache.$$" "$cache"
  fi
  echo "$stamp" >"$vdir/.configured"
fi

export OBJFREEZE="${OBJFREEZE:-$repo/target/release/objfreeze}"
# What an objfreeze build's output depends on besides the tree: the tool and
# the fragments and C files the include brings in. Unchanged: nothing to do
# (make install byte-compiles the whole stdlib every time it runs).
inputs=""
if [ "$variant" != stock ]; then
  [ -x "$OBJFREEZE" ] || die "$OBJFREEZE: no objfreeze binary (cargo build --release)"
  inputs=$(cat "$OBJFREEZE" "$repo"/make/cpython.mk "$repo"/make/objfreeze.mk "$repo"/make/cpython-compile.py \
    "$repo"/cbindings/objfreeze.h "$repo"/cbindings/cpython/fork/* | sha256sum | cut -c1-16)
fi
if [ -f "$vdir/.installed" ] && [ "$(cat "$vdir/.installed")" = "$inputs" ]; then
  echo "$prefix"
  exit 0
fi
if command -v ccache >/dev/null; then export CCACHE_BASEDIR=$builds CCACHE_NOHASHDIR=1; fi
rm -f "$vdir/.installed"
# make install byte-compiles the stdlib as a release install does, so the
# stock build imports from .pyc files as users see it.
(cd "$src" && make -j"$jobs" >"$vdir/make.log" 2>&1 && make install >"$vdir/install.log" 2>&1) ||
  { tail -40 "$vdir/make.log" "$vdir/install.log" >&2 2>/dev/null; die "build failed: $vdir/make.log, $vdir/install.log"; }
echo "$inputs" >"$vdir/.installed"
echo "$prefix"
