// Log-scale axes with a few readable ticks, whatever the range and chart size.
// Plotly's own log ticks label minor ticks with bare digits ("5" for 0.5) or
// crowd every 1..9; these ticks are 1-2-5 steps, whole decades, or every
// other decade, as the range asks.

function label(v) {
  if (v >= 1e-3 && v < 1e5) return String(Number(v.toPrecision(2)));
  return v.toExponential(0).replace("e+", "e");
}

export function logTicks(values) {
  const finite = values.flat(Infinity).filter((v) => Number.isFinite(v) && v > 0);
  if (!finite.length) return {};
  const lo = Math.floor(Math.log10(Math.min(...finite)));
  const hi = Math.ceil(Math.log10(Math.max(...finite)));
  const decades = hi - lo;
  const steps = decades <= 2 ? [1, 2, 5] : [1];
  const every = decades > 8 ? 2 : 1;
  const tickvals = [];
  for (let d = lo; d <= hi; d += 1) {
    if ((d - lo) % every) continue;
    for (const s of steps) tickvals.push(s * 10 ** d);
  }
  return { tickmode: "array", tickvals, ticktext: tickvals.map(label) };
}

export function logAxis(values, extra = {}) {
  return { type: "log", ...logTicks(values), ...extra };
}
