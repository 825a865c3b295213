# Checks of the byte-level drivers, run under CPython and MicroPython (see tests/dual.py).
from drivers import mrz, mrz_make, scanlink
from tests.dual import run

TD1 = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
]
TD3 = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
]


def check_crc_check_value():
    assert scanlink.crc32(b"123456789") == 0xCBF43926


def check_frames_survive_garbage_and_splits():
    frames = scanlink.encode(scanlink.SHEET, scanlink.sheet_payload(800, 1100, 150))
    frames += scanlink.encode(scanlink.ROW, scanlink.row_payload(3, bytes(range(200))))
    stream = b"\x00\xa5junk\xa5" + frames + b"\xa5"
    dec = scanlink.FrameDecoder()
    out = []
    for i in range(0, len(stream), 7):
        out += dec.feed(stream[i : i + 7])
    assert [f[0] for f in out] == [scanlink.SHEET, scanlink.ROW]
    assert scanlink.parse_sheet(out[0][1]) == (800, 1100, 150)
    assert scanlink.parse_row(out[1][1]) == (3, bytes(range(200)))


def check_corrupt_frame_is_dropped_and_next_one_read():
    good = scanlink.encode(scanlink.END, b"\x00\x05")
    bad = bytearray(scanlink.encode(scanlink.ROW, scanlink.row_payload(1, b"\x10" * 50)))
    bad[20] ^= 0xFF
    dec = scanlink.FrameDecoder()
    out = dec.feed(bytes(bad) + good)
    assert out == [(scanlink.END, b"\x00\x05")] and dec.bad_frames == 1


def check_impossible_length_resyncs():
    dec = scanlink.FrameDecoder()
    out = dec.feed(b"\xa5\x5a\x83\xff\xff" + scanlink.encode(scanlink.DONE, b"\x04"))
    assert out == [(scanlink.DONE, b"\x04")] and dec.bad_frames == 1


def check_mrz_specimens_pass():
    for lines in (TD1, TD3):
        doc = mrz.parse(lines)
        assert doc["valid"], doc["checks"]
    td1 = mrz.parse(TD1)
    assert td1["document_number"] == "D23145890" and td1["surname"] == "ERIKSSON"
    assert td1["given_names"] == "ANNA MARIA" and td1["birth_date"] == "740812"
    assert mrz.parse(TD3)["optional"] == "ZE184226B"


def check_changed_digit_fails_the_right_check():
    changed = [TD3[0], TD3[1][:14] + "5" + TD3[1][15:]]  # birth date 740852
    checks = mrz.parse(changed)["checks"]
    assert not checks["birth_date"] and not checks["composite"] and checks["document_number"]
    changed = [TD1[0][:6] + "3" + TD1[0][7:], TD1[1], TD1[2]]  # document number
    checks = mrz.parse(changed)["checks"]
    assert not checks["document_number"] and checks["birth_date"]


def check_ocr_confusion_is_reported_not_fixed():
    try:
        mrz.parse([TD1[0], TD1[1][:3] + "o" + TD1[1][4:], TD1[2]])
    except mrz.MrzError as err:
        assert "line 2 column 4" in str(err), err
    else:
        raise AssertionError("lower-case o accepted")


def check_make_and_assemble_kyrgyz_card():
    lines = mrz_make.make_td1(
        document_number="ID0123456",
        birth_date="900115",
        sex="M",
        expiry_date="300101",
        nationality="KGZ",
        surname="ASANOV",
        given_names="NURBEK",
        personal_number="21501199000123",
    )
    asm = mrz.LineAssembler()
    docs = asm.feed(b"noise\r\n" + ("\r\n".join(lines) + "\r\n").encode())
    assert docs == [lines] and asm.errors == 1
    doc = mrz.parse(docs[0])
    assert doc["valid"] and doc["personal_number"] == "21501199000123"


run(globals())
