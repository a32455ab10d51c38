"""Listening sockets made outside the server: inherited descriptors
(``--fd N``), systemd socket activation, and Unix sockets bound with a mode
(``--uds PATH --uds-mode 660``). Each is a ``socket.socket`` that
``Reactor.listen_socket()`` (and ``http.serve(sockets=...)``) serves; with
``--workers`` the supervisor holds them and every worker inherits them, so
all share one accept queue and a worker that dies loses no queued
connection (``bind_tcp()`` makes such a socket for the supervisor's own
port).

Socket activation (sd_listen_fds(3)): the service manager passes listening
sockets as descriptors 3, 4, ... and says so in ``LISTEN_PID`` (our pid:
the variables are not for a child) and ``LISTEN_FDS`` (how many);
``LISTEN_FDNAMES`` (colon-separated, ``FileDescriptorName=`` in the socket
unit) names them. The variables are removed once read, as
``sd_listen_fds(1)`` does, so that a process we start does not take the
sockets for its own.
"""
import os
import socket
import stat

__all__ = ["SD_LISTEN_FDS_START", "add_arguments", "bind_tcp", "bind_unix", "from_arguments", "inherited", "share",
           "systemd_sockets"]

SD_LISTEN_FDS_START = 3


def inherited(fd):
    """The listening stream socket at descriptor ``fd`` (close-on-exec and
    non-blocking from now on); ValueError if it is not one."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ValueError(f"descriptor {fd} is not a socket: {exc.strerror}") from None
    if sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise ValueError(f"descriptor {fd} is not a stream socket")
    sock.set_inheritable(False)
    sock.setblocking(False)
    return sock


def share(sock):
    """A new descriptor for ``sock``'s socket, as a socket object, leaving
    the socket's flags alone. (``socket.dup()`` re-applies the original
    object's timeout: for a blocking one, it clears O_NONBLOCK on the open
    file description every process shares, and a worker already serving
    then blocks in accept4().)"""
    return socket.socket(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))


def systemd_sockets(environ=None, *, unset=True):
    """The sockets systemd (or ``systemd-socket-activate``) passed:
    ``[(name, socket)]`` in descriptor order, empty when none were passed to
    this process. A socket without a name is named ``"unknown"`` (what
    sd_listen_fds_with_names(3) says)."""
    env = os.environ if environ is None else environ
    try:
        if int(env.get("LISTEN_PID", "")) != os.getpid():
            return []
        count = int(env.get("LISTEN_FDS", ""))
    except ValueError:
        return []
    names = env.get("LISTEN_FDNAMES", "").split(":") if env.get("LISTEN_FDNAMES") else []
    if unset:
        for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            env.pop(key, None)
    return [(names[i] if i < len(names) else "unknown", inherited(SD_LISTEN_FDS_START + i))
            for i in range(count)]


def bind_tcp(host, port, backlog=1024):
    """A listening, non-blocking TCP socket on ``host:port`` (the first
    address ``host`` resolves to; port 0 picks one), to hand to workers."""
    family, _, proto, _, address = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                                      0, socket.AI_PASSIVE)[0]

    def bind(sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)

    return _listening(socket.socket(family, socket.SOCK_STREAM, proto), bind, backlog)


def _listening(sock, bind, backlog):
    """``sock`` bound by ``bind(sock)``, listening, non-blocking; closed if
    any step fails."""
    try:
        bind(sock)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_unix(path, mode=None, backlog=1024):
    """A listening Unix stream socket at ``path``, with file mode ``mode``
    (an int, e.g. 0o660; None: the umask's). A stale socket file nobody
    listens on is replaced; a live server's is not (EADDRINUSE)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISSOCK(st.st_mode):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)
        except OSError:
            pass
        finally:
            probe.close()

    def bind(sock):
        sock.bind(path)
        if mode is not None:
            os.chmod(path, mode)

    return _listening(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), bind, backlog)


def _mode(text):
    try:
        return int(text, 8)
    except ValueError:
        raise ValueError(f"not an octal file mode: {text!r}") from None


def add_arguments(parser):
    """``--fd``, ``--uds`` and ``--uds-mode``; systemd's sockets need no flag."""
    parser.add_argument("--fd", type=int, action="append", default=[], metavar="N",
                        help="serve the listening socket inherited as descriptor N instead of "
                             "binding --host/--port (repeatable)")
    parser.add_argument("--uds", metavar="PATH",
                        help="listen on a Unix socket at PATH instead of --host/--port")
    parser.add_argument("--uds-mode", type=_mode, metavar="OCTAL",
                        help="the Unix socket file's mode, e.g. 660 (default: from the umask)")


def from_arguments(args):
    """The sockets to serve instead of ``--host``/``--port``: ``--fd``'s,
    ``--uds``'s, and systemd's (all of them, when it passed any); an empty
    list when none."""
    sockets = [sock for _, sock in systemd_sockets()]
    sockets += [inherited(fd) for fd in args.fd]
    if args.uds:
        sockets.append(bind_unix(args.uds, args.uds_mode, args.backlog))
    return sockets
