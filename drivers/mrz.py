"""ICAO 9303 machine-readable zones: lines from a document reader, fields, check digits.

Serial document readers send each MRZ line terminated by CR LF. ``LineAssembler``
groups lines into documents (TD1 3x30, TD2 2x36, TD3 2x44); ``parse`` splits the
fields and computes every check digit. Characters outside ``A-Z0-9<`` (common OCR
confusions such as a lower-case letter or a space) are reported as an error naming
the line and column; nothing is silently corrected.
"""

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
_WEIGHTS = (7, 3, 1)
FORMATS = {"TD1": (3, 30), "TD2": (2, 36), "TD3": (2, 44)}
MAX_LINE = 64


class MrzError(Exception):
    """The lines are not a machine-readable zone."""


def _value(ch):
    if "0" <= ch <= "9":
        return ord(ch) - 48
    if "A" <= ch <= "Z":
        return ord(ch) - 55
    if ch == "<":
        return 0
    raise MrzError("character %r is not allowed in an MRZ" % ch)


def check_digit(text):
    """ICAO 9303 check digit of ``text``: weights 7,3,1, letters 10-35, filler 0, mod 10."""
    total = 0
    for i in range(len(text)):
        total += _value(text[i]) * _WEIGHTS[i % 3]
    return total % 10


def _check(field, digit):
    """True when ``digit`` (one character) is the check digit of ``field``."""
    if digit == "<":
        # A filler instead of a digit is allowed only for an empty optional field.
        return field.replace("<", "") == ""
    if not ("0" <= digit <= "9"):
        return False
    return check_digit(field) == ord(digit) - 48


def _name(field):
    parts = field.split("<<", 1)
    surname = parts[0].replace("<", " ").strip()
    given = parts[1].replace("<", " ").strip() if len(parts) > 1 else ""
    while "  " in given:
        given = given.replace("  ", " ")
    return surname, given


def _strip(field):
    return field.replace("<", " ").strip()


def _validate(lines):
    if not isinstance(lines, (list, tuple)):
        raise MrzError("expected a list of MRZ lines")
    for fmt in FORMATS:
        count, width = FORMATS[fmt]
        if len(lines) == count and all(isinstance(x, str) and len(x) == width for x in lines):
            for n in range(count):
                for col in range(width):
                    if lines[n][col] not in ALPHABET:
                        raise MrzError(
                            "line %d column %d: %r is not an MRZ character"
                            % (n + 1, col + 1, lines[n][col])
                        )
            return fmt
    shape = ", ".join(str(len(x)) if isinstance(x, str) else "?" for x in lines)
    raise MrzError(
        "%d lines of lengths %s match no MRZ format (TD1 3x30, TD2 2x36, TD3 2x44)"
        % (len(lines), shape)
    )


def parse(lines):
    """Return the fields and check results of an MRZ given as a list of lines.

    Keys: ``format``, ``document_code``, ``issuing_state``, ``document_number``,
    ``surname``, ``given_names``, ``nationality``, ``birth_date`` and ``expiry_date``
    (YYMMDD), ``sex``, ``optional``, ``personal_number``, ``checks`` (name -> bool)
    and ``valid`` (every check passed).
    """
    fmt = _validate(lines)
    checks = {}
    if fmt == "TD1":
        l1, l2, l3 = lines
        number, number_cd = l1[5:14], l1[14]
        optional1 = l1[15:30]
        # A document number longer than 9 characters continues in the optional data,
        # followed by its check digit (ICAO 9303-5 4.2.2, note j).
        if number_cd == "<" and optional1[0] != "<":
            end = optional1.find("<")
            end = len(optional1) if end < 0 else end
            number = number + optional1[: end - 1]
            number_cd = optional1[end - 1]
            optional1 = optional1[end:]
        checks["document_number"] = _check(number, number_cd)
        birth, expiry = l2[0:6], l2[8:14]
        checks["birth_date"] = _check(birth, l2[6])
        checks["expiry_date"] = _check(expiry, l2[14])
        composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
        checks["composite"] = _check(composite, l2[29])
        surname, given = _name(l3)
        optional = _strip(optional1) + ("/" + _strip(l2[18:29]) if _strip(l2[18:29]) else "")
        fields = {
            "document_code": _strip(l1[0:2]),
            "issuing_state": _strip(l1[2:5]),
            "document_number": _strip(number),
            "birth_date": birth,
            "sex": l2[7],
            "expiry_date": expiry,
            "nationality": _strip(l2[15:18]),
            "optional": optional,
            "surname": surname,
            "given_names": given,
            # The Kyrgyz ID card carries the 14-digit personal number in optional data 1.
            "personal_number": _personal(_strip(optional1)),
        }
    else:
        l1, l2 = lines
        surname, given = _name(l1[5:])
        number, number_cd = l2[0:9], l2[9]
        birth, expiry = l2[13:19], l2[21:27]
        checks["document_number"] = _check(number, number_cd)
        checks["birth_date"] = _check(birth, l2[19])
        checks["expiry_date"] = _check(expiry, l2[27])
        if fmt == "TD3":
            optional = l2[28:42]
            checks["personal_number"] = _check(optional, l2[42])
            composite = l2[0:10] + l2[13:20] + l2[21:43]
            checks["composite"] = _check(composite, l2[43])
        else:
            optional = l2[28:35]
            composite = l2[0:10] + l2[13:20] + l2[21:35]
            checks["composite"] = _check(composite, l2[35])
        fields = {
            "document_code": _strip(l1[0:2]),
            "issuing_state": _strip(l1[2:5]),
            "document_number": _strip(number),
            "birth_date": birth,
            "sex": l2[20],
            "expiry_date": expiry,
            "nationality": _strip(l2[10:13]),
            "optional": _strip(optional),
            "surname": surname,
            "given_names": given,
            "personal_number": _personal(_strip(optional)),
        }
    valid = True
    for name in checks:
        valid = valid and checks[name]
    fields["format"] = fmt
    fields["checks"] = checks
    fields["valid"] = valid
    return fields


def _personal(text):
    return text if len(text) == 14 and text.isdigit() else ""


class LineAssembler:
    """Collects CR/LF-terminated lines from a reader into complete documents.

    A line of a length no format uses, or a run of lines that cannot form a
    document, resets the assembler; ``errors`` counts what was thrown away.
    """

    def __init__(self):
        self.partial = b""
        self.lines = []
        self.errors = 0

    def feed(self, data):
        """Add received bytes; return a list of documents (each a list of line strings)."""
        self.partial += data
        documents = []
        while True:
            end = -1
            for i in range(len(self.partial)):
                if self.partial[i] in (10, 13):
                    end = i
                    break
            if end < 0:
                if len(self.partial) > MAX_LINE:
                    self.errors += 1
                    self.partial = b""
                    self.lines = []
                return documents
            raw = self.partial[:end]
            self.partial = self.partial[end + 1 :]
            if not raw:
                continue  # the LF of CR LF, or a blank separator line
            try:
                line = raw.decode().strip()
            except UnicodeError:
                self.errors += 1
                self.lines = []
                continue
            if len(line) not in (30, 36, 44):
                self.errors += 1
                self.lines = []
                continue
            if self.lines and len(self.lines[0]) != len(line):
                self.errors += 1
                self.lines = []
            self.lines.append(line)
            want = 3 if len(line) == 30 else 2
            if len(self.lines) == want:
                documents.append(self.lines)
                self.lines = []
