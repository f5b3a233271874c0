// Block anatomy: one unit by hand, a 1-D fit, and a trained run's units.
// Every number drawn here was computed on the server by the project's own
// units; this module only asks, unpacks and draws.

import { logAxis } from "./axes.js";

const API = "/api/anatomy";
const PANELS = ["x", "weight1", "relu", "f", "sum", "out", "stack"];
const PLOT_CONFIG = { displayModeBar: false, responsive: true };
const CLASS_COLORS = ["#1b9e77", "#7b61c9", "#e6ab02", "#e7298a"];
const PLAIN = "#d9572b";
const RESIDUAL = "#2b6cd9";
const ARROW = "rgba(29, 36, 48, 0.6)";
const MAX_ARROWS = 120;
const RUN_POINTS = 1500; // training points drawn per network: SVG markers are not free
const GRID_LINES = 25; // rows (and columns) of the grid drawn per panel
const GRID_ROWS = "#1b9e77";
const GRID_COLUMNS = "#7b61c9";

const TITLES = {
  residual: {
    weight1: "W1x + b1",
    relu: "ReLU(W1x + b1)",
    f: "F(x) = W2·ReLU(…) + b2",
    sum: "x + αF(x), arrows αF(x)",
    out: "H(x) = ReLU(x + αF(x))",
  },
  preact: {
    weight1: "W1·ReLU(x) + b1",
    relu: "ReLU(W1·ReLU(x) + b1)",
    f: "F(x) = W2·ReLU(…) + b2",
    sum: "x + αF(x), arrows αF(x)",
    out: "H(x) = x + αF(x)",
  },
  plain: {
    weight1: "W1x + b1",
    relu: "ReLU(W1x + b1)",
    f: "F(x) = W2·ReLU(…) + b2",
    sum: "αF(x): no x added",
    out: "H(x) = ReLU(αF(x))",
  },
};

// Tests and bench/anatomy_latency.py read these counters after each redraw.
// `busy` says which views still have a request in flight.
const counters = { renders: 0, runRenders: 0, fitRenders: 0, errors: 0, busy: {} };
window.blockAnatomy = counters;

const $ = (id) => document.getElementById(id);

// --- Helpers -----------------------------------------------------------------

async function fetchJSON(url, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(url, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(data.detail || `${response.status} ${response.statusText}`);
  }
  return data;
}

// At most one request in flight; calls made meanwhile collapse into one more
// request that reads the latest state when it is sent (latest wins).
function coalesce(name, task, done, fail) {
  let busy = false;
  let again = false;

  async function drain() {
    busy = counters.busy[name] = true;
    do {
      again = false;
      try {
        done(await task());
      } catch (err) {
        fail(err);
      }
    } while (again);
    busy = counters.busy[name] = false;
  }

  return () => (busy ? (again = true) : drain());
}

// base64 float32, all x coordinates then all y coordinates -> {x, y}.
function unpack(b64, n) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const all = new Float32Array(bytes.buffer);
  return { x: all.subarray(0, n), y: all.subarray(n, 2 * n) };
}

function setStatus(el, text, kind = "info") {
  el.textContent = text;
  el.dataset.kind = kind;
}

// Indices of the points of each class, so that each class is one trace.
function classGroups(labels) {
  const groups = [];
  labels.forEach((c, i) => (groups[c] ||= []).push(i));
  return groups.map((idx, c) => ({ idx, color: CLASS_COLORS[c % CLASS_COLORS.length] }));
}

// Every k-th point, about `count` of them; a grid keeps every k-th row and column.
function thinned(n, count, isGrid) {
  const idx = [];
  if (isGrid) {
    const side = Math.round(Math.sqrt(n));
    const k = Math.max(1, Math.ceil(side / Math.sqrt(count)));
    const first = Math.floor((side - 1 - k * Math.floor((side - 1) / k)) / 2);
    for (let r = first; r < side; r += k) for (let c = first; c < side; c += k) idx.push(r * side + c);
    return idx;
  }
  const k = Math.max(1, Math.ceil(n / count));
  for (let i = 0; i < n; i += k) idx.push(i);
  return idx;
}

