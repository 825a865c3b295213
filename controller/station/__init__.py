"""The station itself: its setup, its devices, the MQTT bridge and the message dispatch.

``app`` wires a station together (``Station``), ``setup`` reads the station file,
``registry`` knows the devices and their keys, ``bridge`` is the MQTT connection,
``dispatch`` applies each signed device message through one routing table,
``events`` feeds the dashboard's live updates, and ``cli`` is ``shailoo controller``.
"""
