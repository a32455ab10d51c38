"""Finding and running an app of any interface: ASGI 3.0, WSGI (PEP 3333)
or cyreactor's own (``app(request) -> Response``, ``async def``, a
``RequestHandler`` subclass). What ``python -m cyreactor MODULE:ATTR`` and
the gunicorn worker (``cyreactor.gunicorn.Worker``) share.

``load(spec)`` imports ``"module:attribute"``; ``detect(app)`` tells its
interface; ``Lifespan`` runs an ASGI app's lifespan protocol, which
``cyreactor.http.serve()`` runs around the serving (``start_lifespan``,
``end_lifespan``).
"""
import asyncio
import importlib
import inspect
import logging
import os
import signal
import sys
import threading

__all__ = ["AppError", "INTERFACES", "LIFESPAN_MODES", "Lifespan", "LifespanFailed", "detect", "end_lifespan",
           "load", "start_lifespan"]

log = logging.getLogger("cyreactor.server")

INTERFACES = ("auto", "asgi", "wsgi", "native")
LIFESPAN_MODES = ("auto", "on", "off")


class AppError(Exception):
    """The app cannot be found or is not an app: a one-line message, no
    traceback (the CLI exits with status 2)."""


class LifespanFailed(Exception):
    """The ASGI app refused to start (``lifespan.startup.failed``, or an
    error with ``lifespan="on"``): the server does not serve."""


def load(spec, *, app_dir=None, factory=False):
    """The object named by ``"module:attribute"`` (the attribute may be
    dotted); with ``factory``, the result of calling it with no arguments.
    ``app_dir`` is put first on ``sys.path``. Raises AppError when the
    string, the module or the attribute is wrong; an error raised by the
    module's own code propagates."""
    module_name, _, attrs = spec.partition(":")
    if not module_name or not attrs:
        raise AppError(f'import string "{spec}" must be in the format "<module>:<attribute>"')
    if app_dir is not None:
        sys.path.insert(0, os.path.abspath(app_dir))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise        # a module the app imports is missing: the app's own error
        raise AppError(f'could not import module "{module_name}"') from None
    obj = module
    try:
        for attr in attrs.split("."):
            obj = getattr(obj, attr)
    except AttributeError:
        raise AppError(f'attribute "{attrs}" not found in module "{module_name}"') from None
    if factory:
        if not callable(obj):
            raise AppError(f'"{spec}" is not callable, so it cannot be a --factory')
        obj = obj()
    return obj


def _positional_count(fn):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
        return None
    return sum(1 for p in params if p.kind in kinds and p.default is inspect.Parameter.empty)


def detect(app):
    """``"asgi"``, ``"wsgi"`` or ``"native"`` for ``app``, from its shape:
    a RequestHandler subclass, or a callable taking (request) is native;
    (environ, start_response) WSGI; (scope, receive, send) ASGI. Raises
    AppError for what is none of them."""
    from cyreactor.http import RequestHandler

    if isinstance(app, type):
        if issubclass(app, RequestHandler):
            return "native"
        raise AppError(f"{app.__qualname__} is a class, not an app (did you mean an instance, or --factory?)")
    if not callable(app):
        raise AppError(f"{type(app).__name__} object is not an app (not callable)")
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else getattr(app, "__call__", app)
    count = _positional_count(call)
    is_async = inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(app)
    if count == 3:
        return "asgi"
    if count == 2 and not is_async:
        return "wsgi"
    if count == 1:
        return "native"
    raise AppError(f"cannot tell the interface of {app!r} (it takes {count} positional arguments): "
                   f"pass --interface asgi, wsgi or native")


class Lifespan:
    """The ASGI lifespan protocol (asgiref specs/lifespan.rst) for ``app``
    on the running loop: ``await startup()``, serve, ``await shutdown()``.
    ``state`` is the lifespan state, shared (shallow-copied) with every
    request's scope. ``mode`` "auto": an app that raises before completing
    the startup does not do lifespan, and is served anyway (as uvicorn's
    --lifespan auto); "on": that is an error too."""

    def __init__(self, app, mode="auto"):
        if mode not in LIFESPAN_MODES:
            raise ValueError(f"lifespan mode must be one of {', '.join(LIFESPAN_MODES)}")
        self.app = app
        self.mode = mode
        self.state = {}
        self.supported = True
        self._messages = asyncio.Queue()
        self._started = asyncio.Event()
        self._stopped = asyncio.Event()
        self._failure = None
        self._task = None

    async def startup(self):
        """Runs the startup; raises LifespanFailed if the app refused."""
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._main(loop))
        await self._messages.put({"type": "lifespan.startup"})
        await self._started.wait()
        if self._failure is not None:
            raise LifespanFailed(self._failure)

    async def shutdown(self):
        """Runs the shutdown (nothing if the app does not do lifespan)."""
        if self._task is None or self._task.done():
            return
        await self._messages.put({"type": "lifespan.shutdown"})
        await self._stopped.wait()

    async def close(self):
        """Ends the app's lifespan task if it is still running (its startup
        failed, or the server stopped before serving)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except BaseException:
                pass

    async def _main(self, loop):
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        try:
            await self.app(scope, self._messages.get, self._send)
        except BaseException as exc:
            if self.mode == "auto" and not self._started.is_set():
                self.supported = False
                log.info("ASGI 'lifespan' protocol appears unsupported (%s: %s)", type(exc).__name__, exc)
            else:
                if not self._started.is_set():
                    self._failure = f"the app raised during its startup: {type(exc).__name__}: {exc}"
                loop.call_exception_handler({"message": "Exception in the ASGI lifespan protocol",
                                             "exception": exc})
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            self._started.set()
            self._stopped.set()

    async def _send(self, message):
        kind = message["type"]
        if kind == "lifespan.startup.complete" and not self._started.is_set():
            self._started.set()
        elif kind == "lifespan.startup.failed" and not self._started.is_set():
            self._failure = message.get("message") or "lifespan.startup.failed"
            self._started.set()
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed") and self._started.is_set():
            if kind.endswith("failed"):
                log.error("ASGI lifespan shutdown failed: %s", message.get("message", ""))
            self._stopped.set()
        else:
            raise RuntimeError(f"unexpected ASGI lifespan message {kind!r}")


def start_lifespan(loop, server, mode="auto"):
    """Runs an ASGI app's lifespan startup on ``loop`` (a cyreactor.Loop,
    not running yet) before ``server`` listens; returns the Lifespan (None
    for another interface or ``mode`` "off"). Raises LifespanFailed if the
    startup fails; SIGINT/SIGTERM meanwhile stop it."""
    if server.interface != "asgi" or mode == "off":
        return None
    span = Lifespan(server.core.adapter.app, mode)
    main = threading.current_thread() is threading.main_thread()
    if main:
        loop.add_signal_handler(signal.SIGINT, loop.stop)
        loop.add_signal_handler(signal.SIGTERM, loop.stop)
    try:
        loop.run_until_complete(span.startup())
    except BaseException:
        loop.run_until_complete(span.close())
        raise
    finally:
        if main:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
    if span.supported:
        server.core.adapter.state = span.state
    return span


def end_lifespan(loop, server, span):
    """After serving: the lifespan shutdown (if it ran), and the WSGI
    thread pool let go."""
    try:
        if span is not None and not loop.is_closed():
            if span.supported:
                loop.run_until_complete(span.shutdown())
            loop.run_until_complete(span.close())
    finally:
        adapter = server.core.adapter
        if adapter is not None and hasattr(adapter, "shutdown"):
            adapter.shutdown()
