# ---------------------------------------------------------------- WSGI (PEP 3333)
#
# By default the app runs on the loop thread, as bjoern runs it: the body is
# gathered (within max_body_size) and the app called when the request is
# complete; its iterable is pulled while the client keeps reading and
# resumed when it drains, so a large download is never held whole. With
# ``threads`` the app runs in a thread pool and the loop goes on with the
# I/O: ``wsgi.input`` blocks the app's thread until the loop has the bytes
# (at most BODY_HIGH_WATER held for it before input stops), and what the
# app sends goes to the loop thread, the app's thread waiting while the
# client is behind.

cdef object _BytesIO = io.BytesIO

# RFC 9110 7.6.1; PEP 3333: "it is a fatal error for an application to use
# hop-by-hop headers".
cdef frozenset _HOP_BY_HOP = frozenset((
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade"))

# "200 OK" -> (200, None): the common status strings, with None for a
# standard reason phrase (the head builder's prebuilt status line).
cdef dict _WSGI_STATUS = {}
for _st in _stdlib_http.HTTPStatus:
    if 200 <= _st.value < 600:
        _WSGI_STATUS[f"{_st.value} {_st.phrase}"] = (_st.value, None)


cdef tuple _wsgi_status(object status):
    cdef str s
    found = _WSGI_STATUS.get(status) if type(status) is str else None
    if found is not None:
        return <tuple>found
    if not isinstance(status, str):
        raise TypeError(f"the status must be a str such as '200 OK', not {type(status).__name__}")
    s = <str>status
    if len(s) < 4 or s[3] != " " or not s[:3].isdigit():
        raise ValueError(f"invalid status {s!r}: a 3-digit code, a space and a reason phrase")
    return (int(s[:3]), s[4:])


cdef bint _check_wsgi_headers(object headers) except -1:
    # Type and hop-by-hop checks; returns whether a content-length is given.
    cdef Py_ssize_t n
    cdef bint length = False
    if type(headers) is not list:
        raise TypeError(f"response headers must be a list of (name, value) tuples, "
                        f"not {type(headers).__name__}")
    for item in <list>headers:
        name, value = item
        if type(name) is not str or type(value) is not str:
            raise TypeError(f"header names and values must be str, not {item!r}")
        n = len(<str>name)
        if n == 14:
            length = length or (<str>name).lower() == "content-length"
        elif n in (2, 7, 8, 10, 17, 18, 19) and (<str>name).lower() in _HOP_BY_HOP:
            raise ValueError(f"hop-by-hop header {name!r} in a WSGI response (PEP 3333)")
    return length


cdef inline object _wsgi_bytes(object data, str what):
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        raise TypeError(f"{what} gave str {data[:20]!r}: a WSGI body is bytes "
                        f"(encode it, e.g. with .encode('utf-8'))")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} gave {type(data).__name__}: a WSGI body is bytes")


cdef class FileWrapper:
    """``wsgi.file_wrapper``: ``FileWrapper(filelike, blksize=8192)``.
    Returned by an app, a regular file with a ``fileno()`` is sent with
    sendfile(2) from its current position (up to the app's content-length);
    anything else is iterated in ``blksize`` reads. ``close()`` closes the
    file-like object, once it has been sent."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def close(self):
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


cdef class WsgiAdapter(AppAdapter):
    """Serves a WSGI app: ``WsgiAdapter(app, *, root_path="", threads=0,
    multiprocess=False)`` passed as ``ServerCore(adapter=...)``. With
    ``threads`` > 0 the app runs in a pool of that many threads."""

    def __init__(self, app, *, root_path="", threads=0, multiprocess=False):
        AppAdapter.__init__(self, app, root_path=root_path)
        if threads < 0:
            raise ValueError("threads must be >= 0")
        self.threads = threads
        if threads:
            import concurrent.futures
            import threading
            self._executor = concurrent.futures.ThreadPoolExecutor(
                threads, thread_name_prefix="cyreactor-wsgi")
            self._condition = threading.Condition
        self._base = {
            "wsgi.version": (1, 0),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": threads > 0,
            "wsgi.multiprocess": bool(multiprocess),
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            # The input always ends at the body's end, chunked or not.
            "wsgi.input_terminated": True,
            "SCRIPT_NAME": self.root_path,
            "SERVER_SOFTWARE": "cyreactor",
        }

    def shutdown(self):
        """Lets the thread pool's threads end once their requests are done."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    cdef HttpProtocol _new_protocol(self):
        return WsgiProtocol.__new__(WsgiProtocol)


cdef str _environ_key(const char *name, Py_ssize_t n):
    # A field name as a CGI variable: HTTP_ + upper case, "-" as "_".
    cdef bytes key = PyBytes_FromStringAndSize(NULL, n + 5)
    cdef char *k = PyBytes_AS_STRING(key)
    cdef Py_ssize_t i
    cdef char c
    memcpy(k, b"HTTP_", 5)
    for i in range(n):
        c = name[i]
        if c'a' <= c <= c'z':
            c = c - 32
        elif c == c'-':
            c = c'_'
        k[i + 5] = c
    return key.decode("latin-1")


cdef dict _wsgi_environ(WsgiProtocol proto, WsgiAdapter adapter):
    cdef HttpParser *p = &proto._ex.p
    cdef const char *base = p.head
    cdef HeaderSlot *s
    cdef Py_ssize_t i, query_at
    cdef Py_ssize_t path_at = _path_bounds(p, &query_at)
    cdef Py_ssize_t target_end = p.target_off + p.target_len
    cdef str root = adapter.root_path
    cdef dict environ = adapter._base.copy()
    if proto._server_name is None:
        server = _server_address(proto) or ("", None)
        proto._server_name = str(server[0])
        proto._server_port = "" if server[1] is None else str(server[1])
    client, scheme = _client_scheme_at_head(proto, None)
    if p.method != M_OTHER:
        environ["REQUEST_METHOD"] = _METHODS[p.method]
    else:
        environ["REQUEST_METHOD"] = PyBytes_FromStringAndSize(base, p.method_len).decode("ascii")
    # PEP 3333: bytes as latin-1 "native strings"; the path percent-decoded.
    path = _percent_decode(base + path_at, query_at - path_at).decode("latin-1")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root):]
    environ["PATH_INFO"] = path
    if query_at < target_end:
        environ["QUERY_STRING"] = PyBytes_FromStringAndSize(
            base + query_at + 1, target_end - query_at - 1).decode("latin-1")
    else:
        environ["QUERY_STRING"] = ""
    environ["RAW_URI"] = PyBytes_FromStringAndSize(base + p.target_off, p.target_len).decode("latin-1")
    environ["SERVER_PROTOCOL"] = "HTTP/1.0" if p.version_minor == 0 else "HTTP/1.1"
    environ["SERVER_NAME"] = proto._server_name
    environ["SERVER_PORT"] = proto._server_port
    if client is not None:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = "" if client[1] is None else str(client[1])
    environ["wsgi.url_scheme"] = scheme
    for i in range(p.nheaders):
        s = &p.slots[i]
        if memchr(base + s.name_off, c'_', s.name_len) != NULL:
            # "X_Forwarded_For" would land on the same variable as
            # "X-Forwarded-For": dropped, as nginx and gunicorn drop it.
            continue
        key = _environ_key(base + s.name_off, s.name_len)
        value = PyBytes_FromStringAndSize(base + s.value_off, s.value_len).decode("latin-1")
        if key == "HTTP_CONTENT_TYPE":
            key = "CONTENT_TYPE"
        elif key == "HTTP_CONTENT_LENGTH":
            key = "CONTENT_LENGTH"
        old = environ.get(key)
        if old is not None:
            # RFC 9110 5.3: repeated fields are one comma-separated list;
            # cookies are joined with "; " (RFC 6265 5.4).
            value = old + ("; " if key == "HTTP_COOKIE" else ",") + value
        environ[key] = value
    return environ


