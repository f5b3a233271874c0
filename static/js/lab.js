// The lab page: settings <-> URL, one paired run over a socket, live charts.
import { appendRows, resetCurves, showGradients, showSurfaces } from "./charts.js";
import { csv, download } from "./download.js";
import { openJob } from "./run-socket.js";

const form = document.getElementById("run-form");
const buttons = {
  start: document.getElementById("start"),
  pause: document.getElementById("pause"),
  stop: document.getElementById("stop"),
};
const progress = document.getElementById("progress");
const speed = document.getElementById("speed");
const statusLine = document.getElementById("status");
const inspect = document.getElementById("inspect");
const FIELDS = [
  "dataset", "depth", "width", "learning_rate", "steps", "seed",
  "batch_size", "noise", "optimizer", "unit", "schedule", "batch_norm",
];

let job = null;
let waiting = false; // queued for a slot, not training
let run = null; // { config, steps, layers, points, rows: {plain: [...], residual: [...]} }

function setStatus(text, kind = "info") {
  statusLine.textContent = text;
  statusLine.dataset.kind = kind;
}

function readConfig() {
  const config = {};
  for (const name of FIELDS) {
    const input = form.elements[name];
    if (input.type === "checkbox") config[name] = input.checked;
    else if (input.type === "range" || input.type === "number") config[name] = Number(input.value);
    else config[name] = input.value;
  }
  return config;
}

