"""The one table of HTTP limits and timeouts (cyreactor.http_options): every
place that names or documents an option agrees with it. Each test fails
when someone edits a default, a flag or a table by hand somewhere else;
the failure shows the text to paste (``python -m cyreactor.http_options``
prints both tables)."""
import ast
import pathlib

import pytest

import cyreactor
from cyreactor import http, http_options
from cyreactor.__main__ import build_parser
from cyreactor._http import ServerCore
from cyreactor._httpparser import DEFAULT_LIMITS, RequestParser

SRC = pathlib.Path(cyreactor.__file__).parent
# The repository's docs, wherever the package was installed from.
DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "HTTP.md"
NAMES = [o.name for o in http_options.OPTIONS]


def test_docs_table_is_the_table():
    assert http_options.markdown_table() in DOCS.read_text(), (
        "docs/HTTP.md's options table differs from cyreactor.http_options; it should read:\n"
        + http_options.markdown_table())


def test_http_docstring_table_is_the_table():
    assert http_options.rst_table() in http.__doc__, (
        "cyreactor/http.py's docstring table differs from cyreactor.http_options; it should read:\n"
        + http_options.rst_table())


def _keywords(stub, qualname):
    tree = ast.parse((SRC / stub).read_text())
    node = tree
    for part in qualname.split("."):
        node = next(n for n in ast.iter_child_nodes(node)
                    if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == part)
    return [(a.arg, ast.unparse(a.annotation)) for a in node.args.kwonlyargs]


@pytest.mark.parametrize("qualname", ["HttpServer.__init__", "serve"])
def test_http_stub_takes_every_option_with_its_type(qualname):
    expected = [(o.name, o.type.__name__) for o in http_options.OPTIONS]
    assert [k for k in _keywords("http.pyi", qualname) if k[0] in NAMES] == expected


@pytest.mark.parametrize("qualname", ["RequestParser.__init__", "parse_requests"])
def test_parser_stub_takes_the_parser_limits(qualname):
    assert _keywords("_httpparser.pyi", qualname) == [(o.name, "int") for o in http_options.OPTIONS if o.parser]


def test_defaults_everywhere_come_from_the_table():
    table = {o.name: o.default for o in http_options.OPTIONS}
    assert http.DEFAULTS == table
    assert DEFAULT_LIMITS == {o.name: o.default for o in http_options.OPTIONS if o.parser}
    app = lambda request: None  # noqa: E731
    # HttpConfig(app) and HttpServer(app) used to disagree on max_body_size.
    assert ServerCore(app).options == http.HttpServer(app).core.options == table
    demo = dict(table, max_body_size=http_options.GiB)
    assert ServerCore().options == http.HttpServer().core.options == demo
    assert RequestParser().feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")


def test_cli_flags_are_the_table_with_the_demo_defaults():
    parser = build_parser()
    args = parser.parse_args([])
    assert http_options.from_arguments(args, demo=True) == http_options.defaults(demo=True)
    assert http_options.from_arguments(args) == http_options.defaults()
    flags = {a.dest: a.option_strings for a in parser._actions}
    # A switch that is on by default also has its --no- form; uvicorn's
    # names are aliases.
    assert all(flags[o.name][:1 + len(o.aliases)] == [o.cli_flag, *o.aliases] for o in http_options.OPTIONS)
    assert flags["keepalive_timeout"] == ["--keepalive-timeout", "--timeout-keep-alive"]
    assert flags["max_connections"] == ["--max-connections", "--limit-concurrency"]
    assert flags["proxy_headers"] == ["--proxy-headers", "--no-proxy-headers"]
    assert parser.parse_args(["--no-proxy-headers"]).proxy_headers is False
    args = parser.parse_args(["--max-body-size", "5", "--send-timeout", "0.5", "--access-log",
                              "--min-body-rate", "0"])
    given = http_options.from_arguments(args)
    assert (given["max_body_size"], given["send_timeout"], given["access_log"], given["min_body_rate"]) == \
        (5, 0.5, True, 0)


@pytest.mark.parametrize("option", http_options.OPTIONS, ids=NAMES)
def test_every_option_is_checked(option):
    if option.type is str:
        bad = [None, 1, b"/x"] + (["nope"] if option.choices else ["no slash" if option.unit == "path"
                                                                     else "300.1.1.1"])
    else:
        bad = ["x", None] + ([1] if option.type is bool else [option.minimum - 1])
    if option.type is float:
        bad += [float("nan"), float("inf")] + ([0.0] if option.minimum else [])
    for value in bad:
        with pytest.raises((TypeError, ValueError), match=option.name):
            http.HttpServer(None, **{option.name: value})
    assert http.HttpServer(None, **{option.name: option.default}).core.options[option.name] == option.default


def test_an_unknown_option_is_refused_by_name():
    with pytest.raises(TypeError, match="no_such_option"):
        http.HttpServer(None, no_such_option=1)
    with pytest.raises(TypeError, match="header_timeout"):
        RequestParser(header_timeout=1.0)         # not a parser limit
