"""The HTTP server's limits and timeouts: one table, the only place a
default is written.

Everything else is made from ``OPTIONS`` or checked against it by
tests/test_http_options.py: the parser's defaults (``DEFAULT_LIMITS``), the
server's (``cyreactor.http.DEFAULTS``, ``ServerCore``), the command-line
flags of ``python -m cyreactor`` (``add_arguments``), the keyword arguments
in ``http.pyi``, the table in ``cyreactor.http``'s docstring and the one in
docs/HTTP.md. Adding an option is one ``Option(...)`` here, the code that
obeys it, and the two tables, which ``python -m cyreactor.http_options``
prints (``--rst`` for the docstring).
"""
import argparse
import textwrap
from dataclasses import dataclass

__all__ = ["OPTIONS", "Option", "add_arguments", "defaults", "from_arguments", "resolve"]

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class Option:
    """One limit or timeout of the HTTP server."""

    name: str              # the keyword of serve() / HttpServer()
    default: object
    meaning: str           # what it bounds, one line
    breach: str            # what the server does when it is passed
    unit: str = ""         # "bytes", "s", "bytes/s" or "" (a count or a switch)
    demo_default: object = None   # the demo server's default, where it differs
    minimum: int = 1       # the smallest value accepted (timeouts: any value > 0, or >= 0 if 0)
    parser: bool = False   # a limit the request parser enforces itself
    flag: str = ""         # the command-line flag; by default from the name
    aliases: tuple = ()    # other spellings of the flag (uvicorn's names)
    choices: tuple = ()    # the values a str option takes (empty: any, see unit)

    @property
    def type(self):
        return type(self.default)

    @property
    def cli_flag(self):
        return self.flag or "--" + self.name.replace("_", "-")

    def check(self, value):
        """``value`` as this option takes it, or TypeError/ValueError."""
        if self.type is bool:
            if not isinstance(value, bool):
                raise TypeError(f"{self.name} must be a bool, not {type(value).__name__}")
            return value
        if self.type is str:
            return self._check_text(value)
        number = (int, float) if self.type is float else int
        if isinstance(value, bool) or not isinstance(value, number):
            raise TypeError(f"{self.name} must be {'a number' if self.type is float else 'an int'}, "
                            f"not {type(value).__name__}")
        value = self.type(value)
        if self.type is float:
            # Timeouts: positive and finite (NaN fails both tests); a delay
            # (minimum 0) may be 0.
            if not (0 <= value if self.minimum == 0 else 0 < value) or not value < float("inf"):
                raise ValueError(f"{self.name} must be {'>=' if self.minimum == 0 else '>'} 0 and finite")
        elif value < self.minimum:
            raise ValueError(f"{self.name} must be >= {self.minimum}")
        return value

    def _check_text(self, value):
        if not isinstance(value, str):
            raise TypeError(f"{self.name} must be a str, not {type(value).__name__}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}")
        if self.unit == "path" and value and (not value.startswith("/") or not value.isascii()
                                              or any(c in value for c in " ?#") or not value.isprintable()):
            raise ValueError(f"{self.name} must be an ASCII path starting with '/' (or '' for none)")
        if self.unit == "addresses":
            from cyreactor.forwarded import TrustedProxies
            try:
                TrustedProxies(value)
            except ValueError as exc:
                raise ValueError(f"{self.name}: {exc}") from None
        return value

    def describe(self, demo=False):
        """The default as people write it: ``64 MiB``, ``10 s``, ``off``."""
        value = self.demo_default if demo and self.demo_default is not None else self.default
        if self.type is bool:
            return "on" if value else "off"
        if self.type is str:
            return f"`{value}`" if value else "none"
        if self.unit == "bytes" and value >= MiB and value % MiB == 0:
            return f"{value // GiB} GiB" if value % GiB == 0 else f"{value // MiB} MiB"
        return f"{value:g} {self.unit}".rstrip()


OPTIONS = (
    Option("max_request_line", 8192, "bytes in the request line", "414, as soon as the line is longer, "
           "complete or not", "bytes", parser=True),
    Option("max_head_size", 65536, "request line and header fields (the trailer section too)",
           "431", "bytes", parser=True),
    Option("max_headers", 100, "header fields", "431", parser=True),
    Option("max_body_size", 64 * MiB, "decoded request body; the demo server discards bodies as "
           "they arrive", "413, from Content-Length at once or when the chunks pass it", "bytes",
           demo_default=GiB, parser=True),
    Option("header_timeout", 10.0, "a head, blank lines before it included, must arrive whole within "
           "this of its first byte; more bytes do not extend it", "408, close", "s"),
    Option("body_timeout", 30.0, "longest silence inside a body", "408, close", "s"),
    Option("min_body_rate", 500, "after the first body_timeout of a body, the least average rate "
           "it must keep up (0: no minimum)", "408, close", "bytes/s", minimum=0),
    Option("keepalive_timeout", 15.0, "idle time between requests", "close", "s",
           aliases=("--timeout-keep-alive",)),
    Option("send_timeout", 60.0, "longest time a client may leave our responses unread (no progress "
           "draining the write buffer), also while the connection is closing", "abort", "s"),
    Option("linger_timeout", 2.0, "after the last response, half-closed: how long input is read and "
           "dropped so that a reset does not destroy the response", "close", "s"),
    Option("max_connections", 50000, "open connections", "503 and a close for a new one; the others go on",
           aliases=("--limit-concurrency",)),
    Option("shutdown_timeout", 10.0, "on shutdown (SIGINT/SIGTERM for serve()), longest wait for "
           "responses in flight", "close the rest", "s"),
    Option("drain_delay", 0.0, "on shutdown, how long to keep serving as usual while the health "
           "path answers 503, before stopping (load balancers take time to notice)", "then the "
           "shutdown above", "s", minimum=0),
    Option("health_path", "", "a path the server answers itself, for probes: 200, 503 once "
           "draining", "", "path"),
    Option("metrics_path", "", "a path the server answers itself with its counters, in the "
           "Prometheus text format (all workers')", "", "path"),
    Option("proxy_headers", True, "honour X-Forwarded-For/-Proto and Forwarded from "
           "forwarded_allow_ips: the request's client and scheme, and the access log's", ""),
    Option("forwarded_allow_ips", "127.0.0.1", "the proxies trusted: addresses, networks, "
           "'unix:' or '*', comma-separated", "their headers are ignored", "addresses"),
    Option("access_log", False, "one INFO line per request on the cyreactor.http.access logger",
           ""),
    Option("access_log_format", "combined", "the access log's format: Apache's combined or "
           "common, or one JSON object per line", "", choices=("combined", "common", "json")),
    Option("proxy_protocol", False, "every connection must start with a PROXY protocol v1 or v2 "
           "header (HAProxy's; v2 LOCAL keeps the real peer); the client it names is the request's",
           "a connection without a valid header is closed"),
    Option("handshake_timeout", 10.0, "from the accept, the PROXY protocol header and the TLS "
           "handshake must be complete within this", "close, logged at debug level", "s"),
)

