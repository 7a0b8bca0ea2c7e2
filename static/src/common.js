// What every page does: times in the viewer's time zone and language, the language switcher, and
// confirmation of destructive forms. Shared helpers for the other page scripts.

export const lang = document.documentElement.lang || "en";

const formats = {
  datetime: { dateStyle: "medium", timeStyle: "short" },
  date: { dateStyle: "medium" },
  time: { timeStyle: "short" },
};

export function formatTime(iso, style = "datetime") {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(lang, formats[style] || formats.datetime).format(date);
}

export function timeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

// Django's CSRF token, from its cookie (the pages' scripts send it as X-CSRFToken).
export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// JSON read from a <script type="application/json"> block (the pages never run inline scripts).
export function pageData(id) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : null;
}

// "%(name)s" placeholders of the pages' translated strings.
export function interpolate(text, values) {
  return text.replace(/%\((\w+)\)s/g, (_, key) => (key in values ? String(values[key]) : ""));
}

function localizeTimes(root = document) {
  for (const element of root.querySelectorAll("time[data-local]")) {
    element.title = element.getAttribute("datetime");
    element.textContent = formatTime(element.getAttribute("datetime"), element.dataset.local);
  }
  for (const element of root.querySelectorAll("[data-timezone]")) {
    element.textContent = timeZone();
  }
}

function wireForms() {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

localizeTimes();
wireForms();
