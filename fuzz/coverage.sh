#!/usr/bin/env bash
# Line coverage of C functions by a fuzz corpus: builds the extensions with
# gcc --coverage into a copy of the tree, replays every input of the corpus
# directories through a fuzz harness's checks (no fuzzing), and prints gcov's
# per-function line coverage for the C functions Cython made from the cdef
# functions and methods of a module, with the total.
#
#   fuzz/coverage.sh [CORPUS_DIR...]      default: fuzz/corpus fuzz/corpus-work
#
# FUZZ_TARGET=parser (default): fuzz/fuzz_parser.py, module _httpparser.
# FUZZ_TARGET=server: fuzz/fuzz_server.py, modules _http and _httpparser
# (default corpus fuzz/corpus fuzz/corpus-work/server).
# FUZZ_TARGET=proxy: fuzz/fuzz_proxy.py, module _proxyproto (default corpus
# fuzz/corpus-proxy fuzz/corpus-work/proxy).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${CYREACTOR_COVERAGE_BUILD:-/tmp/cyreactor-fuzz-coverage}"
target="${FUZZ_TARGET:-parser}"
case "$target" in
    parser) modules="_httpparser"; [ $# -gt 0 ] || set -- "$here/fuzz/corpus" "$here/fuzz/corpus-work" ;;
    server) modules="_http _httpparser"; [ $# -gt 0 ] || set -- "$here/fuzz/corpus" "$here/fuzz/corpus-work/server" ;;
    proxy) modules="_proxyproto"; [ $# -gt 0 ] || set -- "$here/fuzz/corpus-proxy" "$here/fuzz/corpus-work/proxy" ;;
    *) echo "FUZZ_TARGET must be parser, server or proxy" >&2; exit 2 ;;
esac

rm -rf "$build"
mkdir -p "$build/src"
cp "$here/setup.py" "$here/pyproject.toml" "$build/"
cp -r "$here/src/cyreactor" "$build/src/"
find "$build/src" \( -name '*.so' -o -name '*.c' -o -name '*.html' -o -name '*.gc*' \) -delete
(cd "$build" && CC=gcc LDSHARED="gcc -shared" CYREACTOR_CFLAGS="--coverage -O0" \
    CYREACTOR_LDFLAGS="--coverage" python setup.py build_ext --inplace -q >"$build/build.log" 2>&1) \
    || { tail -20 "$build/build.log" >&2; exit 1; }

PYTHONPATH="$build/src" python - "$here/fuzz" "$target" "$@" <<'PY'
import importlib, os, sys, types
sys.path.insert(0, sys.argv[1])
sys.modules["atheris"] = types.SimpleNamespace(          # the checks only, no fuzzer
    instrument_imports=lambda **kw: __import__("contextlib").nullcontext())
harness = importlib.import_module("fuzz_" + sys.argv[2])
n = 0
for d in sys.argv[3:]:
    for root, _, files in os.walk(d):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                harness.test_one_input(f.read())
            n += 1
print(f"replayed {n} inputs", file=sys.stderr)
PY

for module in $modules; do
    obj="$(find "$build/build" -name "$module.o" | head -1)"
    prefix="__pyx_f_9cyreactor_${#module}${module}_"
    echo "== $module"
    (cd "$(dirname "$obj")" && gcov -f -o . "$obj" 2>/dev/null) | awk -v prefix="$prefix" '
        index($0, "Function \x27" prefix) == 1 { fn = substr($2, length(prefix) + 2); sub(/\x27$/, "", fn); sub(/^[0-9]+/, "", fn); next }
        fn != "" && /^Lines executed/ {
            split($2, a, ":"); pct = a[2]; sub(/%/, "", pct); n = $4
            printf "%-36s %6.1f%% of %4d lines\n", fn, pct, n
            hit += pct * n / 100; total += n; fn = ""
        }
        END { printf "%-36s %6.1f%% of %4d lines\n", "TOTAL (cdef functions)", 100 * hit / total, total }'
done
