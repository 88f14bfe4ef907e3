// One comparison: watch its job (state, images extracted, elapsed, cancel), then read the
// result — the value with its interval, what it rests on, warnings in plain words, where
// the distance comes from, and the full report and JSON to keep.

import { ApiError, del, get, request } from "./api.js";
import { announce, count, date, download, duration, h, label, percent, replace, tableWrap, value } from "./dom.js";
import { groupChart, splitBar } from "./charts.js";
import { watchJob } from "./watch.js";

const CLASS_NAMES = {
  firstorder: "first order (intensity)", glcm: "GLCM (texture: co-occurrence)", glrlm: "GLRLM (texture: runs)",
  glszm: "GLSZM (texture: zones)", gldm: "GLDM (texture: dependence)", ngtdm: "NGTDM (texture: neighbourhood)",
  shape: "shape", shape2D: "shape", diagnostics: "image statistics (diagnostics)",
};

export function filterName(key) {
  if (key === "original") return "original image";
  if (key === "diagnostics") return "image statistics (diagnostics)";
  const log = /^log-sigma-(\d+)-(\d+)-mm(-3D)?$/.exec(key);
  if (log) return `LoG σ = ${log[1]}.${log[2]} mm${log[3] ? " (3D)" : ""}`;
  return key.replace(/^wavelet-/, "wavelet ");
}

function groups(byGroup, name) {
  return Object.entries(byGroup || {}).map(([key, g]) => ({
    label: name(key), mean: g.mean_term, covariance: g.covariance_term, share: g.share_of_d2, n: g.n_features,
  }));
}

/** The result's warnings in words a clinician can act on; the technical text stays available. */
export function warningBox(w, result) {
  let title;
  let text;
  if (w.code === "negligible_reference_std") {
    const n = (w.features || []).length;
    title = "Part of this value may be numerical noise";
    const share = typeof w.share_of_d2 === "number" ? w.share_of_d2 : null;
    text = `${count(n, "measurement")} hardly ${n === 1 ? "varies" : "vary"} at all across the reference images. Any difference in ${n === 1 ? "it" : "them"} is magnified enormously, so the value can reflect rounding noise more than a real difference between the images.`;
    if (share !== null && share < 0.01) {
      title = "A few measurements are numerical noise";
      text += ` Here ${n === 1 ? "it carries" : "they carry"} only ${percent(Math.max(share, 0))} of the value, so the value rests on the other measurements.`;
    } else if (share !== null) {
      text += ` Here ${n === 1 ? "it carries" : "they carry"} ${percent(share)} of the value.`;
    }
    if (result.robust && result.robust.frd !== undefined) text += ` Without ${n === 1 ? "it" : "them"}, the value is ${value(result.robust.frd)}.`;
  } else if (w.code === "dominant_feature") {
    const f = (w.features || [])[0] || {};
    title = "One measurement dominates";
    text = `A single measurement (${f.feature}) makes up ${percent(f.share_of_d2)} of the distance: the value mostly reflects that one property of the images.`;
  } else if (w.code === "intensity_scales_differ") {
    title = "The two sets seem to be in different units";
    text = "Their pixel values cover very different ranges (for example 0–1 against 0–255, or Hounsfield units against 0–255), so the value mostly measures the units, not the images. Rescale one set to the other's range and compare again.";
  } else if (w.code === "too_few_gray_levels") {
    title = "Texture is barely measurable";
    text = "The images span so few intensity values that their texture is summarised by one or two gray levels. Give the images in their usual units (e.g. 0–255), or choose a smaller bin width under Advanced options.";
  } else {
    title = "Warning";
    text = w.message;
  }
  return h("div", { class: "warning", role: "note" },
    h("h3", {}, title), h("p", {}, text),
    h("details", {}, h("summary", {}, "Technical details"), h("p", {}, w.message),
      (w.features || []).length ? h("ul", { class: "features" }, w.features.map((f) => h("li", {}, `${f.feature} — ${percent(f.share_of_d2)} of d²`))) : null));
}

