// The tutor moderates the student through the official socket.io-client (default transports):
// mute_participant, remove_participant (the student's socket leaves the room and cannot rejoin, their
// video token is refused) and admit_participant (they can again).
// Reads {url, sessionId, tutorId, studentId, tokens: {tutor, student}} as JSON on stdin, prints what
// happened as JSON on stdout; live/tests/realtime/test_node_client.py asserts on it.
"use strict";

const { readStdin, connect, connected } = require("./client");

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
