/**
 * The tune report as one self-contained HTML file: inline CSS and SVG, no
 * script, no external reference of any kind (no fonts, images or links), so
 * it opens offline and fetches nothing; its Content-Security-Policy forbids
 * every fetch as well, should a later edit add one. Three parts: a scatter of every trial
 * (one <circle class="trial"> each) with the Pareto front, the per-layer
 * sensitivity as bars, and the chosen plan as a table.
 */
import { paretoFront } from './pareto';
import type { TuneReport } from './report';
import type { TrialRecord } from './types';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (v: number): string => String(Number(v.toFixed(2)));

export function renderHtmlReport(r: TuneReport): string {
  const c = r.constraint;
  const title = `mc tune: ${esc(r.model)}`;
  const summary = r.best
    ? `${r.met ? 'Met' : 'Missed'}: trial ${r.best.id}, ${esc(c.name)} ${r.best.value === null ? '∞' : num(r.best.value)} (limit ${c.limit}), ${r.best.weightBytes} weight bytes, ${r.best.fileBytes} file bytes${r.noise ? `; sampling noise about ±${r.noise.points.toFixed(2)} points (${r.noise.disagree} of ${r.noise.samples} samples change class)` : ''}`
    : 'sensitivity only';
  const planRows = r.plan.map((p) => `<tr><td>${esc(p.layer)}</td>${r.dimensions.map((d) => `<td>${esc(String(p.choice[d.name]))}</td>`).join('')}</tr>`).join('');
  const uniformRows = r.uniform.map((u) => `<tr><td>${u.option}</td><td>${u.trial.value === null ? '∞' : num(u.trial.value)}</td><td>${u.trial.passed ? 'yes' : 'no'}</td><td>${u.trial.weightBytes}</td></tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${title}</title>
<style>body{font:14px/1.4 sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
.trial{fill:#4a7ab5;fill-opacity:.55}.trial.passed{fill:#3a9a4a}.front{fill:none;stroke:#c33;stroke-width:1.5}.chosen{fill:none;stroke:#000;stroke-width:2}
.limit{stroke:#999;stroke-dasharray:4 3}.passing{fill:#3a9a4a;fill-opacity:.6}.bar{fill:#d08a3a}text{font-size:11px}</style></head>
<body><h1>${title}</h1>
<p>Constraint --${esc(c.name)} ${c.limit} ${esc(c.unit)}; size: ${r.sizeMeasure} bytes; ${r.trials.length} trials (${r.reused} read back), stopped: ${r.stopped}.</p>
<p><b>${esc(summary)}</b></p>
<h2>Trials and Pareto front</h2>
${scatter(r)}
<h2>Sensitivity (each layer alone)</h2>
${sensitivity(r)}
<h2>Chosen plan</h2>
<table><tr><th>layer</th>${r.dimensions.map((d) => `<th>${d.name}</th>`).join('')}</tr>${planRows}</table>
${latencyParts(r)}
<h2>Uniform plans</h2>
<table><tr><th>option</th><th>${esc(c.name)}</th><th>passed</th><th>weight bytes</th></tr>${uniformRows}</table>
</body></html>
`;
}

function scatter(r: TuneReport): string {
  const W = 640;
  const H = 360;
  const M = 50;
  // With latency alone the x axis is the latency the search minimised; else the size measure.
  const byLatency = r.objective.length === 1 && r.objective[0] === 'latency';
  const xOf = (t: TrialRecord, i: number): number => (byLatency ? (t.latency !== undefined && Number.isFinite(t.latency) ? t.latency : 0) : r.sizes[i]);
  const pts = r.trials.map((t, i) => ({ t, x: xOf(t, i), y: t.value }));
  const finite = pts.filter((p) => p.y !== null && !p.t.error).map((p) => p.y as number);
  const xs = pts.map((p) => p.x);
  const xmin = Math.min(...xs, 0);
  const xmax = Math.max(...xs, 1);
  let ymin = Math.min(...finite, c(r));
  let ymax = Math.max(...finite, c(r));
  if (ymax === ymin) { ymax += 1; ymin -= 1; }
  const X = (v: number): number => M + ((v - xmin) / (xmax - xmin || 1)) * (W - 2 * M);
  // Worse (larger cost) is up for a max- constraint; the value axis as measured.
  const Y = (v: number | null): number => (v === null ? M / 2 : H - M - ((v - ymin) / (ymax - ymin)) * (H - 2 * M));
  const marks = pts.map((p) => `<circle class="trial${p.t.passed ? ' passed' : ''}" data-trial="${p.t.id}" cx="${num(X(p.x))}" cy="${num(Y(p.t.error ? null : p.y))}" r="4"><title>trial ${p.t.id} (${p.t.phase}, ${p.t.scope}): ${p.x} B, ${p.y === null ? '∞' : num(p.y)}</title></circle>`).join('');
  // With two objectives the front is over three coordinates; this chart draws the front of the two it shows.
  const shown = r.objective.length > 1 ? paretoFront(r.trials.filter((t) => !t.error), (t) => ({ size: r.sizes[t.id], cost: -t.slack })) : r.front;
  const front = shown.map((t) => `${num(X(xOf(t, t.id)))},${num(Y(t.value))}`).join(' ');
  const best = r.best ? `<circle class="chosen" cx="${num(X(xOf(r.best, r.best.id)))}" cy="${num(Y(r.best.value))}" r="8"/>` : '';
  const limit = `<line class="limit" x1="${M}" x2="${W - M}" y1="${num(Y(c(r)))}" y2="${num(Y(c(r)))}"/>`;
  const axes = axesOf(W, H, M, `${byLatency ? 'latency, ratio to float' : `${r.sizeMeasure} bytes`} (${num(xmin)} … ${num(xmax)})`, `${esc(r.constraint.name)} (${num(ymin)} … ${num(ymax)})`);
  return `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img">${axes}${limit}<polyline class="front" points="${front}"/>${marks}${best}</svg>`;
}

/** With a latency objective: the answer's latency, the size/latency trade-off and the table. */
function latencyParts(r: TuneReport): string {
  const lo = r.latencyObjective;
  if (!lo) return '';
  const best = lo.best ? `<p>Answer latency: ${lo.best.ratio === null ? 'not measured' : num(lo.best.ratio)} of float end to end (onnxruntime, 1 thread; table estimate ${num(lo.best.estimate)}).</p>` : '';
  const trade = r.tradeoff?.length
    ? `<h2>Size/latency trade-off (plans within the constraint)</h2><table><tr><th>trial</th><th>${r.sizeMeasure} bytes</th><th>latency (estimate)</th><th>${esc(r.constraint.name)}</th></tr>${r.tradeoff.map((t) => `<tr><td>${t.id}</td><td>${r.sizes[t.id]}</td><td>${t.latency === undefined ? '-' : num(t.latency)}</td><td>${t.value === null ? '∞' : num(t.value)}</td></tr>`).join('')}</table>`
    : '';
  const table = `<h2>Latency table (each layer alone, ratio to float)</h2><table><tr><th>layer</th><th>dimension</th><th>rung</th><th>ratio</th><th>spread</th></tr>${lo.table.map((e) => `<tr><td>${esc(e.layer)}</td><td>${e.dimension}</td><td>${esc(String(e.rung))}</td><td>${e.ratio === null ? 'cannot' : num(e.ratio)}</td><td>${num(e.spread)}</td></tr>`).join('')}</table>`;
  return `<h2>Latency</h2>${best}${tradeoffScatter(r)}${trade}${table}`;
}

/** --objective size,latency: the passing trials, size against latency, the trade-off joined and the answer ringed. */
function tradeoffScatter(r: TuneReport): string {
  if (!r.tradeoff) return '';
  const W = 640;
  const H = 300;
  const M = 50;
  const pass = r.trials.filter((t) => t.passed && !t.error && t.latency !== undefined && Number.isFinite(t.latency));
  if (!pass.length) return '';
  const xs = pass.map((t) => r.sizes[t.id]);
  const ys = pass.map((t) => t.latency!);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const X = (v: number): number => M + ((v - x0) / (x1 - x0 || 1)) * (W - 2 * M);
  const Y = (v: number): number => H - M - ((v - y0) / (y1 - y0 || 1)) * (H - 2 * M);
  const marks = pass.map((t) => `<circle class="passing" cx="${num(X(r.sizes[t.id]))}" cy="${num(Y(t.latency!))}" r="3"><title>trial ${t.id}: ${r.sizes[t.id]} B, latency ${num(t.latency!)}</title></circle>`).join('');
  const line = r.tradeoff.map((t) => `${num(X(r.sizes[t.id]))},${num(Y(t.latency!))}`).join(' ');
  const best = r.best && r.best.latency !== undefined ? `<circle class="chosen" cx="${num(X(r.sizes[r.best.id]))}" cy="${num(Y(r.best.latency))}" r="7"/>` : '';
  const axes = axesOf(W, H, M, `${r.sizeMeasure} bytes (${x0} … ${x1})`, `latency, ratio to float (${num(y0)} … ${num(y1)})`);
  return `<h3>Plans within the constraint: size against latency</h3><svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img">${axes}<polyline class="front" points="${line}"/>${marks}${best}</svg>`;
}

/** A chart's two axis lines and their labels (already escaped), margin M. */
function axesOf(W: number, H: number, M: number, xLabel: string, yLabel: string): string {
  return `<line x1="${M}" y1="${H - M}" x2="${W - M}" y2="${H - M}" stroke="#333"/><line x1="${M}" y1="${M / 2}" x2="${M}" y2="${H - M}" stroke="#333"/>
<text x="${W / 2}" y="${H - 12}" text-anchor="middle">${xLabel}</text>
<text x="12" y="${H / 2}" transform="rotate(-90 12 ${H / 2})" text-anchor="middle">${yLabel}</text>`;
}

function c(r: TuneReport): number {
  return r.constraint.limit;
}

function sensitivity(r: TuneReport): string {
  if (!r.sensitivity.length) return '<p>none</p>';
  const rows = r.sensitivity;
  const vals = rows.map((s) => (Number.isFinite(s.cost) && Math.abs(s.cost) < 1e300 ? s.cost : 0));
  const max = Math.max(...vals.map(Math.abs), 1e-9);
  const W = 640;
  const rowH = 16;
  const L = 260;
  const bars = rows.map((s, i) => {
    const w = (Math.abs(vals[i]) / max) * (W - L - 60);
    const label = `${s.layer} ${s.dimension} ${s.rung}`;
    return `<text x="${L - 6}" y="${i * rowH + 12}" text-anchor="end">${esc(label)}</text><rect class="bar" x="${L}" y="${i * rowH + 2}" width="${num(w)}" height="${rowH - 4}"/><text x="${num(L + w + 4)}" y="${i * rowH + 12}">${num(vals[i])}${s.sqnrDb === null ? '' : ` · ${s.sqnrDb.toFixed(1)} dB`}</text>`;
  }).join('');
  return `<svg width="${W}" height="${rows.length * rowH + 4}" role="img">${bars}</svg>`;
}
