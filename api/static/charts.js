// Charts as inline SVG, drawn at the width they are shown at (redrawn when it changes), each
// with a text alternative: a title and description for screen readers and a data table.

import { h, percent, replace, s, tableWrap, uid, value } from "./dom.js";

export const COLORS = { mean: "#1d4ed8", covariance: "#c2410c" }; // ≥ 4.5:1 on white, told apart without colour vision

function legend() {
  return h("ul", { class: "legend" },
    h("li", {}, h("span", { class: "swatch mean", "aria-hidden": "true" }), "difference of the averages (mean term)"),
    h("li", {}, h("span", { class: "swatch covariance", "aria-hidden": "true" }), "difference of the spread and correlations (covariance term)"));
}

const measure = document.createElement("canvas").getContext("2d");

/** `text`, shortened with … to fit `width` pixels in the chart's label font. */
function fit(text, width) {
  measure.font = `13px ${getComputedStyle(document.body).fontFamily}`;
  if (measure.measureText(text).width <= width) return text;
  let n = text.length;
  while (n > 1 && measure.measureText(`${text.slice(0, n)}…`).width > width) n -= 1;
  return `${text.slice(0, n)}…`;
}

/** Redraw `draw(width)` into `holder` whenever its width changes. */
function responsive(holder, draw) {
  let last = 0;
  const redraw = () => {
    const width = Math.max(260, Math.floor(holder.clientWidth));
    if (width !== last) { last = width; replace(holder, draw(width)); }
  };
  new ResizeObserver(redraw).observe(holder);
  requestAnimationFrame(redraw);
}

/**
 * Horizontal bars, one per group, each split into its mean and covariance terms of d².
 * groups: [{label, mean, covariance, share, n}] (share: of the whole d²).
 */
export function groupChart(title, description, groups) {
  const titleId = uid("chart");
  const descId = uid("desc");
  const holder = h("div", { class: "chart" });
  const rows = [...groups].sort((a, b) => b.share - a.share);
  const max = Math.max(1e-300, ...rows.map((g) => Math.max(0, g.mean) + Math.max(0, g.covariance)));

  responsive(holder, (width) => {
    // Wide: the label left of its bar. Narrow: the label above its bar, at full width.
    const stacked = width < 520;
    const labelW = stacked ? 0 : Math.min(250, Math.floor(width * 0.34));
    const valueW = 56;
    const barW = width - labelW - valueW - 8;
    const rowH = stacked ? 44 : 28;
    const height = rows.length * rowH + 4;
    const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${titleId} ${descId}` },
      s("title", { id: titleId }, title), s("desc", { id: descId }, description));
    rows.forEach((g, i) => {
      const top = i * rowH + 2;
      const barY = stacked ? top + 20 : top + 4;
      const barH = stacked ? 18 : rowH - 10;
      const wMean = (Math.max(0, g.mean) / max) * barW;
      const wCov = (Math.max(0, g.covariance) / max) * barW;
      svg.append(
        stacked
          ? s("text", { x: 0, y: top + 14, class: "chart-label" }, s("title", {}, g.label), fit(g.label, width))
          : s("text", { x: labelW - 8, y: top + rowH / 2 + 4, "text-anchor": "end", class: "chart-label" }, s("title", {}, g.label), fit(g.label, labelW - 10)),
        s("rect", { x: labelW, y: barY, width: Math.max(0, wMean), height: barH, fill: COLORS.mean }),
        s("rect", { x: labelW + wMean, y: barY, width: Math.max(0, wCov), height: barH, fill: COLORS.covariance }),
        s("text", { x: labelW + wMean + wCov + 6, y: barY + barH / 2 + 4, class: "chart-value" }, percent(g.share)));
    });
    return svg;
  });

  const table = h("details", { class: "chart-table" }, h("summary", {}, "Show the numbers"),
    tableWrap(h("table", {},
      h("caption", { class: "visually-hidden" }, title),
      h("thead", {}, h("tr", {}, ["Group", "Features", "Mean term", "Covariance term", "Share of d²"].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
      h("tbody", {}, rows.map((g) => h("tr", {}, h("th", { scope: "row" }, g.label),
        h("td", { class: "num" }, String(g.n)), h("td", { class: "num" }, value(g.mean)),
        h("td", { class: "num" }, value(g.covariance)), h("td", { class: "num" }, percent(g.share))))))));
  return h("figure", { class: "figure" }, h("figcaption", {}, h("strong", {}, title), " ", description), holder, table);
}

/** One bar: how much of d² is the mean term and how much the covariance term. */
export function splitBar(meanTerm, covTerm) {
  const total = Math.max(0, meanTerm) + Math.max(0, covTerm);
  const share = total > 0 ? Math.max(0, meanTerm) / total : 0;
  const holder = h("div", { class: "chart" });
  const titleId = uid("split");
  responsive(holder, (width) => {
    const height = 34;
    const wMean = share * width;
    return s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": titleId },
      s("title", { id: titleId }, `Mean term ${percent(share)} and covariance term ${percent(1 - share)} of d²`),
      s("rect", { x: 0, y: 4, width: wMean, height: 26, fill: COLORS.mean }),
      s("rect", { x: wMean, y: 4, width: width - wMean, height: 26, fill: COLORS.covariance }));
  });
  return h("figure", { class: "figure" },
    h("figcaption", {}, h("strong", {}, "Where the distance comes from. "),
      `The averages of the features differ (mean term: ${percent(share)} of d²); their spread and how they vary together differ (covariance term: ${percent(1 - share)}).`),
    holder, legend());
}

export { legend };
