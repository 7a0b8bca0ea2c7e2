// The booking form: the start time is picked in the viewer's own time zone and sent as ISO 8601 with
// that zone's offset (e.g. 2026-12-01T18:00:00+08:00), so the server never guesses a zone.
import { formatTime, lang } from "./common.js";

const pad = (n) => String(n).padStart(2, "0");

export function withOffset(localValue) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(localValue || "");
  if (!match) return "";
  const [, y, mo, d, h, mi] = match.map(Number);
  const date = new Date(y, mo - 1, d, h, mi);
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function localInputValue(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

const form = document.getElementById("booking-form");
if (form) {
  const start = form.querySelector("#start");
  const startTime = form.querySelector("#startTime");
  // The earliest start offered: the next quarter hour from now.
  const next = new Date(Math.ceil(Date.now() / 900000) * 900000);
  start.min = localInputValue(next);
  if (!start.value) {
    const tomorrow = new Date(next);
    tomorrow.setDate(tomorrow.getDate() + 1);
    tomorrow.setHours(17, 0, 0, 0);
    start.value = localInputValue(tomorrow);
  }
  form.addEventListener("submit", () => {
    startTime.value = withOffset(start.value);
  });
  const slot = form.querySelector("#slot");
  if (slot) {
    groupSlots(slot);
    slot.addEventListener("change", () => {
      if (!slot.value) return;
      start.value = localInputValue(new Date(slot.value));
      const duration = form.querySelector("#duration");
      if (duration) duration.value = slot.dataset.minutes;
    });
  }
}

// The free times (UTC in the page) shown on the viewer's clock, one group per local day.
function groupSlots(select) {
  const day = new Intl.DateTimeFormat(lang, { weekday: "long", month: "long", day: "numeric" });
  const groups = new Map();
  for (const option of [...select.options]) {
    if (!option.value) continue;
    const when = new Date(option.value);
    option.textContent = formatTime(option.value, "time");
    const label = day.format(when);
    if (!groups.has(label)) {
      const group = document.createElement("optgroup");
      group.label = label;
      groups.set(label, group);
      select.append(group);
    }
    groups.get(label).append(option);
  }
}
