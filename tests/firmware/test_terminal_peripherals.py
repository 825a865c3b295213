"""The terminal's fingerprint sensor and slip printer: real firmware, simulated peripherals.

The terminal runs in ``micropython`` (heap of an equipped terminal), the sensor is
``hil.peripherals.fingerprint_sensor.FingerprintModule`` and the printer
``hil.peripherals.printer.Printer``, each on a pty; the fake controller verifies every
message and keeps the finger blobs it receives.
"""

from __future__ import annotations

import hashlib
import time

import pytest

from drivers import mrz_make
from hil.peripherals.fingerprint_sensor import FingerprintModule, finger_image

DOC = mrz_make.make_td1("AN1234567", "850214", "F", "310101", "KGZ", "ASANOVA", "AIGUL",
                        personal_number="21402198500123")


def issued(msg):
    return ("checkin.result", {"txn": msg.body["txn"], "status": "issued",
                               "voter": {"row": 17, "name": "Асанова Айгүл"},
                               "style": "kg-2025-a", "reason": ""})


def start(make_terminal, controller, **config):
    term = make_terminal(**config)
    ctl = controller(term.device)
    ctl.handlers["checkin.request"] = issued
    term.board.start()
    term.display.wait_screen("ready")
    term.display.wait_screen("printer", state="ready")  # the printer checked at power-on
    ctl.wait("hello")
    return term, ctl


def faults(ctl, device: str, expected: dict, start: int = 0) -> None:
    ctl.status.wait_for(lambda s: s[0] == device and s[1]["state"] == "online"
                    and s[1].get("faults", {}) == expected, 20, start)


def test_finger_image_travels_as_a_blob_the_request_references(make_terminal, controller):
    term, ctl = start(make_terminal, controller)
    term.present(DOC)
    asked = term.display.wait_screen("finger")
    request = ctl.wait("checkin.request")
    txn = request.body["txn"]
    assert asked == {"screen": "finger", "txn": txn, "attempt": 1, "attempts": 3}
    image = finger_image(1)
    assert request.body["finger_status"] == "captured"
    assert request.body["finger"] == {
        "kind": "zhiantec-image", "width": 256, "height": 288, "bits": 4, "size": 36864,
        "sha256": hashlib.sha256(image).hexdigest()}
    meta, data = ctl.fingers[txn]
    assert data == image and meta == {"kind": "zhiantec-image", "width": 256, "height": 288,
                                      "bits": 4}
    # The blob went before the request; chunks of 4 KB, never the whole image at once.
    begin = ctl.wait("blob.begin")
    assert begin.seq < request.seq and begin.body["kind"] == "finger"
    assert ctl.wait("blob.end").body["chunks"] == 9
    term.display.wait_screen("checkin", status="issued")
    line = term.board.wait_console("heap free low")
    assert int(line.rsplit(" ", 1)[1]) > 2048


def test_voter_without_usable_fingers_is_sent_without_one(make_terminal, controller):
    term, ctl = start(make_terminal, controller)
    term.sensor.unreadable = True
    term.present(DOC)
    request = ctl.wait("checkin.request")
    assert request.body["finger"] is None and request.body["finger_status"] == "no_finger"
    attempts = [s["attempt"] for s in term.display.screens.items() if s["screen"] == "finger"]
    assert attempts == [1, 2, 3]
    assert ctl.of_type("blob.begin") == [] and ctl.fingers == {}
    term.display.wait_screen("checkin", status="issued")


def test_no_finger_placed_gives_up_after_the_attempts(make_terminal, controller):
    term, ctl = start(make_terminal, controller, finger_timeout=1, finger_attempts=2)
    term.sensor.lift()
    started = time.monotonic()
    term.present(DOC)
    request = ctl.wait("checkin.request")
    assert request.body["finger_status"] == "no_finger"
    assert 1.5 < time.monotonic() - started < 15
    term.display.wait_screen("checkin", status="issued")
    # The next voter puts the finger on the glass while the terminal asks for it.
    mark = len(term.display.screens)
    term.present(DOC)
    term.display.wait_screen("finger", start=mark)
    term.sensor.place(finger_image(2))
    second = ctl.wait("checkin.request", pred=lambda m: m.seq > request.seq)
    assert second.body["finger_status"] == "captured"
    assert ctl.fingers[second.body["txn"]][1] == finger_image(2)


@pytest.mark.parametrize("fault", ["silent", "babble", "checksum"])
def test_broken_sensor_is_reported_and_check_in_goes_on(make_terminal, controller, fault):
    sensor = FingerprintModule()
    sensor.place(finger_image(3))
    if fault == "babble":
        sensor.babble()
    else:
        sensor.faults.add(fault)
    term = make_terminal(sensor=sensor)
    ctl = controller(term.device)
    ctl.handlers["checkin.request"] = issued
    term.board.start()
    ctl.wait("hello")
    faults(ctl, term.device, {"finger": "no-answer"})
    term.present(DOC)
    request = ctl.wait("checkin.request")
    assert request.body["finger"] is None and request.body["finger_status"] == "sensor_error"
    term.display.wait_screen("checkin", status="issued")
    # Repaired: the next capture clears the fault.
    sensor.babble(False)
    sensor.faults.clear()
    mark = len(ctl.status)
    term.present(DOC)
    second = ctl.wait("checkin.request", pred=lambda m: m.seq > request.seq)
    assert second.body["finger_status"] == "captured"
    faults(ctl, term.device, {}, mark)


