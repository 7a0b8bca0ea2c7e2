// The classroom: socket.io (namespace /live) for chat, participants and the session's state; the JSON
// API for start/end and for history missed while disconnected; twilio-video for the video tiles with
// the real provider, or the local camera alone in the sandbox.
//
// Both socket.io and the API take a short-lived access JWT that this script asks the page's own
// session for (POST, CSRF): it never appears in a URL and the user never types it. Every name and
// message is put in the page as text (textContent), never as HTML.
import { io } from "socket.io-client";
import { csrfToken, formatTime, interpolate, pageData } from "./common.js";

const JOIN_HISTORY = 50;
const data = pageData("classroom-data");
const S = data.strings;
const $ = (id) => document.getElementById(id);

const state = {
  status: data.status,
  recording: data.recordingStatus,
  removed: false,
  participants: new Map(),
  messages: new Map(),
  joinedOnce: false,
  me: { isAudioEnabled: false, isVideoEnabled: false, isScreenSharing: false, handRaised: false },
};

// --- the access token and the JSON API -----------------------------------------------------------

let token = null;

async function accessToken({ fresh = false } = {}) {
  if (!fresh && token && Date.parse(token.expiresAt) - Date.now() > 60_000) return token.access;
  const response = await fetch(data.tokenUrl, {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken() },
    credentials: "same-origin",
  });
  if (!response.ok) {
    if (response.status === 401 || response.status === 403) window.location.reload();
    throw new Error(`access token: ${response.status}`);
  }
  token = await response.json();
  return token.access;
}

async function api(method, path, query) {
  const url = data.apiBase + path + (query ? `?${new URLSearchParams(query)}` : "");
  for (const fresh of [false, true]) {
    const response = await fetch(url, {
      method,
      headers: { Authorization: `Bearer ${await accessToken({ fresh })}`, Accept: "application/json" },
    });
    if (response.status === 401 && !fresh) continue;
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || response.statusText);
    return body.data;
  }
  return null;
}

// --- what the page shows -------------------------------------------------------------------------

function showError(text) {
  const box = $("class-error");
  box.textContent = text;
  box.hidden = !text;
}

function setConnection(online) {
  const element = $("connection");
  element.dataset.state = online ? "online" : "reconnecting";
  element.textContent = online ? S.online : S.reconnecting;
}

const STATUS_TEXT = { created: "statusCreated", active: "statusActive", completed: "statusCompleted" };
const STATUS_TONE = { created: "warn", active: "good", completed: "done" };

function applyStatus(status) {
  state.status = status;
  const badge = $("session-status");
  badge.dataset.status = status;
  badge.textContent = S[STATUS_TEXT[status]] || status;
  badge.className = `badge ${STATUS_TONE[status] || ""}`;
  const start = $("start-class");
  const end = $("end-class");
  if (start) start.hidden = status !== "created";
  if (end) end.hidden = status !== "active";
  const ended = status === "completed";
  for (const element of document.querySelectorAll(".controls button, #chat-form input, #chat-form button")) {
    element.disabled = ended;
  }
  if (ended) media.leave();
  if (state.recording !== undefined && $("recording-badge")) applyRecording(state.recording);
}

function nameOf(userId) {
  const participant = state.participants.get(userId);
  if (!participant) return "?";
  return userId === data.userId ? `${participant.name} (${S.you})` : participant.name;
}

function chip(text, kind, on) {
  const element = document.createElement("span");
  element.className = `chip-state ${on ? "on" : "off"}`;
  element.dataset.state = kind;
  element.dataset.on = String(on);
  element.textContent = text;
  return element;
}

