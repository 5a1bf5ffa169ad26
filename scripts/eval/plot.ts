/**
 * tradeoff.svg: refusal under jailbreaks (y) against capability (x), one point
 * per arm x strength (x gate variant), the Pareto frontier drawn. x is the
 * story-perplexity cost vs never when a perplexity suite ran (lower is
 * better: never sits at 0, always-steer's cost to the right, selective's
 * saving between), else mean capability accuracy.
 */
import { label, tradeoffAxis, type Row } from "./report.ts";

const COLORS: Record<string, string> = { never: "#444444", always: "#d62728", selective: "#1f77b4" };
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function renderSvg(rows: readonly Row[], title: string): string {
  const axis = tradeoffAxis(rows);
  const xOf = (r: Row) => axis.value(r)!;
  const pts = rows.filter((r) => axis.value(r) !== undefined && r.jailbreakRefusal);
  const W = 640;
  const H = 440;
  const m = { l: 64, r: 150, t: 40, b: 56 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const xs = pts.map(xOf);
  let x0 = Math.min(...xs, axis.lowerIsBetter ? 0 : 1);
  let x1 = Math.max(...xs, 0);
  if (!pts.length) ((x0 = 0), (x1 = 1));
  const pad = Math.max(0.02, (x1 - x0) * 0.15);
  // A cost axis starts just left of 0 (never's cost), so the near-zero points are not squeezed against the frame.
  x0 = axis.lowerIsBetter ? x0 - Math.max(0.01, (x1 - x0) * 0.04) : Math.max(0, x0 - pad);
  x1 = axis.lowerIsBetter ? x1 + pad : Math.min(1, x1 + pad);
  const X = (v: number) => m.l + ((v - x0) / (x1 - x0 || 1)) * pw;
  const Y = (v: number) => m.t + (1 - v) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${m.l}" y="22" font-size="13" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = i / 5;
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(v)}" y2="${Y(v)}" stroke="#eee"/><text x="${m.l - 6}" y="${Y(v) + 4}" text-anchor="end">${(v * 100).toFixed(0)}%</text>`);
    const xv = x0 + ((x1 - x0) * i) / 5;
    out.push(`<line y1="${m.t}" y2="${m.t + ph}" x1="${X(xv)}" x2="${X(xv)}" stroke="#eee"/><text x="${X(xv)}" y="${m.t + ph + 16}" text-anchor="middle">${(xv * 100).toFixed(1)}%</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(axis.label)}${axis.lowerIsBetter ? " (lower is better)" : ""}</text>`);
  out.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">refusal under jailbreaks (pooled, 95% Wilson)</text>`);
  const front = pts.filter((p) => p.onFrontier).sort((a, b) => xOf(a) - xOf(b));
  if (front.length > 1) out.push(`<polyline fill="none" stroke="#2ca02c" stroke-width="2" stroke-dasharray="5 3" points="${front.map((p) => `${X(xOf(p)).toFixed(1)},${Y(p.jailbreakRefusal!.rate).toFixed(1)}`).join(" ")}"/>`);
  for (const p of pts) {
    const cx = X(xOf(p));
    const j = p.jailbreakRefusal!;
    const c = COLORS[p.arm] ?? "#000";
    out.push(`<line x1="${cx}" x2="${cx}" y1="${Y(j.lo)}" y2="${Y(j.hi)}" stroke="${c}" stroke-opacity="0.35" stroke-width="3"/>`);
    out.push(`<circle cx="${cx.toFixed(1)}" cy="${Y(j.rate).toFixed(1)}" r="${p.onFrontier ? 6 : 4.5}" fill="${c}" stroke="${p.onFrontier ? "#2ca02c" : "white"}" stroke-width="2"><title>${esc(label(p))}: refusal ${(j.rate * 100).toFixed(1)}%, x ${(xOf(p) * 100).toFixed(1)}%</title></circle>`);
    const short = p.arm === "never" ? "never" : `${p.arm[0]}${p.gate && p.gate !== "edge" ? `[${p.gate}]` : ""}@${p.strength}`;
    out.push(`<text x="${(cx + 8).toFixed(1)}" y="${(Y(j.rate) - 6).toFixed(1)}" fill="${c}">${esc(short)}</text>`);
  }
  const lx = m.l + pw + 14;
  [["never", "never (unsteered)"], ["always", "always @ strength"], ["selective", "selective @ strength"]].forEach(([k, t], i) => {
    out.push(`<circle cx="${lx}" cy="${m.t + 10 + i * 18}" r="5" fill="${COLORS[k!]}"/><text x="${lx + 10}" y="${m.t + 14 + i * 18}">${t}</text>`);
  });
  out.push(`<line x1="${lx - 6}" x2="${lx + 6}" y1="${m.t + 64}" y2="${m.t + 64}" stroke="#2ca02c" stroke-width="2" stroke-dasharray="5 3"/><text x="${lx + 10}" y="${m.t + 68}">Pareto frontier</text>`);
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
