#!/usr/bin/env bash
# Line coverage of the parser's C functions by a fuzz corpus: builds
# _httpparser with gcc --coverage into a copy of the tree, replays every input
# of the corpus directories through the fuzz harness's checks (no fuzzing),
# and prints gcov's per-function line coverage for the functions defined in
# _httpparser.pyx, with the total.
#
#   fuzz/coverage.sh [CORPUS_DIR...]      default: fuzz/corpus fuzz/corpus-work
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${CYREACTOR_COVERAGE_BUILD:-/tmp/cyreactor-fuzz-coverage}"
[ $# -gt 0 ] || set -- "$here/fuzz/corpus" "$here/fuzz/corpus-work"

rm -rf "$build"
mkdir -p "$build/src"
cp "$here/setup.py" "$here/pyproject.toml" "$build/"
cp -r "$here/src/cyreactor" "$build/src/"
find "$build/src" \( -name '*.so' -o -name '*.c' -o -name '*.html' -o -name '*.gc*' \) -delete
(cd "$build" && CC=gcc LDSHARED="gcc -shared" CYREACTOR_CFLAGS="--coverage -O0" \
    CYREACTOR_LDFLAGS="--coverage" python setup.py build_ext -q >"$build/build.log" 2>&1) \
    || { tail -20 "$build/build.log" >&2; exit 1; }
lib="$(ls -d "$build"/build/lib.*)"

PYTHONPATH="$lib" python - "$here/fuzz" "$@" <<'PY'
import os, sys, types
sys.path.insert(0, sys.argv[1])
sys.modules["atheris"] = types.SimpleNamespace(          # the checks only, no fuzzer
    instrument_imports=lambda **kw: __import__("contextlib").nullcontext())
import fuzz_parser
n = 0
for d in sys.argv[2:]:
    for root, _, files in os.walk(d):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                fuzz_parser.test_one_input(f.read())
            n += 1
print(f"replayed {n} inputs", file=sys.stderr)
PY

obj="$(find "$build/build" -name '_httpparser.o' | head -1)"
cd "$(dirname "$obj")"
gcov -f -o . "$obj" 2>/dev/null | awk '
    /^Function .__pyx_f_9cyreactor_11_httpparser_/ { fn = $2; gsub(/\x27/, "", fn); sub(/__pyx_f_9cyreactor_11_httpparser_/, "", fn); sub(/^[0-9]+/, "", fn); next }
    fn != "" && /^Lines executed/ {
        split($2, a, ":"); pct = a[2]; sub(/%/, "", pct); n = $4
        printf "%-28s %6.1f%% of %4d lines\n", fn, pct, n
        hit += pct * n / 100; total += n; fn = ""
    }
    END { printf "%-28s %6.1f%% of %4d lines\n", "TOTAL (parser functions)", 100 * hit / total, total }'
