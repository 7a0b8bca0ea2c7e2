// The earnings chart: the running totals of what the tutor earned and withdrew, one point per day,
// from the ledger (rendered by the page as JSON), drawn with uPlot.
import uPlot from "uplot";
import { lang, pageData } from "./common.js";

const data = pageData("chart-data");
const box = document.getElementById("earnings-chart");

function draw() {
  if (!data || !data.days.length || !box) return;
  // A flat start the day before the first movement, so one day of history still draws a line.
  const first = Date.parse(`${data.days[0]}T00:00:00Z`) / 1000;
  const xs = [first - 86400, ...data.days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000)];
  const earned = [0, ...data.earned];
  const withdrawn = [0, ...data.withdrawn];
  const money = new Intl.NumberFormat(lang, { style: "currency", currency: data.currency });
  const dayFormat = new Intl.DateTimeFormat(lang, { month: "short", day: "numeric", timeZone: "UTC" });
  const width = Math.max(280, box.clientWidth);
  box.replaceChildren();
  const chart = new uPlot(
    {
      width,
      height: width < 500 ? 220 : 280,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "UTC"),
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max * 1.1, 1)] } },
      legend: { live: false },
      padding: [12, 40, 0, 0],
      axes: [
        {
          space: 100,
          // Whole days at least: the figures are one point per day.
          incrs: [1, 2, 7, 14, 30, 91, 182, 365].map((days) => days * 86400),
          values: (u, splits) => splits.map((ts) => dayFormat.format(new Date(ts * 1000))),
        },
        { values: (u, splits) => splits.map((v) => money.format(v)), size: 80 },
      ],
      series: [
        {},
        { label: data.labels.earned, stroke: "#2f6fed", fill: "rgba(47, 111, 237, 0.12)", width: 2, value: (u, v) => (v == null ? "—" : money.format(v)) },
        { label: data.labels.withdrawn, stroke: "#12a37a", width: 2, value: (u, v) => (v == null ? "—" : money.format(v)) },
      ],
    },
    [xs, earned, withdrawn],
    box,
  );
  return chart;
}

let chart = draw();
let resizeTimer;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    chart?.destroy();
    chart = draw();
  }, 150);
});
