"""Checking a voter in: the decision to issue a ballot (``check_in``), the voter list
(``voter_list``), the fingers a terminal uploads (``finger_samples``), the voters'
enrolled fingers (``finger_references``) and comparing the two (``finger_check``)."""
