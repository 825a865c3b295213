"""The TLS context a device opens its broker connection with (boot only).

It trusts one certificate, the station CA from ``config.json``, and requires the
broker to present a certificate that CA signed, for the host name or address the
device connects to (checked by ``wrap_socket``'s ``server_hostname``).

``TlsStream`` (MicroPython) is the connection's stream: asyncio waits on the plain
socket's descriptor, and reads and writes go through the TLS socket. With the TLS
socket itself in the poller (``asyncio.open_connection(ssl=...)``), the unix port's
poller no longer waits on descriptors alone and every wait of every task slowed to
about a millisecond: a ballot image took fifteen times as long.
"""


def client_context(ca_der):
    """A TLS client context that trusts only ``ca_der`` (the station CA, DER bytes)."""
    try:
        import tls  # MicroPython (Mbed TLS)
    except ImportError:  # CPython
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and host name
        ctx.load_verify_locations(cadata=ca_der)
        return ctx
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = tls.CERT_REQUIRED
    ctx.load_verify_locations(ca_der)
    return ctx


class TlsStream:
    """Reader and writer of one TLS connection for ``firmware.mqtt`` (MicroPython)."""

    def __init__(self, raw, tls):
        self.raw = raw
        self.s = tls
        self._out = b""

    async def readexactly(self, n):
        """Exactly ``n`` bytes; EOFError when the broker closed the connection."""
        import asyncio

        got = b""
        while n:
            # Data Mbed TLS has decrypted already is taken before waiting on the socket.
            data = self.s.read(n)
            if data is None:
                yield asyncio.core._io_queue.queue_read(self.raw)
                continue
            if not data:
                raise EOFError
            got += data
            n -= len(data)
        return got

    def write(self, buf):
        """Send ``buf`` now as far as the socket takes it; ``drain`` sends the rest."""
        if not self._out:
            sent = self.s.write(buf)
            if sent == len(buf):
                return
            if sent:
                buf = buf[sent:]
        self._out += buf

    async def drain(self):
        """Wait until everything written has gone to the socket."""
        import asyncio

        while self._out:
            yield asyncio.core._io_queue.queue_write(self.raw)
            sent = self.s.write(self._out)
            if sent:
                self._out = self._out[sent:]

    def close(self):
        """Close the TLS socket (and with it the plain one)."""
        self.s.close()
