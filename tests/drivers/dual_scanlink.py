# Checks of the board side of the scan engine link (drivers.scanlink.ScanEngine) over a
# scripted stream, run under CPython and MicroPython: staying in step with an engine
# that is still streaming, silence, babble, and broken, forged and oversized frames.
import asyncio

from drivers import scanlink as sl
from drivers.scanlink_host import HostScanEngine
from tests.dual import run

W = 16


def _row(i, width=W):
    return sl.encode(sl.ROW, sl.row_payload(i, bytes([(i + x) & 0xFF for x in range(width)])))


def _status(flags):
    return sl.encode(sl.R_STATUS, bytes((flags,)))


class Line:
    """A UART as asyncio sees it. ``answer(ftype, payload)`` returns the bytes the engine
    sends for each command written; ``inbox`` holds what is already on the line. Reads
    hand out at most ``piece`` bytes; ``readinto`` is offered like MicroPython's streams
    unless ``into`` is False (CPython's StreamReader has none)."""

    def __init__(self, answer=None, inbox=b"", piece=50, into=True, babble=b""):
        self.answer = answer or (lambda ftype, payload: b"")
        self.inbox = inbox
        self.piece = piece
        self.babble = babble
        self.commands = []
        self.decoder = sl.FrameDecoder()
        if not into:
            self.readinto = None

    async def _wait(self):
        while not self.inbox and not self.babble:
            await asyncio.sleep(0.005)
        if self.babble:
            await asyncio.sleep(0)
            return self.babble[: self.piece]
        out = self.inbox[: self.piece]
        self.inbox = self.inbox[len(out) :]
        return out

    async def read(self, n):
        data = await self._wait()
        if len(data) > n:
            if not self.babble:
                self.inbox = data[n:] + self.inbox
            data = data[:n]
        return data

    async def readinto(self, buf):
        data = await self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def push(self, data):
        self.inbox += data

    def write(self, data):
        for ftype, payload in self.decoder.feed(bytes(data)):
            self.commands.append(ftype)
            self.inbox += self.answer(ftype, payload)

    async def drain(self):
        pass


class Engine:
    """Answers like the engine: STATUS with ``flags``, FEED with a sheet of ``height`` rows,
    NEXT with rows then END, DROP/RETURN with DONE."""

    def __init__(self, flags=0, height=20, width=W):
        self.flags = flags
        self.height = height
        self.width = width
        self.sent = 0
        self.row_bytes = None  # replaces the bytes of one ROW frame: (index, bytes)

    def __call__(self, ftype, payload):
        if ftype == sl.STATUS:
            return _status(self.flags)
        if ftype == sl.FEED:
            self.sent = 0
            return sl.encode(sl.SHEET, sl.sheet_payload(self.width, self.height, 200))
        if ftype == sl.NEXT:
            out = b""
            for _ in range(payload[0]):
                if self.sent >= self.height:
                    break
                frame = _row(self.sent, self.width)
                if self.row_bytes is not None and self.row_bytes[0] == self.sent:
                    frame = self.row_bytes[1]
                out += frame
                self.sent += 1
            if self.sent >= self.height:
                out += sl.encode(sl.END, self.height.to_bytes(2, "big"))
            return out
        if ftype in (sl.DROP, sl.RETURN):
            return sl.encode(sl.DONE, bytes((ftype,)))
        return sl.encode(sl.FAULT, bytes((sl.F_BAD_COMMAND,)))


def _link(line, timeout_ms=300, host=False):
    cls = HostScanEngine if host else sl.ScanEngine
    return cls(line, line, timeout_ms=timeout_ms)


def _arun(coro):
    return asyncio.run(coro)


def _fault(coro):
    try:
        _arun(coro)
    except sl.ScanFault as err:
        return err
    raise AssertionError("no ScanFault")


def _image(link, engine, buf):
    async def go():
        await link.feed()
        got = 0
        while not link.ended:
            got += await link.rows_into(buf, got * W, min(4, engine.height - got) or 1)
        return got

    return _arun(go())


# -- a board that starts while the engine is still streaming -----------------------


def check_restart_mid_stream_throws_away_the_tail_of_the_old_sheet():
    # The board comes up in the middle of a ROW frame of the sheet it was scanning
    # before the power cut, then more rows, END, and a late DONE: none of it is an
    # answer to the first STATUS after the restart.
    tail = _row(7)[9:] + _row(8) + _row(9) + sl.encode(sl.END, b"\x00\x0a")
    tail += sl.encode(sl.DONE, b"\x05")
    engine = Engine(flags=sl.PAPER_PRESENT)
    line = Line(engine, inbox=tail)
    link = _link(line)
    assert not link.in_step
    assert _arun(link.status()) == sl.PAPER_PRESENT
    assert link.in_step and link.stale >= 3
    assert line.commands == [sl.STATUS]
    _arun(link.eject())
    assert line.commands == [sl.STATUS, sl.RETURN]