_BY_NAME = {o.name: o for o in OPTIONS}


def defaults(demo=False):
    """Every option's default, as a new dict; ``demo``: the demo server's."""
    return {o.name: o.demo_default if demo and o.demo_default is not None else o.default
            for o in OPTIONS}


def resolve(options, demo=False):
    """``defaults(demo)`` updated with ``options``, each checked; TypeError
    names an unknown option."""
    unknown = set(options) - set(_BY_NAME)
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    settings = defaults(demo)
    for name, value in options.items():
        settings[name] = _BY_NAME[name].check(value)
    return settings


def add_arguments(parser, demo=False):
    """Adds every option to an argparse parser (or group) as ``--flag``
    (and its aliases; a switch also as ``--no-flag``), with its meaning,
    what happens past it, and its default. An option whose demo default
    differs is left None, for ``from_arguments`` to fill in."""
    for o in OPTIONS:
        value = None if o.demo_default is not None else o.default
        shown = o.describe() + (f"; {o.describe(demo=True)} for the demo" if o.demo_default is not None else "")
        if o.type is bool:
            # A switch that is on by default can be turned off: --no-FLAG.
            parser.add_argument(o.cli_flag, *o.aliases, dest=o.name, default=value,
                                action=argparse.BooleanOptionalAction if value else "store_true",
                                help=f"{o.meaning} (default: {shown})")
            continue
        if o.type is str:
            parser.add_argument(o.cli_flag, *o.aliases, dest=o.name, type=_argument_type(o), default=value,
                                metavar=_METAVARS[o.unit] if not o.choices else None,
                                choices=o.choices or None,
                                help=f"{o.meaning} (default: {shown})")
            continue
        parser.add_argument(o.cli_flag, *o.aliases, dest=o.name, type=_argument_type(o), default=value,
                            metavar=_METAVARS[o.unit],
                            help=f"{o.meaning}; past it: {o.breach} (default: {shown})")


_METAVARS = {"bytes": "BYTES", "s": "SECONDS", "bytes/s": "BYTES_PER_S", "": "N", "path": "PATH",
             "addresses": "LIST"}


def _argument_type(option):
    def parse(text):
        try:
            return option.check(option.type(text))
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = option.type.__name__
    return parse


def from_arguments(args, demo=False):
    """The options parsed by a parser ``add_arguments`` filled, as keywords;
    the ones not given take their default (``demo``: the demo server's)."""
    given = {o.name: getattr(args, o.name) for o in OPTIONS}
    return {name: defaults(demo)[name] if value is None else value for name, value in given.items()}


# ---- the tables in the documentation ------------------------------------------

def markdown_table():
    """The table in docs/HTTP.md."""
    lines = ["| option | flag | default | bounds | past it |", "|---|---|---|---|---|"]
    for o in OPTIONS:
        default = o.describe()
        if o.demo_default is not None:
            default += f" ({o.describe(demo=True)} for the demo)"
        flags = ", ".join(f"`{flag}`" for flag in (o.cli_flag, *o.aliases))
        lines.append(f"| `{o.name}` | {flags} | {default} | {o.meaning} | {o.breach or '–'} |")
    return "\n".join(lines) + "\n"


def rst_table():
    """The table in cyreactor.http's docstring."""
    rows = []
    for o in OPTIONS:
        default = o.describe() + (f" ({o.describe(demo=True)} demo)" if o.demo_default is not None else "")
        rows.append((o.name, default, o.meaning + (f" ({o.breach})" if o.breach else "")))
    w0 = max(len(name) for name, _, _ in rows)
    w1 = max(len(default) for _, default, _ in rows)
    rule = f"{'=' * w0}  {'=' * w1}  {'=' * 48}"
    out = [rule]
    for name, default, text in rows:
        first, *rest = textwrap.wrap(text, 48)
        out.append(f"{name:<{w0}}  {default:<{w1}}  {first}")
        out.extend(" " * (w0 + w1 + 4) + line for line in rest)
    out.append(rule)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(rst_table() if "--rst" in sys.argv[1:] else markdown_table())
