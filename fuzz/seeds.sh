#!/usr/bin/env bash
# Build a seed corpus for the fuzz targets: objects for every supported
# target, archives, a fat Mach-O, linked executables, and bare tables.
# Usage: fuzz/seeds.sh [OBJFREEZE_BINARY]  (default: target/debug/objfreeze)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(realpath "${1:-$here/../target/debug/objfreeze}")"
cd "$here"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ro=corpus/read_object pt=corpus/parse_table
mkdir -p "$ro" "$pt"
printf '\xe3\x00\x00\x00module-a' > "$work/a.bin"
printf '\xe3\x00\x00\x00package-p' > "$work/p.bin"
printf '\xe3\x00\x00\x00sub' > "$work/s.bin"
mods=(--magic 3495 -m a="$work/a.bin" -p p="$work/p.bin" -m p.s="$work/s.bin" --alias p.t=p.s)
i=0
for t in $("$bin" targets | awk '{print $1}'); do
  "$bin" build -o "$work/$t.o" --target "$t" "${mods[@]}"
  cp "$work/$t.o" "$ro/obj-$t"
  i=$((i + 1))
done
# A bare table: the object's section contents.
objcopy -O binary --only-section=objfreeze "$work/x86_64-unknown-linux-gnu.o" "$pt/table-le"
llvm-objcopy -O binary --only-section=objfreeze "$work/s390x-unknown-linux-gnu.o" "$pt/table-be"
"$bin" build -o "$work/empty.o" --tag 0 --interp none
objcopy -O binary --only-section=objfreeze "$work/empty.o" "$pt/table-empty"
cp "$pt"/table-* "$ro/"
# Archives, GNU and BSD style, with a member that is not an object.
echo "not an object" > "$work/readme.txt"
(cd "$work" && ar rcs libgnu.a x86_64-unknown-linux-gnu.o aarch64-unknown-linux-gnu.o readme.txt)
(cd "$work" && llvm-ar --format=bsd rcs libbsd.a x86_64-apple-darwin.o readme.txt)
(cd "$work" && llvm-ar --format=coff rcs libcoff.lib x86_64-pc-windows-msvc.o 2>/dev/null) || true
cp "$work"/lib* "$ro/"
# A fat Mach-O.
if command -v llvm-lipo-14 >/dev/null; then
  llvm-lipo-14 -create "$work/x86_64-apple-darwin.o" "$work/aarch64-apple-darwin.o" -output "$ro/fat-macho"
fi
# Linked executables (ELF and PE) carrying the table.
echo 'int main(void){return 0;}' > "$work/m.c"
gcc -o "$ro/exe-elf" "$work/m.c" "$work/x86_64-unknown-linux-gnu.o"
if command -v x86_64-w64-mingw32-gcc >/dev/null; then
  x86_64-w64-mingw32-gcc -o "$ro/exe-pe" "$work/m.c" "$work/x86_64-pc-windows-gnu.o"
fi
echo "seeds: $(ls "$ro" | wc -l) in $ro, $(ls "$pt" | wc -l) in $pt"
