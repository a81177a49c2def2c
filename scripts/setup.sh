#!/usr/bin/env bash
# Install what objfreeze's tests, examples and benchmarks use on Debian 12
# (as root): cross compilers and qemu-user, mingw-w64 and wine, clang/lld for
# Mach-O and MSVC-style links, clang's sanitizer runtimes, autoconf, Lua 5.4,
# measuring tools, the arm64 libpython for the cross example, CPython's build
# dependencies and ccache for the source-build tests. Safe to run again.
set -euo pipefail
pkgs=(
  clang lld llvm qemu-user libclang-rt-14-dev
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
  gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
  gcc-s390x-linux-gnu libc6-dev-s390x-cross
  gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross
  gcc-i686-linux-gnu libc6-dev-i386-cross
  gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 wine wine64
  g++ autoconf make lua5.4 liblua5.4-dev
  hyperfine strace valgrind xxd binutils time
  ccache xz-utils pkg-config libssl-dev libffi-dev zlib1g-dev libbz2-dev
  liblzma-dev libsqlite3-dev libreadline-dev libncurses-dev libgdbm-dev
  libgdbm-compat-dev uuid-dev libexpat1-dev
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The cross example links Debian's arm64 libpython3.11 (multiarch). apt keeps
# the native python3.11 at the same version, which is what freezes its stdlib;
# it may upgrade some native packages to do so, so check python3.11 after.
if ! dpkg-query -W -f='${Status}' libpython3.11-dev:arm64 2>/dev/null | grep -q "install ok installed"; then
  echo "setup: installing libpython3.11-dev:arm64"
  dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libpython3.11-dev:arm64 >/dev/null
fi
native=$(dpkg-query -W -f='${Version}' python3.11-minimal)
cross=$(dpkg-query -W -f='${Version}' libpython3.11-dev:arm64)
[ "$native" = "$cross" ] || { echo "setup: python3.11 $native but libpython3.11-dev:arm64 $cross" >&2; exit 1; }
/usr/bin/python3.11 -c 'import json, asyncio' || { echo "setup: /usr/bin/python3.11 broken" >&2; exit 1; }
# CPython source trees for the source-build tests (tests/cpython_src.rs):
# 3.11.2 (bookworm) and 3.13.5 (trixie) as Debian source packages. The
# deb-src entry copies the URIs of the machine's own apt source, so no host
# name is written here; only source indices are added (no trixie binaries).
src_list=/etc/apt/sources.list.d/objfreeze-src.sources
if [ ! -f "$src_list" ]; then
  main_uri="" sec_uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822 stanzas: remember each stanza's URIs and whether it is security.
    while IFS='|' read -r uri suites; do
      case "$suites" in
        *-security*) [ -n "$sec_uri" ] || sec_uri=$uri ;;
        *bookworm*) [ -n "$main_uri" ] || main_uri=$uri ;;
      esac
    done < <(awk 'BEGIN{RS="";FS="\n"} {u="";s="";t=""; for(i=1;i<=NF;i++){ if($i~/^URIs:/){sub(/^URIs:[ \t]*/,"",$i);split($i,a," ");u=a[1]} if($i~/^Suites:/){sub(/^Suites:[ \t]*/,"",$i);s=$i} if($i~/^Types:/){t=$i} } if(t~/deb/ && u!="") print u "|" s}' "$f")
  done
  if [ -z "$main_uri" ] && [ -f /etc/apt/sources.list ]; then
    # One-line format: deb URI SUITE COMPONENTS...
    main_uri=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list)
    sec_uri=$(awk '$1=="deb" && $3 ~ /-security$/ {print $2; exit}' /etc/apt/sources.list)
  fi
  [ -n "$main_uri" ] || { echo "setup: no Debian apt source found to derive a deb-src entry from" >&2; exit 1; }
  {
    printf 'Types: deb-src\nURIs: %s\nSuites: bookworm trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$main_uri"
    if [ -n "$sec_uri" ]; then
      printf '\nTypes: deb-src\nURIs: %s\nSuites: bookworm-security trixie-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$sec_uri"
    fi
  } | $SUDO tee "$src_list.tmp" >/dev/null
  $SUDO mv "$src_list.tmp" "$src_list"
  echo "setup: added deb-src entry $src_list (from $main_uri)"
  $SUDO apt-get update -qq
fi
rustup component add clippy rustfmt >/dev/null 2>&1 || true
echo "setup: done"