function scaleText(result) {
  if (result.frd_version === "v0") return "d² (v0's scale)";
  return result.scale === "ln(d)" ? "natural log of the distance, ln d" : "natural log of the squared distance, ln d²";
}

function valueBlock(result) {
  const identical = result.identical;
  const ci = result.ci;
  return h("div", { class: "value-block" },
    h("p", { class: "value-label" }, `FRD ${result.frd_version}`),
    h("p", { class: "value", id: "frd-value" }, identical && result.frd === null ? "−∞" : value(result.frd)),
    identical ? h("p", { class: "ci" }, "The two sets are statistically identical (d² = 0).")
      : ci ? h("p", { class: "ci", id: "frd-ci" }, `${Math.round((ci.level || 0.95) * 100)} % confidence interval ${value(ci.low)} – ${value(ci.high)}`, ci.resamples ? ` (${ci.resamples} bootstrap resamples)` : "")
        : h("p", { class: "ci muted" }, "No confidence interval (ask for one when starting a comparison)."),
    h("p", { class: "exact" }, "Exact value: ", h("span", { id: "frd-exact", class: "mono" }, result.frd === null ? "null" : String(result.frd)),
      ` · scale: ${scaleText(result)}`));
}

function facts(summary, result) {
  const row = (term, ...desc) => [h("dt", {}, term), h("dd", {}, ...desc)];
  return h("dl", { class: "facts" },
    row("Reference", label(summary.reference), ` — ${count(result.n_reference, "image")} used`),
    row("Candidate", label(summary.candidate), ` — ${count(result.n_candidate, "image")} used`),
    row("Features", `${result.n_features} per image, ${result.dimensionality}`),
    row("Settings", `FRD ${result.frd_version}${result.options && result.options.robust ? ", robust" : ""}`),
    row("Computed", `${date(summary.finished)} in ${duration(summary.finished - summary.started)}`));
}

function skippedTable(skipped) {
  if (!skipped || !skipped.length) return h("p", {}, "No file was skipped: every image of both sets was used.");
  return tableWrap(h("table", {},
    h("caption", {}, `${count(skipped.length, "file")} skipped, with the reason`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "File"), h("th", { scope: "col" }, "Set"), h("th", { scope: "col" }, "Reason"))),
    h("tbody", {}, skipped.map((k) => h("tr", {}, h("th", { scope: "row" }, k.name), h("td", {}, k.set || "—"), h("td", {}, k.reason))))));
}

