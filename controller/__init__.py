"""The station controller, one package per domain: station, store, checkin, intake, polls,
election, ballots, biometrics, nist, printing, dashboard.

The controller trusts nothing it receives: every device message is parsed, its tag
verified under the device's key and its sequence number checked against a replay
window persisted in SQLite, and every effect is committed in the same transaction as
that window and the reply it produces, so a redelivered message is answered again
and never applied twice.
"""
