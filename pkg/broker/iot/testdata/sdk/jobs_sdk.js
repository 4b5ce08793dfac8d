// Drives the Jobs service of `iotctl broker --iot` with the official AWS
// IoT Device SDK for JavaScript v2: the request-response IotJobsClientv2
// over MQTT 5 and the v1 IotJobsClient over MQTT 3.1.1, both over mutual
// TLS, and, when installed, the previous SDK's jobs client
// (aws-iot-device-sdk). Run by TestJobsSDK (jobs_sdk_test.go), which
// creates jobs sdk-a and sdk-b for THING, sdk-c for THING-v1 and legacy-a
// and legacy-b for THING-legacy:
//
//   node jobs_sdk.js HOST PORT CA CERT KEY THING
//
// Prints "ok <step>" per step; exits 1 with the failed step on stderr.
'use strict';
const { mqtt, mqtt5, iot } = require('aws-crt');
const { iotjobs } = require('aws-iot-device-sdk-v2');

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

// events collects a stream's events; next(pred) waits for a matching one.
function events() {
  const seen = [];
  let wake = () => {};
  return {
    push(ev) { seen.push(ev); wake(); },
    next(pred, what) {
      return timeout(new Promise((resolve) => {
        const look = () => { const i = seen.findIndex(pred); if (i >= 0) { resolve(seen.splice(i, 1)[0]); } else { wake = look; } };
        look();
      }), 10000, what);
    },
  };
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

  const jobs = iotjobs.IotJobsClientv2.newFromMqtt5(client, {
    maxRequestResponseSubscriptions: 4, maxStreamingSubscriptions: 4, operationTimeoutInSeconds: 10,
  });
  try {
    const nexts = events();
    const stream = jobs.createNextJobExecutionChangedStream({ thingName: thing });
    stream.on('incomingPublish', (ev) => nexts.push(ev.message));
    const subscribed = new Promise((resolve, reject) => {
      stream.on('subscriptionStatus', (ev) => (ev.error ? reject(ev.error) : resolve()));
    });
    stream.open();
    await timeout(subscribed, 10000, 'notify-next stream subscription');

    const pending = await jobs.getPendingJobExecutions({ thingName: thing });
    check(pending.inProgressJobs.length === 0 && pending.queuedJobs.map((j) => j.jobId).join(',') === 'sdk-a,sdk-b',
      'v2: get lists the queued jobs in order', pending);

    const d = await jobs.describeJobExecution({ thingName: thing, jobId: 'sdk-a' });
    check(d.execution.status === 'QUEUED' && d.execution.jobDocument.step === 'a' && d.execution.versionNumber === 1,
      'v2: describe shows the queued execution and its document', d);

    const s = await jobs.startNextPendingJobExecution({ thingName: thing, stepTimeoutInMinutes: 5, statusDetails: { phase: 'start' } });
    check(s.execution.jobId === 'sdk-a' && s.execution.status === 'IN_PROGRESS' && s.execution.versionNumber === 2 &&
      s.execution.statusDetails.phase === 'start', 'v2: start-next starts sdk-a', s);

    const u = await jobs.updateJobExecution({ thingName: thing, jobId: 'sdk-a', status: 'SUCCEEDED', expectedVersion: 2,
      includeJobExecutionState: true, statusDetails: { phase: 'done' } });
    check(u.executionState.status === 'SUCCEEDED' && u.executionState.versionNumber === 3, 'v2: update to SUCCEEDED accepted', u);

    const ev = await nexts.next((m) => m.execution && m.execution.jobId === 'sdk-b', 'notify-next for sdk-b');
    check(ev.execution.status === 'QUEUED' && ev.execution.jobDocument.step === 'b', 'v2: notify-next names sdk-b', ev);

    let err;
    try { await jobs.updateJobExecution({ thingName: thing, jobId: 'sdk-a', status: 'IN_PROGRESS' }); } catch (e) { err = e; }
    check(errorCode(err) === 'InvalidStateTransition', 'v2: update of a finished execution rejected with InvalidStateTransition',
      err && (err.modeledError || err.message));

    err = undefined;
    try { await jobs.updateJobExecution({ thingName: thing, jobId: 'sdk-b', status: 'IN_PROGRESS', expectedVersion: 7 }); } catch (e) { err = e; }
    check(errorCode(err) === 'VersionMismatch', 'v2: stale expectedVersion rejected with VersionMismatch', err && (err.modeledError || err.message));

    err = undefined;
    try { await jobs.describeJobExecution({ thingName: thing, jobId: 'nojob' }); } catch (e) { err = e; }
    check(errorCode(err) === 'ResourceNotFound', 'v2: describe of an unknown job rejected with ResourceNotFound', err && (err.modeledError || err.message));

    const r = await jobs.updateJobExecution({ thingName: thing, jobId: 'sdk-b', status: 'REJECTED', includeJobDocument: true });
    check(r.jobDocument.step === 'b', 'v2: QUEUED to REJECTED accepted with the document', r);
    const none = await nexts.next((m) => !m.execution, 'notify-next without an execution');
    check(none.timestamp !== undefined, 'v2: notify-next without an execution when none is pending', none);
    stream.close();
  } finally {
    jobs.close();
    const stopped = new Promise((resolve) => client.on('stopped', resolve));
    client.stop();
    await timeout(stopped, 10000, 'MQTT 5 stop');
  }
}

