// One classroom through the official socket.io-client with its default transports (polling first,
// then the upgrade to websocket), exactly as the seed's client code connects:
//   io('/live', { auth: { token } })
// Reads {url, sessionId, tokens: {tutor, student, stranger}} as JSON on stdin, prints what happened
// as JSON on stdout; live/tests/realtime/test_node_client.py asserts on it.
"use strict";

const { within, readStdin, connect, connected } = require("./client");

function refused(socket) {
  return within(
    new Promise((resolve, reject) => {
      socket.once("connect", () => reject(new Error("a bad token was accepted")));
      socket.once("connect_error", (err) => resolve({ message: err.message, data: err.data }));
    }),
    "connect_error",
  );
}

function upgraded(socket) {
  if (socket.io.engine.transport.name === "websocket") return Promise.resolve("websocket");
  return within(
    new Promise((resolve) => socket.io.engine.once("upgrade", (transport) => resolve(transport.name))),
    "the websocket upgrade",
  );
}

async function main() {
  const { url, sessionId, tokens } = await readStdin();
  const out = {};

  const intruder = connect(url, "not-a-token");
  out.badToken = await refused(intruder);
  intruder.close();
  const anonymous = connect(url, undefined);
  out.noToken = await refused(anonymous);
  anonymous.close();

  const tutor = connect(url, tokens.tutor);
  const student = connect(url, tokens.student);
  const stranger = connect(url, tokens.stranger);
  [out.firstTransport] = await Promise.all([connected(tutor), connected(student), connected(stranger)]);

  out.strangerJoin = await stranger.call("join", { sessionId });
  out.unknownJoin = await student.call("join", { sessionId: "00000000-0000-4000-8000-000000000000" });
  stranger.close();

  out.tutorJoin = await tutor.call("join", { sessionId });
  out.studentJoin = await student.call("join", { sessionId });
  out.studentConnected = await tutor.next("participant_updated", (d) => d.participantId !== out.tutorJoin.data.session.tutorId);

  out.messageAck = await student.call("message", { sessionId, content: "  Hello from Node  " });
  out.messageAtTutor = await tutor.next("message");
  out.messageAtStudent = await student.next("message");
  // The seed's fire-and-forget form: no ack, the message still goes round.
  student.emit("message", { sessionId, content: "no ack" });
  out.noAckMessageAtTutor = await tutor.next("message");
  student.emit("message", { sessionId, content: "" });
  out.errorEvent = await student.next("error");

  out.updateAck = await student.call("participant_update", { sessionId, updates: { handRaised: true } });
  out.updateAtTutor = await tutor.next("participant_updated", (d) => "handRaised" in d.updates);

  const started = await fetch(`${url}/api/live/sessions/${sessionId}/start`, {
    method: "POST",
    headers: { Authorization: `Bearer ${tokens.tutor}` },
  });
  out.startStatus = started.status;
  out.sessionUpdatedAtStudent = await student.next("session_updated");
  out.sessionUpdatedAtTutor = await tutor.next("session_updated");

  out.upgradedTo = await upgraded(student);
  out.afterUpgradeAck = await student.call("message", { sessionId, content: "over websocket" });
  out.afterUpgradeAtTutor = await tutor.next("message", (m) => m.content === "over websocket");

  student.close();
  out.studentLeft = await tutor.next("participant_updated", (d) => d.updates.isConnected === false);
  tutor.close();
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
