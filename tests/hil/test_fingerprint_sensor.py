"""The fingerprint driver against the simulated module over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import os
import select
import threading
import time
import tty
from collections.abc import Iterator

import numpy as np
import pytest

from drivers import fingerprint as fp
from drivers import fingerprint_host as fph
from drivers.fingerprint_host import FingerprintSensor
from hil.history import wait_until
from hil.peripherals.fingerprint_sensor import (
    FingerprintModule,
    finger_image,
    pack_image,
    template_of,
    unpack_image,
)


class TtyStream:
    """The terminal's end of the line: ``read(n)`` waits at most ``poll`` seconds."""

    def __init__(self, path: str, poll: float = 0.02) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.poll = poll

    def read(self, n: int) -> bytes:
        readable, _, _ = select.select([self.fd], [], [], self.poll)
        return os.read(self.fd, n) if readable else b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def rig() -> Iterator[tuple[FingerprintModule, FingerprintSensor]]:
    module = FingerprintModule()
    stream = TtyStream(module.device_path)
    try:
        yield module, FingerprintSensor(stream, timeout_ms=300)
    finally:
        stream.close()
        module.close()


def enroll(sensor: FingerprintSensor, page: int) -> None:
    sensor.gen_img()
    sensor.img2tz(1)
    sensor.gen_img()
    sensor.img2tz(2)
    sensor.reg_model()
    sensor.store(1, page)


def test_enroll_then_search_finds_the_page(rig) -> None:
    module, sensor = rig
    assert sensor.verify_password()
    module.finger = finger_image(7)
    enroll(sensor, 5)
    assert module.library[5] == template_of(finger_image(7))
    assert sensor.template_count() == 1
    sensor.gen_img()
    sensor.img2tz(1)
    assert sensor.search(1, 0, 200) == (5, 150)
    sensor.img2tz(2)
    assert sensor.match() > 0
    assert sensor.read_index_table() == {5}
    module.finger = finger_image(8)
    sensor.gen_img()
    sensor.img2tz(1)
    with pytest.raises(fp.SensorError) as err:
        sensor.search(1, 0, 200)
    assert err.value.code == fph.NOT_FOUND
    assert "no matching template" in str(err.value)
    with pytest.raises(fp.SensorError) as err:
        sensor.match()
    assert err.value.code == fph.NO_MATCH


def test_up_image_multi_packet(rig) -> None:
    module, sensor = rig
    module.finger = finger_image(3)
    sensor.gen_img()
    image = sensor.up_image()
    assert len(image) == fp.IMAGE_BYTES == 36864
    assert image == finger_image(3)


def test_up_and_down_char(rig) -> None:
    module, sensor = rig
    module.finger = finger_image(1)
    sensor.gen_img()
    sensor.img2tz(1)
    template = sensor.up_char(1)
    assert template == template_of(finger_image(1))
    sensor.down_char(2, template)
    # DownChar data packets get no answer: wait until the module holds them.
    wait_until(lambda: module.buffers[2] == template, 5, "template in buffer 2")
    assert sensor.match() > 0


def test_read_sys_para(rig) -> None:
    _, sensor = rig
    para = sensor.read_sys_para()
    assert para["library_size"] == 200
    assert para["packet_size"] == 128
    assert para["baud_rate"] == 57600


def test_no_finger(rig) -> None:
    _, sensor = rig
    with pytest.raises(fp.SensorError) as err:
        sensor.gen_img()
    assert err.value.code == fp.NO_FINGER
    assert "no finger" in str(err.value)


def test_wrong_password() -> None:
    module = FingerprintModule(password=0x1234)
    stream = TtyStream(module.device_path)
    try:
        sensor = FingerprintSensor(stream, password=1, timeout_ms=300)
        with pytest.raises(fp.SensorError) as err:
            sensor.verify_password()
        assert err.value.code == fph.WRONG_PASSWORD
        with pytest.raises(fp.SensorError) as err:
            sensor.gen_img()
        assert err.value.code == fph.MUST_VERIFY_PASSWORD
        sensor.password = 0x1234
        assert sensor.verify_password()
    finally:
        stream.close()
        module.close()


def test_noise_survived_by_resync(rig) -> None:
    module, sensor = rig
    module.faults.add("noise")
    module.finger = finger_image(2)
    enroll(sensor, 9)
    assert len(sensor.up_image()) == fp.IMAGE_BYTES
    assert sensor.decoder.skipped > 0