function markerTrace(x, y, color, size = 3, opacity = 1) {
  return {
    type: "scatter", mode: "markers", x, y, hoverinfo: "skip", marker: { size, color, opacity },
  };
}

// A data set's points, one marker trace per class.
function classTraces(cloud, groups, size = 3) {
  return groups.map(({ idx, color }) => {
    const pick = (arr) => idx.map((i) => arr[i]);
    return markerTrace(pick(cloud.x), pick(cloud.y), color, size);
  });
}

// The grid drawn as its rows and columns: one SVG path per trace redraws in a
// few ms where 2,500 separate markers take ~50 ms per panel, and a bent mesh
// shows what the unit does to the plane better than dots. Every k-th row and
// column is drawn (edges included, each at full resolution) to keep small
// panels legible.
function gridTraces(cloud, side) {
  const k = Math.max(1, Math.round(side / GRID_LINES));
  const picked = [];
  for (let a = 0; a < side; a += k) picked.push(a);
  if (picked.at(-1) !== side - 1) picked.push(side - 1);
  const line = (at) => {
    const xs = [];
    const ys = [];
    for (const a of picked) {
      for (let b = 0; b < side; b++) {
        xs.push(cloud.x[at(a, b)]);
        ys.push(cloud.y[at(a, b)]);
      }
      xs.push(null);
      ys.push(null);
    }
    return [xs, ys];
  };
  const [rx, ry] = line((r, c) => r * side + c);
  const [cx, cy] = line((c, r) => r * side + c);
  const trace = (x, y, color) => ({
    type: "scatter", mode: "lines", x, y, hoverinfo: "skip",
    line: { color, width: 1 }, opacity: 0.85,
  });
  return [trace(rx, ry, GRID_ROWS), trace(cx, cy, GRID_COLUMNS)];
}

// Arrows from each chosen point of `from` to the same point of `to`, drawn as
// one line trace broken by nulls, with an arrowhead at each tip.
// Arrows shorter than `minLength` are left out: a tip with no shaft is noise.
function arrowTrace(from, to, idx, minLength = 0) {
  const xs = [];
  const ys = [];
  const sizes = [];
  for (const i of idx) {
    if (Math.hypot(to.x[i] - from.x[i], to.y[i] - from.y[i]) <= minLength) continue;
    xs.push(from.x[i], to.x[i], null);
    ys.push(from.y[i], to.y[i], null);
    sizes.push(0, 6, 0);
  }
  return {
    type: "scatter", mode: "lines+markers", x: xs, y: ys, hoverinfo: "skip",
    line: { color: ARROW, width: 1 },
    marker: { symbol: "arrow", angleref: "previous", size: sizes, color: ARROW },
  };
}

function cloudLayout(half) {
  const axis = {
    range: [-half, half], fixedrange: true, zerolinecolor: "#b9c1cc",
    gridcolor: "#eef1f5", tickfont: { size: 9 }, nticks: 5,
  };
  return {
    margin: { l: 26, r: 6, t: 6, b: 20 }, showlegend: false, hovermode: false,
    xaxis: axis, yaxis: { ...axis, scaleanchor: "x" },
  };
}

// One symmetric range for every panel, in half steps so that the axes hold
// still while a slider moves and only jump when points leave the frame.
const NICE_STEPS = [1, 1.25, 1.6, 2, 2.5, 3, 4, 5, 6, 8];

// The half-width every panel shows. It keeps its value while the points
// still fit and fill more than 40% of it, so a slider drag rarely moves the
// axes, and panels whose points did not change need not be redrawn.
function sharedHalfRange(clouds, current) {
  let m = 1.5;
  for (const cloud of clouds) {
    for (const arr of [cloud.x, cloud.y]) {
      for (const v of arr) if (Math.abs(v) > m && Number.isFinite(v)) m = Math.abs(v);
    }
  }
  const needed = Math.min(m * 1.05, 1e4);
  if (current && needed <= current && needed > 0.4 * current) return current;
  const decade = 10 ** Math.floor(Math.log10(needed));
  return decade * NICE_STEPS.find((s) => s * decade >= needed - 1e-9) || 10 * decade;
}

