"""The controller's MQTT connection (paho-mqtt).

The controller logs in with its own account over TLS (``controller.broker.login``)
and keeps a persistent session (clean session off), so messages that devices
publish while it is down are queued by the broker and delivered when it comes
back. Every message is handled to the end inside paho's callback, and paho
acknowledges a QoS 1 message only after the callback returns: a controller
killed half-way gets the message again.
Replies go out with QoS 1 on ``shailoo/v1/<station>/ctl/<device>``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from controller.broker.login import BrokerLogin
from protocol import topics

log = logging.getLogger("shailoo.bridge")

Handler = Callable[[str, bytes], None]


class Bridge:
    """One paho client subscribed to the station's device topics."""

    def __init__(
        self,
        station: str,
        host: str,
        port: int,
        handler: Handler,
        keepalive: int = 30,
        login: BrokerLogin | None = None,
    ) -> None:
        self.station = station
        self.host = host
        self.port = port
        self.handler = handler
        self.keepalive = keepalive
        # The station broker takes the user name as the client id; the same id here
        # keeps one persistent session whichever broker it is.
        self.client_id = login.username if login is not None else f"ctl.{station}"
        self._ready = threading.Event()
        self._pending_subs: set[int] = set()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        if login is not None:
            login.configure(self._client)
        else:
            log.warning("no broker login: connecting without TLS and password "
                        "(the training broker only)")
        self._client.max_queued_messages_set(0)  # replies are never dropped for lack of room
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect

    @property
    def subscriptions(self) -> list[str]:
        """The topic filters the controller listens to."""
        return [topics.up(self.station, "+"), topics.status(self.station, "+")]

    def start(self, timeout: float = 15) -> None:
        """Connect and subscribe; return once the broker confirmed the subscriptions."""
        self._client.connect_async(self.host, self.port, self.keepalive)
        self._client.loop_start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"no MQTT connection to {self.host}:{self.port} in {timeout} s")

    def stop(self) -> None:
        """Disconnect cleanly (the persistent session stays with the broker)."""
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        """True while subscribed on a live connection."""
        return self._ready.is_set() and self._client.is_connected()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish a reply with QoS 1 (queued by paho while the connection is down)."""
        info = self._client.publish(topic, payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.error("publishing to %s failed: %s", topic, mqtt.error_string(info.rc))

    # paho callbacks, on paho's network thread

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        log.info(
            "connected to %s:%d (session present: %s)", self.host, self.port, flags.session_present
        )
        result, mid = client.subscribe([(t, 1) for t in self.subscriptions])
        if result == mqtt.MQTT_ERR_SUCCESS:
            self._pending_subs.add(mid)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if mid in self._pending_subs:
            self._pending_subs.discard(mid)
            if any(rc.is_failure for rc in reason_codes):
                log.error("broker refused a subscription: %s", reason_codes)
                return
            self._ready.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        # The handler never raises; if it did, paho's loop thread would die with it.
        try:
            self.handler(message.topic, bytes(message.payload))
        except Exception:
            log.exception("message handler failed on %s", message.topic)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._ready.clear()
        if reason_code.is_failure:
            log.warning("lost the broker (%s); reconnecting", reason_code)
