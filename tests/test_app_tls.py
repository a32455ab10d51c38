"""Apps over HTTPS as users run them: ``python -m cyreactor MODULE:ATTR``
with uvicorn's ``--ssl-*`` flags and ``gunicorn -k cyreactor.gunicorn.Worker``
with gunicorn's ``--certfile``/``--keyfile``: the app sees ``https`` (the
ASGI scope's ``scheme``, WSGI's ``wsgi.url_scheme``), ALPN offers
``http/1.1`` only, and plain HTTP sent to the port is answered 400."""
import socket
import ssl

import pytest
import requests
from support.appserver import AppServer
from support.tls import Certs, write_pems

pytest.importorskip("trustme")


@pytest.fixture(scope="module")
def certs():
    return Certs()


@pytest.fixture(scope="module")
def pems(certs, tmp_path_factory):
    return write_pems(certs, tmp_path_factory.mktemp("pems"))


def served(spec, pems, kind):
    if kind == "gunicorn":
        return AppServer(spec, "--certfile", pems["server"], kind="gunicorn")
    return AppServer(spec, "--ssl-certfile", pems["server"])


@pytest.mark.parametrize("kind", ["cli", "gunicorn"])
def test_an_asgi_app_sees_https(pems, kind):
    s = served("raw_asgi:app", pems, kind)
    try:
        assert s.url.startswith("https://")
        scope = requests.get(s.url + "/scope", timeout=10, verify=pems["ca"]).json()
        assert scope["scheme"] == "https"
        assert scope["server"][1] == s.port
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("kind", ["cli", "gunicorn"])
def test_a_wsgi_app_sees_https(pems, kind):
    s = served("raw_wsgi:app", pems, kind)
    try:
        env = requests.post(s.url + "/environ", data=b"x" * 100_000, timeout=10, verify=pems["ca"]).json()
        assert env["wsgi.url_scheme"] == "https"
        assert env["CONTENT_LENGTH"] == "100000"
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("kind", ["cli", "gunicorn"])
def test_alpn_offers_http11_only_even_to_a_client_asking_for_h2(certs, pems, kind):
    s = served("raw_asgi:app", pems, kind)
    try:
        ctx = certs.client_context(alpn=["h2", "http/1.1"])
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.selected_alpn_protocol() == "http/1.1"
                tls.sendall(b"GET /scope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                reply = b""
                while chunk := tls.recv(65536):
                    reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 ")
    finally:
        assert s.stop() == 0


def test_plain_http_to_the_https_port_gets_400(pems):
    s = served("raw_asgi:app", pems, "cli")
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            reply = b""
            while chunk := raw.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 400 ")
        # The server goes on serving HTTPS.
        assert requests.get(s.url + "/scope", timeout=10, verify=pems["ca"]).status_code == 200
    finally:
        assert s.stop() == 0


def test_a_client_that_does_not_trust_the_certificate_costs_only_its_connection(pems):
    s = served("raw_asgi:app", pems, "cli")
    try:
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(s.url + "/scope", timeout=10)      # the system's CAs: not trustme's
        with pytest.raises(ssl.SSLError):
            with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
                ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
        assert requests.get(s.url + "/scope", timeout=10, verify=pems["ca"]).json()["scheme"] == "https"
    finally:
        assert s.stop() == 0
