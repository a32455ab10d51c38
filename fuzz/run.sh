#!/usr/bin/env bash
# Runs a fuzzer for SECONDS (default 60) under nice -n 19, on the
# instrumented build from fuzz/build.sh, with the seed corpus fuzz/corpus and
# a working corpus under fuzz/corpus-work (gitignored; new inputs land there).
# FUZZ_TARGET picks the harness: parser (default, fuzz/fuzz_parser.py),
# server (fuzz/fuzz_server.py: the whole server over a Unix socket) or proxy
# (fuzz/fuzz_proxy.py: the PROXY protocol header parser, its own seed corpus
# fuzz/corpus-proxy and dictionary fuzz/proxy.dict).
# Crashes are written to $CYREACTOR_FUZZ_BUILD/artifacts/ (crash-*, as
# libFuzzer names them); each one fixed becomes a test in tests/test_regressions.py.
#
#   fuzz/run.sh [SECONDS] [extra libFuzzer flags...]
#
# Environment: CYREACTOR_FUZZ_BUILD (build dir, default /tmp/cyreactor-fuzz);
# FUZZ_SANITIZER=address (default) or undefined, as for fuzz/build.sh (use a
# separate build dir for each).
# One process: the machine is shared (the bench measures CPU per request).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
shift || true
build="${CYREACTOR_FUZZ_BUILD:-/tmp/cyreactor-fuzz}"
newest_src="$(ls -t "$here"/src/cyreactor/*.pyx "$here"/src/cyreactor/*.pxd | head -1)"
san="${FUZZ_SANITIZER:-address}"
if ! ls "$build"/src/cyreactor/_httpparser*.so >/dev/null 2>&1 \
        || [ "$(cat "$build/sanitizer" 2>/dev/null)" != "$san" ] \
        || [ "$newest_src" -nt "$(ls "$build"/src/cyreactor/_httpparser*.so)" ]; then
    "$here/fuzz/build.sh" "$build" >/dev/null
fi
target="${FUZZ_TARGET:-parser}"
seeds="$here/fuzz/corpus"
dict="$here/fuzz/http.dict"
case "$target" in
    parser) work="$here/fuzz/corpus-work" ;;
    server) work="$here/fuzz/corpus-work/server" ;;
    proxy) work="$here/fuzz/corpus-work/proxy"; seeds="$here/fuzz/corpus-proxy"; dict="$here/fuzz/proxy.dict" ;;
    *) echo "FUZZ_TARGET must be parser, server or proxy" >&2; exit 2 ;;
esac
mkdir -p "$work" "$build/artifacts"
lib="asan_with_fuzzer.so"
[ "$san" = undefined ] && lib="ubsan_with_fuzzer.so"
runtime="$(python -c "import atheris, os; print(os.path.join(atheris.path(), '$lib'))")"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PYTHONPATH="$build/src"
exec nice -n 19 env LD_PRELOAD="$runtime" python "$here/fuzz/fuzz_$target.py" \
    -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -dict="$dict" -artifact_prefix="$build/artifacts/$target-" \
    -print_final_stats=1 "$@" "$work" "$seeds"