def check_restart_into_an_engine_that_streams_past_the_resync_limit():
    # Rows keep coming for longer than the resync waits; the answer to STATUS is then
    # picked out between them, and RETURN's DONE as well.
    engine = Engine(flags=sl.PAPER_PRESENT)
    line = Line(engine, piece=40)

    async def go():
        async def stream():
            for i in range(60):
                line.push(_row(100 + i))
                await asyncio.sleep(0.01)

        task = asyncio.create_task(stream())
        await asyncio.sleep(0)
        link = _link(line, timeout_ms=2000)
        quiet = await link.drain(50, 150)
        flags = await link.status()
        await link.eject()
        await task
        return quiet, flags, link

    quiet, flags, link = _arun(go())
    assert quiet is False
    assert flags == sl.PAPER_PRESENT and link.stale >= 1
    assert line.commands == [sl.STATUS, sl.RETURN]


def check_rows_of_an_abandoned_scan_are_not_buffered_while_draining():
    dec = sl.FrameDecoder()
    dec.discard = (sl.ROW,)
    wide = sl.encode(sl.ROW, sl.row_payload(0, bytes(4000)))
    paper = sl.encode(sl.PAPER, b"\x00")
    stream = wide + paper + wide[:100]
    out = []
    for i in range(0, len(stream), 64):
        out += dec.feed(stream[i : i + 64])
        # Never more than one read's worth held, however wide the row.
        assert len(dec.buf) <= 64 + 5, len(dec.buf)
    assert out == [(sl.PAPER, b"\x00")] and dec.discarded == 2


def check_events_on_the_line_at_restart_are_kept():
    inbox = _row(3)[20:] + sl.encode(sl.SENSORS, bytes((sl.COVER_OPEN,))) + _row(4)
    line = Line(Engine(flags=sl.COVER_OPEN), inbox=inbox)
    link = _link(line)
    assert _arun(link.status()) == sl.COVER_OPEN
    assert link.events == [(sl.SENSORS, sl.COVER_OPEN)]


def check_a_late_answer_after_a_timeout_does_not_answer_the_next_command():
    answers = []
    line = Line(lambda ftype, payload: answers.pop(0) if answers else b"")
    link = _link(line, timeout_ms=80)
    link.in_step = True
    err = _fault(link.status())
    assert isinstance(err, sl.LinkTimeout) and "to STATUS" in str(err)
    assert not link.in_step
    # The answer to the timed-out STATUS comes now, late: flags of another moment.
    line.push(_status(sl.JAM))
    answers.append(_status(0))
    assert _arun(link.status()) == 0
    assert link.stale == 1


def check_a_wrong_answer_puts_the_line_out_of_step_until_it_is_quiet():
    line = Line(lambda ftype, payload: sl.encode(sl.DONE, b"\x04") + _status(0))
    link = _link(line)
    link.in_step = True
    err = _fault(link.status())
    assert err.code == sl.F_BAD_COMMAND and "got 0x86" in str(err)
    assert not link.in_step
    line.answer = Engine()
    assert _arun(link.status()) == 0


def check_a_done_for_the_other_movement_is_refused():
    line = Line(lambda ftype, payload: sl.encode(sl.DONE, b"\x05"))
    link = _link(line)
    err = _fault(link.drop())
    assert err.code == sl.F_BAD_COMMAND and "another movement" in str(err)
    assert not link.in_step


# -- silence and babble: every wait ends --------------------------------------------


def check_silent_engine_times_out():
    link = _link(Line(), timeout_ms=60)
    link.in_step = True
    err = _fault(link.status())
    assert isinstance(err, sl.LinkTimeout) and err.code == 0


def check_babbling_engine_times_out_instead_of_hanging():
    # Garbage without a single complete frame, as fast as the line goes.
    for babble in (b"\x00\x13\xa5\x77" * 16, b"\xa5\x5a\x83\x10\x00" + b"\x41" * 59):
        link = _link(Line(babble=babble), timeout_ms=100)
        link.in_step = True
        err = _fault(link.status())
        assert isinstance(err, sl.LinkTimeout), err


def check_resync_ends_on_an_engine_that_never_falls_quiet():
    # The line hands over a row at every read, so it is never quiet for two seconds,
    # however busy the machine (with 50 ms a descheduled process looked like a quiet
    # line): resync ends by its own limit, says the line did not fall quiet, and has
    # thrown rows away all the while.
    line = Line(babble=_row(1))
    link = _link(line)
    assert _arun(link.drain(2000, 200)) is False
    assert link.in_step and link.stale > 1, link.stale


def check_babble_while_rows_are_awaited_times_out():
    engine = Engine()
    line = Line(engine)
    link = _link(line, timeout_ms=150)
    link.in_step = True
    _arun(link.feed())
    line.babble = b"\x11" * 50
    err = _fault(link.rows_into(bytearray(4 * W), 0, 4))
    assert isinstance(err, sl.LinkTimeout) and not link.in_step


# -- rows: broken, forged and oversized frames ---------------------------------------


