// The tutor moderates the student through the official socket.io-client (default transports):
// mute_participant, remove_participant (the student's socket leaves the room and cannot rejoin, their
// video token is refused) and admit_participant (they can again).
// Reads {url, sessionId, tutorId, studentId, tokens: {tutor, student}} as JSON on stdin, prints what
// happened as JSON on stdout; live/tests/realtime/test_node_client.py asserts on it.
"use strict";

const { io } = require("socket.io-client");

const WAIT_MS = 15000;

function readStdin() {
  return new Promise((resolve) => {
    let text = "";
    process.stdin.on("data", (chunk) => (text += chunk));
    process.stdin.on("end", () => resolve(JSON.parse(text)));
  });
}

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function connect(url, token) {
  const socket = io(`${url}/live`, { auth: { token }, reconnection: false });
  // The transport the Engine.IO connection opened with, before any upgrade.
  socket.io.once("open", () => (socket.firstTransport = socket.io.engine.transport.name));
  const inbox = {};
  socket.onAny((event, data) => {
    (inbox[event] = inbox[event] || []).push(data);
    const waiters = socket._waiters && socket._waiters[event];
    if (waiters && waiters.length) waiters.shift()();
  });
  socket.next = (event, predicate = () => true) =>
    within(
      new Promise((resolve) => {
        const poll = () => {
          const list = inbox[event] || [];
          const i = list.findIndex(predicate);
          if (i >= 0) return resolve(list.splice(i, 1)[0]);
          socket._waiters = socket._waiters || {};
          (socket._waiters[event] = socket._waiters[event] || []).push(poll);
        };
        poll();
      }),
      `event ${event}`,
    );
  socket.call = (event, data) => within(socket.emitWithAck(event, data), `ack of ${event}`);
  return socket;
}

function connected(socket) {
  return within(
    new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(socket.firstTransport));
      socket.once("connect_error", reject);
    }),
    "connect",
  );
}

async function tokenStatus(url, sessionId, token) {
  const response = await fetch(`${url}/api/live/sessions/${sessionId}/token`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  return response.status;
}

async function main() {
  const { url, sessionId, studentId, tokens } = await readStdin();
  const out = {};
  const tutor = connect(url, tokens.tutor);
  const student = connect(url, tokens.student);
  await Promise.all([connected(tutor), connected(student)]);
  await tutor.call("join", { sessionId });
  await student.call("join", { sessionId });
  const target = { sessionId, participantId: studentId };

  out.mute = await tutor.call("mute_participant", { ...target, audio: true });
  out.muted = await student.next("muted");
  out.mutedUpdate = await tutor.next("participant_updated", (d) => "audioMuted" in d.updates);

  out.remove = await tutor.call("remove_participant", target);
  out.removed = await student.next("removed");
  out.messageAfterRemoval = await student.call("message", { sessionId, content: "still here?" });
  out.rejoin = await student.call("join", { sessionId });
  out.removedToken = await tokenStatus(url, sessionId, tokens.student);

  out.admit = await tutor.call("admit_participant", target);
  out.admittedToken = await tokenStatus(url, sessionId, tokens.student);
  out.join = await student.call("join", { sessionId });
  await tutor.call("message", { sessionId, content: "welcome back" });
  out.message = await student.next("message");
  student.close();
  tutor.close();
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
