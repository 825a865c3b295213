"""The terminal's fingerprint step: ask for the finger, capture it, send it as a blob.

``capture(device, uart, txn, buf, send_ms, uploads)`` returns ``(finger, finger_status)`` for the
``checkin.request`` of transaction ``txn``:

* ``"captured"``: ``finger`` references the blob just sent (id = ``txn``): for a
  sensor that gives images, ``{"kind": "zhiantec-image", "width": 256, "height":
  288, "bits": 4, "size", "sha256"}``; for one that gives ISO/IEC 19794-2 templates
  (``finger_kind`` in the config), ``{"kind": "iso19794-2", "size", "sha256"}``;
* ``"no_finger"``: ``finger_attempts`` captures failed (no finger within
  ``finger_timeout`` seconds, or an image the sensor could not take): a voter
  without usable fingers; the controller checks in by document alone;
* ``"sensor_error"``: the sensor did not answer or answered nonsense;
* ``"upload_failed"``: captured, but the link to the controller was down or too slow.

The image goes out while it comes in: each data packet from the sensor is copied
into a chunk buffer of ``CHUNK`` bytes (the terminal's scratch buffer, allocated once
at boot), which is sent as a ``blob.chunk`` when full; never more than one chunk of
the 36,864-byte image is in RAM. The blob messages (``blob.begin``, ``blob.chunk``
with the bytes as attachment, ``blob.end`` with the SHA-256 of the whole) come from
``protocol.blob_sender``, the sending half only, which the scanner uses too. The
lowest free heap seen during an upload is logged.

This module, the driver and the blob sender are loaded for each capture and dropped
afterwards (``firmware.runtime.load``/``unload``, ``MODULES``): a 96 KB terminal
cannot hold them together with the slip printer's code.
"""

import asyncio
import gc

from drivers import fingerprint as fp
from protocol import messages
from protocol.blob_sender import BlobSender

IMAGE = "zhiantec-image"
ISO = "iso19794-2"
CHUNK = 4096
MODULES = ("firmware.finger", "drivers.fingerprint", "protocol.blob_sender",
           "protocol.messages")


def _log(*args):
    print("[finger]", *args)


class UploadFailed(Exception):
    """The blob could not be handed to the broker."""


def _fault(device, err):
    device.link.set_fault("finger", "no-answer" if err.code < 0 else "error")


async def check(device, uart):
    """Verify the sensor's password and read its parameters; report a fault; True if ready."""
    sensor = fp.AsyncFingerprintSensor(uart[0], uart[1])
    try:
        packet_size = await sensor.start()
    except fp.SensorError as err:
        _log("sensor not ready:", err)
        _fault(device, err)
        return False
    device.link.set_fault("finger", None)
    _log("sensor ready, packet size %d" % packet_size)
    return True


async def capture(device, uart, txn, buf, send_ms, uploads):
    """Ask for the finger until it is captured and sent; ``(finger, finger_status)``.

    ``buf`` is a bytearray of at least ``CHUNK`` bytes for the chunks; a blob message
    not acknowledged within ``send_ms`` fails the upload; a broken upload is tried
    ``uploads`` times in all (the terminal's timing table, ``firmware.apps.idterminal``).
    """
    if not await check(device, uart):
        return None, "sensor_error"
    config = device.config
    iso = config["finger_kind"] == ISO
    sensor = fp.AsyncFingerprintSensor(uart[0], uart[1])
    attempts = config["finger_attempts"]
    for attempt in range(1, attempts + 1):
        await device.display.show("finger", {"txn": txn, "attempt": attempt,
                                             "attempts": attempts})
        try:
            await sensor.wait_finger(config["finger_timeout"] * 1000)
            if iso:
                await sensor.img2tz(1)
            return await _upload(device, sensor, txn, iso, buf, send_ms, uploads), "captured"
        except UploadFailed as err:
            _log("txn %s: finger not sent: %s" % (txn, err))
            return None, "upload_failed"
        except fp.SensorError as err:
            if err.code not in fp.CAPTURE_FAILURES:
                _log("txn %s: sensor failed: %s" % (txn, err))
                _fault(device, err)
                return None, "sensor_error"
            _log("txn %s attempt %d: %s" % (txn, attempt, err))
    _log("txn %s: no usable finger after %d attempts" % (txn, attempts))
    return None, "no_finger"


class _Blob:
    """One outgoing blob: pieces gathered into one buffer, sent a chunk at a time."""

    def __init__(self, link, blob_id, buf, send_ms):
        self.link = link
        self.send_ms = send_ms
        self.sender = BlobSender(blob_id)
        self.buf = buf
        self.fill = 0
        self.low = gc.mem_free()

    async def send(self, mtype, body, attachment=b""):
        if not self.link.mqtt.connected:
            raise UploadFailed("not connected to the station controller")
        try:
            await asyncio.wait_for(self.link.send(mtype, body, attachment), self.send_ms / 1000)
        except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
            raise UploadFailed("%s not acknowledged in %d ms" % (mtype, self.send_ms))

    async def flush(self):
        if not self.fill:
            return
        part = memoryview(self.buf)[: self.fill]
        await self.send(messages.BLOB_CHUNK, self.sender.chunk(part), part)
        self.fill = 0
        # Each chunk leaves its packet header behind: collect while the heap is calm.
        gc.collect()

    async def take(self, payload):
        n = len(payload)
        if self.fill + n > CHUNK:
            await self.flush()
        self.buf[self.fill : self.fill + n] = payload
        self.fill += n
        free = gc.mem_free()
        if free < self.low:
            self.low = free

    async def end(self):
        await self.flush()
        body = self.sender.end()
        await self.send(messages.BLOB_END, body)
        return body


async def _upload(device, sensor, txn, iso, buf, send_ms, uploads):
    """Stream the sensor's image (or template) to the controller as blob ``txn``."""
    if iso:
        meta = {"kind": ISO}
    else:
        meta = {"kind": IMAGE, "width": fp.IMAGE_WIDTH, "height": fp.IMAGE_HEIGHT, "bits": 4}
    for attempt in range(1, uploads + 1):
        gc.collect()
        blob = _Blob(device.link, txn, buf, send_ms)
        # A begin starts the blob over at the controller: a broken upload is sent again.
        await blob.send(messages.BLOB_BEGIN, blob.sender.begin("finger", meta))
        try:
            if iso:
                await sensor.up_char(1, blob.take)
            else:
                await sensor.up_image(blob.take)
        except fp.ProtocolError as err:
            # A packet lost on the way: the sensor still holds the image; ask again.
            _log("txn %s: upload %d broken: %s" % (txn, attempt, err))
            if attempt == uploads:
                raise
            continue
        end = await blob.end()
        _log("txn %s: %s of %d bytes sent in %d chunks, heap free low %d" % (
            txn, meta["kind"], end["size"], end["chunks"], blob.low))
        meta["size"] = end["size"]
        meta["sha256"] = end["sha256"]
        return meta