async function v1() {
  const name = thing + '-v1';
  const config = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path(certFile, keyFile)
    .with_certificate_authority_from_path(undefined, caFile)
    .with_endpoint(host)
    .with_port(Number(port))
    .with_client_id(name)
    .with_clean_session(true)
    .build();
  const conn = new mqtt.MqttClient().new_connection(config);
  await timeout(conn.connect(), 10000, 'MQTT 3.1.1 connect');
  check(true, 'v1: MQTT 3.1.1 connected with mutual TLS');
  const jobs = new iotjobs.IotJobsClient(conn);
  const q = mqtt.QoS.AtLeastOnce;
  const got = events();
  const handler = (kind) => (error, response) => got.push({ kind, error, response });
  try {
    await jobs.subscribeToNextJobExecutionChangedEvents({ thingName: name }, q, handler('next'));
    await jobs.subscribeToJobExecutionsChangedEvents({ thingName: name }, q, handler('list'));
    await jobs.subscribeToStartNextPendingJobExecutionAccepted({ thingName: name }, q, handler('started'));
    await jobs.subscribeToUpdateJobExecutionAccepted({ thingName: name, jobId: 'sdk-c' }, q, handler('updated'));
    await jobs.subscribeToUpdateJobExecutionRejected({ thingName: name, jobId: 'sdk-c' }, q, handler('update-rejected'));

    await jobs.publishStartNextPendingJobExecution({ thingName: name, clientToken: 'v1-start' }, q);
    const s = await got.next((e) => e.kind === 'started', 'start-next/accepted');
    check(!s.error && s.response.clientToken === 'v1-start' && s.response.execution.jobId === 'sdk-c' &&
      s.response.execution.status === 'IN_PROGRESS', 'v1: start-next accepted with the client token', s);
    const l = await got.next((e) => e.kind === 'list', 'notify');
    check(!l.error && l.response.jobs.IN_PROGRESS[0].jobId === 'sdk-c', 'v1: notify lists sdk-c in progress', l);

    await jobs.publishUpdateJobExecution({ thingName: name, jobId: 'sdk-c', clientToken: 'v1-bad', status: 'QUEUED' }, q);
    const bad = await got.next((e) => e.kind === 'update-rejected', 'update/rejected');
    check(!bad.error && bad.response.code === 'InvalidRequest' && bad.response.clientToken === 'v1-bad', 'v1: update to QUEUED rejected', bad);

    await jobs.publishUpdateJobExecution({ thingName: name, jobId: 'sdk-c', clientToken: 'v1-done', status: 'FAILED',
      statusDetails: { exitCode: '2' }, includeJobExecutionState: true }, q);
    const u = await got.next((e) => e.kind === 'updated', 'update/accepted');
    check(!u.error && u.response.clientToken === 'v1-done' && u.response.executionState.status === 'FAILED' &&
      u.response.executionState.statusDetails.exitCode === '2', 'v1: update to FAILED accepted', u);
    const n = await got.next((e) => e.kind === 'next', 'notify-next');
    check(!n.error && n.response.execution === undefined, 'v1: notify-next without an execution after the last job', n);
  } finally {
    await conn.disconnect();
  }
}