function renderParticipants() {
  const list = $("participants");
  list.replaceChildren();
  for (const p of state.participants.values()) {
    const item = document.createElement("li");
    item.className = "participant";
    item.dataset.participant = p.id;
    item.dataset.role = p.role;
    const head = document.createElement("div");
    head.className = "participant-head";
    const name = document.createElement("strong");
    name.textContent = nameOf(p.id);
    const role = document.createElement("span");
    role.className = "muted";
    role.textContent = p.role === "tutor" ? S.tutor : S.student;
    head.append(name, " ", role);
    const states = document.createElement("div");
    states.className = "states";
    states.append(
      chip(p.isConnected ? S.connected : S.away, "connected", p.isConnected),
      chip(p.isAudioEnabled ? S.micOn : S.micOff, "audio", p.isAudioEnabled),
      chip(p.isVideoEnabled ? S.camOn : S.camOff, "video", p.isVideoEnabled),
    );
    if (p.isScreenSharing) states.append(chip(S.sharing, "screen", true));
    if (p.handRaised) states.append(chip(S.handRaised, "hand", true));
    if (p.audioMuted || p.videoMuted) states.append(chip(S.mutedChip, "muted", true));
    if (p.removed) states.append(chip(S.removedChip, "removed", true));
    item.append(head, states);
    if (data.role === "tutor" && p.role === "student" && state.status !== "completed") item.append(moderation(p));
    list.append(item);
  }
  const other = [...state.participants.values()].find((p) => p.id !== data.userId);
  if (other) {
    $("remote-name").textContent = other.name;
    $("remote-placeholder").textContent = interpolate(data.sandboxVideo ? S.remoteSandbox : S.remotePlaceholder, {
      name: other.name,
    });
  }
}

// The tutor's controls for the student: mute or unmute (audio), remove or admit.
function moderation(p) {
  const box = document.createElement("div");
  box.className = "moderation";
  const button = (id, text, action) => {
    const element = document.createElement("button");
    element.type = "button";
    element.className = "secondary small";
    element.id = id;
    element.textContent = text;
    element.addEventListener("click", async () => {
      element.disabled = true;
      try {
        Object.assign(p, await action());
        renderParticipants();
        showError("");
      } catch (error) {
        showError(interpolate(S.actionFailed, { message: error.message }));
        element.disabled = false;
      }
    });
    return element;
  };
  const target = { participantId: p.id };
  box.append(
    p.audioMuted
      ? button("unmute-student", S.unmute, () => send("mute_participant", { ...target, audio: false }))
      : button("mute-student", S.mute, () => send("mute_participant", { ...target, audio: true })),
    p.removed
      ? button("admit-student", S.admit, () => send("admit_participant", target))
      : button("remove-student", S.remove, () =>
          window.confirm(interpolate(S.removeConfirm, { name: p.name })) ? send("remove_participant", target) : {},
        ),
  );
  return box;
}

function notice(text, { rejoin = false } = {}) {
  $("moderation-text").textContent = text;
  $("moderation-notice").hidden = !text;
  $("rejoin").hidden = !rejoin;
}

function applyRecording(status) {
  state.recording = status;
  $("recording-badge").hidden = status !== "recording";
  const button = $("toggle-recording");
  if (button) {
    button.hidden = state.status !== "active";
    button.textContent = status === "recording" ? S.stopRecording : S.record;
    button.setAttribute("aria-pressed", String(status === "recording"));
  }
}

function renderControls() {
  const set = (id, on, onText, offText) => {
    const button = $(id);
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? onText : offText;
  };
  set("toggle-mic", state.me.isAudioEnabled, S.muteMic, S.unmuteMic);
  set("toggle-camera", state.me.isVideoEnabled, S.stopCamera, S.startCamera);
  set("toggle-screen", state.me.isScreenSharing, S.stopSharing, S.shareScreen);
  set("toggle-hand", state.me.handRaised, S.lowerHand, S.raiseHand);
}

function messageKey(m) {
  return `${m.timestamp}|${m.id}`;
}

