// Drives the Device Shadow service of `iotctl broker --iot` with the
// official AWS IoT Device SDK for JavaScript v2: the request-response
// IotShadowClientv2 over MQTT 5 and the v1 IotShadowClient over MQTT 3.1.1,
// both over mutual TLS. Run by TestShadowSDK (shadow_sdk_test.go):
//
//   node shadow_sdk.js HOST PORT CA CERT KEY THING
//
// Prints "ok <step>" per step; exits 1 with the failed step on stderr.
'use strict';
const { mqtt, mqtt5, iot } = require('aws-crt');
const { iotshadow } = require('aws-iot-device-sdk-v2');

const [host, port, caFile, certFile, keyFile, thing] = process.argv.slice(2);

function check(cond, what, got) {
  if (!cond) {
    throw new Error(what + (got === undefined ? '' : ': got ' + JSON.stringify(got)));
  }
  console.log('ok ' + what);
}

function timeout(p, ms, what) {
  return Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error('timed out: ' + what)), ms))]);
}

// errorCode finds the service's code in a v2 client error.
function errorCode(err) {
  const m = err && (err.modeledError || (err.cause && err.cause.modeledError));
  return m ? m.code : undefined;
}

async function v2() {
  const builder = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromPath(host, certFile, keyFile);
  builder.withCertificateAuthorityFromPath(undefined, caFile);
  builder.withPort(Number(port));
  builder.withConnectProperties({ clientId: thing, keepAliveIntervalSeconds: 60 });
  const client = new mqtt5.Mqtt5Client(builder.build());
  const connected = new Promise((resolve, reject) => {
    client.on('connectionSuccess', resolve);
    client.on('connectionFailure', (e) => reject(new Error('connect: ' + JSON.stringify(e.reasonCode || e.error))));
  });
  client.start();
  await timeout(connected, 10000, 'MQTT 5 connect');
  check(true, 'v2: MQTT 5 connected with mutual TLS');

  const shadow = iotshadow.IotShadowClientv2.newFromMqtt5(client, {
    maxRequestResponseSubscriptions: 4, maxStreamingSubscriptions: 4, operationTimeoutInSeconds: 10,
  });
  try {
    // The delta stream first, as a device does.
    const deltas = [];
    let deltaSeen;
    const gotDelta = new Promise((resolve) => { deltaSeen = resolve; });
    const stream = shadow.createShadowDeltaUpdatedStream({ thingName: thing });
    stream.on('incomingPublish', (ev) => { deltas.push(ev.message); deltaSeen(); });
    const subscribed = new Promise((resolve, reject) => {
      stream.on('subscriptionStatus', (ev) => (ev.error ? reject(ev.error) : resolve()));
    });
    stream.open();
    await timeout(subscribed, 10000, 'delta stream subscription');

    let err;
    try { await shadow.getShadow({ thingName: thing }); } catch (e) { err = e; }
    check(errorCode(err) === 404, 'v2: get of a missing shadow is rejected with 404', err && (err.modeledError || err.message));

    const up = await shadow.updateShadow({ thingName: thing, state: { desired: { color: 'red', size: 3 } } });
    check(up.version === 1 && up.state.desired.color === 'red' && up.metadata.desired.color.timestamp > 0, 'v2: update desired accepted, version 1', up);
    await timeout(gotDelta, 10000, 'delta event');
    check(deltas[0].state.color === 'red' && deltas[0].version === 1, 'v2: delta event after the update', deltas[0]);

    let got = await shadow.getShadow({ thingName: thing });
    check(got.state.delta.color === 'red' && got.version === 1, 'v2: get shows the delta', got);

    await shadow.updateShadow({ thingName: thing, state: { reported: { color: 'red', size: 3 } } });
    got = await shadow.getShadow({ thingName: thing });
    check(got.version === 2 && got.state.delta === undefined && got.state.reported.color === 'red', 'v2: reported clears the delta', got);

    err = undefined;
    try { await shadow.updateShadow({ thingName: thing, version: 1, state: { desired: { color: 'blue' } } }); } catch (e) { err = e; }
    check(errorCode(err) === 409, 'v2: stale version rejected with 409', err && (err.modeledError || err.message));

    const nu = await shadow.updateNamedShadow({ thingName: thing, shadowName: 'config', state: { reported: { interval: 60 } } });
    check(nu.version === 1, 'v2: named shadow update accepted', nu);
    const ng = await shadow.getNamedShadow({ thingName: thing, shadowName: 'config' });
    check(ng.state.reported.interval === 60, 'v2: named shadow get', ng);
    const nd = await shadow.deleteNamedShadow({ thingName: thing, shadowName: 'config' });
    check(nd.version === 1, 'v2: named shadow delete', nd);
    const d = await shadow.deleteShadow({ thingName: thing });
    check(d.version === 2, 'v2: classic shadow delete', d);
    stream.close();
  } finally {
    shadow.close();
    const stopped = new Promise((resolve) => client.on('stopped', resolve));
    client.stop();
    await timeout(stopped, 10000, 'MQTT 5 stop');
  }
}

