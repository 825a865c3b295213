"""The fingerprint driver against the simulated module over a real pseudo-terminal."""

from __future__ import annotations

import os
import select
import time
import tty
from collections.abc import Iterator

import pytest

from drivers import fingerprint as fp
from hil.history import wait_until
from hil.peripherals.fingerprint_sensor import FingerprintModule, finger_image, template_of


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
def rig() -> Iterator[tuple[FingerprintModule, fp.FingerprintSensor]]:
    module = FingerprintModule()
    stream = TtyStream(module.device_path)
    try:
        yield module, fp.FingerprintSensor(stream, timeout_ms=300)
    finally:
        stream.close()
        module.close()


def enroll(sensor: fp.FingerprintSensor, page: int) -> None:
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
    assert err.value.code == fp.NOT_FOUND
    assert "no matching template" in str(err.value)
    with pytest.raises(fp.SensorError) as err:
        sensor.match()
    assert err.value.code == fp.NO_MATCH


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
        sensor = fp.FingerprintSensor(stream, password=1, timeout_ms=300)
        with pytest.raises(fp.SensorError) as err:
            sensor.verify_password()
        assert err.value.code == fp.WRONG_PASSWORD
        with pytest.raises(fp.SensorError) as err:
            sensor.gen_img()
        assert err.value.code == fp.MUST_VERIFY_PASSWORD
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
