"""Words of the printed results protocol in Kyrgyz, Russian and English.

Labels the dashboard already shows (ballots issued and cast, undervotes, the control
checks) come from the dashboard's texts, so paper and screen say the same thing.
"""

from __future__ import annotations

from controller.dashboard.i18n import TEXTS as DASHBOARD

PROTOCOL: dict[str, dict[str, str]] = {
    "ky": {
        "title": "ПРОТОКОЛ",
        "subtitle": "участкалык шайлоо комиссиясынын добуш берүүнүн жыйынтыктары жөнүндө",
        "test_mode": "ТЕСТ РЕЖИМИ — ДОБУШТАР ЭСЕПКЕ АЛЫНБАЙТ",
        "station": "Шайлоо участкасы",
        "election": "Шайлоо",
        "date": "Шайлоо күнү",
        "closed_at": "Добуш берүү жабылды",
        "control": "Контролдук маалыматтар",
        "scanner": "Сканердин эсептегичи",
        "commission": "Комиссиянын мүчөлөрү",
        "chair": "Төрага",
        "deputy": "Төраганын орун басары",
        "secretary": "Катчы",
        "member": "Комиссиянын мүчөсү",
        "signature": "Колу",
        "hash": "Протоколдун SHA-256 хеши",
        "seal": "Аудит журналынын мөөрү",
        "copy": "Нуска %d / %d",
        "printed_at": "Басылып чыкты",
    },
    "ru": {
        "title": "ПРОТОКОЛ",
        "subtitle": "участковой избирательной комиссии об итогах голосования",
        "test_mode": "ТЕСТОВЫЙ РЕЖИМ — ГОЛОСА НЕ УЧИТЫВАЮТСЯ",
        "station": "Избирательный участок",
        "election": "Выборы",
        "date": "День выборов",
        "closed_at": "Голосование закрыто",
        "control": "Контрольные данные",
        "scanner": "Счётчик сканера",
        "commission": "Члены комиссии",
        "chair": "Председатель",
        "deputy": "Заместитель председателя",
        "secretary": "Секретарь",
        "member": "Член комиссии",
        "signature": "Подпись",
        "hash": "SHA-256 протокола",
        "seal": "Печать журнала аудита",
        "copy": "Экземпляр %d из %d",
        "printed_at": "Напечатано",
    },
    "en": {
        "title": "PROTOCOL",
        "subtitle": "of the precinct election commission on the results of the vote",
        "test_mode": "TEST MODE — VOTES ARE NOT COUNTED",
        "station": "Polling station",
        "election": "Election",
        "date": "Election day",
        "closed_at": "Polls closed",
        "control": "Control figures",
        "scanner": "Scanner counter",
        "commission": "Commission members",
        "chair": "Chair",
        "deputy": "Deputy chair",
        "secretary": "Secretary",
        "member": "Member",
        "signature": "Signature",
        "hash": "SHA-256 of the protocol",
        "seal": "Audit log seal",
        "copy": "Copy %d of %d",
        "printed_at": "Printed",
    },
}


def words(language: str) -> dict[str, str]:
    """Every text of the protocol in ``language``: its own and the dashboard's."""
    return {**DASHBOARD[language], **PROTOCOL[language]}
