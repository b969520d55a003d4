"""A TCP proxy for integration tests that breaks the link on command (standard library only).

    proxy = LinkProxy(("127.0.0.1", replica_port))     # listens on 127.0.0.1:proxy.port
    proxy.start()
    proxy.drop()       # every open connection is reset (RST: SO_LINGER 0, then close)
    proxy.refuse()     # the listening socket is closed: new connections get ECONNREFUSED
    proxy.stall()      # nothing is forwarded any more, in either direction, and nothing is
                       # closed: open connections hang, new ones are accepted but get no bytes
    proxy.stall_after(n)  # forward n more bytes from the client side, then stall (mid-upload)
    proxy.restore()    # listen again (same port) and forward again; stalled connections resume
    proxy.stop()

Modes combine as a link does: `cut()` is drop() + refuse(). While stalled the proxy reads nothing
from either side, so a peer that keeps writing meets TCP backpressure, as on a dead route.

Counters for the tests: `accepted` (connections accepted, in total), `open_connections()`,
`closed_by_client` (connections the client side ended, e.g. a master giving up on a stalled
replica), `bytes_forwarded`. A proxy thread never raises into the test; errors end the connection.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

_POLL = 0.05  # seconds: how often a pump looks at the mode while waiting for bytes


class _Pair:
    """One proxied connection: the client's socket and ours to the target."""

    def __init__(self, client: socket.socket, upstream: socket.socket):
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        self.lock = threading.Lock()

    def close(self, reset: bool) -> None:
        with self.lock:
            if self.closed.is_set():
                return
            self.closed.set()
            for sock in (self.client, self.upstream):
                try:
                    if reset:  # RST instead of FIN
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.close()
                except OSError:
                    pass


class LinkProxy:
    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1", port: int = 0):
        self.target = target
        self.host = host
        self.port = port
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._forwarding = threading.Event()  # set: bytes flow; clear: stalled
        self._forwarding.set()
        self._stopped = threading.Event()
        self._stall_budget: int | None = None  # stall_after(): client bytes still to forward
        self.accepted = 0
        self.closed_by_client = 0
        self.bytes_forwarded = 0
        self.events: list[tuple[float, str]] = []  # (monotonic time, what happened), for reports

    # -- control ----------------------------------------------------------------------------

    def start(self) -> "LinkProxy":
        self._listen()
        return self

    def drop(self) -> int:
        """Resets every open connection; returns how many there were."""
        with self._lock:
            pairs = [p for p in self._pairs if not p.closed.is_set()]
            self._pairs = []
        for pair in pairs:
            pair.close(reset=True)
        self._event(f"drop ({len(pairs)} connections reset)")
        return len(pairs)

    def refuse(self) -> None:
        """Closes the listening socket: connection attempts are refused until restore()."""
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.close()
            except OSError:
                pass
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        self._event("refuse")

    def cut(self) -> None:
        """The link goes down: refuse new connections and reset the open ones."""
        self.refuse()
        self.drop()

    def stall(self) -> None:
        """Stop forwarding without closing anything (a silent peer, a black-holed route)."""
        self._forwarding.clear()
        self._event("stall")

    def stall_after(self, count: int) -> None:
        """Forward `count` more bytes from the client side, then stall (e.g. in the middle of an
        upload); `stalled` tells when it has happened."""
        with self._lock:
            self._stall_budget = count
        self._event(f"stall after {count} more bytes")

    def restore(self) -> None:
        """Forward again and accept again on the same port."""
        with self._lock:
            self._stall_budget = None
        self._forwarding.set()
        if self._listener is None:
            self._listen()
        self._event("restore")

    def stop(self) -> None:
        self._stopped.set()
        self._forwarding.set()
        self.refuse()
        self.drop()

    def open_connections(self) -> int:
        with self._lock:
            self._pairs = [p for p in self._pairs if not p.closed.is_set()]
            return len(self._pairs)

    @property
    def stalled(self) -> bool:
        return not self._forwarding.is_set()

    # -- internals --------------------------------------------------------------------------

    def _event(self, what: str) -> None:
        with self._lock:
            self.events.append((time.monotonic(), what))

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                listener.bind((self.host, self.port))
                break
            except OSError:
                if self.port == 0 or time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(_POLL)  # polling interval of a bounded retry (port still in TIME_WAIT use)
        listener.listen(64)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        self._accept_thread = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True,
                                               name=f"link-proxy-accept-{self.port}")
        self._accept_thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                readable, _, _ = select.select([listener], [], [], _POLL)
            except (OSError, ValueError):
                return  # closed by refuse()
            with self._lock:
                if self._listener is not listener:
                    return
            if not readable:
                continue
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        # A stalled link also swallows new connections: accepted, never forwarded (the client
        # hanging up meanwhile is counted, as on an open connection).
        hangup = select.poll()
        hangup.register(client, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        while not self._forwarding.wait(_POLL):
            if self._stopped.is_set() or hangup.poll(0):
                if not self._stopped.is_set():
                    with self._lock:
                        self.closed_by_client += 1
                        self.events.append((time.monotonic(), "client closed a stalled connection"))
                client.close()
                return
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            pair = _Pair(client, socket.socket())
            pair.close(reset=True)  # the target is down: the client sees a reset
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(None)
        pair = _Pair(client, upstream)
        with self._lock:
            self._pairs.append(pair)
        threading.Thread(target=self._pump, args=(pair, client, upstream, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(pair, upstream, client, False), daemon=True).start()

    def _pump(self, pair: _Pair, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            hangup = select.poll()
            hangup.register(source, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
            held = b""  # read before a stall_after() budget ran out; sent when forwarding resumes
            while not pair.closed.is_set():
                if held and self._forwarding.is_set():
                    sink.sendall(held)
                    with self._lock:
                        self.bytes_forwarded += len(held)
                    held = b""
                if not self._forwarding.is_set():
                    # Stalled: read nothing, send nothing; but notice the client hanging up
                    # (POLLRDHUP: its FIN arrived, even with unread bytes before it).
                    if from_client and hangup.poll(_POLL * 1000):
                        with self._lock:
                            self.closed_by_client += 1
                            self.events.append((time.monotonic(), "client closed a stalled connection"))
                        break
                    self._forwarding.wait(_POLL)
                    continue
                readable, _, _ = select.select([source], [], [], _POLL)
                if not readable or not self._forwarding.is_set():
                    continue
                data = source.recv(65536)
                if not data:
                    if from_client:
                        with self._lock:
                            self.closed_by_client += 1
                            self.events.append((time.monotonic(), "client closed a connection"))
                    break
                if from_client:
                    with self._lock:
                        if self._stall_budget is not None:
                            if len(data) >= self._stall_budget:
                                data, held = data[:self._stall_budget], data[self._stall_budget:]
                                self._stall_budget = None
                                self._forwarding.clear()
                                self.events.append((time.monotonic(), "stall (budget reached)"))
                            else:
                                self._stall_budget -= len(data)
                sink.sendall(data)
                with self._lock:
                    self.bytes_forwarded += len(data)
        except (OSError, ValueError):
            pass
        pair.close(reset=False)
