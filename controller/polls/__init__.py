"""The polls: their state (``state``), closing them (``closing``), the tally
(``tally``), the results document (``results``) and the commission's decisions on
unclear marks (``adjudication``)."""