function topFeatures(top) {
  if (!top || !top.length) return null;
  return h("details", { class: "top-features" }, h("summary", {}, `The ${top.length} features that contribute most`),
    tableWrap(h("table", {},
      h("caption", { class: "visually-hidden" }, "Features with the largest share of d²"),
      h("thead", {}, h("tr", {}, ["Feature", "Share of d²", "Standardised mean difference"].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
      h("tbody", {}, top.map((f) => h("tr", {}, h("th", { scope: "row", class: "mono" }, f.feature),
        h("td", { class: "num" }, percent(f.share_of_d2)), h("td", { class: "num" }, value(f.smd))))))));
}

async function downloadReport(id, button) {
  const note = button.parentElement.querySelector(".download-note");
  try {
    const blob = await request("GET", `v1/comparisons/${encodeURIComponent(id)}/report`, { accept: "text/html" });
    download(`frd-report-${id}.html`, blob);
    note.textContent = "Saved. Open the file in any browser: it needs no network.";
  } catch (err) {
    note.textContent = err instanceof ApiError && err.code === "no_report"
      ? "This comparison has no report: tick “Make the full HTML report” when you start one."
      : `The report could not be downloaded: ${err.message}`;
  }
}

function renderResult(el, summary, result) {
  const c = result.contributions;
  const split = result.d2_split || {};
  const reportButton = h("button", { type: "button", class: "primary", onclick: (e) => downloadReport(summary.id, e.currentTarget) }, "Download the full report (HTML)");
  replace(el,
    h("section", { class: "card result", "aria-labelledby": "result-title" },
      h("h2", { id: "result-title", class: "visually-hidden" }, "Result"),
      valueBlock(result),
      h("p", { class: "hint" }, "Lower is closer. An FRD is best read next to other values computed the same way — for example the value between two halves of the reference set, or between earlier batches."),
      facts(summary, result),
      h("div", { class: "actions downloads" }, reportButton,
        h("button", { type: "button", class: "secondary", onclick: () => download(`frd-result-${summary.id}.json`, JSON.stringify(result, null, 2), "application/json") }, "Download the result (JSON)"),
        h("p", { class: "download-note", role: "status" }))),
    (result.warnings || []).length ? h("section", { class: "warnings", "aria-label": "Warnings" }, result.warnings.map((w) => warningBox(w, result))) : null,
    (result.notices || []).length ? h("section", { class: "card" }, h("h2", {}, "Notes"), h("ul", {}, result.notices.map((n) => h("li", {}, n)))) : null,
    h("section", { class: "card", "aria-labelledby": "why-title" },
      h("h2", { id: "why-title" }, "What makes the sets differ"),
      split.mean_term !== undefined ? splitBar(split.mean_term, split.covariance_term) : null,
      c ? groupChart("By feature class.", "Share of d² from each kind of feature (bars: mean term, then covariance term).", groups(c.by_class, (k) => CLASS_NAMES[k] || k)) : null,
      c ? groupChart("By filter.", "Share of d² from the features of each filtered version of the images.", groups(c.by_filter, filterName)) : null,
      c ? topFeatures(c.top_features) : h("p", {}, "No breakdown: this comparison has no covariance (a single candidate image).")),
    h("section", { class: "card", "aria-labelledby": "skipped-title" },
      h("h2", { id: "skipped-title" }, "Skipped files"), skippedTable(result.skipped)),
    h("section", { class: "card" }, h("details", {}, h("summary", {}, "All settings and library versions"),
      h("pre", { class: "mono settings", tabindex: "0", role: "region", "aria-label": "Settings and library versions (JSON)" }, JSON.stringify({ options: result.options, versions: result.versions, timings: result.timings }, null, 2)))));
}

export async function comparisonView(main, id) {
  const heading = h("h1", {}, "Comparison");
  const subtitle = h("p", { class: "lead" });
  const body = h("div", { class: "comparison" });
  main.append(heading, subtitle, body, h("p", {}, h("a", { href: "#/comparisons" }, "All comparisons"), " · ", h("a", { href: "#/" }, "New comparison")));
  let summary;
  try {
    summary = await get(`v1/comparisons/${encodeURIComponent(id)}/summary`);
  } catch (err) {
    replace(heading, "Comparison not found");
    replace(body, h("p", { class: "error", role: "alert" }, err.message));
    return null;
  }
  replace(subtitle, h("strong", {}, label(summary.reference)), " (reference) and ", h("strong", {}, label(summary.candidate)), " (candidate)");
  heading.textContent = `Comparison of ${label(summary.reference)} and ${label(summary.candidate)}`;

  const done = async (final) => {
    if (final.state !== "succeeded") return;
    try {
      const result = await get(`v1/comparisons/${encodeURIComponent(id)}`);
      renderResult(body, final, result);
      announce(`Comparison finished: FRD ${value(result.frd)}`);
    } catch (err) {
      replace(body, h("p", { class: "error", role: "alert" }, `The result could not be read: ${err.message}`));
    }
  };
  return watchJob(body, summary, {
    poll: () => get(`v1/comparisons/${encodeURIComponent(id)}/summary`),
    cancel: () => del(`v1/jobs/${encodeURIComponent(id)}`),
    what: "comparison",
    progressText: (done_, total) => (total ? `Images extracted: ${done_} of ${total}` : "Reading features from the cache and computing the statistics…"),
    onEnd: done,
  });
}
