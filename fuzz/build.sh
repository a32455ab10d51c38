#!/usr/bin/env bash
# Builds cyreactor's extensions with libFuzzer coverage instrumentation and
# AddressSanitizer (clang: -fsanitize=address,fuzzer-no-link) into a copy of
# the tree, so the in-place build others use is left alone.
# FUZZ_SANITIZER=undefined builds with UndefinedBehaviorSanitizer instead
# (atheris ships the two runtimes with libFuzzer separately, not together).
#
#   fuzz/build.sh [BUILD_DIR]        default: /tmp/cyreactor-fuzz
#
# Needs clang (apt-get install clang) and atheris (pip install atheris).
# fuzz/run.sh calls this when the build is missing or older than the sources.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-${CYREACTOR_FUZZ_BUILD:-/tmp/cyreactor-fuzz}}"
san="${FUZZ_SANITIZER:-address}"
case "$san" in address|undefined) ;; *) echo "FUZZ_SANITIZER: address or undefined" >&2; exit 2 ;; esac
command -v clang >/dev/null || { echo "fuzz/build.sh: clang is needed (apt-get install clang)" >&2; exit 2; }

mkdir -p "$build"
rm -rf "$build/src" "$build/build"
echo "$san" >"$build/sanitizer"
cp -r "$here/setup.py" "$here/pyproject.toml" "$build/"
mkdir -p "$build/src"
cp -r "$here/src/cyreactor" "$build/src/"
find "$build/src" \( -name '*.so' -o -name '*.c' -o -name '*.html' \) -delete

cd "$build"
CC=clang LDSHARED="clang -shared" \
CYREACTOR_CFLAGS="-fsanitize=$san,fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1" \
CYREACTOR_LDFLAGS="-fsanitize=$san,fuzzer-no-link" \
    python setup.py build_ext --inplace -q >"$build/build.log" 2>&1 \
    || { tail -30 "$build/build.log" >&2; exit 1; }
[ "$(nm -D "$build"/src/cyreactor/_httpparser*.so | grep -c __sanitizer_cov)" -gt 0 ] \
    || { echo "fuzz/build.sh: no coverage instrumentation in the build" >&2; exit 1; }
echo "$build/src"
