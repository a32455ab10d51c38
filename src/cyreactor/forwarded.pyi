from typing import Iterable, Literal

DEFAULT_ALLOW_IPS: str
SCHEMES: frozenset[str]

_Peer = tuple[str, int] | tuple[str, int, int, int] | str | bytes | None

class TrustedProxies:
    mode: Literal["auto", "x-forwarded", "forwarded"]
    entries: list[str]
    trust_all: bool
    trust_unix: bool
    def __init__(self, allow_ips: str | Iterable[str] = ...,
                 mode: Literal["auto", "x-forwarded", "forwarded"] = ...) -> None: ...
    def is_trusted(self, host: str) -> bool: ...
    def resolve(self, peer: _Peer, headers: Iterable[tuple[bytes, bytes]],
                scheme: str = ...) -> tuple[tuple[str, int] | None, str]: ...
