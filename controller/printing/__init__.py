"""Printing the results protocol on a thermal printer (ESC/POS through python-escpos).

``config`` reads the print settings (which printer, paper, language, who signs),
``protocol_layout`` lays the protocol out as lines, ``device`` opens the printer and reads its
status, ``job`` prints with status checks before, between sections and after, and
``service`` runs print jobs for the station in the background and keeps the
printer's last known status for the dashboard.
"""
