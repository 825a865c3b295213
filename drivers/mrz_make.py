"""Writing machine-readable zones: valid TD1 and TD3 lines from a document's fields.

Host-side only (the rig's simulated documents, tests): devices read MRZs, they never
write them, so this stays out of the firmware image and off a terminal's heap.
"""

from drivers.mrz import MrzError, _value, check_digit


def _field(text, width, what):
    text = text.upper().replace(" ", "<").replace("-", "<")
    if len(text) > width:
        raise MrzError("%s %r is longer than %d characters" % (what, text, width))
    for ch in text:
        _value(ch)
    return text + "<" * (width - len(text))


def _names(surname, given_names, width):
    text = surname.upper().replace(" ", "<") + "<<" + given_names.upper().replace(" ", "<")
    return _field(text[:width], width, "name")


def make_td1(
    document_number,
    birth_date,
    sex,
    expiry_date,
    nationality,
    surname,
    given_names,
    issuing_state=None,
    document_code="I",
    personal_number="",
    optional2="",
):
    """Build the three lines of a TD1 (ID card) MRZ with correct check digits."""
    issuing_state = issuing_state or nationality
    number = _field(document_number, 9, "document number")
    l1 = (
        _field(document_code, 2, "document code")
        + _field(issuing_state, 3, "state")
        + number
        + str(check_digit(number))
        + _field(personal_number, 15, "optional data")
    )
    l2 = (
        birth_date
        + str(check_digit(birth_date))
        + _field(sex, 1, "sex")
        + expiry_date
        + str(check_digit(expiry_date))
        + _field(nationality, 3, "nationality")
        + _field(optional2, 11, "optional data")
    )
    composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
    l2 = l2 + str(check_digit(composite))
    return [l1, l2, _names(surname, given_names, 30)]


def make_td3(
    document_number,
    birth_date,
    sex,
    expiry_date,
    nationality,
    surname,
    given_names,
    issuing_state=None,
    document_code="P",
    personal_number="",
):
    """Build the two lines of a TD3 (passport) MRZ with correct check digits."""
    issuing_state = issuing_state or nationality
    l1 = _field(document_code, 2, "document code") + _field(issuing_state, 3, "state")
    l1 = l1 + _names(surname, given_names, 39)
    number = _field(document_number, 9, "document number")
    personal = _field(personal_number, 14, "personal number")
    personal_cd = str(check_digit(personal)) if personal_number else "<"
    l2 = (
        number
        + str(check_digit(number))
        + _field(nationality, 3, "nationality")
        + birth_date
        + str(check_digit(birth_date))
        + _field(sex, 1, "sex")
        + expiry_date
        + str(check_digit(expiry_date))
        + personal
        + personal_cd
    )
    composite = l2[0:10] + l2[13:20] + l2[21:43]
    return [l1, l2 + str(check_digit(composite))]
