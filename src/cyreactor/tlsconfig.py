"""TLS for the command line: uvicorn's flags and the server-side
``ssl.SSLContext`` they build.

``--ssl-certfile``, ``--ssl-keyfile``, ``--ssl-keyfile-password``,
``--ssl-ca-certs``, ``--ssl-cert-reqs`` and ``--ssl-ciphers`` mean what
they mean for uvicorn (``uvicorn.config.create_ssl_context``), with two
differences: the cipher list defaults to Python's, not uvicorn's
``"TLSv1"``, and ALPN advertises ``http/1.1`` only (cyreactor does not speak
HTTP/2, so a client must never be told it may). The flags build a context;
the library takes one (``http.serve(app, ssl=ctx)``), so these flags are not
rows of the option table (``cyreactor.http_options``), which holds the
server's own limits.
"""
import ssl

__all__ = ["ALPN", "add_arguments", "from_arguments", "server_context"]

ALPN = ("http/1.1",)

_CERT_REQS = {"0": ssl.CERT_NONE, "1": ssl.CERT_OPTIONAL, "2": ssl.CERT_REQUIRED,
              "none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def server_context(certfile, keyfile=None, password=None, ca_certs=None, cert_reqs=ssl.CERT_NONE,
                   ciphers=None, alpn=ALPN, resumption=True):
    """A server-side SSLContext (``PROTOCOL_TLS_SERVER``: TLS 1.2 and 1.3)
    with the certificate chain in ``certfile`` (and its key in ``keyfile``,
    unless ``certfile`` has it, decrypted with ``password``); client
    certificates checked against ``ca_certs`` as ``cert_reqs`` says
    (``ssl.CERT_NONE``, ``CERT_OPTIONAL``, ``CERT_REQUIRED``); ``ciphers``
    an OpenSSL cipher list for TLS 1.2; ALPN ``alpn``. ``resumption=False``
    turns off session tickets (TLS 1.3 resumption), which a benchmark of
    full handshakes needs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile, (lambda: password) if password else None)
    ctx.verify_mode = ssl.VerifyMode(cert_reqs)
    if ca_certs:
        ctx.load_verify_locations(ca_certs)
    if ciphers:
        ctx.set_ciphers(ciphers)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if not resumption:
        # No TLS 1.2 tickets, and no TLS 1.3 tickets at all (with
        # OP_NO_TICKET alone OpenSSL would issue stateful ones). TLS 1.2
        # session IDs stay in OpenSSL's server cache: Python has no switch.
        ctx.options |= ssl.OP_NO_TICKET
        ctx.num_tickets = 0
    return ctx


def _cert_reqs(text):
    try:
        return _CERT_REQS[text.lower()]
    except KeyError:
        import argparse

        raise argparse.ArgumentTypeError("must be 0 (none), 1 (optional) or 2 (required)") from None


def add_arguments(parser):
    """Adds the TLS flags to an argparse parser as a group."""
    group = parser.add_argument_group("TLS (uvicorn's flags; HTTPS when --ssl-certfile is given)")
    group.add_argument("--ssl-certfile", metavar="PATH",
                       help="the server's certificate chain (PEM), with its key unless --ssl-keyfile")
    group.add_argument("--ssl-keyfile", metavar="PATH", help="the private key (PEM)")
    group.add_argument("--ssl-keyfile-password", metavar="PASSWORD", help="the key's password, if encrypted")
    group.add_argument("--ssl-ca-certs", metavar="PATH",
                       help="CA certificates (PEM) that client certificates are checked against")
    group.add_argument("--ssl-cert-reqs", type=_cert_reqs, default=ssl.CERT_NONE, metavar="N",
                       help="client certificates: 0 not asked for, 1 optional, 2 required (default: 0)")
    group.add_argument("--ssl-ciphers", metavar="LIST", help="OpenSSL cipher list for TLS 1.2 (default: Python's)")
    group.add_argument("--ssl-no-resumption", action="store_true",
                       help="issue no TLS session tickets: TLS 1.3 clients cannot resume, every "
                            "connection makes a full handshake (benchmarks of handshakes need it)")
    return group


def from_arguments(args):
    """The SSLContext the parsed flags ask for, or None without
    ``--ssl-certfile`` (ValueError if another TLS flag was given alone)."""
    if args.ssl_certfile is None:
        others = [name for name in ("ssl_keyfile", "ssl_keyfile_password", "ssl_ca_certs", "ssl_ciphers")
                  if getattr(args, name) is not None]
        if others or args.ssl_cert_reqs != ssl.CERT_NONE or args.ssl_no_resumption:
            raise ValueError("the TLS flags need --ssl-certfile")
        return None
    return server_context(args.ssl_certfile, args.ssl_keyfile, args.ssl_keyfile_password, args.ssl_ca_certs,
                          args.ssl_cert_reqs, args.ssl_ciphers, resumption=not args.ssl_no_resumption)
