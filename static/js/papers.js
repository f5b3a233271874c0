// The paper lab: one card per preset; forms from each options schema,
// charts streamed over /ws/preset/{name}, exports built from received data.

import { logAxis } from "./axes.js";
import { csv, download } from "./download.js";
import { openJob } from "./run-socket.js";
import { fieldInput, readForm } from "./preset-form.js";

const CONFIG = { responsive: true, displaylogo: false };
const SHADES = {
  plain: ["#f4b89f", "#e88a63", "#d9572b", "#a83a14", "#6e2309"],
  residual: ["#a9c3f0", "#6f9be6", "#2b6cd9", "#1c4ea6", "#0f2f6b"],
};
const PALETTE = ["#2b6cd9", "#2a9d8f", "#8a5cd1", "#e0a106", "#6b7a8f", "#c2185b", "#d9572b"];
const VARIANT_COLORS = {
  plain: "#d9572b", identity: "#2b6cd9", scaled: "#e0a106", rezero: "#2a9d8f",
  preact: "#8a5cd1", "identity-bn": "#0f2f6b", "preact-bn": "#c2185b",
};

const cards = new Map(); // preset name -> card state
let running = null; // the card whose run is in flight (one job per session)

// --- figures ------------------------------------------------------------------

function colorFor(role, index, count) {
  if (SHADES[role]) {
    const shades = SHADES[role];
    const pick = count <= 1 ? 2 : Math.round((index * (shades.length - 1)) / (count - 1));
    return shades[pick];
  }
  return VARIANT_COLORS[role] || PALETTE[index % PALETTE.length];
}

function baseLayout(fig) {
  return {
    title: { text: fig.title, font: { size: 14 } },
    margin: { l: 60, r: 20, t: 40, b: 55 },
    xaxis: { title: { text: fig.x_label }, automargin: true },
    yaxis: { title: { text: fig.y_label }, automargin: true },
    legend: { font: { size: 11 } },
    uirevision: "keep",
  };
}

function lineTraces(fig) {
  const counts = {};
  const seen = {};
  fig.series.forEach((s) => { counts[s.role] = (counts[s.role] || 0) + (s.dash ? 0 : 1); });
  return fig.series.map((s, i) => {
    const index = s.dash ? Math.max(0, (seen[s.role] || 1) - 1) : (seen[s.role] = (seen[s.role] || 0) + 1) - 1;
    const color = SHADES[s.role] ? colorFor(s.role, index, counts[s.role]) : colorFor(s.role, i);
    if (fig.kind === "bar") return { type: "bar", x: s.x, y: s.y, name: s.name, marker: { color } };
    const mode = s.x.length <= 12 ? "lines+markers" : "lines";
    const line = { color, width: 2, dash: s.dash ? "dot" : "solid" };
    return { type: "scatter", mode, x: s.x, y: s.y, name: s.name, line };
  });
}

function lineLayout(fig) {
  const layout = baseLayout(fig);
  if (fig.log_x) layout.xaxis.type = "log";
  if (fig.log_y) layout.yaxis = { ...layout.yaxis, ...logAxis(fig.series.map((s) => s.y)) };
  if (fig.kind === "bar") {
    layout.showlegend = false;
    layout.xaxis.title.text = "";
  }
  return layout;
}

function log10Grid(z) {
  return z.map((row) => row.map((v) => (v > 0 ? Math.log10(v) : null)));
}

function gridTraces(fig) {
  const z = fig.log_z ? log10Grid(fig.z) : fig.z;
  const title = fig.log_z ? `log₁₀ ${fig.z_label}` : fig.z_label;
  const trace = {
    type: fig.kind, x: fig.x, y: fig.y, z, colorscale: "Viridis",
    colorbar: { title: { text: title, side: "right" }, thickness: 12 },
    hovertemplate: `%{x}, %{y}: ${fig.log_z ? "10^%{z:.2f}" : "%{z:.3g}"}<extra></extra>`,
  };
  if (fig.kind === "contour") trace.contours = { coloring: "heatmap", showlabels: false };
  if (fig.kind === "contour") trace.ncontours = 24;
  return [trace];
}

function drawFigure(card, id, fig) {
  const div = chartDiv(card, id);
  const traces = fig.kind === "line" || fig.kind === "bar" ? lineTraces(fig) : gridTraces(fig);
  const layout = fig.kind === "line" || fig.kind === "bar" ? lineLayout(fig) : baseLayout(fig);
  Plotly.react(div, traces, layout, CONFIG);
}

function chartDiv(card, id) {
  const existing = card.charts.get(id);
  if (existing) return existing;

  const panel = document.createElement("div");
  panel.className = "chart-panel";
  const div = document.createElement("div");
  div.className = "chart";
  div.id = `chart-${card.name}-${id}`;
  div.setAttribute("role", "img");
  div.setAttribute("aria-label", id.replaceAll("_", " "));
  const png = document.createElement("button");
  png.type = "button";
  png.className = "png";
  png.textContent = "PNG";
  png.addEventListener("click", () =>
    Plotly.downloadImage(div, { format: "png", filename: `${card.name}-${id}`, width: 900, height: 500 }),
  );
  panel.append(div, png);
  card.chartsEl.append(panel);
  card.charts.set(id, div);
  // A new panel narrows the grid's columns: redraw the others at their new width.
  requestAnimationFrame(() => card.charts.forEach((d) => d !== div && d.data && Plotly.Plots.resize(d)));
  return div;
}

