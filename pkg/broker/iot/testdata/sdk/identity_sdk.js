// Drives the fleet provisioning service of `iotctl broker --iot` with the
// official AWS IoT Device SDK for JavaScript v2: the request-response
// IotIdentityClientv2 over MQTT 5 and the v1 IotIdentityClient over MQTT
// 3.1.1, both with a claim certificate over mutual TLS; then the
// provisioned certificate connects. Run by TestProvisioningSDK
// (provision_sdk_test.go):
//
//   node identity_sdk.js HOST PORT CA CLAIM_CERT CLAIM_KEY CSR_FILE OUT_DIR
//
// Prints "ok <step>" per step; exits 1 with the failed step on stderr.
'use strict';
const fs = require('fs');
const path = require('path');
const { mqtt, mqtt5, iot } = require('aws-crt');
const { iotidentity } = require('aws-iot-device-sdk-v2');

const [host, port, caFile, certFile, keyFile, csrFile, outDir] = process.argv.slice(2);
const template = 'FleetTemplate';

function check(cond, what, got) {
  if (!cond) {
    throw new Error(what + (got === undefined ? '' : ': got ' + JSON.stringify(got)));
  }
  console.log('ok ' + what);
}

function timeout(p, ms, what) {
  return Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error('timed out: ' + what)), ms))]);
}

function modeled(err) {
  return err && (err.modeledError || (err.cause && err.cause.modeledError));
}

async function mqtt5Client(cert, key, clientId) {
  const builder = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromPath(host, cert, key);
  builder.withCertificateAuthorityFromPath(undefined, caFile);
  builder.withPort(Number(port));
  builder.withConnectProperties({ clientId, keepAliveIntervalSeconds: 60 });
  const client = new mqtt5.Mqtt5Client(builder.build());
  const connected = new Promise((resolve, reject) => {
    client.on('connectionSuccess', resolve);
    client.on('connectionFailure', (e) => reject(new Error('connect: ' + JSON.stringify(e.reasonCode || e.error))));
  });
  client.start();
  await timeout(connected, 10000, 'MQTT 5 connect as ' + clientId);
  return client;
}

async function stop(client) {
  const stopped = new Promise((resolve) => client.on('stopped', resolve));
  client.stop();
  await timeout(stopped, 10000, 'MQTT 5 stop');
}

async function v2() {
  const client = await mqtt5Client(certFile, keyFile, 'claim-v2');
  check(true, 'v2: MQTT 5 connected with the claim certificate');
  const identity = iotidentity.IotIdentityClientv2.newFromMqtt5(client, {
    maxRequestResponseSubscriptions: 4, maxStreamingSubscriptions: 2, operationTimeoutInSeconds: 20,
  });
  let keys;
  try {
    keys = await identity.createKeysAndCertificate({});
    check(/^[0-9a-f]{64}$/.test(keys.certificateId) && keys.certificatePem.includes('BEGIN CERTIFICATE') &&
      keys.privateKey.includes('PRIVATE KEY') && keys.certificateOwnershipToken, 'v2: CreateKeysAndCertificate accepted', keys.certificateId);

    let err;
    try {
      await identity.registerThing({ templateName: template, certificateOwnershipToken: 'forged', parameters: { SerialNumber: 'v2' } });
    } catch (e) { err = e; }
    const m = modeled(err);
    check(m && m.statusCode === 400 && m.errorCode === 'InvalidCertificateOwnershipToken', 'v2: RegisterThing with a forged token rejected', m || (err && err.message));

    const reg = await identity.registerThing({ templateName: template, certificateOwnershipToken: keys.certificateOwnershipToken, parameters: { SerialNumber: 'v2' } });
    check(reg.thingName === 'dev-v2' && reg.deviceConfiguration.Serial === 'v2', 'v2: RegisterThing accepted', reg);

    const csr = fs.readFileSync(csrFile, 'utf8');
    const fromCsr = await identity.createCertificateFromCsr({ certificateSigningRequest: csr });
    check(/^[0-9a-f]{64}$/.test(fromCsr.certificateId) && fromCsr.certificateOwnershipToken && fromCsr.privateKey === undefined,
      'v2: CreateCertificateFromCsr accepted', fromCsr.certificateId);
    fs.writeFileSync(path.join(outDir, 'csr-cert.pem'), fromCsr.certificatePem);
    fs.writeFileSync(path.join(outDir, 'csr-token'), fromCsr.certificateOwnershipToken);
  } finally {
    identity.close();
    await stop(client);
  }

  const devCert = path.join(outDir, 'dev-v2.pem');
  const devKey = path.join(outDir, 'dev-v2.key');
  fs.writeFileSync(devCert, keys.certificatePem);
  fs.writeFileSync(devKey, keys.privateKey, { mode: 0o600 });
  const dev = await mqtt5Client(devCert, devKey, 'dev-v2');
  try {
    const sub = await dev.subscribe({ subscriptions: [{ topicFilter: 'device/dev-v2/cmd', qos: mqtt5.QoS.AtLeastOnce }] });
    check(sub.reasonCodes[0] === 1, 'v2: the provisioned certificate connects and subscribes as its template allows', sub.reasonCodes);
  } finally {
    await stop(dev);
  }
}