function renderMessage(m) {
  const item = document.createElement("li");
  item.className = m.senderId === data.userId ? "message-item mine" : "message-item";
  item.dataset.id = m.id;
  item.dataset.key = messageKey(m);
  const meta = document.createElement("div");
  meta.className = "message-meta";
  const who = document.createElement("span");
  who.className = "who";
  who.dataset.sender = m.senderId;
  who.textContent = nameOf(m.senderId);
  const when = document.createElement("time");
  when.dateTime = m.timestamp;
  when.textContent = formatTime(m.timestamp, "time");
  meta.append(who, " ", when);
  const text = document.createElement("p");
  text.className = "message-text";
  text.textContent = m.content;
  item.append(meta, text);
  return item;
}

// Messages are kept once each (by id) and shown in time order, whichever way they came: the join
// ack's history, a live event, or a page of the API after a reconnection.
function addMessages(messages) {
  const list = $("messages");
  const empty = list.querySelector(".empty-chat");
  if (empty) empty.remove();
  let added = false;
  for (const m of messages) {
    if (state.messages.has(m.id)) continue;
    state.messages.set(m.id, m);
    const item = renderMessage(m);
    const key = item.dataset.key;
    const after = [...list.children].find((child) => child.dataset.key > key);
    list.insertBefore(item, after || null);
    added = true;
  }
  if (added) list.scrollTop = list.scrollHeight;
  if (!list.children.length) {
    const placeholder = document.createElement("li");
    placeholder.className = "empty-chat muted";
    placeholder.textContent = S.noMessages;
    list.append(placeholder);
  }
}

function refreshSenderNames() {
  for (const who of document.querySelectorAll("#messages .who")) who.textContent = nameOf(who.dataset.sender);
}

// After a reconnection the join ack carries the last 50 messages; if none of them was seen before,
// more may have been missed: page back through the API until a known one.
async function fillGap(messages) {
  const known = messages.some((m) => state.messages.has(m.id));
  addMessages(messages);
  if (known || messages.length < JOIN_HISTORY) return;
  let cursor = "";
  for (let page = 0; page < 20; page += 1) {
    const result = await api("GET", "/messages", cursor ? { limit: 100, cursor } : { limit: 100 });
    const seen = result.messages.some((m) => state.messages.has(m.id));
    addMessages(result.messages);
    if (seen || !result.next) return;
    cursor = result.next;
  }
}

// --- media: the local camera in the sandbox, twilio-video with the real provider -----------------

const localVideo = $("local-video");

function showLocal(stream) {
  localVideo.srcObject = stream;
  $("local-placeholder").hidden = Boolean(stream);
}

class SandboxMedia {
  constructor() {
    this.streams = {};
  }

  async set(kind, on) {
    this.streams[kind]?.getTracks().forEach((track) => track.stop());
    delete this.streams[kind];
    if (on) {
      const devices = navigator.mediaDevices;
      if (kind === "screen" && !devices?.getDisplayMedia) throw new Error(S.screenUnavailable);
      this.streams[kind] =
        kind === "screen"
          ? await devices.getDisplayMedia({ video: true })
          : await devices.getUserMedia(kind === "audio" ? { audio: true } : { video: true });
      if (kind === "screen") this.streams.screen.getVideoTracks()[0].onended = () => toggle("screen", false);
    }
    showLocal(this.streams.screen || this.streams.video || null);
  }

  leave() {
    for (const kind of Object.keys(this.streams)) this.set(kind, false);
  }
}

class TwilioMedia {
  constructor() {
    this.tracks = {};
    this.room = null;
    this.ready = null;
  }

