"""The station's MQTT broker: its certificates, accounts, ACL and Mosquitto configuration.

``shailoo broker config`` (``cli.py``) writes everything a Mosquitto 2 broker needs to
serve one station (``files.py``): a station CA and the broker's server certificate
(``pki.py``), one account per device and one for the controller (``passwd.py``), the
topic ACL (``acl.py``) and ``mosquitto.conf`` (``mosquitto_conf.py``). ``login.py`` is
the client side: what a paho client needs to log in over TLS.
"""
