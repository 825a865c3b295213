"""The TLS context a device opens its broker connection with (boot only).

It trusts one certificate, the station CA from ``config.json``, and requires the
broker to present a certificate that CA signed, for the host name or address the
device connects to (checked by ``wrap_socket``'s ``server_hostname``). The module is
dropped after boot; the context it made stays with the MQTT client.
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
