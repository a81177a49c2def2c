#!/usr/bin/env bash
# Cross-build a real CPython for another Linux architecture with its whole
# standard library frozen into objfreeze tables for that architecture, and
# every extension module built in, linked statically: one executable that
# needs no file of the standard library on the target.
# Prints the executable's path on the last line of stdout.
#
#   scripts/cpython-cross.sh VERSION TRIPLE [CONFIGURE-ARGS...]
#
# VERSION  a version scripts/cpython-build.sh knows (3.14.7, 3.13.5); its
#          `stock` build is the build python (--with-build-python), so the
#          tables hold that interpreter's bytecode, of the version built.
# TRIPLE   the GNU triple of the cross toolchain: aarch64-linux-gnu or
#          riscv64-linux-gnu (TRIPLE-gcc and libc6-dev-*-cross installed).
#
# OBJFREEZE_CROSS_DEEP=1 also deep-frozes the tables (OBJFREEZE_CPYTHON_DEEP:
# static code objects laid out by the layout probe the cross compiler
# compiled), in the tree cross-deep-TRIPLE.
#
# The tree lives in $OBJFREEZE_CPYTHON_BUILDS (default target/cpython)
# /VERSION-DIGEST/cross-TRIPLE, DIGEST being the tarball's, as
# cpython-build.sh keeps its variants; a second run rebuilds only when the
# objfreeze binary, make/ fragments or fork C files changed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "cpython-cross: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: $0 VERSION TRIPLE [CONFIGURE-ARGS...]"
version=$1 triple=$2
shift 2
# objfreeze's spelling of the triple and what readelf calls the machine.
case "$triple" in
  aarch64-linux-gnu) objtarget=aarch64-unknown-linux-gnu machine=AArch64 ;;
  riscv64-linux-gnu) objtarget=riscv64gc-unknown-linux-gnu machine=RISC-V ;;
  *) die "unknown triple '$triple' (aarch64-linux-gnu, riscv64-linux-gnu)" ;;
esac
command -v "$triple-gcc" >/dev/null || die "$triple-gcc not found (package gcc-$triple, see scripts/setup.sh)"
minor=${version%.*}
builds=${OBJFREEZE_CPYTHON_BUILDS:-$repo/target/cpython}
jobs=${JOBS:-2}

# The build python: the native stock build of the same tarball. Its script
# resolves (and downloads) the tarball; we find the same one here.
build_prefix=$("$repo/scripts/cpython-build.sh" "$version" stock | tail -1) ||
  die "the build python (scripts/cpython-build.sh $version stock) failed"
build_python=$build_prefix/bin/python$minor
[ -x "$build_python" ] || die "$build_python: the stock build installed no python$minor"
tarball=${OBJFREEZE_CPYTHON_TARBALL:-}
if [ -z "$tarball" ]; then
  case "$version" in
    3.14.7) tarball=$repo/../shared/cpython-src/Python-3.14.7.tar.xz ;;
    *) tarball=$(ls "$builds/dl/python${minor}_${version}".orig.tar.{xz,gz} 2>/dev/null | head -1 || true) ;;
  esac
fi
[ -f "$tarball" ] || die "${tarball:-python${minor}_${version}.orig.tar.*}: no such tarball"
digest=$(sha256sum "$tarball" | cut -c1-16)
base=$builds/$version-$digest
[ "$build_prefix" = "$base/stock/install" ] ||
  die "the build python $build_prefix is not the stock build of $tarball ($base/stock)"
deep=${OBJFREEZE_CROSS_DEEP:-}
vdir=$base/cross-${deep:+deep-}$triple
src=$vdir/src
exe=$vdir/bin/python$minor

config_site=$vdir/config.site
# What configure cannot test on a machine that is not the target (CPython's
# cross-build docs), and third-party modules turned off: their libraries
# exist for some triples only (multiarch arm64 packages), mostly without
# the static archives a -static link needs, and the build is to be the same
# for every triple. The cross compilers also find the build machine's
# /usr/include/zlib.h, so zlib is ruled out by its header (binascii would
# link -lz where an arm64 libz.a happens to be installed). _decimal and
# pyexpat use their bundled copies.
config_site_text='ac_cv_file__dev_ptmx=yes
ac_cv_file__dev_ptc=no
ac_cv_header_zlib_h=no
'
for m in _ssl _hashlib _ctypes _curses _curses_panel _sqlite3 _tkinter _uuid _dbm _gdbm readline zlib _bz2 _lzma _zstd; do
  config_site_text+="py_cv_module_$m=n/a
