// Chat load generator: N classrooms x 2 users, each user sending R messages/s through the official
// socket.io-client (default transports: polling first, then the websocket upgrade), measuring the
// latency from send to receipt at the *other* participant.
//
//   node bench/chat_load.js < config.json    (or: node bench/chat_load.js config.json)
//   config: {urls, rate, seconds, drainSeconds, connectBatch, mode, classrooms: [{sessionId, tokens: [tutorToken, studentToken]}]}
//   (classroom i connects both its users to urls[i % urls.length], as a sticky load balancer would;
//   `connectBatch` classrooms connect at once, default 1)
//
// Prints one JSON object: {sent, acked, received, lost, errors, setupMs, throughput, percentiles,
// p50, p90, p99, max} (latencies in ms). `setupMs`: from the first connect until every connection has
// upgraded to websocket and joined its session. `throughput`: messages received by the other
// participant per second, from the first send to the last receipt. `lost` = sent − received: what the
// other participant had not received when the run ended (after up to drainSeconds for what was still
// in flight); `errors` counts error acks (e.g. 429).
//
// mode "idle": connect and join every user, print `READY {"setupMs", "connections"}` on a line, then
// hold the connections open, sending nothing, until stdin closes (config from a file then) (the caller measures memory meanwhile).
"use strict";

const { io } = require("socket.io-client");

function readConfig() {
  // From a file when one is named (idle mode keeps stdin for the caller's "stop"), else from stdin.
  if (process.argv[2]) return Promise.resolve(JSON.parse(require("node:fs").readFileSync(process.argv[2], "utf8")));
  return new Promise((resolve) => {
    let text = "";
    process.stdin.on("data", (chunk) => (text += chunk));
    process.stdin.on("end", () => resolve(JSON.parse(text)));
  });
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[i] * 100) / 100;
}

// p50/p99/max of the messages sent in each second of the run: shows whether a tail is steady or a spike.
function perSecond(timeline) {
  const seconds = [];
  for (const [at, latency] of timeline) (seconds[Math.floor(at / 1000)] ??= []).push(latency);
  return seconds.map((l = []) => {
    l.sort((a, b) => a - b);
    return { n: l.length, p50: percentile(l, 50), p99: percentile(l, 99), max: percentile(l, 100) };
  });
}

const PERCENTILES = [50, 75, 90, 95, 99, 99.9, 100];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function open(url, token) {
  return new Promise((resolve, reject) => {
    const socket = io(`${url}/live`, { auth: { token }, reconnection: false });
    socket.once("connect_error", (err) => reject(new Error(`connect_error: ${err.message}`)));
    socket.once("connect", () => {
      // Measure the steady state: wait until the connection has upgraded to websocket.
      if (socket.io.engine.transport.name === "websocket") return resolve(socket);
      socket.io.engine.once("upgrade", () => resolve(socket));
    });
  });
}

async function main() {
  const config = await readConfig();
  const { urls, rate, seconds } = config;
  const drainMs = (config.drainSeconds ?? 5) * 1000;
  const users = [];
  const batch = config.connectBatch ?? 1;
  const setupStart = performance.now();
  // Connect in batches so the connect storm is not part of the measurement.
  for (let first = 0; first < config.classrooms.length; first += batch) {
    const rooms = config.classrooms.slice(first, first + batch);
    await Promise.all(
      rooms.map(async (room, k) => {
        const c = first + k;
        const url = urls[c % urls.length];
        // Each user connects, then joins: the setup a classroom's page does.
        const pair = await Promise.all(
          room.tokens.map(async (token) => {
            const socket = await open(url, token);
            const ack = await socket.timeout(120000).emitWithAck("join", { sessionId: room.sessionId });
            if (!ack.data) throw new Error(`join refused: ${JSON.stringify(ack)}`);
            return socket;
          }),
        );
        pair.forEach((socket, i) => users.push({ socket, room, classroom: c, me: i }));
      }),
    );
  }
  const setupMs = Math.round(performance.now() - setupStart);
  if (config.mode === "idle") {
    process.stdout.write(`READY ${JSON.stringify({ setupMs, connections: users.length })}\n`);
    process.stdin.resume();
    await new Promise((resolve) => process.stdin.on("close", resolve));
    for (const u of users) u.socket.close();
    return;
  }

  const pending = new Map(); // message key -> send time (ms, high resolution)
  let firstSend = null;
  let lastReceipt = null;
  const latencies = [];
  const timeline = []; // [send time since the first send, latency] per message, for `perSecond`
  let sent = 0;
  let acked = 0;
  let received = 0;
  let errors = 0;
  const errorSamples = [];

  for (const u of users) {
    u.socket.on("message", (m) => {
      const [classroom, sender] = m.content.split(":", 2).map(Number);
      if (classroom !== u.classroom || sender === u.me) return; // only the other participant's
      const start = pending.get(m.content);
      if (start === undefined) return;
      pending.delete(m.content);
      lastReceipt = performance.now();
      latencies.push(lastReceipt - start);
      timeline.push([start - firstSend, lastReceipt - start]);
      received += 1;
    });
  }

  const intervalMs = 1000 / rate;
  const end = performance.now() + seconds * 1000;
  // For a profiler waiting for the load itself, not the connection storm (bench/chat_profile.py).
  if (config.announceLoad) process.stderr.write("LOAD\n");
  await Promise.all(
    users.map(async (u, i) => {
      // Spread the users' first sends over one interval so they do not all fire together.
      await sleep((i / users.length) * intervalMs);
      let seq = 0;
      let next = performance.now();
      while (next < end) {
        const content = `${u.classroom}:${u.me}:${seq++}`;
        const now = performance.now();
        if (firstSend === null) firstSend = now;
        pending.set(content, now);
        sent += 1;
        u.socket.emit("message", { sessionId: u.room.sessionId, content }, (ack) => {
          if (ack && ack.data) acked += 1;
          else {
            errors += 1;
            pending.delete(content);
            if (errorSamples.length < 5) errorSamples.push(ack);
          }
        });
        next += intervalMs;
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
      }
    }),
  );
  // Let what is in flight arrive.
  const drainEnd = performance.now() + drainMs;
  while (pending.size && performance.now() < drainEnd) await sleep(50);

  for (const u of users) u.socket.close();
  latencies.sort((a, b) => a - b);
  process.stdout.write(
    JSON.stringify({
      classrooms: config.classrooms.length,
      servers: urls.length,
      rate,
      seconds,
      sent,
      acked,
      received,
      lost: sent - received,
      errors,
      errorSamples,
      setupMs,
      throughput: received && lastReceipt > firstSend ? Math.round((received * 1000) / (lastReceipt - firstSend)) : 0,
      percentiles: Object.fromEntries(PERCENTILES.map((p) => [String(p), percentile(latencies, p)])),
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: percentile(latencies, 100),
      perSecond: perSecond(timeline),
    }),
  );
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
