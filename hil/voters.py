"""Simulated voters: a station's voter list, what each voter marks, and the walk-through.

``make_voters(count, seed, styles)`` draws a deterministic voter list: Kyrgyz names
in Cyrillic as the list prints them, transliterated to the Latin letters of the
machine-readable zone on their documents. Most hold a Kyrgyz ID card (TD1, the
14-digit personal number in its optional data); every sixth a passport (TD3).

``choose(election, voter, rng)`` draws the voter's marks, the ground truth the
station's results are compared with; ``expected_contests`` tallies a list of such
choices by the counting rules of the station (``controller.polls.tally``): a contest with
no mark is blank, fewer marks than allowed is an undervote (its marks count), more
is an overvote (none count).

``SimulatedVoter`` walks one voter through the station: document at a terminal, the
finger on the terminal's sensor when the screen asks for it, the check-in answer on
its screen, a ballot of the issued style rendered and marked, fed to a scanner, fed
again if it comes back because the scan was interrupted.

Each voter has a ``finger_seed``: the master finger of ``hil.fingerprints`` grown from
it is the voter's enrolled finger, and ``finger_image`` is one impression of it as
the terminal's sensor sees it. Every ``NO_FINGER_EVERY``-th voter has fingers too worn
to image (``fingers_usable`` False): the sensor fails each capture and the terminal
checks the voter in by document alone.
"""

from __future__ import annotations

import csv
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.checkin.voter_list import FIELDS as VOTER_FIELDS
from drivers.mrz_make import make_td1, make_td3
from hil.history import RigTimeout

if TYPE_CHECKING:
    from hil.device import DeviceUnit

# The station's voter-list columns, as the controller imports them.
CSV_FIELDS = VOTER_FIELDS

# ICAO 9303-3 transliteration of Russian Cyrillic. The table has no entry for the three
# Kyrgyz letters; Kyrgyz documents write them as the Latin base letter (Ө O, Ү U, Ң N).
_TRANSLIT = {
    "А": "A", "Б": "B", "В": "V", "Г": "G", "Д": "D", "Е": "E", "Ё": "E", "Ж": "ZH",
    "З": "Z", "И": "I", "Й": "I", "К": "K", "Л": "L", "М": "M", "Н": "N", "О": "O",
    "П": "P", "Р": "R", "С": "S", "Т": "T", "У": "U", "Ф": "F", "Х": "KH", "Ц": "TS",
    "Ч": "CH", "Ш": "SH", "Щ": "SHCH", "Ъ": "IE", "Ы": "Y", "Ь": "", "Э": "E", "Ю": "IU",
    "Я": "IA", "Ө": "O", "Ү": "U", "Ң": "N", " ": " ", "-": " ",
}  # fmt: skip

_SURNAME_STEMS = (
    "Абдыкадыр", "Асанбек", "Жумабек", "Осмонкул", "Токтогул", "Сарыбай", "Бакиров",
    "Эшимбек", "Өмүрбек", "Үсөн", "Мамыткул", "Кадыркул", "Султанбек", "Ибраим",
    "Турдубек", "Жээнбек", "Шамшиев", "Акматбек", "Курманбек", "Сыдык", "Ормон",
    "Байтемир", "Качкынбай", "Мырзакмат",
)  # fmt: skip
_MALE_NAMES = (
    "Азамат", "Бакыт", "Нурлан", "Эрлан", "Тилек", "Айбек", "Улан", "Мирлан", "Чыңгыз",
    "Бекболот", "Санжар", "Өмүр", "Үмөт", "Жаңыбай", "Кубанычбек", "Эрмек", "Данияр",
)  # fmt: skip
_FEMALE_NAMES = (
    "Айгүл", "Асел", "Гүлнара", "Жылдыз", "Бермет", "Айпери", "Нургүл", "Чолпон",
    "Мээрим", "Айжан", "Бегимай", "Каныкей", "Өзгөчө", "Күмүшай", "Алтынай", "Сезим",
)  # fmt: skip
# Every sixth voter carries a passport; the rest the ID card.
PASSPORT_EVERY = 6
# Every fifteenth voter has no usable finger.
NO_FINGER_EVERY = 15
# Master fingers a little larger than the sensor's window, so that an impression can
# sit off centre; smaller than the generator's default, which takes twice as long.
FINGER_MASTER = (320, 360)


