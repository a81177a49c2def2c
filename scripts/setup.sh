#!/usr/bin/env bash
# Install what objfreeze's tests, examples and benchmarks use on Debian 12
# (as root): cross compilers and qemu-user, mingw-w64 and wine, clang/lld for
# Mach-O and MSVC-style links, clang's sanitizer runtimes, autoconf, Lua 5.4,
# measuring tools, and the arm64 libpython for the cross example. Safe to run
# again.
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
rustup component add clippy rustfmt >/dev/null 2>&1 || true
echo "setup: done"
