package root

// mqtt311Help is 'iotctl help mqtt311'.
const mqtt311Help = `MQTT 3.1.1

iotctl speaks MQTT 5 by default. --mqtt-version 3.1.1 (-V 3.1.1; also 311,
mqttv311, and mqttv5 for 5, as mosquitto spells them; IOTCTL_MQTT_VERSION,
or mqtt-version in a profile) speaks MQTT 3.1.1 instead, to brokers or
gateways that have no MQTT 5. Every command that connects takes it.

What stays the same: QoS 0, 1 and 2 both ways, many messages in flight,
reconnect with backoff, resubscribing and republishing when the broker lost
the session, keepalive, every transport, auth method and proxy, AWS IoT
(which speaks both) with shadow, jobs and provision.

What differs:
  CONNECT          protocol level 4, no properties. --clean-start is Clean
                   Session: --clean-start=false (with --client-id) makes the
                   broker keep the session, until a clean connect; a
                   reconnect that finds it present sends unacknowledged
                   messages again with DUP set.
  in flight        a 3.1.1 broker says nothing of how many unacknowledged
                   messages it takes: iotctl keeps at most --inflight N
                   (default 1000; 100 under --limits aws-iot). pub and
                   bench at QoS 2 keep 20 (mosquitto's default
                   max_inflight_messages): a 3.1.1 broker cannot refuse a
                   QoS 2 message over its quota, and mosquitto answers a
                   plain PUBREC and drops it. Raise --inflight only as far
                   as the broker allows.
  refusals         CONNACK return codes 1-5 are named (unacceptable
                   protocol version, identifier rejected, server
                   unavailable, bad user name or password, not
                   authorized): exit 4. A refused subscription is SUBACK
                   return code 0x80: exit 4. There are no reason codes in
                   PUBACK: a 3.1.1 broker that refuses a publish closes the
                   connection (AWS IoT does) or drops the message.
  whoami           prints "MQTT version 3.1.1" and what the CONNACK says
                   (session present), not MQTT 5's capabilities
  req              needs --response-topic T: the request carries neither a
                   response topic nor correlation data, so every message
                   on T is taken for a response (req says so on stderr)
  reply            needs --response-topic T: every message on FILTER is
                   answered on T with the bare output (T must not match
                   FILTER)
  sub              --remove-retained skips its own deletions coming back
                   (3.1.1 has no No Local)

MQTT 5-only settings are usage errors (exit 2) naming the setting, before
connecting, never dropped without a word: --session-expiry,
--receive-maximum, --max-packet-size, --connect-property,
--request-response-info, --will-delay, --will-expiry, --will-content-type,
--will-property; pub --user-property, --content-type, --response-topic,
--correlation-data, --message-expiry, --payload-format; sub --no-local,
--retain-as-published, --retain-handling, --subscribe-property.
A profile that sets one of them and is used under 3.1.1 fails the same way.

Examples:
  iotctl sub -V 3.1.1 --endpoint old-broker:1883 -t 'sensors/#' -q 1
  iotctl pub -V mqttv311 -t a/b -m hi -q 2
  iotctl sub -V 311 --client-id worker-1 --clean-start=false -t jobs/# -q 1
  iotctl reply -V 3.1.1 -t svc/time --response-topic svc/time/answers -- date -u
  iotctl req -V 3.1.1 -t svc/time --response-topic svc/time/answers -m now
`
