// The baseline: a plain Node socket.io server with the Redis adapter relaying the same `/live`
// events as our stack, with no persistence, no token check beyond its presence and no rate limit.
//
//   REDIS_URL=redis://127.0.0.1:6379/0 PORT=8200 node bench/baseline_server.js
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
    socket.on("message", ({ sessionId, content } = {}, ack) => {
      const message = {
        id: crypto.randomUUID(),
        sessionId,
        senderId: socket.data.userId,
        content: String(content).trim(),
        timestamp: new Date().toISOString(),
      };
      live.to(sessionId).emit("message", message);
      if (ack) ack({ data: message });
    });
  });
  server.listen(port, "127.0.0.1", () => process.stdout.write(`baseline listening on ${port}\n`));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