cdef class WsgiProtocol(HttpProtocol):
    """An HTTP connection serving a WSGI app (made by a ServerCore)."""

    cdef int _on_head(self) except -1:
        cdef WsgiAdapter adapter = <WsgiAdapter>self._core.adapter
        cdef WsgiJob job = WsgiJob.__new__(WsgiJob)
        cdef bint threaded = adapter._executor is not None
        job._proto = self
        job._adapter = adapter
        job._loop = self._conn._reactor
        # On the loop thread the body is read before the app runs, so an
        # Expect: 100-continue is answered now; in a thread, when the app
        # first reads wsgi.input.
        job._out = _make_responder(self, self._ex.p.expect_continue and threaded)
        job.environ = _wsgi_environ(self, adapter)
        self._job = job
        self._body = None
        if threaded:
            job._cond = adapter._condition()
            job._input = _ThreadInput.__new__(_ThreadInput)
            job._input._job = job
            job._input._buf = bytearray()
            job.environ["wsgi.input"] = job._input
            adapter._executor.submit(job._run_in_thread)
        else:
            if self._ex.p.expect_continue:
                self._conn.write_buffer(CONTINUE_100, 25)
            self._body_len = 0
            if _wants_direct_body(&self._ex.p):
                try:
                    self._body = _direct_body(self)
                except MemoryError:
                    self._job = None
                    return self._send_error(503, "out of memory for the request body")
        return 0

    cpdef get_buffer(self, Py_ssize_t sizehint):
        return _body_window(self, self._body, self._body_len)

    cpdef buffer_updated(self, Py_ssize_t nbytes):
        _body_arrived(self, self._body, self._body_len, nbytes)

    cdef int _on_body(self, const char *data, Py_ssize_t length) except -1:
        cdef WsgiJob job = self._job
        if job is None:
            return 0
        if job._input is None:
            try:
                self._body = _gather_body(&self._ex.p, self._body, &self._body_len, data, length)
            except MemoryError:
                self._job = None
                return self._send_error(503, "out of memory for the request body")
        elif job._input._feed(data, length) >= BODY_HIGH_WATER:
            self._blocked |= B_APP
        return 0

    cdef int _on_complete(self) except -1:
        cdef WsgiJob job = self._job
        self._core.requests += 1
        job._request_done = True
        if job._input is not None:
            job._input._feed(NULL, -1)
        else:
            job.environ["wsgi.input"] = _BytesIO(_gathered_body(self._body))
            self._body = None
            job._run()
        if self._job is job and not self._done:
            if job._out.finished:
                self._job = None
            else:
                # Later pipelined requests wait for this response.
                self._blocked |= B_RESPONSE
        return 0

    cdef int _on_drain(self) except -1:
        if self._job is not None:
            self._job._drained()
        return 0

    cdef int _on_lost(self, object exc) except -1:
        cdef WsgiJob job = self._job
        self._job = None
        self._body = None
        if job is not None:
            job._disconnect()
        return 0

    cdef int _job_done(self, WsgiJob job) except -1:
        if job is not self._job or self._conn is None:
            return 0
        if self._done:
            self._job = None
            return 0
        if job._input is not None:
            job._input._discard()
            self._blocked &= ~B_APP
        if not job._out._keep_alive or self._core.shutting_down:
            self._job = None
            return self._finish_connection(False)
        if job._request_done:
            self._job = None
            if self._blocked & B_RESPONSE:
                self._blocked &= ~B_RESPONSE
                if not self._blocked and not self._done:
                    self._resume_input()
        elif not self._blocked and not self._done:
            self._resume_input()
        return 0

    cdef int _input_taken(self, WsgiJob job) except -1:
        if job is self._job and self._blocked & B_APP:
            self._blocked &= ~B_APP
            if not self._blocked and not self._done:
                self._resume_input()
        return 0