  connect() {
    this.ready ??= (async () => {
      const [Video, grant] = await Promise.all([import("twilio-video"), api("POST", "/token")]);
      this.Video = Video;
      this.room = await Video.connect(grant.token, { name: grant.roomName, tracks: [] });
      const remote = $("remote-media");
      const attach = (track) => {
        if (track.kind === "audio" || track.kind === "video") remote.append(track.attach());
        $("remote-placeholder").hidden = remote.querySelector("video") !== null;
      };
      const detach = (track) => {
        track.detach().forEach((element) => element.remove());
        $("remote-placeholder").hidden = remote.querySelector("video") !== null;
      };
      const join = (participant) => {
        participant.tracks.forEach((publication) => publication.track && attach(publication.track));
        participant.on("trackSubscribed", attach);
        participant.on("trackUnsubscribed", detach);
      };
      this.room.participants.forEach(join);
      this.room.on("participantConnected", join);
      this.room.on("disconnected", () => remote.replaceChildren());
    })();
    return this.ready;
  }

  async set(kind, on) {
    await this.connect();
    const current = this.tracks[kind];
    if (current) {
      this.room.localParticipant.unpublishTrack(current);
      current.stop();
      current.detach?.().forEach((element) => element.remove());
      delete this.tracks[kind];
    }
    if (on) {
      let track;
      if (kind === "audio") track = await this.Video.createLocalAudioTrack();
      else if (kind === "video") track = await this.Video.createLocalVideoTrack({ width: 640 });
      else {
        const stream = await navigator.mediaDevices.getDisplayMedia({ video: true });
        track = new this.Video.LocalVideoTrack(stream.getVideoTracks()[0], { name: "screen" });
        track.mediaStreamTrack.onended = () => toggle("screen", false);
      }
      this.tracks[kind] = track;
      await this.room.localParticipant.publishTrack(track);
    }
    const shown = this.tracks.screen || this.tracks.video;
    showLocal(shown ? new MediaStream([shown.mediaStreamTrack]) : null);
  }

  leave() {
    for (const track of Object.values(this.tracks)) track.stop();
    this.tracks = {};
    this.room?.disconnect();
    showLocal(null);
  }
}

const media = data.sandboxVideo ? new SandboxMedia() : new TwilioMedia();

// --- socket.io -----------------------------------------------------------------------------------

const socket = io("/live", {
  // Asked on every (re)connection, so a reconnecting client brings a valid token.
  auth: (callback) => {
    accessToken().then(
      (access) => callback({ token: access }),
      () => callback({}),
    );
  },
});

async function send(event, payload) {
  const answer = await socket.timeout(10_000).emitWithAck(event, { sessionId: data.sessionId, ...payload });
  if (answer && "statusCode" in answer) throw new Error(answer.message);
  return answer.data;
}

const MEDIA_KEYS = ["isAudioEnabled", "isVideoEnabled", "isScreenSharing"];

socket.on("connect", async () => {
  let snapshot;
  try {
    snapshot = await send("join", {});
  } catch (error) {
    showError(interpolate(S.actionFailed, { message: error.message }));
    return;
  }
  setConnection(true);
  showError("");
  for (const p of snapshot.participants) state.participants.set(p.id, p);
  const mine = state.participants.get(data.userId);
  const first = !state.joinedOnce;
  state.joinedOnce = true;
  if (first && mine) state.me.handRaised = mine.handRaised;
  renderParticipants();
  refreshSenderNames();
  renderControls();
  applyStatus(snapshot.session.status);
  await fillGap(snapshot.messages).catch((error) => showError(error.message));
  // What the server remembers of this user's media must match what this page really has.
  if (mine && state.status !== "completed") {
    const updates = {};
    for (const key of [...MEDIA_KEYS, "handRaised"]) if (mine[key] !== state.me[key]) updates[key] = state.me[key];
    if (Object.keys(updates).length) send("participant_update", { updates }).catch(() => {});
  }
  if (first && !data.sandboxVideo && state.status !== "completed") {
    media.connect().catch((error) => showError(interpolate(S.actionFailed, { message: error.message })));
  }
});

socket.on("disconnect", () => setConnection(false));

