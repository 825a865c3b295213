"""Generated hostile input for the decoders of serial lines: the fingerprint module's
packets, the scan engine's frames, the document reader's lines and the printer's
status bytes. Garbage never raises and never grows a buffer without bound; a good
packet anywhere in it, however the bytes are split into reads, still comes through."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers import escpos, fingerprint, mrz, scanlink
from tests.controller.helpers import make_voters

VOTERS = make_voters(4)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


reads = st.lists(st.integers(0, 10_000), max_size=12)


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_fingerprint_garbage_never_raises_and_the_buffer_stays_bounded(chunks) -> None:
    decoder = fingerprint.PacketDecoder()
    for chunk in chunks:
        for pid, _address, payload in decoder.feed(chunk):
            assert pid in (fingerprint.COMMAND, fingerprint.DATA, fingerprint.ACK,
                           fingerprint.END_DATA)
            assert len(payload) <= fingerprint.MAX_PAYLOAD
        assert len(decoder.buf) <= 9 + fingerprint.MAX_PAYLOAD + 2


@given(st.binary(max_size=200), st.binary(max_size=fingerprint.MAX_PAYLOAD),
       st.sampled_from((fingerprint.DATA, fingerprint.ACK, fingerprint.END_DATA)),
       st.binary(max_size=200), reads)
def test_a_fingerprint_packet_inside_garbage_comes_through(before, payload, pid, after, cuts):
    packet = fingerprint.encode_packet(pid, payload)
    decoder = fingerprint.PacketDecoder()
    got = []
    for chunk in _split(before + packet + after, cuts):
        got += decoder.feed(chunk)
    assert (pid, fingerprint.DEFAULT_ADDRESS, payload) in got


@given(st.lists(st.binary(max_size=600), max_size=20))
def test_scan_link_garbage_never_raises_and_the_buffer_stays_bounded(chunks) -> None:
    decoder = scanlink.FrameDecoder()
    for chunk in chunks:
        for _ftype, payload in decoder.feed(chunk):
            assert len(payload) <= scanlink.MAX_PAYLOAD
        assert len(decoder.buf) <= 5 + scanlink.MAX_PAYLOAD + 4


@given(st.binary(max_size=300), st.integers(0, 0xFFFF), st.binary(min_size=1, max_size=2000),
       st.binary(max_size=300), reads)
def test_a_scan_row_inside_garbage_comes_through(before, index, row, after, cuts) -> None:
    frame = scanlink.encode(scanlink.ROW, scanlink.row_payload(index, row))
    decoder = scanlink.FrameDecoder()
    got = []
    for chunk in _split(before + frame + after, cuts):
        got += decoder.feed(chunk)
    rows = [scanlink.parse_row(p) for t, p in got if t == scanlink.ROW and len(p) >= 3]
    assert (index, row) in rows


@given(st.binary(max_size=40))
def test_any_sheet_or_row_payload_is_read_or_a_scan_fault(payload: bytes) -> None:
    for parse in (scanlink.parse_sheet, scanlink.parse_row):
        try:
            parse(payload)
        except scanlink.ScanFault as fault:
            assert fault.code == scanlink.F_BAD_COMMAND


@given(st.lists(st.binary(max_size=120), max_size=15))
def test_document_reader_garbage_never_raises(chunks) -> None:
    assembler = mrz.LineAssembler()
    for chunk in chunks:
        for document in assembler.feed(chunk):
            try:
                mrz.parse(document)
            except mrz.MrzError:
                pass
        assert len(assembler.partial) <= mrz.MAX_LINE


@given(st.sampled_from(VOTERS), st.lists(st.binary(max_size=20).filter(
    lambda b: b"\r" not in b and b"\n" not in b and len(b) not in (30, 36, 44)), max_size=4),
    reads, st.sampled_from((b"\r\n", b"\n", b"\r")))
def test_a_document_after_garbage_lines_is_read(voter, garbage, cuts, end) -> None:
    text = b"".join(g + end for g in garbage) + b"".join(
        line.encode() + end for line in voter.mrz())
    assembler = mrz.LineAssembler()
    documents = []
    for chunk in _split(text, cuts):
        documents += assembler.feed(chunk)
    assert documents and documents[-1] == voter.mrz()
    fields = mrz.parse(documents[-1])
    assert fields["valid"] and fields["document_number"] == voter.document_number


@given(st.lists(st.text(max_size=50), max_size=4))
def test_any_lines_are_a_document_or_an_mrz_error(lines) -> None:
    try:
        fields = mrz.parse(lines)
    except mrz.MrzError:
        return
    assert isinstance(fields["valid"], bool)


@given(st.integers(1, 4), st.integers(0, 255))
def test_any_status_byte_is_flags_or_a_printer_error(n: int, byte: int) -> None:
    try:
        flags = escpos.parse_status(n, byte)
    except escpos.PrinterError as err:
        assert byte & 0x93 != 0x12 and err.code == escpos.E_BAD_STATUS
        return
    assert isinstance(flags, int) and byte & 0x93 == 0x12