def transliterate(text: str) -> str:
    """Kyrgyz Cyrillic text in the Latin capitals of an MRZ (spaces kept)."""
    out = []
    for ch in text.upper():
        if ch in _TRANSLIT:
            out.append(_TRANSLIT[ch])
        elif "A" <= ch <= "Z" or "0" <= ch <= "9":
            out.append(ch)
        else:
            raise ValueError(f"no MRZ transliteration for {ch!r} in {text!r}")
    return "".join(out)


def _surname(stem: str, sex: str) -> str:
    if stem.endswith(("ов", "ев")):
        return stem + ("а" if sex == "F" else "")
    if stem[-1] in "аеёиоуыэюяөү":
        return stem + ("ева" if sex == "F" else "ев")
    return stem + ("ова" if sex == "F" else "ов")


@dataclass
class Voter:
    """One entry of the station's voter list, with the document the voter carries."""

    row: int
    voter_id: str
    surname: str
    given_names: str
    birth_date: str  # YYYY-MM-DD
    sex: str
    document_type: str  # "ID" (TD1 card) or "P" (TD3 passport)
    document_number: str
    personal_number: str
    style: str
    expiry_date: str = "340101"  # YYMMDD
    finger_seed: int = 0
    fingers_usable: bool = True

    @property
    def name(self) -> str:
        """The name as the list prints it."""
        return f"{self.surname} {self.given_names}".strip()

    def mrz(self) -> list[str]:
        """The MRZ lines of the voter's document."""
        birth = self.birth_date[2:4] + self.birth_date[5:7] + self.birth_date[8:10]
        make = make_td1 if self.document_type == "ID" else make_td3
        return make(
            document_number=self.document_number,
            birth_date=birth,
            sex=self.sex,
            expiry_date=self.expiry_date,
            nationality="KGZ",
            surname=transliterate(self.surname),
            given_names=transliterate(self.given_names),
            personal_number=self.personal_number,
        )

    def csv_row(self) -> dict[str, str]:
        """The voter-list CSV columns."""
        return {name: str(getattr(self, name)) for name in CSV_FIELDS}

    def finger_image(self, capture: int = 0) -> Any:
        """Capture number ``capture`` of the voter's finger: a 288 x 256 uint8 image."""
        return finger_image(self.finger_seed, capture)


_impressions: dict[tuple[int, int], Any] = {}
_growing: dict[tuple[int, int], threading.Event] = {}
_impressions_lock = threading.Lock()


def finger_image(finger_seed: int, capture: int = 0) -> Any:
    """An impression of master finger ``finger_seed`` (``hil.fingerprints``), as a
    288 x 256 uint8 image; the same arguments give the same image (kept in memory, and
    grown once even when several threads ask at the same time)."""
    key = (finger_seed, capture)
    while True:
        with _impressions_lock:
            if key in _impressions:
                return _impressions[key]
            growing = _growing.get(key)
            if growing is None:
                _growing[key] = threading.Event()
                break
        growing.wait(60)
    try:
        from hil.fingerprints import make_impression, make_master

        master = make_master(finger_seed, *FINGER_MASTER)
        image = make_impression(master, capture + 1).image
        with _impressions_lock:
            _impressions[key] = image
        return image
    finally:
        with _impressions_lock:
            _growing.pop(key).set()


def grow_fingers(voters: Iterable[Voter]) -> threading.Thread:
    """Grow the voters' fingers in a background thread (while a station starts up)."""
    todo = list(voters)

    def grow() -> None:
        for voter in todo:
            voter.finger_image()

    thread = threading.Thread(target=grow, name="grow-fingers", daemon=True)
    thread.start()
    return thread


