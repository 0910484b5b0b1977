#!/bin/sh
# Installs the build into a temporary prefix, then configures, builds and
# runs examples/embed against that installed package (find_package).
set -eu
BUILD_DIR=$1
SOURCE_DIR=$2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD_DIR" --prefix "$WORK/prefix" > "$WORK/install.log"
cmake -S "$SOURCE_DIR/examples/embed" -B "$WORK/build" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix" > "$WORK/configure.log"
cmake --build "$WORK/build" > "$WORK/build.log"
"$WORK/build/embed"
# The Python package installs beside it and imports from there.
PACKAGE=$(dirname "$(find "$WORK/prefix" -path '*/tensorjit/__init__.py')")
PYTHONPATH=$(dirname "$PACKAGE") /usr/bin/python3 -c '
import numpy as np, tensorjit as tj
assert tj.__file__.startswith("'"$WORK"'"), tj.__file__
assert np.allclose(tj.jit(lambda x: x * 2)(np.ones(3, np.float32)), 2)
print("python package: ok")'