function clearCharts(card) {
  card.charts.forEach((div) => Plotly.purge(div));
  card.charts.clear();
  card.chartsEl.replaceChildren();
}

// --- exports ------------------------------------------------------------------

export function toCsv(figures) {
  const rows = [["figure", "trace", "x", "y", "z"]];
  Object.entries(figures).forEach(([id, fig]) => {
    if (fig.series) {
      fig.series.forEach((s) => s.x.forEach((x, i) => rows.push([id, s.name, x, s.y[i], ""])));
      return;
    }
    fig.z.forEach((row, j) => row.forEach((z, i) => rows.push([id, fig.z_label, fig.x[i], fig.y[j], z])));
  });
  return csv(rows);
}

function exportData(card, format) {
  const r = card.result;
  const data = { preset: r.preset, options: r.options, figures: r.figures, measures: r.measures };
  if (format === "json") download(`${card.name}.json`, JSON.stringify(data, null, 1), "application/json");
  else download(`${card.name}.csv`, toCsv(r.figures), "text/csv");
}

// --- a run --------------------------------------------------------------------

function setStatus(card, text, kind = "") {
  card.status.textContent = text;
  card.status.dataset.kind = kind;
}

function showMeasures(card, measures) {
  card.measuresEl.replaceChildren();
  Object.entries(measures).forEach(([key, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = key.replaceAll("_", " ");
    const dd = document.createElement("dd");
    dd.textContent = Array.isArray(value) ? value.join(", ") : String(value);
    card.measuresEl.append(dt, dd);
  });
  card.measuresEl.hidden = false;
}

function onMessage(card, message) {
  if (message.type === "queued") {
    const wait = message.estimate_s ? `, about ${Math.ceil(message.estimate_s)} s` : "";
    const why = message.resumes ? "Paused to give others a turn" : "Waiting for a free slot";
    setStatus(card, `${why}: position ${message.position}${wait}.`);
  } else if (message.type === "started") setStatus(card, "Running…");
  else if (message.type === "running") setStatus(card, "Running again…");
  else if (message.type === "progress") {
    card.progress.value = message.fraction;
    setStatus(card, message.label);
  } else if (message.type === "figure") drawFigure(card, message.id, message.figure);
  else if (message.type === "done") finish(card, message);
  else if (message.type === "error") setStatus(card, message.message, "error");
}

function finish(card, message) {
  if (message.reason !== "completed") {
    setStatus(card, `Stopped${message.detail ? `: ${message.detail}` : ""}.`);
    return;
  }
  Object.entries(message.figures).forEach(([id, fig]) => drawFigure(card, id, fig));
  card.result = message;
  card.progress.value = 1;
  card.el.dataset.state = "done";
  showMeasures(card, message.measures);
  card.exports.hidden = false;
  setStatus(card, `Done in ${message.seconds.toFixed(1)} s.`);
}

function setRunning(card) {
  running = card;
  cards.forEach((c) => { c.runButton.disabled = Boolean(card); });
  if (card) card.stopButton.disabled = false;
}

function start(card) {
  const config = readForm(card.form, card.schema);
  if (config.error) {
    setStatus(card, config.error, "error");
    return;
  }
  clearCharts(card);
  card.result = null;
  card.exports.hidden = true;
  card.measuresEl.hidden = true;
  card.progress.value = 0;
  card.el.dataset.state = "running";
  setStatus(card, "Starting…");
  setRunning(card);
  card.job = openJob(`/ws/preset/${card.name}`, config.values, (m) => onMessage(card, m), () => {
    card.stopButton.disabled = true;
    if (card.el.dataset.state === "running") card.el.dataset.state = "ended";
    setRunning(null);
  });
}

// --- set-up -------------------------------------------------------------------

function buildForm(card, schema) {
  card.schema = schema;
  const fields = Object.entries(schema.properties).map(([name, prop]) => fieldInput(card.name, name, prop));
  card.form.replaceChildren(...fields);
}

function setUpCard(el, description) {
  const card = {
    el, name: el.dataset.preset, charts: new Map(), result: null, job: null,
    form: el.querySelector("form"), chartsEl: el.querySelector(".preset-charts"),
    runButton: el.querySelector(".run"), stopButton: el.querySelector(".stop"),
    progress: el.querySelector("progress"), status: el.querySelector(".status"),
    exports: el.querySelector(".exports"), measuresEl: el.querySelector(".measures"),
  };
  buildForm(card, description.options);
  card.form.addEventListener("submit", (event) => { event.preventDefault(); start(card); });
  card.runButton.addEventListener("click", () => start(card));
  card.stopButton.addEventListener("click", () => card.job && card.job.stop());
  el.querySelector(".export-json").addEventListener("click", () => exportData(card, "json"));
  el.querySelector(".export-csv").addEventListener("click", () => exportData(card, "csv"));
  cards.set(card.name, card);
}

async function main() {
  const response = await fetch("/api/presets");
  const { presets } = await response.json();
  const byName = Object.fromEntries(presets.map((p) => [p.name, p]));
  document.querySelectorAll("article.preset").forEach((el) => setUpCard(el, byName[el.dataset.preset]));
  document.body.dataset.ready = "true";
}

window.addEventListener("beforeunload", () => running && running.job && running.job.close());
main();
