import socket
from typing import Callable

class Supervisor:
    worker: Callable[[Callable[[], None]], int | None]
    count: int
    stop_timeout: float
    ready_timeout: float
    min_uptime: float
    max_backoff: float
    workers: dict[int, float]
    def __init__(self, worker: Callable[[Callable[[], None]], int | None], count: int, *,
                 stop_timeout: float = ..., ready_timeout: float = ..., min_uptime: float = ...,
                 max_backoff: float = ...) -> None: ...
    def run(self, started: Callable[[list[int]], object] | None = ...) -> int: ...

def exit_on_signals() -> None: ...
def reserve_port(host: str, port: int) -> socket.socket: ...