// Every setting, seed included, round-trips through the URL: a link replays a run.
function writeUrl(config) {
  const params = new URLSearchParams(Object.entries(config).map(([k, v]) => [k, String(v)]));
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

function acceptable(input, value) {
  if (input.type === "checkbox") return value === "true" || value === "false";
  if (input.tagName === "SELECT") return [...input.options].some((o) => o.value === value);
  const number = Number(value);
  return value !== "" && Number.isFinite(number)
    && number >= Number(input.min) && number <= Number(input.max);
}

// A link's settings are applied only when valid; the server checks them again.
function readUrl() {
  const params = new URLSearchParams(location.search);
  const ignored = [];
  for (const name of FIELDS) {
    if (!params.has(name)) continue;
    const input = form.elements[name];
    const value = params.get(name);
    if (!acceptable(input, value)) ignored.push(name);
    else if (input.type === "checkbox") input.checked = value === "true";
    else input.value = value;
  }
  if (ignored.length) setStatus(`Ignored invalid settings in the link: ${ignored.join(", ")}.`, "error");
}

function showValues() {
  for (const output of form.querySelectorAll("output[for]")) {
    output.textContent = form.elements[output.htmlFor].value;
  }
  const digits = form.elements.dataset.value === "digits";
  form.elements.noise.disabled = digits;
  document.getElementById("dataset-hint").hidden = !digits;
}

function setRunning(running) {
  buttons.pause.disabled = !running;
  buttons.stop.disabled = !running;
  buttons.pause.textContent = "Pause";
}

function onMessage(message) {
  switch (message.type) {
    case "queued": {
      waiting = true;
      if (!run) resetCurves("Waiting for a turn");
      const wait = message.estimate_s ? `, about ${Math.ceil(message.estimate_s)} s` : "";
      setStatus(message.resumes
        ? `Paused to give others a turn: position ${message.position}${wait}; `
          + "training picks up where it stopped."
        : `Waiting for a turn: position ${message.position} in the queue${wait}.`);
      break;
    }
    case "started":
      waiting = false;
      resetCurves();
      run = {
        config: message.config, steps: message.config.steps, layers: message.layers,
        points: message.points, rows: { plain: [], residual: [] },
      };
      inspect.hidden = true;
      document.getElementById("surfaces").hidden = true; // shown with the first surface
      setStatus(`Training on ${message.dataset.name} (${message.device}).`);
      break;
    case "metrics":
      for (const [kind, rows] of Object.entries(message.rows)) run.rows[kind].push(...rows);
      appendRows(message.rows);
      showGradients(run.layers, message.rows);
      progress.value = message.step / run.steps;
      speed.textContent = `step ${message.step} / ${run.steps} · ${message.steps_per_second} steps/s`;
      break;
    case "surface":
      if (!run.points) break;
      document.getElementById("surfaces").hidden = false;
      showSurfaces(message, run.points);
      break;
    case "running":
      waiting = false;
      setStatus("Training again after waiting for a turn.");
      break;
    case "paused":
      setStatus("Paused.");
      buttons.pause.textContent = "Resume";
      break;
    case "resumed":
      setStatus(waiting ? "Resumed: still waiting for a turn." : "Training.");
      buttons.pause.textContent = "Pause";
      break;
    case "done":
      finish(message);
      break;
    case "error":
      setStatus(`Error: ${message.message}`, "error");
      break;
  }
}

function finish(message) {
  setRunning(false);
  if (run) run.final = message.final;
  if (message.reason === "completed") {
    progress.value = 1;
    const final = message.final.train;
    setStatus(
      `Done in ${message.seconds} s. Final training loss: plain ${final.plain.loss.toFixed(3)}, ` +
        `residual ${final.residual.loss.toFixed(3)}.`,
    );
  } else if (message.reason === "diverged") {
    setStatus(`Diverged: ${message.detail}. Try a smaller learning rate.`, "error");
  } else {
    const steps = message.steps ? `after ${message.steps} steps ` : "";
    setStatus(`Stopped ${steps}(${message.detail}).`);
  }
  document.getElementById("exports").hidden = !run;
  if (message.run_id) {
    inspect.href = `/block?run=${encodeURIComponent(message.run_id)}`;
    inspect.hidden = false;
  }
}

// The same shape as `residual-lab train --json`, per-layer gradients added.
function exportData(format) {
  if (!run) return;
  const name = `residual-lab-${run.config.dataset}-depth${run.config.depth}-seed${run.config.seed}`;
  if (format === "json") {
    const runs = Object.entries(run.rows).map(([kind, rows]) => ({
      kind,
      history: Object.fromEntries(
        ["step", "train_loss", "train_accuracy", "test_accuracy", "grad_norms"]
          .map((key) => [key, rows.map((r) => r[key])]),
      ),
    }));
    const data = { config: run.config, layers: run.layers, final: run.final ?? null, runs };
    download(`${name}.json`, JSON.stringify(data), "application/json");
    return;
  }
  const header = ["network", "step", "train_loss", "train_accuracy", "test_accuracy"];
  const rows = Object.entries(run.rows).flatMap(([kind, list]) =>
    list.map((r) => [kind, r.step, r.train_loss, r.train_accuracy, r.test_accuracy]));
  download(`${name}.csv`, csv([header, ...rows]), "text/csv");
}

function start(event) {
  event.preventDefault();
  if (job) job.close();
  const config = readConfig();
  run = null;
  waiting = false;
  writeUrl(config);
  resetCurves("Connecting…");
  document.getElementById("exports").hidden = true;
  progress.value = 0;
  speed.textContent = "";
  setStatus("Connecting…");
  setRunning(true);
  const current = openJob("/ws/train", config, onMessage, ({ code, reason, ended }) => {
    if (job !== current) return;
    if (!ended) setStatus(reason ? `Closed: ${reason}` : "Connection lost.", "error");
    setRunning(false);
    job = null;
  });
  job = current;
}

form.addEventListener("submit", start);
form.addEventListener("input", showValues);
buttons.pause.addEventListener("click", () => {
  if (!job) return;
  if (buttons.pause.textContent === "Pause") job.pause();
  else job.resume();
});
buttons.stop.addEventListener("click", () => job && job.stop());
document.getElementById("export-json").addEventListener("click", () => exportData("json"));
document.getElementById("export-csv").addEventListener("click", () => exportData("csv"));

readUrl();
showValues();
window.addEventListener("load", () => resetCurves("Press Start to train both networks"));
document.getElementById("surfaces").hidden = true; // until a 2-D run draws them