def make_voters(count: int, seed: int = 1, styles: Sequence[str] = ("s1",)) -> list[Voter]:
    """``count`` distinct adult voters, the same for the same ``seed`` and ``styles``."""
    if count < 0:
        raise ValueError("count must not be negative")
    if not styles:
        raise ValueError("at least one ballot style is needed")
    rng = random.Random(f"voters:{seed}")
    voters: list[Voter] = []
    numbers: set[str] = set()
    for row in range(1, count + 1):
        sex = rng.choice("MF")
        given = rng.choice(_MALE_NAMES if sex == "M" else _FEMALE_NAMES)
        surname = _surname(rng.choice(_SURNAME_STEMS), sex)
        # Birth dates between 1946 and 2004: of age on any polling day from 2022 on.
        birth = date(1946, 1, 1) + timedelta(days=rng.randrange(58 * 365))
        passport = row % PASSPORT_EVERY == 0
        while True:
            prefix = rng.choice(("AC", "PE")) if passport else "ID"
            number = prefix + "%07d" % rng.randrange(10**7)
            if number not in numbers:
                numbers.add(number)
                break
        # The Kyrgyz personal number: 1 (female) or 2 (male), the birth date DDMMYYYY,
        # then five digits.
        personal = ("1" if sex == "F" else "2") + birth.strftime("%d%m%Y")
        personal += "%05d" % rng.randrange(10**5)
        voters.append(
            Voter(
                row=row,
                voter_id=f"kg-{seed}-{row:05d}",
                surname=surname,
                given_names=given,
                birth_date=birth.isoformat(),
                sex=sex,
                document_type="P" if passport else "ID",
                document_number=number,
                personal_number=personal,
                style=styles[(row - 1) % len(styles)],
                expiry_date="%02d%02d%02d" % (30 + rng.randrange(8), 1 + rng.randrange(12), 15),
                # A stream of its own: the rest of the list stays what it was before.
                finger_seed=random.Random(f"finger:{seed}:{row}").randrange(1, 2**31),
                fingers_usable=row % NO_FINGER_EVERY != 0,
            )
        )
    return voters


def stranger(seed: int = 1) -> Voter:
    """A citizen with a valid document who is not on this station's list."""
    (voter,) = make_voters(1, seed=10_000 + seed)
    voter.document_number = "ID9" + voter.document_number[3:]
    voter.voter_id = "not-listed"
    return voter


def write_voter_csv(voters: Iterable[Voter], path: Path) -> Path:
    """Write the voter list in the controller's CSV format; return ``path``."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for voter in voters:
            writer.writerow(voter.csv_row())
    return path


# ---- ground truth -----------------------------------------------------------------


def _contests(election: Any) -> dict[str, Any]:
    return {c.id: c for c in election.contests}


def choose(
    election: Any, style: str, rng: random.Random, blank_rate: float = 0.1
) -> dict[str, list[str]]:
    """The marks of one ballot of ``style``: ``{contest id: [option ids]}``.

    With probability ``blank_rate`` the whole ballot is left blank. Contests that
    allow several marks are sometimes undervoted. Nobody overvotes here.
    """
    contests = _contests(election)
    on_ballot = list(election.styles[style])
    if rng.random() < blank_rate:
        return {cid: [] for cid in on_ballot}
    out: dict[str, list[str]] = {}
    for cid in on_ballot:
        contest = contests[cid]
        options = [o.id for o in contest.options]
        most = min(contest.vote_for, len(options))
        count = most if most <= 1 or rng.random() < 0.7 else rng.randint(1, most)
        out[cid] = sorted(rng.sample(options, count))
    return out


def ground_truth(
    election: Any, voters: Sequence[Voter], seed: int, blank_rate: float = 0.1
) -> dict[str, dict[str, list[str]]]:
    """Each voter's marks (by ``voter_id``), the same for the same seed."""
    rng = random.Random(f"choices:{seed}")
    return {v.voter_id: choose(election, v.style, rng, blank_rate) for v in voters}


def expected_contests(
    election: Any, ballots: Iterable[tuple[str, dict[str, list[str]]]]
) -> dict[str, dict[str, Any]]:
    """Tally ``(style, choices)`` pairs into the results' ``contests`` section."""
    contests = _contests(election)
    out: dict[str, dict[str, Any]] = {
        cid: {
            "options": {o.id: 0 for o in c.options},
            "undervotes": 0,
            "overvotes": 0,
            "blank": 0,
        }
        for cid, c in contests.items()
    }
    for style, choices in ballots:
        for cid in election.styles[style]:
            chosen = sorted(set(choices.get(cid, [])))
            counts = out[cid]
            if len(chosen) > contests[cid].vote_for:
                counts["overvotes"] += 1
            elif not chosen:
                counts["blank"] += 1
            else:
                if len(chosen) < contests[cid].vote_for:
                    counts["undervotes"] += 1
                for option in chosen:
                    counts["options"][option] += 1
    return out


