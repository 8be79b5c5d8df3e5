#!/usr/bin/env bash
# The installed library: `cmake --install` into a fresh prefix inside the build directory puts the
# headers, libodegrad.so, libodegrad.a, odegrad.pc and the command in place; through pkg-config
# alone the examples build against it (examples/Makefile): the first program (examples/first.c),
# linked shared and static, computes a gradient that matches a central difference, and the
# worked field (examples/vanderpol.c) runs through the installed `odegrad run` by every method,
# its gradient checked by finite differences (examples/check_vanderpol.py).  No network.
#
# usage: bash test_install.sh ODEGRAD_BINARY SOURCE_DIR
set -u
BIN=${1:?usage: test_install.sh ODEGRAD_BINARY SOURCE_DIR}
SRC=${2:?usage: test_install.sh ODEGRAD_BINARY SOURCE_DIR}
. "$(dirname "$0")/cli_lib.sh"
BUILD=$(cd "$(dirname "$BIN")" && pwd)

if [ -n "${ODG_SANITIZE:-}" ]; then
    # a program that links the sanitized libodegrad.so needs the sanitizer's runtime too
    echo "SKIP: the install test in the sanitizer build (libodegrad.so is instrumented)"
    exit 0
fi
for tool in pkg-config make cc python3; do
    if ! command -v $tool > /dev/null; then
        echo "SKIP: $tool is not installed (scripts/install-deps.sh)"
        exit 0
    fi
done

P=$(mktemp -d "$BUILD/install-test.XXXXXX")
trap 'rm -rf "$P" "$W"' EXIT
PREFIX=$P/prefix
expect "cmake --install into a fresh prefix" \
    cmake --install "$BUILD" --prefix "$PREFIX" > "$P/install.log" 2>&1
PC=$(find "$PREFIX" -name odegrad.pc | head -1)
expect "odegrad.pc is installed" test -n "$PC"
LIBDIR=$(dirname "$(dirname "$PC")")
for f in "$PREFIX/include/odegrad/models.h" "$PREFIX/include/odegrad/plugin.h" \
    "$PREFIX/include/odegrad/gradients.h" "$PREFIX/include/odegrad/methods.def" \
    "$LIBDIR/libodegrad.a" "$PREFIX/bin/odegrad"; do
    expect "installed: ${f#$PREFIX/}" test -f "$f"
done
expect "installed: libodegrad.so" test -e "$LIBDIR/libodegrad.so"
export PKG_CONFIG_PATH=$(dirname "$PC")
expect "pkg-config finds odegrad" pkg-config --exists odegrad
expect "pkg-config's prefix is the install prefix" \
    test "$(cd "$(pkg-config --variable=prefix odegrad)" && pwd)" = "$(cd "$PREFIX" && pwd)"

EX=$P/examples
mkdir -p "$EX"
expect "the examples build through pkg-config" \
    make -s -C "$SRC/examples" OUT="$EX" > "$P/make.log" 2>&1 || cat "$P/make.log"
expect "the first program runs against the shared library" "$EX/first" > "$P/first.log"
expect "the first program finds the installed libodegrad.so" \
    sh -c "ldd '$EX/first' | grep 'libodegrad.so' | grep -q '$P/prefix/'"
# static: the archive named as such (with both installed, -lodegrad is the shared one), its
# dependencies from pkg-config --static (Requires.private, Libs.private)
expect "the first program links statically through pkg-config --static" \
    sh -c "cc -std=c11 '$SRC/examples/first.c' \
           \$(pkg-config --static --cflags --libs odegrad | sed 's/-lodegrad /-l:libodegrad.a /') \
           -o '$EX/first-static' && '$EX/first-static' > /dev/null"
expect "the static program does not need libodegrad.so" \
    sh -c "! ldd '$EX/first-static' | grep -q libodegrad"
expect "the worked field's gradient through the installed odegrad, by every method" \
    python3 "$SRC/examples/check_vanderpol.py" "$PREFIX/bin/odegrad" "$EX/libvanderpol.so"
summary
