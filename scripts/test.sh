#!/usr/bin/env bash
# The whole test suite: builds the dev preset and runs every ctest test, then
# the unit tests under AddressSanitizer+UBSan and under ThreadSanitizer, then
# the libFuzzer targets for VIGIL_FUZZ_SECONDS each.
#   scripts/test.sh            everything
#   scripts/test.sh dev        only the listed presets (dev, asan, tsan, fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(dev asan tsan fuzz)
jobs=$(nproc)
status=0
for preset in "${presets[@]}"; do
  case "$preset" in dev|asan|tsan|fuzz) ;; *) echo "test.sh: unknown preset '$preset' (dev, asan, tsan, fuzz)" >&2; exit 2;; esac
  echo "=== $preset: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== $preset: test"
  if ! ctest --preset "$preset" -j "$jobs"; then
    status=1
  fi
done
exit $status
