// Live charts of a paired run: one trace per network, capped point counts.

export const COLORS = { plain: "#d9572b", residual: "#2b6cd9" };
export const KINDS = ["plain", "residual"];
const MAX_POINTS = 2000; // per trace; older points are dropped past this
const CONFIG = { responsive: true, displaylogo: false };

const note = (text) => [{
  text, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5,
  font: { color: "#5b6575" },
}];

function layout(title, xTitle, yTitle, extra = {}) {
  return {
    annotations: extra.waiting ? note(extra.waiting) : [],
    title: { text: title, font: { size: 14 } },
    margin: { l: 55, r: 15, t: 40, b: 70 },
    xaxis: { title: { text: xTitle }, visible: !extra.waiting },
    yaxis: { title: { text: yTitle }, ...(extra.yaxis || {}), visible: !extra.waiting },
    legend: { orientation: "h", y: -0.32 },
    uirevision: "keep",
  };
}

function trace(name, color, dash = "solid") {
  return { x: [], y: [], name, mode: "lines", line: { color, dash, width: 2 } };
}

// waiting: a line to show instead of empty axes before the run trains.
export function resetCurves(waiting = "") {
  Plotly.react(
    "loss-chart",
    KINDS.map((k) => trace(k, COLORS[k])),
    layout("Training loss", "step", "cross-entropy", {
      waiting, yaxis: { type: "log", tickformat: "~g" },
    }),
    CONFIG,
  );
  const acc = KINDS.flatMap((k) => [
    trace(`${k} train`, COLORS[k]),
    { ...trace(`${k} test`, COLORS[k], "dot"), mode: "lines+markers" },
  ]);
  Plotly.react("accuracy-chart", acc, layout("Accuracy", "step", "accuracy", { waiting }), CONFIG);
  Plotly.react(
    "grad-chart",
    KINDS.map((k) => ({ ...trace(k, COLORS[k]), mode: "lines+markers" })),
    layout("Gradient norm per layer (latest)", "layer, input to output", "‖∂L/∂w‖", {
      waiting, yaxis: { type: "log", exponentformat: "power" },
    }),
    CONFIG,
  );
}

export function appendRows(rowsByKind) {
  const loss = { x: [], y: [] };
  const acc = { x: [], y: [] };
  KINDS.forEach((kind) => {
    const rows = rowsByKind[kind] || [];
    const steps = rows.map((r) => r.step);
    loss.x.push(steps);
    loss.y.push(rows.map((r) => r.train_loss));
    const tested = rows.filter((r) => r.test_accuracy !== null);
    acc.x.push(steps, tested.map((r) => r.step));
    acc.y.push(rows.map((r) => r.train_accuracy), tested.map((r) => r.test_accuracy));
  });
  Plotly.extendTraces("loss-chart", loss, [0, 1], MAX_POINTS);
  Plotly.extendTraces("accuracy-chart", acc, [0, 1, 2, 3], MAX_POINTS);
}

export function showGradients(layers, rowsByKind) {
  const update = { x: [], y: [] };
  KINDS.forEach((kind) => {
    const rows = rowsByKind[kind] || [];
    const last = rows[rows.length - 1];
    update.x.push(layers);
    update.y.push(last ? last.grad_norms.map((g) => (g > 0 ? g : null)) : []);
  });
  Plotly.restyle("grad-chart", update, [0, 1]);
}

export function showSurfaces(message, points) {
  const span = message.span;
  const axis = message.plain[0].map((_, i, row) => -span + (2 * span * i) / (row.length - 1));
  KINDS.forEach((kind) => {
    const data = [
      {
        type: "heatmap", x: axis, y: axis, z: message[kind], zmin: 0, zmax: 1,
        colorscale: [[0, "#f7c9b6"], [0.5, "#ffffff"], [1, "#b9cdf3"]],
        colorbar: { title: { text: "P(class 1)", side: "right" }, thickness: 10, len: 0.8 },
      },
      {
        type: "scatter", mode: "markers", x: points.x, y: points.y,
        marker: {
          size: 4, color: points.label.map((l) => (l ? "#1f4fa8" : "#b3401b")),
        },
        hoverinfo: "skip",
      },
    ];
    const title = `${kind} network, step ${message.step}`;
    const lay = layout(title, "x₁", "x₂");
    lay.xaxis.range = [-span, span];
    lay.yaxis.range = [-span, span];
    lay.xaxis.constrain = "domain";
    lay.yaxis.scaleanchor = "x";
    lay.showlegend = false;
    Plotly.react(`surface-${kind}`, data, lay, CONFIG);
  });
}