def check_rows_arrive_whole_on_both_read_paths():
    for into in (True, False):
        engine = Engine(height=10)
        link = _link(Line(engine, into=into, piece=7))
        buf = bytearray(10 * W)
        assert _image(link, engine, buf) == 10
        want = b"".join(bytes([(i + x) & 0xFF for x in range(W)]) for i in range(10))
        assert bytes(buf) == want and link.ended and link.in_step


def _scan_fault(row_bytes, height=6):
    engine = Engine(height=height)
    engine.row_bytes = row_bytes
    link = _link(Line(engine))
    return _fault(_image_coro(link, engine)), link


async def _image_coro(link, engine):
    await link.feed()
    buf = bytearray(engine.height * W)
    got = 0
    while not link.ended:
        got += await link.rows_into(buf, got * W, 4)
    return got


def check_row_with_a_bad_crc_is_refused():
    bad = bytearray(_row(2))
    bad[12] ^= 0x01
    err, link = _scan_fault((2, bytes(bad)))
    assert err.code == sl.F_CORRUPT and "row 2 with a bad CRC" in str(err)
    assert not link.in_step


def check_row_out_of_order_is_refused():
    err, _ = _scan_fault((2, _row(5)))
    assert err.code == sl.F_CORRUPT and "row 5 arrived, row 2 expected" in str(err)


def check_row_of_the_wrong_length_is_refused():
    short = sl.encode(sl.ROW, sl.row_payload(1, bytes(W - 3)))
    err, _ = _scan_fault((1, short))
    assert err.code == sl.F_CORRUPT and "not %d" % W in str(err)


def check_oversized_frame_length_is_refused_without_reading_it():
    forged = b"\xa5\x5a\x83\xff\xf0" + bytes(20)
    err, _ = _scan_fault((1, forged))
    assert err.code == sl.F_CORRUPT and "frame length" in str(err)


def check_forged_frame_in_the_middle_of_the_rows_is_refused():
    err, link = _scan_fault((3, sl.encode(sl.SHEET, sl.sheet_payload(9, 9, 9))))
    assert err.code == sl.F_BAD_COMMAND and "unexpected frame" in str(err)
    assert not link.in_step
    # A long frame of an unknown type is not read into the small buffer either.
    err, _ = _scan_fault((3, sl.encode(0x99, bytes(40))))
    assert err.code == sl.F_BAD_COMMAND


def check_fault_and_events_in_the_middle_of_the_rows():
    sensors = sl.encode(sl.SENSORS, bytes((sl.PAPER_PRESENT | sl.JAM,)))
    err, link = _scan_fault((2, sensors + sl.encode(sl.FAULT, bytes((sl.F_JAM,))) + _row(2)))
    assert err.code == sl.F_JAM
    assert link.events == [(sl.SENSORS, sl.PAPER_PRESENT | sl.JAM)]


def check_garbage_between_rows_is_passed_over():
    engine = Engine(height=6)
    engine.row_bytes = (3, b"\x00\xa5\x13" + _row(3))
    link = _link(Line(engine))
    assert _arun(_image_coro(link, engine)) == 6


def check_bytes_the_decoder_took_in_are_read_first():
    # An event split across reads, and the start of the first row, already in the
    # decoder when the rows are asked for: nothing is lost.
    engine = Engine(height=4)
    line = Line(engine)
    link = _link(line)
    _arun(link.feed())
    link.decoder.buf = sl.encode(sl.PAPER, b"\x01")
    buf = bytearray(4 * W)
    assert _arun(link.rows_into(buf, 0, 4)) == 4 and link.ended
    assert link.events == [(sl.PAPER, True)]


def check_host_rows_refuse_forged_rows_too():
    engine = Engine(height=5)
    engine.row_bytes = (1, _row(4))
    link = _link(Line(engine), host=True)

    async def go():
        await link.feed()
        await link.rows(5)

    err = _fault(go())
    assert err.code == sl.F_CORRUPT


def check_host_rows_and_wait_paper():
    engine = Engine(height=5)
    line = Line(engine, inbox=sl.encode(sl.PAPER, b"\x01"))
    link = _link(line, host=True)

    async def go():
        assert await link.wait_paper() is True
        await link.feed()
        rows = await link.rows(3) + await link.rows(3)
        return rows

    rows = _arun(go())
    assert [i for i, _ in rows] == [0, 1, 2, 3, 4] and link.ended


def check_oversized_payload_is_never_encoded():
    try:
        sl.encode(sl.ROW, bytes(sl.MAX_PAYLOAD + 1))
    except ValueError:
        pass
    else:
        raise AssertionError("oversized payload encoded")


def check_short_payloads_are_refused():
    for func, payload in ((sl.parse_sheet, b"\x00\x01"), (sl.parse_row, b"\x00")):
        try:
            func(payload)
        except sl.ScanFault as err:
            assert err.code == sl.F_BAD_COMMAND
        else:
            raise AssertionError("short payload accepted")


run(globals())
