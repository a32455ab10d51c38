from gunicorn.workers.base import Worker as _GunicornWorker

__all__: list[str]

class Worker(_GunicornWorker):
    def init_signals(self) -> None: ...
    def run(self) -> None: ...