@pytest.mark.parametrize("fault", ["drop", "checksum", "silent"])
def test_faults_time_out_quickly(rig, fault: str) -> None:
    module, sensor = rig
    module.faults.add(fault)
    start = time.monotonic()
    with pytest.raises(fp.SensorTimeout) as err:
        sensor.template_count()
    assert time.monotonic() - start < 1.0
    assert "did not answer TemplateNum" in str(err.value)
    if fault == "checksum":
        assert sensor.decoder.bad_packets >= 1
    module.faults.clear()
    assert sensor.template_count() == 0


# -- the asyncio driver (what the terminal runs) over a real pty ---------------------


def run_async(path: str, job, timeout_ms: int = 300):  # noqa: ANN001 - a coroutine function
    """Open ``path`` the way the virtual board does and run ``job(sensor)`` under asyncio."""

    async def main():  # noqa: ANN202
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        loop.add_reader(fd, lambda: _pump(fd, reader))
        sensor = fp.AsyncFingerprintSensor(reader, FdWriter(fd), timeout_ms=timeout_ms)
        try:
            return await job(sensor)
        finally:
            loop.remove_reader(fd)
            os.close(fd)

    return asyncio.run(main())


def _pump(fd: int, reader: asyncio.StreamReader) -> None:
    try:
        data = os.read(fd, 65536)
    except (BlockingIOError, OSError):
        return
    if data:
        reader.feed_data(data)


class FdWriter:
    """The writer half of the board's UART over a non-blocking descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                select.select([], [self.fd], [], 0.05)

    async def drain(self) -> None:
        return None


async def capture(sensor: fp.AsyncFingerprintSensor) -> tuple[int, bytes]:
    """What the terminal does: start, wait for a finger, stream the image."""
    packet_size = await sensor.start()
    await sensor.wait_finger(2000, poll_ms=20)
    parts: list[bytes] = []

    async def sink(payload: bytes) -> None:
        parts.append(payload)

    await sensor.up_image(sink)
    return packet_size, b"".join(parts)


@pytest.fixture
def module() -> Iterator[FingerprintModule]:
    m = FingerprintModule()
    yield m
    m.close()


def test_async_capture_of_a_synthetic_finger(module: FingerprintModule) -> None:
    from hil.fingerprints import make_impression, make_master

    impression = make_impression(make_master(11, 320, 360), 2)
    module.place(impression.image, impression.minutiae)
    packet_size, image = run_async(module.device_path, capture)
    assert packet_size == 128
    assert image == pack_image(impression.image)
    restored = unpack_image(image)
    assert np.abs(restored.astype(int) - impression.image.astype(int)).max() <= 15
    assert module.uploads == 1
    assert module.commands[:2] == [fp.VFY_PWD, fp.READ_SYS_PARA]


def test_async_finger_placed_while_polling(module: FingerprintModule) -> None:
    placed = threading.Timer(0.3, module.place, (finger_image(4),))
    placed.start()
    try:
        _, image = run_async(module.device_path, capture)
    finally:
        placed.cancel()
    assert image == finger_image(4)
    assert module.commands.count(fp.GEN_IMG) >= 3


def test_async_missing_finger_ends_in_no_finger(module: FingerprintModule) -> None:
    async def job(sensor: fp.AsyncFingerprintSensor) -> None:
        await sensor.wait_finger(250, poll_ms=20)

    start = time.monotonic()
    with pytest.raises(fp.SensorError) as err:
        run_async(module.device_path, job)
    assert err.value.code == fp.NO_FINGER and time.monotonic() - start < 2
    module.place(finger_image(1))
    module.unreadable = True
    with pytest.raises(fp.SensorError) as err:
        run_async(module.device_path, job)
    assert err.value.code == fp.IMAGE_FAIL and "could not take the finger image" in str(err.value)


def test_async_iso_template_from_a_template_module() -> None:
    iso19794_2 = pytest.importorskip("controller.biometrics.iso19794_2")
    from hil.fingerprints import make_impression, make_master

    impression = make_impression(make_master(5, 320, 360), 1)
    with FingerprintModule(template_format="iso19794-2") as m:
        m.place(impression.image, impression.minutiae)

        async def job(sensor: fp.AsyncFingerprintSensor) -> bytes:
            await sensor.start()
            await sensor.wait_finger(1000)
            await sensor.img2tz(1)
            parts: list[bytes] = []

            async def keep(payload: bytes) -> None:
                parts.append(payload)

            await sensor.up_char(1, keep)
            return b"".join(parts)

        record = iso19794_2.parse(run_async(m.device_path, job))
        assert (record.width, record.height) == (256, 288)
        assert len(record.views[0].minutiae) == len(impression.minutiae)


def test_async_noise_is_survived(module: FingerprintModule) -> None:
    module.faults.add("noise")
    module.place(finger_image(6))
    _, image = run_async(module.device_path, capture)
    assert image == finger_image(6)


def test_async_one_lost_data_packet_fails_the_upload_cleanly(module: FingerprintModule) -> None:
    module.place(finger_image(2))
    module.corrupt_packet = 100

    async def job(sensor: fp.AsyncFingerprintSensor) -> tuple[str, bytes]:
        try:
            await capture(sensor)
        except fp.ProtocolError as err:
            first = str(err)
        # The module still holds the image: the terminal asks again and gets it whole.
        parts: list[bytes] = []

        async def sink(payload: bytes) -> None:
            parts.append(payload)

        await sensor.up_image(sink)
        return first, b"".join(parts)

    first, image = run_async(module.device_path, job)
    assert "36736 bytes, expected 36864" in first
    assert image == finger_image(2)


@pytest.mark.parametrize("fault", ["drop", "checksum", "silent", "babble"])
def test_async_faults_end_in_a_timeout(module: FingerprintModule, fault: str) -> None:
    if fault == "babble":
        module.babble()
    else:
        module.faults.add(fault)

    async def job(sensor: fp.AsyncFingerprintSensor) -> None:
        await sensor.start()

    start = time.monotonic()
    with pytest.raises(fp.SensorTimeout) as err:
        run_async(module.device_path, job)
    assert time.monotonic() - start < 2
    assert "did not answer VfyPwd within 300 ms" in str(err.value)
    module.babble(False)
    module.faults.clear()

    async def recovered(sensor: fp.AsyncFingerprintSensor) -> int:
        await sensor.start()
        return await sensor.gen_img()

    assert run_async(module.device_path, recovered) == fp.NO_FINGER


MICROPYTHON_CAPTURE = """
import asyncio, hashlib, binascii, gc, sys
from firmware.boards.unix import Board
from drivers import fingerprint as fp
from drivers import fingerprint_host as fph
from drivers.fingerprint_host import FingerprintSensor

