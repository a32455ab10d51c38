#!/usr/bin/env bash
# Builds cyreactor's extensions with AddressSanitizer and
# UndefinedBehaviorSanitizer into a copy of the tree and runs the test suite
# there under them. Zero sanitizer reports, and a passing suite, or exit 1.
#
#   scripts/sanitize.sh [pytest args...]     e.g. scripts/sanitize.sh -m "not slow" -x
#
# Environment: SANITIZE_DIR (the copy, default /tmp/cyreactor-sanitize),
# CC (default gcc; clang works too).
#
# How: the extensions get -fsanitize=address,undefined (through setup.py's
# CYREACTOR_CFLAGS/CYREACTOR_LDFLAGS); the Python interpreter is not
# instrumented, so the ASan runtime is LD_PRELOADed into it (it must be the
# first library loaded), and PYTHONMALLOC=malloc routes Python's own
# allocations through ASan's malloc so overruns of bytes objects are seen too.
# Leak detection is off: CPython does not free everything at exit. Reports
# go to $SANITIZE_DIR/reports/, one file per process (subprocesses the tests
# start, such as `python -m cyreactor`, inherit the setup and are checked too).
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="${SANITIZE_DIR:-/tmp/cyreactor-sanitize}"
cc="${CC:-gcc}"

rm -rf "$dir/src" "$dir/tests" "$dir/bench" "$dir/build" "$dir/reports"
mkdir -p "$dir/reports"
cp "$here/setup.py" "$here/pyproject.toml" "$here/README.md" "$dir/"
# Tests check the README's examples and docs/HTTP.md against the code.
rm -rf "$dir/docs" && cp -r "$here/docs" "$dir/"
cp -r "$here/src" "$here/tests" "$dir/"
[ -d "$here/scripts" ] && cp -r "$here/scripts" "$dir/"
# tests/test_bench_load.py imports the load harness from bench/.
cp -r "$here/bench" "$dir/"
find "$dir/src" \( -name '*.so' -o -name '*.c' -o -name '*.html' \) -delete
rm -rf "$dir/src/build"

flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
echo "building with $cc $flags in $dir" >&2
(cd "$dir" && CC="$cc" LDSHARED="$cc -shared" CYREACTOR_CFLAGS="$flags" \
    CYREACTOR_LDFLAGS="-fsanitize=address,undefined" \
    python setup.py build_ext --inplace >"$dir/build.log" 2>&1) \
    || { tail -30 "$dir/build.log" >&2; exit 1; }

runtime="$("$cc" -print-file-name=libasan.so)"
[ -e "$runtime" ] || { echo "no ASan runtime for $cc" >&2; exit 1; }

# Tools the tests run that are not Python (curl) get a clean environment:
# the ASan runtime preloaded into an uninstrumented curl can hang it.
mkdir -p "$dir/bin"
if real_curl="$(command -v curl)"; then
    printf '#!/bin/sh\nunset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS PYTHONMALLOC\nexec %s "$@"\n' "$real_curl" >"$dir/bin/curl"
    chmod +x "$dir/bin/curl"
fi

# Tests that assert a memory budget (RSS, page faults) measure ASan's
# allocator, shadow memory, redzones and quarantine under a sanitizer, not
# our code: they are left to the plain run (test_soak.py reads
# CYREACTOR_SANITIZE and keeps only its other checks).
deselect=(--deselect tests/test_http_demo.py::test_10000_idle_keep_alive_connections_cost_little
          --deselect tests/test_http_app.py::test_serve_does_not_page_fault_every_large_body_in_again)

cd "$dir"
CYREACTOR_SANITIZE=1 \
PATH="$dir/bin:$PATH" \
LD_PRELOAD="$runtime" \
PYTHONMALLOC=malloc \
PYTHONPATH="$dir/src" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:log_path=$dir/reports/asan:strict_string_checks=1:detect_stack_use_after_return=1" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$dir/reports/ubsan" \
    python -m pytest -q -p no:cacheprovider "${deselect[@]}" "$@" tests
status=$?

reports=$(find "$dir/reports" -type f | wc -l)
if [ "$reports" -gt 0 ]; then
    echo "sanitizer reports: $reports (in $dir/reports)" >&2
    for f in "$dir"/reports/*; do echo "== $f" >&2; head -40 "$f" >&2; done
    exit 1
fi
echo "sanitizers: 0 reports; pytest exit status $status" >&2
exit $status
