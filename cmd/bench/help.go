package bench

const longHelp = `Measure an MQTT5 broker: how many messages per second it takes and delivers,
how long they take end to end, whether any are lost, duplicated or reordered,
and how fast it accepts connections. Every connection setting and auth method
of the profile applies; with no --endpoint, bench starts the embedded broker
in this process and says so on stderr.

Modes:
  roundtrip (default)  -c publishers and --subscribers subscribers in this
                       process: publish rate, receive rate, end-to-end latency,
                       publish→ack latency (QoS>0), delivery counters
  pub                  publishers only: publish rate and publish→ack latency
  sub                  subscribers only, for publishers elsewhere (another
                       'bench pub' with the same --topic and --run-id); -c is
                       how many publishers to expect
  conn                 open -c connections (over --ramp), keep them until the
                       last is up, close them: connections per second and
                       connection set-up latency
  merge FILE…          add up the JSON results (and HDR logs) of shards

What is measured, and how:
  Each message starts with a 28-byte binary header: publisher index, sequence
  number, run tag and a send timestamp; the rest of --size is zeros. With
  --template, the header is followed by the template's output instead, the
  same Go template as pub --template: {{.Count}} (the header's sequence
  number + 1), {{.Time}}, {{.Random N}}, {{.UUID}}, {{.ClientID}} (the
  publisher's), {{.Topic}}; --size does not apply.
  Publishers connect first and are released together (behind a barrier);
  --warmup messages are flagged and not counted.

  Closed loop (no --rate): each publisher sends as fast as flow control allows,
  keeping up to --inflight QoS>0 messages unacknowledged (default: the
  server's Receive Maximum). Open loop (--rate R): the R messages/s are spread
  evenly over the publishers on a fixed schedule. A publisher that falls
  behind sends its late messages at once, and every latency is measured from
  the INTENDED send time, so a stall shows up in the percentiles instead of
  being hidden (no coordinated omission); behind_schedule_max_us says how far
  the publishers fell behind.

  end-to-end   subscriber receive time minus the header's timestamp. Within one
               process the clock is monotonic; across hosts ('bench sub'
               against another host's 'bench pub') it is only as good as
               their clock synchronisation.
  publish→ack  the PUBACK (QoS 1) or PUBCOMP (QoS 2) time minus the send time
               (open loop: the intended send time).
  connect      dial, TLS and websocket handshakes and CONNECT→CONNACK.
  Histograms are HdrHistogram (microseconds, 3 significant digits), one per
  client goroutine, merged at the end; percentiles p50 p90 p99 p99.9 max.

  Rates: published / publishing period, which runs from the start until the
  last message was written (QoS 0) or acknowledged; received / time to the
  last arrival. bytes_per_second counts payload bytes.

  On the wire: the publishers' PUBLISH packets, header to payload, averaged
  ("wire": publishes, bytes, full_topic_bytes). With --topic-alias each
  publisher sends its topic once per connection and then a 2-byte MQTT 5
  topic alias (up to the broker's Topic Alias Maximum; none allowed: full
  topics and a warning); the report shows the size with full topics and the
  bytes saved per PUBLISH.

  Delivery: each subscriber (or, with --shared, the group) follows every
  publisher's sequence numbers with the highest number seen and the gaps below
  it. received counts distinct messages; a repeat counts as duplicated, a
  message filling an earlier gap as out of order, and what never arrived by
  the end (after up to --drain of quiet) as lost. So a run of N messages
  reports N published and, per subscriber, N received + lost.
  refused counts PUBACK/PUBREC reason codes >= 0x80 (by code); ack_timeouts
  the QoS>0 messages still unacknowledged --ack-timeout after publishing
  ended (exit code 6). Lost connections are reported as they happen and
  counted (reconnects; the session reconnects and resends).

  Ctrl-C (SIGINT) or SIGTERM stops publishing, waits up to 1.2s for the
  acknowledgements, disconnects and prints the result of what ran, within 3s
  of the signal whatever the broker does: exit 6 with the count of QoS>0
  messages never acknowledged, else 130. A second signal exits at once.

  Subscribers advertise Receive Maximum 65535 unless --receive-maximum is set,
  so subscriber flow control is not what limits the run.

Topics: -t is a pattern; {i} is the publisher's index across shards and {n}
the run ID. Subscribers subscribe to the pattern with {i} (a whole topic
level) as + (sub mode: {n} too, when no --run-id), or, in a sharded
roundtrip, to their shard's publishers' topics.

Shards: --shard I/N runs clients I·c … I·c+c-1 of a run spread over N
processes; client IDs (<client-id-prefix><run ID>-p<index>, -s, -c) and
topics stay unique across shards when they share --run-id. Give each shard
--hdr-out and merge the results:
  iotctl bench merge shard-*.json shard-*.hlog

AWS IoT Core (--limits aws-iot, or auto on *.amazonaws.com): bench warns when
a connection would exceed 100 publishes/s or 512 KiB/s, or need more than 50
subscriptions, and refuses QoS 2.

Output: the settings in effect, then rates, counters and latency; -o json
writes one JSON object (settings, duration_s, published, acknowledged,
refused, ack_timeouts, received, lost, duplicated, out_of_order, publish_rate,
receive_rate, bytes_per_second, behind_schedule_max_us, wire {publishes,
bytes, full_topic_bytes}, latency_us
{end_to_end, publish_ack, connect: p50 p90 p99 p999 max count}, connections
{opened, failed, reconnects}). Nothing else goes to stdout. Live progress is
shown on stderr when it is a terminal (--no-progress: none); with TERM=dumb
or a terminal of width 0, as one plain line a second.`

const examples = `  iotctl bench                                   # embedded broker, 1 → 1, QoS 0
  iotctl bench --endpoint localhost:1883 -q 1 -c 4 --subscribers 4 --count 100000
  iotctl bench pub --endpoint broker:1883 -q 1 --inflight 1000 --duration 30s
  iotctl bench --rate 5000 -c 50 --duration 1m --warmup 10s -o json > run.json
  iotctl bench conn -c 1000 --ramp 2s --endpoint broker:1883
  iotctl bench pub --endpoint localhost:1883 -q 1 --topic-alias -t 'factory/line-4/press/{i}/telemetry'
  iotctl bench --template '{"seq":{{.Count}},"temp":{{.Random 40}},"id":"{{.UUID}}"}'
  iotctl bench --profile iot -q 1 -c 10 --rate 500 --subscribers 10 --shared g1
  iotctl bench merge shard-*.json shard-*.hlog`