"
done
# --disable-shared: one static libpython. MODULE_BUILDTYPE=static (read by
# configure) builds every Modules/Setup.stdlib module into it, so nothing is
# loaded from lib-dynload. Test modules are shared-only: left out.
config_args=(--host="$triple" --build=x86_64-pc-linux-gnu --with-build-python="$build_python"
  --prefix=/usr/local --disable-shared --disable-ipv6 --disable-test-modules --without-ensurepip
  --with-system-libmpdec=no --with-system-expat=no "$@")
stamp="$version $triple $digest ${config_args[*]} $(sha256sum <<<"$config_site_text" | cut -c1-16)"
mkdir -p "$base"
exec 9>"$vdir.lock"
flock 9

cc="$triple-gcc"
if command -v ccache >/dev/null; then
  cc="ccache $triple-gcc"
  export CCACHE_BASEDIR=$builds CCACHE_NOHASHDIR=1
fi
if [ ! -f "$vdir/.configured" ] || [ "$(cat "$vdir/.configured")" != "$stamp" ]; then
  rm -rf "$vdir"
  mkdir -p "$src" "$vdir/no-pkgconfig"
  tar -xf "$tarball" -C "$src" --strip-components=1
  [ -f "$src/Makefile.pre.in" ] || die "$tarball: not a CPython source tree (no Makefile.pre.in)"
  # The fork's one include line, after LIBRARY_OBJS, with the whole stdlib
  # in the stdlib table and the tables written for the target.
  awk -v mk="$repo/make/cpython.mk" -v target="$objtarget" -v deep="$deep" '
    { print }
    /^LIBRARY_OBJS=/ { inlib = 1 }
    inlib && !/\\$/ {
      inlib = 0
      print "OBJFREEZE_CPYTHON_WHOLE_STDLIB = yes"
      print "OBJFREEZE_TARGET = " target
      if (deep != "") print "OBJFREEZE_CPYTHON_DEEP = yes"
      print "include " mk
      done = 1
    }
    END { if (!done) exit 1 }' "$src/Makefile.pre.in" >"$src/Makefile.pre.in.new" ||
    die "$src/Makefile.pre.in: no LIBRARY_OBJS definition to put the include after"
  mv "$src/Makefile.pre.in.new" "$src/Makefile.pre.in"
  printf %s "$config_site_text" >"$config_site"
  # An empty pkg-config directory: the build machine's .pc files describe
  # x86_64 libraries.
  (cd "$src" && CONFIG_SITE="$config_site" CC="$cc" LDFLAGS=-static MODULE_BUILDTYPE=static \
    PKG_CONFIG_LIBDIR="$vdir/no-pkgconfig" PKG_CONFIG_PATH= \
    ./configure "${config_args[@]}" >"$vdir/configure.log" 2>&1) ||
    { tail -30 "$vdir/configure.log" >&2; die "configure failed: $vdir/configure.log"; }
  echo "$stamp" >"$vdir/.configured"
fi

export OBJFREEZE="${OBJFREEZE:-$repo/target/release/objfreeze}"
[ -x "$OBJFREEZE" ] || die "$OBJFREEZE: no objfreeze binary (cargo build --release)"
inputs=$(cat "$OBJFREEZE" "$build_python" "$repo"/make/cpython.mk "$repo"/make/objfreeze.mk "$repo"/make/cpython-compile.py \
  "$repo"/cbindings/objfreeze.h "$repo"/cbindings/cpython/fork/* | sha256sum | cut -c1-16)
if [ -f "$vdir/.built" ] && [ "$(cat "$vdir/.built")" = "$inputs" ] && [ -x "$exe" ]; then
  echo "$exe"
  exit 0
fi
rm -f "$vdir/.built"
# `make all` links python and runs CPython's own checks (pybuilddir.txt and
# check_extension_modules, through the build python); no install: the
# target gets the executable alone.
(cd "$src" && make -j"$jobs" all >"$vdir/make.log" 2>&1) ||
  { tail -40 "$vdir/make.log" >&2; die "build failed: $vdir/make.log"; }
hdr=$(readelf -h "$src/python") || die "$src/python: not an ELF file"
grep -q "Machine:.*$machine" <<<"$hdr" || die "$src/python: not an $machine executable: $(grep Machine: <<<"$hdr")"
if readelf -l "$src/python" | grep -q INTERP; then
  die "$src/python: dynamically linked (LDFLAGS=-static did not reach the link; see $vdir/make.log)"
fi
# Outside the build tree: next to Modules/Setup.local, getpath would take
# the executable for a build-tree python and look for Lib/ beside it.
mkdir -p "$vdir/bin"
cp "$src/python" "$exe.tmp" && mv -f "$exe.tmp" "$exe"
echo "$inputs" >"$vdir/.built"
echo "$exe"
