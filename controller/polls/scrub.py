"""After the polls close: what the day needed to keep in order is forgotten.

Once the polls are closed no check-in is answered again, so the cached answers of the
terminals (each names a voter) are deleted, and the database is compacted
(``Store.compact``): rows, images and pages rewritten in key order, the WAL file
emptied, so the files keep no trace of the order in which ballots were recorded.
Run after every closing call and at every start of a closed station, so a crash in
between only delays it (``docs/secrecy.md``).
"""

from __future__ import annotations

import logging
import sqlite3

from controller.polls.state import CLOSED, polls_state
from controller.store.database import Store

log = logging.getLogger("shailoo.polls")


def scrub_after_close(store: Store) -> bool:
    """Forget the day's order if the polls are closed; True when done.

    A failure is logged and leaves everything as it was (the next closing call or
    start tries again): it must never stand in the way of the results.
    """
    try:
        with store.tx() as conn:
            if polls_state(conn) != CLOSED:
                return False
            conn.execute(
                "DELETE FROM replies WHERE device IN "
                "(SELECT id FROM devices WHERE role = 'idterminal')"
            )
        store.compact()
    except sqlite3.Error:
        log.exception("could not compact the station database after closing")
        return False
    return True
