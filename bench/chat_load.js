// Chat load generator: N classrooms x 2 users, each user sending R messages/s through the official
// socket.io-client (default transports: polling first, then the websocket upgrade), measuring the
// latency from send to receipt at the *other* participant.
//
//   node bench/chat_load.js < config.json
//   config: {urls, rate, seconds, drainSeconds, classrooms: [{sessionId, tokens: [tutorToken, studentToken]}]}
//   (classroom i connects both its users to urls[i % urls.length], as a sticky load balancer would)
//
// Prints one JSON object: {sent, acked, received, lost, errors, p50, p90, p99, max} (latencies in ms).
// `lost` = sent − received: what the other participant had not received when the run ended (after up
// to drainSeconds for what was still in flight); `errors` counts error acks (e.g. 429).
"use strict";

const { io } = require("socket.io-client");

function readStdin() {
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
  const config = await readStdin();
  const { urls, rate, seconds } = config;
  const drainMs = (config.drainSeconds ?? 5) * 1000;
  const users = [];
  // Connect in batches so the connect storm is not part of the measurement.
  for (const [c, room] of config.classrooms.entries()) {
    const url = urls[c % urls.length];
    const pair = await Promise.all(room.tokens.map((token) => open(url, token)));
    pair.forEach((socket, i) => users.push({ socket, room, classroom: c, me: i }));
  }
  await Promise.all(
    users.map(async (u) => {
      const ack = await u.socket.timeout(30000).emitWithAck("join", { sessionId: u.room.sessionId });
      if (!ack.data) throw new Error(`join refused: ${JSON.stringify(ack)}`);
    }),
  );

  const pending = new Map(); // message key -> send time (ms, high resolution)
  const latencies = [];
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
      latencies.push(performance.now() - start);
      received += 1;
    });
  }

  const intervalMs = 1000 / rate;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    users.map(async (u, i) => {
      // Spread the users' first sends over one interval so they do not all fire together.
      await sleep((i / users.length) * intervalMs);
      let seq = 0;
      let next = performance.now();
      while (next < end) {
        const content = `${u.classroom}:${u.me}:${seq++}`;
        pending.set(content, performance.now());
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
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: percentile(latencies, 100),
    }),
  );
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
