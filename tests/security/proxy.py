"""A TCP relay that records every byte between a device and the broker: an eavesdropper
on the station's network, in the one place where it sees everything."""

from __future__ import annotations

import socket
import threading


class RecordingProxy:
    """Listens on ``port`` (127.0.0.1) and relays each connection to ``target``.

    ``captured()`` is every byte seen so far, both directions, in arrival order.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._stopping = False
        threading.Thread(target=self._accept, daemon=True, name="proxy").start()

    def captured(self) -> bytes:
        """Everything relayed so far."""
        with self._lock:
            return b"".join(self._chunks)

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self._lock:
                    self._chunks.append(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        """Stop listening and cut every relayed connection."""
        self._stopping = True
        self._server.close()
        for s in self._sockets:
            s.close()