def test_noise_and_a_lost_packet_still_give_the_exact_image(make_terminal, controller):
    sensor = FingerprintModule()
    sensor.place(finger_image(4))
    sensor.faults.add("noise")
    sensor.corrupt_packet = 100
    term = make_terminal(sensor=sensor)
    ctl = controller(term.device)
    ctl.handlers["checkin.request"] = issued
    term.board.start()
    ctl.wait("hello")
    term.present(DOC)
    request = ctl.wait("checkin.request")
    assert request.body["finger_status"] == "captured"
    assert ctl.fingers[request.body["txn"]][1] == finger_image(4)
    term.board.wait_console("upload 1 broken")
    # The broken upload's chunks were sent under the same blob; its begin started it over.
    assert len(ctl.of_type("blob.begin")) == 2


def test_template_sensor_sends_an_iso_record(make_terminal, controller):
    pytest.importorskip("controller.biometrics.iso19794_2")
    sensor = FingerprintModule(template_format="iso19794-2")
    sensor.place(finger_image(5))
    term = make_terminal(sensor=sensor, finger_kind="iso19794-2")
    ctl = controller(term.device)
    ctl.handlers["checkin.request"] = issued
    term.board.start()
    ctl.wait("hello")
    term.present(DOC)
    request = ctl.wait("checkin.request")
    finger = request.body["finger"]
    meta, data = ctl.fingers[request.body["txn"]]
    assert meta == {"kind": "iso19794-2"} and data[:8] == b"FMR\x00 20\x00"
    assert finger == {"kind": "iso19794-2", "size": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()}


def test_power_cut_during_the_upload_leaves_nothing_pending(make_terminal, controller):
    term, ctl = start(make_terminal, controller)
    term.present(DOC)
    ctl.chunks.wait_for(lambda c: c[1] >= 2)
    term.board.power_cut()
    assert not (term.board.flash / "pending.json").exists()
    assert ctl.of_type("checkin.request") == []
    term.board.start()
    term.display.wait_screen("ready", start=len(term.display.screens) - 1)
    ctl.wait("hello", pred=lambda m: m.body["boot"] == 2)
    term.present(DOC)  # the voter presents the document again
    request = ctl.wait("checkin.request")
    assert request.body["txn"] == f"{term.device}-2-1"
    assert ctl.fingers[request.body["txn"]][1] == finger_image(1)
    assert len(ctl.of_type("checkin.request")) == 1


# ---- the slip printer ------------------------------------------------------------------


def test_slip_printed_for_an_issued_ballot_only(make_terminal, controller):
    term, ctl = start(make_terminal, controller)
    printer = term.printer
    term.present(DOC)
    term.display.wait_screen("checkin", status="issued")
    assert printer.wait(lambda p: p.cuts == 1, 20)
    assert "Тизмедеги катар: 17" in printer.text_lines
    assert any(line.startswith("Шайлоо участкасы: ") for line in printer.text_lines)
    # The name and the style line hold Kyrgyz letters: they went as raster images.
    assert len(printer.rasters) == 2 and printer.unknown == []
    assert not any(term.device in line or "-1-1" in line for line in printer.text_lines)
    ctl.handlers["checkin.request"] = lambda m: ("checkin.result", {
        "txn": m.body["txn"], "status": "already_issued", "voter": None, "style": None,
        "reason": "issued earlier"})
    term.present(DOC)
    term.display.wait_screen("checkin", status="already_issued")
    term.board.wait_console("txn %s-1-2: already_issued" % term.device)
    assert printer.cuts == 1


def test_paper_out_holds_the_slip_until_the_roll_is_changed(make_terminal, controller):
    term, ctl = start(make_terminal, controller)
    printer = term.printer
    printer.paper_out = True
    term.present(DOC)
    shown = term.display.wait_screen("printer", state="paper-out")
    assert shown["message"] == "printer is out of paper" and shown["waiting"] == 1
    faults(ctl, term.device, {"printer": "paper-out"})
    assert printer.cuts == 0
    mark = len(ctl.status)
    printer.paper_out = False
    assert printer.wait(lambda p: p.cuts == 1, 20)
    term.display.wait_screen("printer", state="ready")
    faults(ctl, term.device, {}, mark)
    assert "Тизмедеги катар: 17" in printer.text_lines


def test_cover_opened_in_the_middle_prints_the_slip_again(make_terminal, controller):
    term, ctl = start(make_terminal, controller)
    printer = term.printer
    printer.fault_after(3, "cover_open")
    term.present(DOC)
    term.display.wait_screen("printer", state="cover-open")
    faults(ctl, term.device, {"printer": "cover-open"})
    assert printer.cuts == 0 and printer.dropped > 0
    printer.cover_open = False
    assert printer.wait(lambda p: p.cuts == 1, 20)
    assert printer.text_lines.count("Тизмедеги катар: 17") == 1 or printer.dropped


@pytest.mark.parametrize(("fault", "code"), [("mute", "timeout"), ("babble", "bad-status")])
def test_printer_that_never_recovers_means_the_row_is_written_by_hand(
        make_terminal, controller, fault, code):
    term, ctl = start(make_terminal, controller, slip_wait=2)
    printer = term.printer
    if fault == "mute":
        printer.mute = True
    else:
        printer.babble = b"\xff\x00\xa5"
    term.present(DOC)
    by_hand = term.display.wait_screen("slip_by_hand", timeout=30)
    assert by_hand["row"] == 17 and by_hand["reason"] == code
    event = ctl.wait("event", pred=lambda m: m.body["kind"] == "slip_not_printed")
    assert event.body["detail"] == code
    faults(ctl, term.device, {"printer": code})
    assert printer.cuts == 0
    # The terminal keeps checking voters in meanwhile.
    mark = len(term.display.screens)
    term.present(DOC)
    term.display.wait_screen("checkin", status="issued", start=mark)