// --- One unit, by hand -------------------------------------------------------

const hand = {
  kind: $("unit-kind"),
  source: $("source"),
  depth: $("s-depth"),
  status: $("hand-status"),
  seedLabel: $("seed-label"),
  weights: [...document.querySelectorAll("#hand input[data-weight]")],
  drawn: { key: null, half: null, draw: null, thin: null, packed: {} },
  seed: 0,
};

function sliderValue(name) {
  return Number($(`s-${name}`).value);
}

function handRequest() {
  const v = sliderValue;
  return {
    w1: [[v("w1_00"), v("w1_01")], [v("w1_10"), v("w1_11")]],
    b1: [v("b1_0"), v("b1_1")],
    w2: [[v("w2_00"), v("w2_01")], [v("w2_10"), v("w2_11")]],
    b2: [v("b2_0"), v("b2_1")],
    alpha: v("alpha"),
    unit: hand.kind.value,
    depth: Number(hand.depth.value),
    source: hand.source.value,
  };
}

function showValue(input) {
  const out = $(input.id.replace(/^s-/, "o-"));
  const value = Number(input.value);
  out.textContent = input.step === "1" ? String(value) : value.toFixed(2);
}

function setTitles() {
  const titles = TITLES[hand.kind.value];
  for (const [name, text] of Object.entries(titles)) $(`t-${name}`).textContent = text;
  const depth = Number(hand.depth.value);
  $("t-stack").textContent = `H after ${depth} units (the same weights each time)`;
  $("stack-box").hidden = depth === 1;
}

// When every point lands on one spot (a zeroed plain unit), lines of zero
// length draw nothing: mark the spot instead.
function collapsedPoint(cloud) {
  const spread = (a) => Math.max(...a) - Math.min(...a);
  if (cloud.x.length === 0 || spread(cloud.x) > 1e-6 || spread(cloud.y) > 1e-6) return null;
  return {
    type: "scatter", mode: "markers+text", x: [cloud.x[0]], y: [cloud.y[0]],
    marker: { size: 9, color: "#1d2430" }, text: ["all points"],
    textposition: "top center", textfont: { size: 10 }, hoverinfo: "skip",
  };
}

function drawPanel(name, traces, half) {
  Plotly.react($(`p-${name}`), traces, cloudLayout(half), PLOT_CONFIG);
}

function renderHand(body) {
  const clouds = {};
  for (const [name, b64] of Object.entries(body.panels)) clouds[name] = unpack(b64, body.n);
  const key = `${hand.source.value}:${body.n}`;
  const drawn = hand.drawn;
  if (drawn.key !== key) {
    const groups = body.labels && classGroups(body.labels);
    const side = Math.round(Math.sqrt(body.n));
    drawn.draw = groups ? (c) => classTraces(c, groups) : (c) => gridTraces(c, side);
    drawn.thin = thinned(body.n, MAX_ARROWS, body.labels === null);
  }
  const half = sharedHalfRange(Object.values(clouds), drawn.key === key ? drawn.half : null);

  const same = drawn.key === key && drawn.half === half;
  for (const name of PANELS) {
    if (!clouds[name]) continue;
    // A panel whose points did not change (x always; weight 1 and its ReLU
    // while layer 2 moves) keeps its drawing.
    if (same && drawn.packed[name] === body.panels[name]) continue;
    const traces = drawn.draw(clouds[name]);
    const point = collapsedPoint(clouds[name]);
    if (point) traces.push(point);
    if (name === "sum") traces.push(arrowTrace(clouds.x, clouds.sum, drawn.thin, half / 200));
    drawPanel(name, traces, half);
  }
  Object.assign(drawn, { key, half, packed: body.panels });
  counters.renders += 1;
  setStatus(hand.status, "");
}

function handFailed(err) {
  counters.errors += 1;
  setStatus(hand.status, err.message, "error");
}

const updateHand = coalesce("hand", () => fetchJSON(`${API}/unit`, handRequest()), renderHand, handFailed);