async function v1() {
  const config = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path(certFile, keyFile)
    .with_certificate_authority_from_path(undefined, caFile)
    .with_endpoint(host)
    .with_port(Number(port))
    .with_client_id('claim-v1')
    .with_clean_session(true)
    .build();
  const conn = new mqtt.MqttClient().new_connection(config);
  await timeout(conn.connect(), 10000, 'MQTT 3.1.1 connect');
  check(true, 'v1: MQTT 3.1.1 connected with the claim certificate');
  const identity = new iotidentity.IotIdentityClient(conn);
  const q = mqtt.QoS.AtLeastOnce;
  const waiter = () => {
    let resolve;
    const p = new Promise((r) => { resolve = r; });
    return { p, handler: (error, response) => resolve({ error, response }) };
  };
  try {
    const keys = waiter();
    const keysRejected = waiter();
    await identity.subscribeToCreateKeysAndCertificateAccepted({}, q, keys.handler);
    await identity.subscribeToCreateKeysAndCertificateRejected({}, q, keysRejected.handler);
    await identity.publishCreateKeysAndCertificate({}, q);
    const k = await timeout(keys.p, 20000, 'create/json/accepted');
    check(!k.error && /^[0-9a-f]{64}$/.test(k.response.certificateId), 'v1: CreateKeysAndCertificate accepted', k.error);

    const reg = waiter();
    const regRejected = waiter();
    await identity.subscribeToRegisterThingAccepted({ templateName: template }, q, reg.handler);
    await identity.subscribeToRegisterThingRejected({ templateName: template }, q, regRejected.handler);
    await identity.publishRegisterThing({ templateName: template, certificateOwnershipToken: k.response.certificateOwnershipToken }, q);
    const r = await timeout(regRejected.p, 10000, 'provision/json/rejected');
    check(!r.error && r.response.statusCode === 400 && r.response.errorCode === 'InvalidParameters', 'v1: RegisterThing without SerialNumber rejected', r.response);

    const csrToken = fs.readFileSync(path.join(outDir, 'csr-token'), 'utf8');
    await identity.publishRegisterThing({ templateName: template, certificateOwnershipToken: csrToken, parameters: { SerialNumber: 'v1' } }, q);
    const a = await timeout(reg.p, 10000, 'provision/json/accepted');
    check(!a.error && a.response.thingName === 'dev-v1', 'v1: RegisterThing of the CSR certificate accepted', a.response);
  } finally {
    await conn.disconnect();
  }
}

(async () => {
  try {
    await v2();
    await v1();
    console.log('ALL OK');
    process.exit(0);
  } catch (e) {
    console.error('FAILED: ' + (e && e.stack ? e.stack : e));
    process.exit(1);
  }
})();
