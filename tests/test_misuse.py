"""Nothing a Python caller does with the reactor's objects may crash the
interpreter: objects that only make sense attached to a reactor cannot be
made from Python, and every method survives wrong, missing and hostile
arguments, on live objects and on objects whose reactor has closed."""
from support.misuse import walk_in_subprocess


def test_every_reactor_class_and_method_survives_misuse():
    # Issue 8.5: Connection() made by hand, then write()/close()/
    # set_timeout(), died of SIGSEGV; pause_reading() wrote into None.
    result = walk_in_subprocess("""
        import os, socket, cyreactor
        classes = [cyreactor.Reactor, cyreactor.Connection, cyreactor.Listener, cyreactor.Handler,
                   cyreactor.Handle, cyreactor.TimerHandle, cyreactor.FdWatcher]
        reactor = cyreactor.Reactor()
        made = []

        class Keep(cyreactor.Handler):
            def connection_made(self, conn):
                made.append(conn)

        listener = reactor.listen("127.0.0.1", 0, Keep)
        client = socket.create_connection(listener.sockname)
        outbound = reactor.connect("127.0.0.1", listener.sockname[1], Keep)
        for _ in range(20):
            reactor.run_once(0.05)
        timer = reactor.call_later(10, print)
        handle = reactor.call_soon(print)
        r, w = os.pipe()
        reactor.add_reader(r, print)
        objects = made + [outbound, listener, timer, handle, reactor]
    """ + """
        import sys
        sys.path.insert(0, ".")
    """)
    assert result.returncode == 0 and "walked" in result.stdout, (result.returncode, result.stderr[-3000:])