function writeHash() {
  const req = handRequest();
  const weights = [req.w1.flat(), req.b1, req.w2.flat(), req.b2].flat();
  const params = new URLSearchParams({
    unit: req.unit, source: req.source, depth: req.depth, alpha: req.alpha, w: weights.join(","),
  });
  history.replaceState(null, "", `${location.pathname}${location.search}#${params}`);
}

// The hash holds the hand-set unit, so any setup is a shareable link; the
// inputs clamp out-of-range values and bad numbers are ignored.
function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const pick = (el, value) => {
    if (value !== null && [...el.options].some((o) => o.value === value)) el.value = value;
  };
  pick(hand.kind, params.get("unit"));
  pick(hand.source, params.get("source"));
  const depth = Number(params.get("depth"));
  if (Number.isFinite(depth) && depth >= 1) hand.depth.value = depth;
  const alpha = Number(params.get("alpha") ?? NaN);
  if (Number.isFinite(alpha)) $("s-alpha").value = alpha;
  const weights = (params.get("w") || "").split(",").map(Number);
  if (weights.length === 12 && weights.every(Number.isFinite)) {
    const names = hand.weights.filter((el) => el.dataset.weight !== "alpha");
    names.forEach((el, i) => { el.value = weights[i]; });
  }
}

function setWeights(valueOf) {
  for (const input of hand.weights) {
    if (input.dataset.weight === "alpha") continue;
    input.value = valueOf(input);
    showValue(input);
  }
}

// mulberry32: a small seeded generator, so `Randomize` with a seed is repeatable.
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function onHandChange() {
  setTitles();
  writeHash();
  updateHand();
}

function randomize() {
  hand.seed += 1;
  const rand = seededRandom(hand.seed);
  // Uniform in [-1, 1] on the sliders' 0.05 grid: big enough to see, small
  // enough that the shortcut still dominates.
  setWeights(() => (Math.round((rand() * 2 - 1) * 20) / 20).toFixed(2));
  hand.seedLabel.textContent = `random weights, seed ${hand.seed}`;
  onHandChange();
}

function wireHand() {
  readHash();
  for (const input of [...hand.weights, hand.depth]) {
    showValue(input);
    input.addEventListener("input", () => {
      showValue(input);
      onHandChange();
    });
  }
  hand.kind.addEventListener("change", onHandChange);
  hand.source.addEventListener("change", onHandChange);
  $("zero").addEventListener("click", () => {
    setWeights(() => 0);
    hand.seedLabel.textContent = "all weights and biases zero: F(x) = 0";
    onHandChange();
  });
  $("randomize").addEventListener("click", randomize);
  $("reset").addEventListener("click", () => {
    for (const input of hand.weights) input.value = input.dataset.default;
    hand.weights.forEach(showValue);
    hand.seedLabel.textContent = "";
    onHandChange();
  });
  setTitles();
  updateHand();
}

// --- The residual is what is learned -----------------------------------------

const fit = { result: null, timer: null, frame: $("fit-frame") };

function lineTrace(x, y, name, color, dash = "solid", width = 2) {
  return { type: "scatter", mode: "lines", x, y, name, line: { color, dash, width } };
}

function fitLayout(extra = {}) {
  return {
    margin: { l: 44, r: 10, t: 8, b: 36 }, hovermode: "x",
    legend: { orientation: "h", y: -0.18, font: { size: 11 } },
    xaxis: { title: { text: "x", standoff: 4 }, zeroline: false }, ...extra,
  };
}

function showFitFrame(i) {
  const r = fit.result;
  const snap = (kind) => r.snapshots[kind][i];
  const step = r.steps[i];
  $("fit-frame-out").textContent = String(step);

  Plotly.react($("fit-h"), [
    lineTrace(r.x, r.x, "x", "#a0a8b4", "dot", 1.5),
    lineTrace(r.x, r.target, "target H(x)", "#1d2430", "dash"),
    lineTrace(r.x, snap("plain").h, "plain unit", PLAIN),
    lineTrace(r.x, snap("residual").h, "residual unit", RESIDUAL),
  ], fitLayout(), PLOT_CONFIG);

  Plotly.react($("fit-f"), [
    lineTrace(r.x, r.target, "plain needs F = H", PLAIN, "dash", 1.5),
    lineTrace(r.x, r.residual_target, "residual needs F = H − x", RESIDUAL, "dash", 1.5),
    lineTrace(r.x, snap("plain").f, "plain F(x)", PLAIN),
    lineTrace(r.x, snap("residual").f, "residual F(x)", RESIDUAL),
  ], fitLayout(), PLOT_CONFIG);

  drawLosses(r, step);
  counters.fitRenders += 1;
}

