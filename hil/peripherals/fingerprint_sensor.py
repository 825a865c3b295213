"""A simulated ZhianTec R30x/R50x fingerprint module on a pseudo-terminal.

It speaks the module side of ``drivers.fingerprint`` over a ``PtyPair``: the
terminal opens ``device_path``. The module holds a template library (page ->
template bytes), two character buffers, an image buffer, and the finger currently
on the glass (an image of ``IMAGE_BYTES`` 4-bit pixels, or None): ``place(image)``
puts one there (a 288 x 256 uint8 array, e.g. an impression of ``hil.fingerprints``,
or packed bytes), ``lift()`` takes it away.

Templates are derived from the image deterministically, so the same finger image
always gives the same template and Search/Match find it. With
``template_format="iso19794-2"`` the module is one that hands out ISO/IEC 19794-2
minutiae records: Img2Tz writes a record of the minutiae given to ``place`` (or,
for a plain test image, of minutiae derived from its bytes).

Faults (``faults`` set of names, stay armed until removed): ``noise`` puts garbage
bytes before every packet, ``drop`` loses a byte from every packet, ``checksum``
sends packets with a wrong checksum, ``silent`` answers nothing, ``babble`` sends
garbage without pause and never answers. ``corrupt_packet = k`` breaks the checksum
of the k-th data packet (from 0) of the next upload only. No finger is ``finger =
None``; a finger too worn to image is ``unreadable = True`` (GenImg answers "could
not take the finger image" while it is on the glass).
"""

from __future__ import annotations

import hashlib
import struct
import threading
from typing import Any

import numpy as np

from drivers import fingerprint as fp
from drivers import fingerprint_host as fph
from drivers.fingerprint_host import sys_para_bytes
from hil.peripherals.base import Peripheral
from hil.pty import PtyClosed, PtyPair

TEMPLATE_BYTES = 512
# An ISO-template module refuses a capture with fewer minutiae than this.
MIN_MINUTIAE = 8
NOISE = b"\x00\xef\x55\xef\x01\xff\x13"
BABBLE = bytes(range(0x30, 0x70)) + b"\xef\x01\xff\xff"
ZHIANTEC = "zhiantec"
ISO = "iso19794-2"


def pack_image(gray: Any) -> bytes:
    """A 288 x 256 uint8 image as the module sends it: 4 bits a pixel, left pixel high."""
    image = np.asarray(gray)
    if image.shape != (fp.IMAGE_HEIGHT, fp.IMAGE_WIDTH) or image.dtype != np.uint8:
        raise ValueError(
            f"a sensor image is {fp.IMAGE_HEIGHT}x{fp.IMAGE_WIDTH} uint8, not "
            f"{image.shape} {image.dtype}"
        )
    nibbles = image >> 4
    return (nibbles[:, 0::2] << 4 | nibbles[:, 1::2]).astype(np.uint8).tobytes()


def unpack_image(data: bytes) -> np.ndarray:
    """The inverse of ``pack_image``: a 288 x 256 uint8 image (each level times 17)."""
    if len(data) != fp.IMAGE_BYTES:
        raise ValueError(f"a packed image is {fp.IMAGE_BYTES} bytes, not {len(data)}")
    packed = np.frombuffer(data, dtype=np.uint8).reshape(fp.IMAGE_HEIGHT, fp.IMAGE_WIDTH // 2)
    out = np.empty((fp.IMAGE_HEIGHT, fp.IMAGE_WIDTH), dtype=np.uint8)
    out[:, 0::2] = packed >> 4
    out[:, 1::2] = packed & 0x0F
    return out * 17


def iso_template_of(image: bytes, minutiae: Any = None) -> bytes:
    """An ISO/IEC 19794-2 record for ``image``: of ``minutiae`` when given (a
    ``controller.biometrics.template.Minutiae``), else of 24 minutiae drawn from the
    image's bytes, so equal images give equal records."""
    from controller.biometrics import iso19794_2
    from controller.biometrics.template import FingerRecord, FingerView, Minutiae

    if minutiae is None:
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(image).digest()[:8], "big"))
        n = 24
        minutiae = Minutiae.from_columns(
            rng.uniform(16, fp.IMAGE_WIDTH - 16, n),
            rng.uniform(16, fp.IMAGE_HEIGHT - 16, n),
            rng.uniform(0, 2 * np.pi, n),
            rng.integers(1, 3, n),
            np.full(n, 60),
        )
    record = FingerRecord(fp.IMAGE_WIDTH, fp.IMAGE_HEIGHT, [FingerView(minutiae, quality=60)])
    return iso19794_2.encode(record)