socket.on("connect_error", (error) => {
  setConnection(false);
  // Refused by the server (e.g. an expired token): no automatic retry, so ask again with a new token.
  if (!socket.active) {
    token = null;
    setTimeout(() => socket.connect(), 2000);
  } else if (error?.data?.statusCode === 401) {
    token = null;
  }
});

socket.on("message", (m) => addMessages([m]));

socket.on("participant_updated", ({ participantId, updates }) => {
  const participant = state.participants.get(participantId);
  if (!participant) return;
  Object.assign(participant, updates);
  renderParticipants();
});

socket.on("session_updated", (session) => {
  applyStatus(session.status);
  renderParticipants();
});

// Only this user's connections receive these two.
socket.on("muted", ({ audio, video }) => {
  notice(S.youWereMuted);
  if (audio && state.me.isAudioEnabled) media.set("audio", false).catch(() => {});
  if (video && state.me.isVideoEnabled) media.set("video", false).catch(() => {});
  if (audio) state.me.isAudioEnabled = false;
  if (video) state.me.isVideoEnabled = false;
  renderControls();
});

socket.on("removed", () => {
  state.removed = true;
  notice(S.youWereRemoved, { rejoin: true });
  media.leave();
  for (const element of document.querySelectorAll(".controls button, #chat-form input, #chat-form button")) {
    element.disabled = true;
  }
});

socket.on("recording_updated", ({ recording }) => {
  applyRecording(recording.status);
  if (recording.status === "ready") notice(S.recordingReady);
});

socket.on("error", (error) => showError(error?.message || ""));

// --- controls ------------------------------------------------------------------------------------

const TOGGLES = {
  audio: "isAudioEnabled",
  video: "isVideoEnabled",
  screen: "isScreenSharing",
  hand: "handRaised",
};

async function toggle(kind, wanted) {
  const key = TOGGLES[kind];
  const on = wanted ?? !state.me[key];
  if (on === state.me[key]) return;
  if (kind !== "hand") {
    try {
      await media.set(kind, on);
    } catch {
      showError(kind === "screen" ? S.screenUnavailable : S.cameraUnavailable);
      return;
    }
  }
  state.me[key] = on;
  renderControls();
  try {
    await send("participant_update", { updates: { [key]: on } });
  } catch (error) {
    showError(interpolate(S.actionFailed, { message: error.message }));
  }
}

$("toggle-mic").addEventListener("click", () => toggle("audio"));
$("toggle-camera").addEventListener("click", () => toggle("video"));
$("toggle-screen").addEventListener("click", () => toggle("screen"));
$("toggle-hand").addEventListener("click", () => toggle("hand"));

async function sessionAction(path, button) {
  button.disabled = true;
  try {
    const result = await api("POST", path);
    applyStatus(result.status);
    showError("");
  } catch (error) {
    showError(interpolate(S.actionFailed, { message: error.message }));
  } finally {
    button.disabled = false;
  }
}

$("rejoin").addEventListener("click", () => window.location.reload());

$("toggle-recording")?.addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const recording = await api("POST", state.recording === "recording" ? "/recording/stop" : "/recording/start");
    applyRecording(recording.status);
    showError("");
  } catch (error) {
    showError(interpolate(S.actionFailed, { message: error.message }));
  } finally {
    button.disabled = false;
  }
});

$("start-class")?.addEventListener("click", (event) => sessionAction("/start", event.currentTarget));
$("end-class")?.addEventListener("click", (event) => {
  if (window.confirm(S.endConfirm)) sessionAction("/end", event.currentTarget);
});

$("chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("chat-input");
  const content = input.value.trim();
  if (!content) return;
  const error = $("chat-error");
  error.hidden = true;
  try {
    addMessages([await send("message", { content })]);
    input.value = "";
  } catch (failure) {
    error.textContent = interpolate(S.sendFailed, { message: failure.message });
    error.hidden = false;
  }
});

applyStatus(state.status);
renderControls();
addMessages([]);
