#!/bin/sh
# Compiles the C peers into bench/peers/bin/ (gitignored). bench/load.py runs
# this by itself when a binary is missing or older than its source.
set -e
cd "$(dirname "$0")"
mkdir -p bin
CC=${CC:-cc}
for name in c_http c_echo c_echoclient; do
    $CC -O2 -Wall -Wextra -o "bin/$name" "$name.c"
done