def diff_contests(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Human-readable differences between two ``contests`` sections (empty when equal)."""
    lines: list[str] = []
    for cid in sorted(set(expected) | set(actual)):
        want, got = expected.get(cid), actual.get(cid)
        if want is None or got is None:
            lines.append(f"{cid}: expected {want!r}, station reported {got!r}")
            continue
        for key in ("undervotes", "overvotes", "blank"):
            if want.get(key) != got.get(key):
                lines.append(f"{cid} {key}: expected {want.get(key)}, reported {got.get(key)}")
        w_opts, g_opts = want.get("options", {}), got.get("options", {})
        for option in sorted(set(w_opts) | set(g_opts)):
            if w_opts.get(option) != g_opts.get(option):
                lines.append(
                    f"{cid} {option}: expected {w_opts.get(option)}, "
                    f"reported {g_opts.get(option)}"
                )
    return lines


# ---- the walk-through -------------------------------------------------------------

CHECKIN_TIMEOUT = 60.0
SCAN_TIMEOUT = 120.0
MAX_FEEDS = 4
# Returns that say nothing about the ballot itself, and the warning about an over-,
# under- or unclear vote, which a simulated voter (having marked as meant) answers by
# casting the ballot as it is: the voter feeds it again.
REFEED_REASONS = frozenset(
    {
        "review",
        "interrupted",
        "timeout",
        "upload_failed",
        "incomplete",
        "bad_hash",
        "engine_timeout",
        "engine_error",
        "double_sheet",
        "jam",
        "bad_decision",
        "returned",
    }
)


@dataclass
class VoterOutcome:
    """What happened to one voter: check-in status, and where the ballot went."""

    voter: Voter
    checkin: str | None = None
    checkin_screen: dict[str, Any] | None = None
    style: str | None = None
    choices: dict[str, list[str]] | None = None
    feeds: int = 0
    returns: list[str] = field(default_factory=list)
    cast: bool = False
    counter: int | None = None
    error: str | None = None
    seconds: float = 0.0


BallotMaker = Callable[[str, dict[str, list[str]], int], Any]


class SimulatedVoter:
    """Walks one voter through check-in and the scanner.

    ``make_ballot(style, choices, seed)`` returns the marked ballot as a
    ``hil.peripherals.Sheet``; the rig provides one that renders the station's
    election at the scanner's resolution. The terminal and scanner are the rig's
    units (``hil.device.DeviceUnit``): a voter takes the terminal's and the
    scanner's ``queue`` lock while using them, as people queue in a station.
    """

    def __init__(
        self,
        voter: Voter,
        choices: dict[str, list[str]],
        make_ballot: BallotMaker,
        seed: int = 0,
    ) -> None:
        self.voter = voter
        self.choices = choices
        self.make_ballot = make_ballot
        self.seed = seed

    def check_in(self, terminal: DeviceUnit, timeout: float = CHECKIN_TIMEOUT) -> dict[str, Any]:
        """Present the document and the finger at ``terminal``; return its ``checkin`` screen."""
        # Grown before queueing at the terminal, so that nobody waits for it there.
        finger = self.voter.finger_image()
        with terminal.queue:
            return present_document(
                terminal, self.voter.mrz(), timeout, finger, self.voter.fingers_usable
            )

    def vote(
        self, terminal: DeviceUnit, scanner: DeviceUnit, outcome: VoterOutcome | None = None
    ) -> VoterOutcome:
        """The whole walk; problems end up in ``outcome.error``, never as an exception."""
        outcome = outcome or VoterOutcome(self.voter)
        started = time.monotonic()
        try:
            screen = self.check_in(terminal)
            outcome.checkin_screen = screen
            outcome.checkin = screen.get("status")
            if outcome.checkin != "issued":
                return outcome
            outcome.style = screen.get("style")
            if outcome.style != self.voter.style:
                outcome.error = (
                    f"issued style {outcome.style!r}, the list says {self.voter.style!r}"
                )
                return outcome
            outcome.choices = self.choices
            self.cast(scanner, outcome)
        except (RigTimeout, OSError, RuntimeError, ValueError) as err:
            outcome.error = f"{type(err).__name__}: {err}"
        finally:
            outcome.seconds = time.monotonic() - started
        return outcome

    def cast(self, scanner: DeviceUnit, outcome: VoterOutcome) -> None:
        """Feed the ballot until the scanner drops it (or it is refused for its content)."""
        sheet = self.make_ballot(self.voter.style, self.choices, self.seed)
        sheet.label = self.voter.voter_id
        with scanner.queue:
            while outcome.feeds < MAX_FEEDS:
                outcome.feeds += 1
                where, screen = feed_sheet(scanner, sheet, SCAN_TIMEOUT)
                if where == "dropped":
                    outcome.cast = True
                    outcome.counter = screen.get("counter") if screen else None
                    return
                reason = (screen or {}).get("reason") or "interrupted"
                outcome.returns.append(reason)
                if reason not in REFEED_REASONS:
                    outcome.error = f"ballot returned: {reason} ({(screen or {}).get('message')})"
                    return
        outcome.error = f"ballot returned {outcome.feeds} times: {', '.join(outcome.returns)}"


def present_document(
    terminal: DeviceUnit,
    lines: list[str],
    timeout: float,
    finger: Any = None,
    usable: bool = True,
) -> dict[str, Any]:
    """Present MRZ ``lines`` at ``terminal``; return the ``checkin`` screen that answers it.

    When the terminal asks for the finger (``finger`` screen), ``finger`` (a 288 x 256
    image) goes on its sensor until the terminal has taken it (``waiting``); a finger
    that is not ``usable`` cannot be imaged. Without ``finger`` the voter offers none
    and the terminal gives up after its attempts. Then the terminal shows ``waiting``
    with the transaction id, and the ``checkin`` screen of that transaction (or
    ``checkin`` straight away for a document it cannot read at all, or ``error``).
    """
    display = terminal.display
    start = display.mark()
    terminal.reader.present(lines)
    first = display.wait_screen(("finger", "waiting", "checkin", "error"), timeout, start)
    if first["screen"] == "finger":
        sensor = terminal.sensor
        if finger is not None and sensor is not None:
            sensor.unreadable = not usable
            sensor.place(finger)
        try:
            first = display.wait_screen(("waiting", "checkin", "error"), timeout, start)
        finally:
            if sensor is not None:
                sensor.lift()
                sensor.unreadable = False
    if first["screen"] == "checkin":
        return first
    if first["screen"] == "error":
        raise RuntimeError(f"terminal {terminal.name}: {first.get('reason')}")
    txn = first["txn"]
    return display.wait_for(
        lambda s: (s.get("screen") == "checkin" and s.get("txn") == txn)
        or s.get("screen") == "error",
        timeout,
        start,
    )


def feed_sheet(
    scanner: DeviceUnit, sheet: Any, timeout: float
) -> tuple[str, dict[str, Any] | None]:
    """Insert ``sheet`` and wait until it is in the box or back in the voter's hand.

    Returns ``("dropped" | "returned", screen)`` where ``screen`` is the scanner's
    ``accepted``/``returned`` screen for the sheet, or None when the scanner did not
    show one (a board that restarted mid-scan returns the sheet before it shows
    anything but ``ready``).
    """
    display = scanner.display
    start = display.mark()
    scanner.engine.insert(sheet)
    where = scanner.engine.wait_settled(sheet, timeout)
    shown = display.screens.items(start)
    scanning = None
    for index, screen in enumerate(shown):
        if screen.get("screen") == "scanning":
            scanning = start + index
    if scanning is None:
        return where, None
    wanted = "accepted" if where == "dropped" else "returned"
    try:
        # The first settling screen after this sheet's "scanning": its verdict, or "ready"
        # when the board restarted and returned the sheet without showing one.
        screen = display.wait_for(
            lambda s: s.get("screen") in ("accepted", "returned", "ready", "scanning"),
            15,
            scanning + 1,
        )
    except RigTimeout:
        return where, None
    return where, screen if screen.get("screen") == wanted else None