function drawLosses(r, step) {
  const steps = r.losses.plain.map((_, k) => k + 1);
  const marker = { type: "line", x0: step, x1: step, yref: "paper", y0: 0, y1: 1,
    line: { color: "#8a94a3", width: 1, dash: "dot" } };
  Plotly.react($("fit-loss"), [
    lineTrace(steps, r.losses.plain, "plain", PLAIN),
    lineTrace(steps, r.losses.residual, "residual", RESIDUAL),
  ], fitLayout({
    xaxis: { title: { text: "training step", standoff: 4 } },
    yaxis: logAxis([r.losses.plain, r.losses.residual]),
    shapes: [marker],
  }), PLOT_CONFIG);
}

// Replay the snapshots the server recorded, as if watching the training.
function playFit() {
  clearTimeout(fit.timer);
  const last = fit.result.steps.length - 1;
  let i = 0;
  const tick = () => {
    fit.frame.value = i;
    showFitFrame(i);
    if (i++ < last) fit.timer = setTimeout(tick, 70);
  };
  tick();
}

function describeFit(r) {
  const final = (kind) => r.losses[kind].at(-1);
  const fmt = (v) => (v === null ? "diverged" : v.toExponential(1));
  return `final mean squared error: plain ${fmt(final("plain"))}, residual ${fmt(final("residual"))}`;
}

async function trainFit() {
  const button = $("fit-train");
  const status = $("fit-status");
  button.disabled = true;
  setStatus(status, "training on the server…");
  const body = {
    target: $("fit-target").value,
    steps: Number($("fit-steps").value),
    seed: Number($("fit-seed").value),
  };
  try {
    fit.result = await fetchJSON(`${API}/fit`, body);
    fit.frame.max = fit.result.steps.length - 1;
    fit.frame.disabled = false;
    setStatus(status, describeFit(fit.result));
    playFit();
  } catch (err) {
    setStatus(status, err.message, "error");
  } finally {
    button.disabled = false;
  }
}

function drawFitPlaceholders() {
  const note = {
    text: "Press “Train both units”", showarrow: false, xref: "paper", yref: "paper",
    x: 0.5, y: 0.5, font: { color: "#8a94a3" },
  };
  for (const id of ["fit-h", "fit-f", "fit-loss"]) {
    const blank = { visible: false };
    Plotly.react($(id), [], fitLayout({ annotations: [note], xaxis: blank, yaxis: blank }), PLOT_CONFIG);
  }
}

function wireFit() {
  drawFitPlaceholders();
  $("fit-train").addEventListener("click", trainFit);
  fit.frame.addEventListener("input", () => {
    clearTimeout(fit.timer);
    if (fit.result) showFitFrame(Number(fit.frame.value));
  });
}

// --- Through a trained network -----------------------------------------------

const run = { id: null, ratios: null, slider: $("run-unit"), status: $("run-status") };

function ratioLayout(unit) {
  const r = run.ratios.ratios;
  return {
    margin: { l: 48, r: 10, t: 8, b: 36 }, hovermode: "x",
    legend: { orientation: "h", y: -0.18 },
    xaxis: { title: { text: "unit (input to output)", standoff: 4 } },
    yaxis: logAxis([r.plain, r.residual], { title: { text: "‖F(x)‖ / ‖x‖" } }),
    shapes: [{ type: "line", x0: unit, x1: unit, yref: "paper", y0: 0, y1: 1,
      line: { color: "#8a94a3", width: 1, dash: "dot" } }],
  };
}

