#!/bin/sh
# Compiles the C peers into bench/peers/bin/ (gitignored). bench/load.py runs
# this by itself when a binary is missing or older than its source. With
# OpenSSL's headers (Debian: libssl-dev) the echo client gets --tls and the
# TLS echo server is built; without them both are left out, and load.py
# skips the TLS cases with a note.
set -e
cd "$(dirname "$0")"
mkdir -p bin
CC=${CC:-cc}
CFLAGS="-O2 -Wall -Wextra"
for name in c_http c_echo; do
    $CC $CFLAGS -o "bin/$name" "$name.c"
done
if printf '#include <openssl/ssl.h>\n' | $CC -E -x c - >/dev/null 2>&1; then
    $CC $CFLAGS -DWITH_TLS -o bin/c_echoclient c_echoclient.c -lssl -lcrypto
    $CC $CFLAGS -o bin/c_tls_echo c_tls_echo.c -lssl -lcrypto
else
    echo "build.sh: no OpenSSL headers (apt-get install libssl-dev): no TLS peers" >&2
    $CC $CFLAGS -o bin/c_echoclient c_echoclient.c
    rm -f bin/c_tls_echo
fi
