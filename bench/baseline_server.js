// The baseline: a plain Node socket.io server with the Redis adapter relaying the same `/live`
// events as our stack, with no persistence, no token check beyond its presence and no rate limit.
// With STORE_DATABASE_URL it also stores each message before anyone sees it (one prepared INSERT
// into a table of its own, on one connection, committed before the emit and the ack): the relay with
// the one rule of ours that needs a round trip to another process, to tell that rule's cost from
// the rest of our stack's.
//
//   REDIS_URL=redis://127.0.0.1:6379/0 PORT=8200 [STORE_DATABASE_URL=postgres://…] node bench/baseline_server.js
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

async function main() {
  const port = Number(process.env.PORT || 8200);
  const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379/0";
  const pubClient = createClient({ url: redisUrl });
  const subClient = pubClient.duplicate();
  await Promise.all([pubClient.connect(), subClient.connect()]);
  const store = await storage(process.env.STORE_DATABASE_URL);

  const server = http.createServer((req, res) => {
    res.writeHead(req.url === "/healthz" ? 200 : 404, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ status: "ok" }));
  });
  const io = new Server(server, { adapter: createAdapter(pubClient, subClient, { key: `bench-${process.pid}` }) });
  const live = io.of("/live");
  live.use((socket, next) => {
    const token = socket.handshake.auth && socket.handshake.auth.token;
    if (!token) return next(Object.assign(new Error("unauthorized"), { data: { statusCode: 401, message: "unauthorized" } }));
    socket.data.userId = token.slice(-16);
    next();
  });
  live.on("connection", (socket) => {
    socket.on("join", ({ sessionId } = {}, ack) => {
      socket.join(sessionId);
      if (ack) ack({ data: { session: { id: sessionId }, participants: [], messages: [] } });
    });
    socket.on("message", async ({ sessionId, content } = {}, ack) => {
      const message = {
        id: crypto.randomUUID(),
        sessionId,
        senderId: socket.data.userId,
        content: String(content).trim(),
        timestamp: new Date().toISOString(),
      };
      if (store) {
        try {
          await store(message);
        } catch (err) {
          if (ack) ack({ error: { code: "unavailable", message: String(err) } });
          return;
        }
      }
      live.to(sessionId).emit("message", message);
      if (ack) ack({ data: message });
    });
  });
  server.listen(port, "127.0.0.1", () => process.stdout.write(`baseline listening on ${port}\n`));
}

// A chat history table as a product would keep one (key, the session's timeline), made if missing.
async function storage(url) {
  if (!url) return null;
  const { Client } = require("pg");
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query(
    "CREATE TABLE IF NOT EXISTS bench_relay_message (id uuid PRIMARY KEY, session_id text NOT NULL, " +
      "sender_id text NOT NULL, content text NOT NULL, created_at timestamptz NOT NULL); " +
      "CREATE INDEX IF NOT EXISTS bench_relay_message_session ON bench_relay_message (session_id, created_at)",
  );
  return (m) =>
    client.query({
      name: "relay_insert",
      text: "INSERT INTO bench_relay_message VALUES ($1, $2, $3, $4, $5)",
      values: [m.id, m.sessionId, m.senderId, m.content, m.timestamp],
    });
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
