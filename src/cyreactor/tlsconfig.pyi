import argparse
import ssl
from collections.abc import Iterable

ALPN: tuple[str, ...]

def server_context(certfile: str, keyfile: str | None = ..., password: str | bytes | None = ...,
                   ca_certs: str | None = ..., cert_reqs: int = ..., ciphers: str | None = ...,
                   alpn: Iterable[str] | None = ..., resumption: bool = ...) -> ssl.SSLContext: ...
def add_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup: ...
def from_arguments(args: argparse.Namespace) -> ssl.SSLContext | None: ...