def template_of(image: bytes) -> bytes:
    """The template the simulated module extracts from ``image``."""
    out = b""
    counter = 0
    while len(out) < TEMPLATE_BYTES:
        out += hashlib.sha256(struct.pack(">I", counter) + image).digest()
        counter += 1
    return out[:TEMPLATE_BYTES]


def finger_image(seed: int) -> bytes:
    """A deterministic 256x288 4-bit image standing in for finger ``seed``."""
    out = b""
    counter = 0
    while len(out) < fp.IMAGE_BYTES:
        out += hashlib.sha256(struct.pack(">II", seed, counter)).digest()
        counter += 1
    return out[: fp.IMAGE_BYTES]


class FingerprintModule(Peripheral):
    """The module side on a pty; ``close()`` when done."""

    kind = "fingerprint-sensor"
    uart = "finger"

    def __init__(
        self,
        address: int = fp.DEFAULT_ADDRESS,
        password: int = 0,
        library_size: int = 200,
        packet_size: int = 128,
        template_format: str = ZHIANTEC,
        name: str = "fingerprint",
        pair: PtyPair | None = None,
    ) -> None:
        if template_format not in (ZHIANTEC, ISO):
            raise ValueError(f"template format {template_format!r} is not {ZHIANTEC} or {ISO}")
        super().__init__(name, pair)
        self.address = address
        self.password = password
        self.library_size = library_size
        self.packet_size = packet_size
        self.library: dict[int, bytes] = {}
        self.buffers: dict[int, bytes | None] = {1: None, 2: None}
        self.image: bytes | None = None
        self.finger: bytes | None = None
        self.minutiae: Any = None
        self._image_minutiae: Any = None
        self.unreadable = False
        self.template_format = template_format
        self.faults: set[str] = set()
        self.corrupt_packet: int | None = None
        self.verified = password == 0
        self.commands: list[int] = []
        self.uploads = 0  # UpImage transfers sent to the end
        self._babbler: threading.Thread | None = None
        self.decoder = fp.PacketDecoder()
        self._incoming: tuple[str, int, bytearray] | None = None
        self._lock = threading.Lock()
        self.thread = self.listen(self._receive)

    def place(self, image: Any, minutiae: Any = None) -> None:
        """Put a finger on the glass: a 288 x 256 uint8 image or ``IMAGE_BYTES`` packed bytes;
        ``minutiae`` are what an ISO-template module would find in it."""
        if isinstance(image, (bytes, bytearray)):
            if len(image) != fp.IMAGE_BYTES:
                raise ValueError(f"a packed image is {fp.IMAGE_BYTES} bytes, not {len(image)}")
            packed = bytes(image)
        else:
            packed = pack_image(image)
        with self._lock:
            self.finger = packed
            self.minutiae = minutiae

    def lift(self) -> None:
        """Take the finger off the glass."""
        with self._lock:
            self.finger = None
            self.minutiae = None

    def babble(self, on: bool = True) -> None:
        """Start (or stop) sending garbage without pause, answering nothing meanwhile."""
        if not on:
            self.faults.discard("babble")
            return
        self.faults.add("babble")
        if self._babbler is None or not self._babbler.is_alive():
            self._babbler = threading.Thread(
                target=self._babble, name=f"{self.name}-babble", daemon=True
            )
            self._babbler.start()

    def _babble(self) -> None:
        while "babble" in self.faults and not self.pair.closed:
            try:
                self.pair.write(BABBLE, timeout=0.2)
            except PtyClosed:
                return

    # -- wire ----------------------------------------------------------------
    def _send(self, data: bytes, timeout: float = 2.0) -> bool:
        """Write one packet (with the armed faults); False when the terminal did not take it
        within ``timeout`` (it stopped reading, e.g. after a power cut)."""
        if "silent" in self.faults or "babble" in self.faults:
            return True
        if "checksum" in self.faults:
            data = data[:-1] + bytes([data[-1] ^ 0x5A])
        if "drop" in self.faults:
            data = data[:5] + data[6:]
        if "noise" in self.faults:
            data = NOISE + data
        try:
            return self.pair.write(data, timeout=timeout) == len(data)
        except PtyClosed:
            return False

    def _ack(self, code: int, data: bytes = b"") -> None:
        self._send(fph.ack(code, data, self.address))

    def _receive(self, data: bytes) -> None:
        with self._lock:
            for pid, address, payload in self.decoder.feed(data):
                if address != self.address:
                    continue
                if pid == fp.COMMAND and payload:
                    self._command(payload[0], payload[1:])
                elif pid in (fp.DATA, fp.END_DATA) and self._incoming:
                    kind, buf, blob = self._incoming
                    blob.extend(payload)
                    if pid == fp.END_DATA:
                        self._incoming = None
                        if kind == "char":
                            self.buffers[buf] = bytes(blob)
                        else:
                            self.image = bytes(blob)

    # -- instructions --------------------------------------------------------
    def _command(self, ins: int, params: bytes) -> None:
        self.commands.append(ins)
        if ins == fp.VFY_PWD:
            ok = len(params) >= 4 and struct.unpack(">I", params[:4])[0] == self.password
            self.verified = self.verified or ok
            self._ack(fp.OK if ok else fph.WRONG_PASSWORD)
            return
        if not self.verified:
            self._ack(fph.MUST_VERIFY_PASSWORD)
            return
        handler = getattr(self, "_do_%02x" % ins, None)
        if handler is None:
            self._ack(fph.RECEIVE_ERROR)
            return
        handler(params)

    def _buf(self, params: bytes) -> int | None:
        return params[0] if params and params[0] in (1, 2) else None

    def _do_01(self, params: bytes) -> None:  # GenImg
        if self.finger is None:
            self._ack(fp.NO_FINGER)
            return
        if self.unreadable:
            self._ack(fp.IMAGE_FAIL)
            return
        self.image = self.finger
        self._image_minutiae = self.minutiae
        self._ack(fp.OK)

    def _do_02(self, params: bytes) -> None:  # Img2Tz
        buf = self._buf(params)
        if buf is None:
            self._ack(fph.BAD_REGISTER)
        elif self.image is None:
            self._ack(fp.NO_VALID_IMAGE)
        elif self.template_format == ISO:
            minutiae = self._image_minutiae
            if minutiae is not None and len(minutiae) < MIN_MINUTIAE:
                self._ack(fp.TOO_FEW_FEATURES)
                return
            self.buffers[buf] = iso_template_of(self.image, minutiae)
            self._ack(fp.OK)
        else:
            self.buffers[buf] = template_of(self.image)
            self._ack(fp.OK)

    def _do_03(self, params: bytes) -> None:  # Match
        a, b = self.buffers[1], self.buffers[2]
        if a is not None and a == b:
            self._ack(fp.OK, struct.pack(">H", 200))
        else:
            self._ack(fph.NO_MATCH, b"\x00\x00")

    def _do_04(self, params: bytes) -> None:  # Search
        if len(params) < 5:
            self._ack(fph.RECEIVE_ERROR)
            return
        buf, start, count = struct.unpack(">BHH", params[:5])
        want = self.buffers.get(buf)
        for page in range(start, start + count):
            if want is not None and self.library.get(page) == want:
                self._ack(fp.OK, struct.pack(">HH", page, 150))
                return
        self._ack(fph.NOT_FOUND, b"\x00\x00\x00\x00")

    _do_1b = _do_04  # HighSpeedSearch

    def _do_05(self, params: bytes) -> None:  # RegModel
        a, b = self.buffers[1], self.buffers[2]
        if a is None or a != b:
            self._ack(fph.MERGE_FAIL)
        else:
            self._ack(fp.OK)

    def _do_06(self, params: bytes) -> None:  # Store
        buf, page = struct.unpack(">BH", params[:3])
        if page >= self.library_size:
            self._ack(fph.BAD_PAGE)
        elif self.buffers.get(buf) is None:
            self._ack(fph.BAD_TEMPLATE)
        else:
            self.library[page] = self.buffers[buf]  # type: ignore[assignment]
            self._ack(fp.OK)

    def _do_07(self, params: bytes) -> None:  # LoadChar
        buf, page = struct.unpack(">BH", params[:3])
        if page >= self.library_size:
            self._ack(fph.BAD_PAGE)
        elif page not in self.library:
            self._ack(fph.BAD_TEMPLATE)
        else:
            self.buffers[buf] = self.library[page]
            self._ack(fp.OK)

    def _do_08(self, params: bytes) -> None:  # UpChar
        buf = self._buf(params)
        data = self.buffers.get(buf) if buf else None
        if data is None:
            self._ack(fph.UPLOAD_FAIL)
            return
        self._ack(fp.OK)
        self._send_data(data)

    def _do_09(self, params: bytes) -> None:  # DownChar
        buf = self._buf(params)
        if buf is None:
            self._ack(fph.BAD_REGISTER)
            return
        self._incoming = ("char", buf, bytearray())
        self._ack(fp.OK)

    def _do_0a(self, params: bytes) -> None:  # UpImage
        if self.image is None:
            self._ack(fph.IMAGE_UPLOAD_FAIL)
            return
        self._ack(fp.OK)
        if self._send_data(self.image):
            self.uploads += 1

    def _do_0b(self, params: bytes) -> None:  # DownImage
        self._incoming = ("image", 0, bytearray())
        self._ack(fp.OK)

    def _do_0c(self, params: bytes) -> None:  # DeletChar
        page, count = struct.unpack(">HH", params[:4])
        if page + count > self.library_size:
            self._ack(fph.DELETE_FAIL)
            return
        for p in range(page, page + count):
            self.library.pop(p, None)
        self._ack(fp.OK)

    def _do_0d(self, params: bytes) -> None:  # Empty
        self.library.clear()
        self._ack(fp.OK)

    def _do_0f(self, params: bytes) -> None:  # ReadSysPara
        self._ack(
            fp.OK,
            sys_para_bytes(
                library_size=self.library_size,
                address=self.address,
                packet_size=self.packet_size,
            ),
        )

    def _do_12(self, params: bytes) -> None:  # SetPwd
        self.password = struct.unpack(">I", params[:4])[0]
        self._ack(fp.OK)

    def _do_14(self, params: bytes) -> None:  # GetRandomCode
        self._ack(fp.OK, b"\x12\x34\x56\x78")

    def _do_1d(self, params: bytes) -> None:  # TemplateNum
        self._ack(fp.OK, struct.pack(">H", len(self.library)))

    def _do_1f(self, params: bytes) -> None:  # ReadIndexTable
        page = params[0] if params else 0
        table = bytearray(32)
        for p in self.library:
            i = p - page * 256
            if 0 <= i < 256:
                table[i // 8] |= 1 << (i % 8)
        self._ack(fp.OK, bytes(table))

    def _send_data(self, blob: bytes) -> bool:
        """Send ``blob`` as data packets; True when every packet went out."""
        corrupt, self.corrupt_packet = self.corrupt_packet, None
        for n, i in enumerate(range(0, len(blob), self.packet_size)):
            chunk = blob[i : i + self.packet_size]
            last = i + self.packet_size >= len(blob)
            packet = fp.encode_packet(fp.END_DATA if last else fp.DATA, chunk, self.address)
            if n == corrupt:
                packet = packet[:-1] + bytes((packet[-1] ^ 0x33,))
            if not self._send(packet):
                return False  # nobody reads any more: the rest would only fill the line
        return True
