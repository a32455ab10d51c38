"""Byte-level mutations for property tests: near-valid input is where
framing bugs live."""


def mutate(data, edits):
    """Applies ``(kind, position, byte)`` edits: kind 0 replaces the byte at
    ``position`` (modulo the length), 1 inserts before it, 2 deletes it; an
    empty input gets ``byte`` appended."""
    b = bytearray(data)
    for kind, pos, byte in edits:
        if not b:
            b.append(byte)
            continue
        pos %= len(b)
        if kind == 0:
            b[pos] = byte
        elif kind == 1:
            b.insert(pos, byte)
        else:
            del b[pos]
    return bytes(b)