function drawRatios(unit) {
  const units = run.ratios.ratios.plain.map((_, i) => i + 1);
  const trace = (kind, color) => ({
    ...lineTrace(units, run.ratios.ratios[kind], kind, color), mode: "lines+markers",
  });
  Plotly.react($("run-ratios"), [trace("plain", PLAIN), trace("residual", RESIDUAL)],
    ratioLayout(unit), PLOT_CONFIG);
}

function drawRunNet(kind, view, body, groups) {
  const points = {};
  for (const [name, b64] of Object.entries(view.points)) points[name] = unpack(b64, body.n);
  const half = view.half_range || 1;
  const traces = classTraces(points.out, groups, 4);
  if (points.x) traces.push(arrowTrace(points.x, points.sum, thinned(body.n, MAX_ARROWS, false)));
  const layout = cloudLayout(half);
  layout.margin = { l: 34, r: 8, t: 8, b: 24 };
  Plotly.react($(`run-${kind}`), traces, layout, PLOT_CONFIG);

  const where = body.unit === 0 ? "stem output" : `unit ${body.unit} of ${body.depth}`;
  const how = view.width === 2 ? "width 2, drawn directly"
    : `PCA of width ${view.width}, ${Math.round(view.explained * 100)}% of variance`;
  $(`t-run-${kind}`).textContent = `${kind === "plain" ? "Plain" : "Residual"}: ${where} (${how})`;
}

function renderRunUnit(body) {
  const groups = classGroups(body.labels);
  for (const [kind, view] of Object.entries(body.nets)) drawRunNet(kind, view, body, groups);
  drawRatios(body.unit);
  setStatus(run.status, body.unit === 0
    ? "The training points after the stem, coloured by class."
    : "Points: the unit's output H(x), coloured by class; arrows: from the unit's input x "
      + "to its sum before the ReLU (x + F(x) for the residual network, F(x) alone for the plain).");
  counters.runRenders += 1;
}

const updateRunUnit = coalesce(
  "run",
  () => fetchJSON(
    `${API}/runs/${encodeURIComponent(run.id)}/units/${run.slider.value}?max_points=${RUN_POINTS}`,
  ),
  renderRunUnit,
  (err) => setStatus(run.status, err.message, "error"),
);

async function loadRun(id) {
  run.id = id;
  $("trained-controls").hidden = false;
  $("trained").scrollIntoView(); // arriving from the lab: this is what was asked for
  setStatus(run.status, `loading run ${id}…`);
  try {
    run.ratios = await fetchJSON(`${API}/runs/${encodeURIComponent(id)}/ratios`);
  } catch (err) {
    setStatus(run.status, err.message, "error");
    return;
  }
  const r = run.ratios;
  const intro = `Run ${id}: ${r.dataset}, ${r.depth} units of width ${r.width}. `;
  const ratioNote = "The chart shows how large each unit's branch F(x) is next to its input x. "
    + "He et al. (2015, Fig. 7) found that in trained ResNets with batch norm most units "
    + "change their input only a little; small networks trained briefly need not show it. "
    + "For the plain network F(x) is the unit's whole output.";
  $("trained-charts").hidden = false;
  run.slider.max = r.depth;
  drawRatios(0);
  if (!r.is_2d) {
    // The cloud view needs 2-D points; the server answers 422 for these runs.
    $("trained-intro").textContent = `${intro}${ratioNote}`;
    $("run-unit").closest(".slider").hidden = true;
    for (const kind of ["plain", "residual"]) $(`run-${kind}`).parentElement.hidden = true;
    setStatus(run.status, `The point cloud needs a 2-D data set; this run used ${r.dataset}.`);
    return;
  }
  $("trained-intro").textContent = `${intro}Move the unit index to follow the training points `
    + `through both networks. ${ratioNote}`;
  run.slider.addEventListener("input", () => {
    $("run-unit-out").textContent = run.slider.value;
    updateRunUnit();
  });
  updateRunUnit();
}

wireHand();
wireFit();
const runId = new URLSearchParams(location.search).get("run");
if (runId) loadRun(runId);