@cython.freelist(64)
cdef class WsgiJob:
    """One request of a WSGI app: its ``environ``, ``start_response`` and
    the ``write`` callable, and the response's progress."""

    def __init__(self):
        raise TypeError("WsgiJob objects are made by the server")

    def start_response(self, status, headers, exc_info=None):
        self._check_live()
        cdef Responder out = self._out
        if exc_info is not None:
            try:
                if out.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif out.started:
            raise RuntimeError("start_response() called again without exc_info")
        code, reason = _wsgi_status(status)
        length = _check_wsgi_headers(headers)
        out._begin(code, headers, reason)
        out._user_length = length
        return self.write

    def write(self, data):
        self._check_live()
        if not self._out.started:
            raise RuntimeError("write() called before start_response()")
        data = _wsgi_bytes(data, "write()")
        if self._input is None:
            self._out._send(data, False)
        else:
            self._post(data, False)

    cdef int _check_live(self) except -1:
        if self._proto is None:
            raise RuntimeError("not a request of a running server")
        return 0

    # ---- on the loop thread -----------------------------------------------

    cdef int _run(self) except -1:
        try:
            result = self._adapter.app(self.environ, self.start_response)
        except Exception as exc:
            return self._failed(exc, "the WSGI app")
        self._result = result
        try:
            if type(result) is list or type(result) is tuple:
                self._out._send(self._whole(result), True)
                return self._complete()
            if type(result) is FileWrapper and self._sendfile(<FileWrapper>result):
                return 0
            if self._out._head_request and self._out.started:
                # HEAD: the head is known and no body goes out, so the
                # iterable is not run, only closed.
                self._out._finish()
                return self._complete()
            self._iter = iter(result)
        except Exception as exc:
            return self._failed(exc, "the WSGI app's response")
        return self._pump()

    cdef object _whole(self, object sequence):
        # A list or tuple is all there: one piece, sent with its length.
        cdef Py_ssize_t n = len(sequence)
        if not self._out.started:
            raise RuntimeError("the WSGI app returned without calling start_response()")
        if n == 1:
            return _wsgi_bytes(sequence[0], "the WSGI app's iterable")
        return b"".join([_wsgi_bytes(x, "the WSGI app's iterable") for x in sequence])

    cdef int _pump(self) except -1:
        cdef WsgiProtocol proto = self._proto
        cdef Responder out = self._out
        while not self._disconnected:
            if out._conn is None or out._conn.closing():
                break                # the connection failed under the writes
            if proto._write_paused:
                return 0             # resumed by _drained()
            try:
                chunk = next(self._iter)
            except StopIteration:
                break
            except Exception as exc:
                return self._failed(exc, "the WSGI app's iterable")
            try:
                chunk = _wsgi_bytes(chunk, "the WSGI app's iterable")
                if not out.started:
                    raise RuntimeError("the WSGI app's iterable gave data before start_response()")
                out._send(chunk, False)
            except Exception as exc:
                return self._failed(exc, "the WSGI app's iterable")
        if not self._disconnected and out._conn is not None and not out._conn.closing():
            if not out.started:
                return self._failed(RuntimeError("the WSGI app returned without calling "
                                                 "start_response()"), "the WSGI app")
            out._finish()
        return self._complete()

    cdef bint _sendfile(self, FileWrapper wrapper) except -1:
        # wsgi.file_wrapper on a regular file: sendfile(2) from the file's
        # position, in order with the head; closed once sent.
        cdef Responder out = self._out
        cdef Connection conn = self._proto._conn
        cdef long long count
        try:
            fd = wrapper.filelike.fileno()
            st = os.fstat(fd)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        if not out.started:
            raise RuntimeError("the WSGI app returned without calling start_response()")
        offset = wrapper.filelike.tell() if hasattr(wrapper.filelike, "tell") else 0
        count = max(st.st_size - offset, 0)
        out._send_head(b"", False)
        if not out._no_body and count and conn is not None and not conn.closing():
            if out._remaining >= 0:
                count = min(count, out._remaining)
                out._remaining -= count
            out.sent += count
            if out._chunked:
                out._chunk_line(count)
            conn.sendfile(fd, offset, count, self._file_sent)
            if out._chunked:
                conn.write_buffer(b"\r\n", 2)
            self._file_pending = True
        out._finish()
        if not self._file_pending:
            self._complete()
        else:
            self._proto._job_done(self)
        return True

    def _file_sent(self, sent, exc):
        self._check_live()
        self._file_pending = False
        self._complete()

    cdef int _complete(self) except -1:
        # The response is done (or abandoned): close() the app's iterable,
        # always (PEP 3333), then the connection goes on.
        cdef WsgiProtocol proto = self._proto
        result = self._result
        self._result = None
        self._iter = None
        if type(result) is list or type(result) is tuple:
            pass                     # nothing to close
        elif result is not None and not self._file_pending:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    self._report(exc, "the WSGI iterable's close()")
        elif result is not None:
            self._result = result    # closed once the file is sent
        return proto._job_done(self)

    cdef int _report(self, BaseException exc, str where) except -1:
        return _report_app_error(self._loop, self._proto, exc, where,
                                 self.environ["REQUEST_METHOD"], self.environ["PATH_INFO"])

    cdef int _failed(self, BaseException exc, str where) except -1:
        cdef WsgiProtocol proto = self._proto
        cdef Responder out = self._out
        cdef Connection conn = proto._conn
        if not (self._disconnected and isinstance(exc, ClientDisconnected)):
            self._report(exc, where)
        if self._disconnected or conn is None or proto._done or out.finished:
            pass
        elif out.head_sent:
            # Part of the response is out: it cannot become a 500 now.
            out.finished = True
            out._keep_alive = False
            proto._done = True
            conn.abort()
        else:
            out._headers = None
            out._begin(500, _ERROR_HEADERS, None)
            out._send(_ERROR_BODY, True)
        return self._complete()

    cdef int _drained(self) except -1:
        if self._input is None:
            if self._iter is not None:
                return self._pump()
            return 0
        with self._cond:
            self._paused = False
            self._cond.notify_all()
        return 0

    cdef int _disconnect(self) except -1:
        self._disconnected = True
        self._out._conn = None
        if self._input is not None:
            self._input._feed(NULL, -2)
            with self._cond:
                self._cond.notify_all()
        elif self._iter is not None:
            self._complete()
        return 0

    def _deliver(self, data, bint final):
        self._check_live()
        # From the app's thread: a piece of the body, on the loop thread.
        with self._cond:
            self._in_flight -= len(data)
            self._cond.notify_all()
        if self._disconnected:
            return
        try:
            self._out._send(data, final)
        except Exception as exc:
            self._failed(exc, "the WSGI app's response")
            return
        if final:
            self._complete()
        elif self._proto._write_paused:
            with self._cond:
                self._paused = True

    def _thread_failed(self, exc, where):
        self._check_live()
        self._failed(exc, where)

    def _send_continue(self):
        self._check_live()
        cdef Connection conn = self._proto._conn
        if (self._out._awaiting_continue and not self._out.head_sent and conn is not None
                and not conn.closing() and not self._request_done):
            conn.write_buffer(CONTINUE_100, 25)
        self._out._awaiting_continue = False

    def _taken(self):
        self._check_live()
        self._proto._input_taken(self)

    # ---- in a thread of the pool ------------------------------------------

    cdef int _post(self, object data, bint final) except -1:
        cdef Py_ssize_t n = len(data)
        if n == 0 and not final:
            return 0
        with self._cond:
            while (self._paused or self._in_flight > BODY_HIGH_WATER) and not self._disconnected:
                self._cond.wait()
            if self._disconnected:
                raise ClientDisconnected("the client has disconnected")
            self._in_flight += n
        self._loop.call_soon_threadsafe(self._deliver, data, final)
        return 0

    def _run_in_thread(self):
        self._check_live()
        cdef Responder out = self._out
        where = "the WSGI app"
        result = None
        try:
            result = self._adapter.app(self.environ, self.start_response)
            where = "the WSGI app's iterable"
            if type(result) is list or type(result) is tuple:
                self._post(self._whole(result), True)
            elif out._head_request and out.started:
                self._post(b"", True)        # HEAD: the iterable is not run
            else:
                for chunk in result:
                    chunk = _wsgi_bytes(chunk, where)
                    if not out.started:
                        raise RuntimeError("the WSGI app's iterable gave data before start_response()")
                    self._post(chunk, False)
                if not out.started:
                    raise RuntimeError("the WSGI app returned without calling start_response()")
                self._post(b"", True)
        except BaseException as exc:
            if not (isinstance(exc, ClientDisconnected) and self._disconnected):
                self._loop.call_soon_threadsafe(self._thread_failed, exc, where)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException as exc:
                    self._loop.call_soon_threadsafe(self._thread_failed, exc,
                                                    "the WSGI iterable's close()")


