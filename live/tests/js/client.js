// What the Node socket.io-client scripts share: stdin as JSON, a timeout on every wait, and a socket
// that keeps what it receives so a script can wait for the next event of a kind.
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

module.exports = { WAIT_MS, readStdin, within, connect, connected };