async def main(path, fault):
    reader, writer = Board({"uart": {"finger": path}}).uart("finger")
    sensor = fp.AsyncFingerprintSensor(reader, writer, timeout_ms=300)
    if fault:
        try:
            await sensor.start()
        except fp.SensorError as err:
            print("error", err.code, err)
        return
    await sensor.start()
    await sensor.wait_finger(3000, 20)
    digest = hashlib.sha256()
    low = [gc.mem_free()]

    async def sink(payload):
        digest.update(payload)
        low[0] = min(low[0], gc.mem_free())

    n = await sensor.up_image(sink)
    print("image", n, binascii.hexlify(digest.digest()).decode(), "low", low[0])

asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""))
"""


def test_async_driver_under_micropython_over_the_pty(module: FingerprintModule, tmp_path) -> None:
    import hashlib

    from tests.conftest import run_micropython

    # Sources compile on the fly here, which a 96 KB heap cannot do; the terminal's heap
    # during a capture is measured with the compiled firmware in tests/firmware.
    script = tmp_path / "capture.py"
    script.write_text(MICROPYTHON_CAPTURE)
    module.place(finger_image(9))
    done = run_micropython(script, heap="256k", args=[module.device_path], timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    words = done.stdout.split()
    assert words[:3] == ["image", "36864", hashlib.sha256(finger_image(9)).hexdigest()]
    for fault in ("silent", "babble", "checksum"):
        if fault == "babble":
            module.babble()
        else:
            module.faults.add(fault)
        done = run_micropython(script, heap="256k", args=[module.device_path, fault], timeout=30)
        module.babble(False)
        module.faults.clear()
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("error -1 fingerprint sensor did not answer VfyPwd"), (
            fault, done.stdout)
