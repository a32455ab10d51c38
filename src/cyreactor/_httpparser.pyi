from typing import Any, Iterator

DEFAULT_LIMITS: dict[str, int]

class HttpParseError(Exception):
    status: int
    reason: str
    requests: list[ParsedRequest]
    def __init__(self, status: int, reason: str, requests: Any = ...) -> None: ...

class ParsedRequest:
    method: bytes
    target: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool
    expect_continue: bool
    chunked: bool
    def __init__(self, method: bytes, target: bytes, version: bytes, headers: list[tuple[bytes, bytes]],
                 body: bytes, keep_alive: bool = ..., expect_continue: bool = ..., chunked: bool = ...) -> None: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Any: ...

class RequestParser:
    closed: bool
    def __init__(self, *, max_request_line: int = ..., max_head_size: int = ..., max_headers: int = ...,
                 max_body_size: int = ...) -> None: ...
    @property
    def buffered(self) -> int: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[ParsedRequest]: ...

def parse_requests(data: bytes | bytearray | memoryview, *, max_request_line: int = ..., max_head_size: int = ...,
                   max_headers: int = ..., max_body_size: int = ...) -> list[ParsedRequest]: ...
def _bench_feed(data: bytes, repeat: int) -> int: ...