cdef class _ThreadInput:
    """``wsgi.input`` for an app in a thread: reads wait for the loop to
    receive the bytes. ``read(n)`` returns n bytes unless the body ends
    first; after the client has gone, reads raise ClientDisconnected."""

    # ---- the loop thread ---------------------------------------------------

    cdef Py_ssize_t _feed(self, const char *data, Py_ssize_t length) except -1:
        # length -1: the body is complete; -2: the client has gone.
        cdef Py_ssize_t size
        with self._job._cond:
            if self._gone:
                return 0             # answered, or the client has gone: dropped
            if length == -1:
                self._eof = True
            elif length == -2:
                self._gone = True
            else:
                self._buf += PyBytes_FromStringAndSize(data, length)
            size = len(self._buf)
            if size >= BODY_HIGH_WATER:
                self._held = True
            self._job._cond.notify_all()
        return size

    cdef int _discard(self) except -1:
        with self._job._cond:
            del self._buf[:]
            self._held = False
            self._gone = True
            self._job._cond.notify_all()
        return 0

    # ---- the app's thread ----------------------------------------------------

    cdef int _invite(self) except -1:
        # The app reads the body: now is the time for 100 Continue.
        if self._job._out._awaiting_continue:
            self._job._loop.call_soon_threadsafe(self._job._send_continue)
        return 0

    cdef bytes _take(self, Py_ssize_t n):
        # Under the lock: up to n bytes (all if n < 0) off the front.
        if n < 0 or n >= len(self._buf):
            data = bytes(self._buf)
            del self._buf[:]
        else:
            data = bytes(self._buf[:n])
            del self._buf[:n]
        if self._held and len(self._buf) < BODY_HIGH_WATER // 4:
            self._held = False
            self._job._loop.call_soon_threadsafe(self._job._taken)
        return data

    cdef int _wait(self) except -1:
        if self._gone and not self._eof:
            raise ClientDisconnected("the client disconnected before the body was complete")
        self._job._cond.wait()
        return 0

    def read(self, size=-1):
        if self._job is None:
            raise RuntimeError("not the input of a running server")
        cdef Py_ssize_t n = -1 if size is None else size
        cdef list parts = []
        cdef Py_ssize_t got = 0
        self._invite()
        with self._job._cond:
            while True:
                if self._buf:
                    data = self._take(n - got if n >= 0 else -1)
                    parts.append(data)
                    got += len(data)
                    if n >= 0 and got >= n:
                        break
                elif self._eof:
                    break
                else:
                    self._wait()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readline(self, size=-1):
        if self._job is None:
            raise RuntimeError("not the input of a running server")
        cdef Py_ssize_t limit = -1 if size is None else size
        cdef list parts = []
        cdef Py_ssize_t got = 0, i
        self._invite()
        with self._job._cond:
            while True:
                if self._buf:
                    i = self._buf.find(b"\n")
                    want = i + 1 if i >= 0 else len(self._buf)
                    if limit >= 0:
                        want = min(want, limit - got)
                    data = self._take(want)
                    parts.append(data)
                    got += len(data)
                    if data.endswith(b"\n") or (limit >= 0 and got >= limit):
                        break
                elif self._eof:
                    break
                else:
                    self._wait()
        return b"".join(parts)

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line
