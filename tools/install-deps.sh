#!/bin/sh
# Installs the Debian packages tensorjit needs (design §9) that are missing.
# Run by `make`, `make demo` and `make test`; does nothing when all are present.
set -eu

PACKAGES="cmake ninja-build ccache g++ make
llvm-16-dev libxbyak-dev libfmt-dev libgtest-dev libbenchmark-dev
pybind11-dev python3-dev python3-numpy python3-pytest python3-torch python3-matplotlib"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