async function v1() {
  const config = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path(certFile, keyFile)
    .with_certificate_authority_from_path(undefined, caFile)
    .with_endpoint(host)
    .with_port(Number(port))
    .with_client_id(thing + '-v1')
    .with_clean_session(true)
    .build();
  const conn = new mqtt.MqttClient().new_connection(config);
  await timeout(conn.connect(), 10000, 'MQTT 3.1.1 connect');
  check(true, 'v1: MQTT 3.1.1 connected with mutual TLS');
  const shadow = new iotshadow.IotShadowClient(conn);
  const q = mqtt.QoS.AtLeastOnce;
  const waiter = () => {
    let resolve;
    const p = new Promise((r) => { resolve = r; });
    return { p, handler: (error, response) => resolve({ error, response }) };
  };
  try {
    const accepted = waiter();
    const rejected = waiter();
    const getAccepted = waiter();
    await shadow.subscribeToUpdateShadowAccepted({ thingName: thing }, q, accepted.handler);
    await shadow.subscribeToUpdateShadowRejected({ thingName: thing }, q, rejected.handler);
    await shadow.subscribeToGetShadowAccepted({ thingName: thing }, q, getAccepted.handler);

    await shadow.publishUpdateShadow({ thingName: thing, clientToken: 'v1-token', state: { reported: { on: true } } }, q);
    const a = await timeout(accepted.p, 10000, 'update/accepted');
    check(!a.error && a.response.clientToken === 'v1-token' && a.response.state.reported.on === true, 'v1: update accepted with the client token', a);

    await shadow.publishUpdateShadow({ thingName: thing, clientToken: 'v1-bad', version: 99, state: { reported: { on: false } } }, q);
    const r = await timeout(rejected.p, 10000, 'update/rejected');
    check(!r.error && r.response.code === 409 && r.response.clientToken === 'v1-bad' && r.response.message === 'Version conflict', 'v1: update rejected 409 with the client token', r);

    await shadow.publishGetShadow({ thingName: thing, clientToken: 'v1-get' }, q);
    const g = await timeout(getAccepted.p, 10000, 'get/accepted');
    check(!g.error && g.response.state.reported.on === true && g.response.clientToken === 'v1-get', 'v1: get accepted', g);
  } finally {
    await conn.disconnect();
  }
}

// legacy drives thingShadow of the previous SDK (aws-iot-device-sdk, over
// mqtt.js), when it is installed: it tracks versions itself and sends them.
async function legacy() {
  let awsIot;
  try {
    awsIot = require('aws-iot-device-sdk');
  } catch (e) {
    console.log('skip legacy: aws-iot-device-sdk is not installed');
    return;
  }
  const ts = awsIot.thingShadow({
    keyPath: keyFile, certPath: certFile, caPath: caFile, clientId: thing + '-legacy',
    host, port: Number(port), protocol: 'mqtts', reconnectPeriod: 0,
  });
  const events = [];
  let wake = () => {};
  const waitFor = (pred, what) => timeout(new Promise((resolve) => {
    const look = () => { const ev = events.find(pred); if (ev) { resolve(ev); } else { wake = look; } };
    look();
  }), 10000, what);
  const push = (ev) => { events.push(ev); wake(); };
  ts.on('status', (name, stat, token, doc) => push({ kind: 'status', stat, token, doc }));
  ts.on('delta', (name, doc) => push({ kind: 'delta', doc }));
  ts.on('timeout', (name, token) => push({ kind: 'timeout', token }));
  ts.on('error', (e) => push({ kind: 'error', e }));
  try {
    await timeout(new Promise((resolve) => ts.on('connect', resolve)), 10000, 'legacy connect');
    await timeout(new Promise((resolve) => ts.register(thing, { persistentSubscribe: true }, resolve)), 10000, 'legacy register');
    check(true, 'legacy: thingShadow connected and registered');
    const t1 = ts.update(thing, { state: { desired: { legacy: 1 } } });
    const s1 = await waitFor((ev) => ev.kind === 'status' && ev.token === t1, 'legacy update status');
    check(s1.stat === 'accepted' && s1.doc.state.desired.legacy === 1, 'legacy: update accepted', s1);
    const d = await waitFor((ev) => ev.kind === 'delta', 'legacy delta');
    check(d.doc.state.legacy === 1, 'legacy: delta received', d.doc);
    // The SDK now sends the version it saw: accepted again.
    const t2 = ts.update(thing, { state: { reported: { legacy: 1 } } });
    const s2 = await waitFor((ev) => ev.kind === 'status' && ev.token === t2, 'legacy versioned update');
    check(s2.stat === 'accepted', 'legacy: update with its tracked version accepted', s2);
    const t3 = ts.get(thing);
    const s3 = await waitFor((ev) => ev.kind === 'status' && ev.token === t3, 'legacy get');
    check(s3.stat === 'accepted' && s3.doc.state.delta === undefined && s3.doc.state.reported.legacy === 1, 'legacy: get without delta', s3.doc);
  } finally {
    await new Promise((resolve) => ts.end(false, resolve));
  }
}

(async () => {
  try {
    await v2();
    await v1();
    await legacy();
    console.log('ALL OK');
    process.exit(0);
  } catch (e) {
    console.error('FAILED: ' + (e && e.stack ? e.stack : e));
    process.exit(1);
  }
})();