// legacy drives the jobs client of the previous SDK (aws-iot-device-sdk,
// over mqtt.js), when it is installed: it asks for $next, gets each next
// job from notify-next and reports with {status, statusDetails} updates.
async function legacy() {
  let awsIot;
  try {
    awsIot = require('aws-iot-device-sdk');
  } catch (e) {
    console.log('skip legacy: aws-iot-device-sdk is not installed');
    return;
  }
  const name = thing + '-legacy';
  const jobs = awsIot.jobs({
    keyPath: keyFile, certPath: certFile, caPath: caFile, clientId: name,
    host, port: Number(port), protocol: 'mqtts', reconnectPeriod: 0,
  });
  const got = events();
  const done = (what) => (err) => got.push({ kind: 'done', what, err });
  try {
    await timeout(new Promise((resolve) => jobs.on('connect', resolve)), 10000, 'legacy connect');
    jobs.subscribeToJobs(name, (err, job) => got.push(err ? { kind: 'error', err } : { kind: 'job', job }));
    // Its SUBSCRIBE goes first: once this one is acknowledged, so is it.
    await timeout(new Promise((resolve) => jobs.subscribe('test/marker', resolve)), 10000, 'legacy subscribeToJobs');
    await timeout(new Promise((resolve) => jobs.startJobNotifications(name, resolve)), 10000, 'legacy startJobNotifications');
    const a = await got.next((e) => e.kind === 'job' && e.job.id === 'legacy-a', 'legacy: job legacy-a');
    check(a.job.status.status === 'QUEUED' && a.job.operation === 'install', 'legacy: $next/get gives legacy-a', a.job.status);
    a.job.inProgress({ step: '1' }, done('in progress'));
    const p = await got.next((e) => e.kind === 'done' && e.what === 'in progress', 'legacy in progress');
    check(!p.err, 'legacy: IN_PROGRESS reported', p.err);
    a.job.succeeded({ result: 'ok' }, done('succeeded'));
    const b = await got.next((e) => e.kind === 'job' && e.job.id === 'legacy-b', 'legacy: job legacy-b');
    check(b.job.status.status === 'QUEUED' && b.job.operation === 'reboot', 'legacy: notify-next gives legacy-b after legacy-a succeeded', b.job.status);
    b.job.failed(done('failed'));
    const f = await got.next((e) => e.kind === 'done' && e.what === 'failed', 'legacy failed');
    check(!f.err, 'legacy: FAILED reported without statusDetails', f.err);
    // Describe legacy-a: its reply reaches the same callback.
    await timeout(new Promise((resolve) => jobs.subscribe('$aws/things/' + name + '/jobs/legacy-a/get/accepted', resolve)), 10000, 'legacy subscribe');
    jobs.publish('$aws/things/' + name + '/jobs/legacy-a/get', '{}');
    const d = await got.next((e) => e.kind === 'job' && e.job.id === 'legacy-a', 'legacy: describe legacy-a');
    check(d.job.status.status === 'SUCCEEDED' && d.job.status.statusDetails.result === 'ok', 'legacy: legacy-a SUCCEEDED with its details', d.job.status);
  } finally {
    await new Promise((resolve) => jobs.end(false, resolve));
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
