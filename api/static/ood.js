// Out-of-domain check: which images of a set do not look like the reference set? A per-image
// table (sortable, downloadable as CSV) and the set-level nFRD.

import { del, get, listAll, post } from "./api.js";
import { announce, count, date, download, h, label, percent, replace, tableWrap, uid, value } from "./dom.js";
import { csv, sortableTable } from "./table.js";
import { watchJob } from "./watch.js";

function datasetSelect(name, text, datasets, hint) {
  const id = uid(name);
  const hintId = uid("hint");
  return h("div", { class: "field" }, h("label", { for: id }, text),
    h("select", { id, name, required: true, "aria-describedby": hintId },
      h("option", { value: "" }, "— choose a set —"),
      datasets.map((d) => h("option", { value: d.id }, `${d.name || d.id} — ${count(d.n_images, "image")}${d.dimensionality ? `, ${d.dimensionality}` : ""}`))),
    h("p", { id: hintId, class: "hint" }, hint));
}

export async function oodView(main) {
  const status = h("p", { class: "status", role: "status" });
  main.append(h("h1", {}, "Out-of-domain check"),
    h("p", { class: "lead" }, "Screen every image of a set against a reference set: each image gets a score (its distance from what the reference looks like) and is flagged when it lies beyond what the reference itself shows. Add sets under ",
      h("a", { href: "#/data" }, "Image sets"), " first."));
  let datasets = [];
  try {
    datasets = await listAll("v1/datasets", 500);
  } catch (err) {
    main.append(h("p", { class: "error", role: "alert" }, `Your sets could not be listed: ${err.message}`));
    return null;
  }
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "ood-form-title" },
    h("h2", { id: "ood-form-title" }, "New check"),
    datasetSelect("reference", "Reference set (in domain)", datasets, "The images that define “normal”, e.g. the training data."),
    datasetSelect("test", "Set to check", datasets, "Each of its images is scored against the reference."),
    h("div", { class: "field" }, h("label", { for: "ood-assumption" }, "Threshold from"),
      h("select", { id: "ood-assumption", name: "assumption" },
        h("option", { value: "gaussian" }, "a Gaussian fit of the reference's scores (default)"),
        h("option", { value: "t" }, "a Student t fit (heavier tails)"),
        h("option", { value: "counting" }, "counting (the reference's 95th percentile, no fit)"))),
    h("details", { class: "advanced" }, h("summary", {}, "Advanced options"),
      h("div", { class: "check" }, h("input", { type: "checkbox", id: "ood-val", name: "use_val_set" }),
        h("label", { for: "ood-val" }, "Hold out part of the reference to set the threshold")),
      h("div", { class: "field" }, h("label", { for: "ood-frac" }, "Share held out"),
        h("input", { id: "ood-frac", name: "val_frac", type: "number", min: "0.05", max: "0.9", step: "0.05", value: "0.1" })),
      h("div", { class: "field" }, h("label", { for: "ood-seed" }, "Seed"), h("input", { id: "ood-seed", name: "seed", type: "number", step: "1" })),
      h("div", { class: "field" }, h("label", { for: "ood-version" }, "FRD version"),
        h("select", { id: "ood-version", name: "version" }, h("option", { value: "v1" }, "v1 (published)"), h("option", { value: "v0" }, "v0")))),
    h("div", { class: "submit" }, h("button", { type: "submit", class: "primary" }, "Run the check"), status));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const el = form.elements;
    if (!el.reference.value || !el.test.value) { status.textContent = "Choose both sets first."; return; }
    const body = { reference: el.reference.value, test: el.test.value, assumption: el.assumption.value, options: { version: el.version.value } };
    if (el.use_val_set.checked) { body.use_val_set = true; body.val_frac = Number(el.val_frac.value); }
    if (el.seed.value !== "") body.seed = Number(el.seed.value);
    status.textContent = "Starting…";
    try {
      const job = await post("v1/ood", body);
      location.hash = `#/ood/${job.id}`;
    } catch (err) {
      status.textContent = `The check could not start: ${err.message}`;
    }
  });
  main.append(form);

  const list = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Show older checks");
  main.append(h("section", { class: "card", "aria-labelledby": "ood-list-title" }, h("h2", { id: "ood-list-title" }, "Earlier checks"),
    tableWrap(h("table", { id: "ood-checks" }, h("caption", { class: "visually-hidden" }, "Earlier out-of-domain checks"),
      h("thead", {}, h("tr", {}, ["Started", "Reference", "Checked set", "Flagged", "nFRD"].map((t, i) => h("th", { scope: "col", class: i >= 3 ? "num" : null }, t)))), list)), more));
  let cursor = null;
  const load = async (append) => {
    const page = await get(`v1/ood?limit=50${append && cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    list.append(...page.items.map((i) => h("tr", {},
      h("th", { scope: "row" }, h("a", { href: `#/ood/${i.id}` }, date(i.created))),
      h("td", {}, label(i.reference)), h("td", {}, label(i.test)),
      h("td", { class: "num" }, i.result ? `${i.result.n_flagged} of ${i.result.n_test}` : i.state),
      h("td", { class: "num" }, i.result ? value(i.result.nfrd) : "—"))));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  };
  more.addEventListener("click", () => load(true));
  await load(false);
  return null;
}

function renderOod(el, summary, result) {
  const images = result.images || [];
  const table = sortableTable(images, [
    { title: "Image", get: (r) => r.name },
    { title: "Score", get: (r) => r.score, show: (r) => value(r.score), numeric: true },
    { title: "Verdict", get: (r) => (r.ood ? 1 : 0), show: (r) => h("span", { class: r.ood ? "flag-out" : "flag-in" }, r.ood ? "out of domain" : "in domain") },
    { title: "p-value", get: (r) => r.p_value, show: (r) => value(r.p_value), numeric: true },
  ], { caption: `${count(images.length, "image")} of ${label(summary.test)}, scored against ${label(summary.reference)}`, initial: 1, descending: true });
  replace(el,
    h("section", { class: "card result" },
      h("div", { class: "value-block" }, h("p", { class: "value-label" }, "nFRD"), h("p", { class: "value", id: "ood-nfrd" }, value(result.nfrd)),
        h("p", { class: "ci" }, `${result.n_flagged} of ${count(result.n_test, "image")} flagged as out of domain (${percent(result.n_test ? result.n_flagged / result.n_test : 0)})`)),
      h("p", { class: "hint" }, "nFRD = 2·|AUC − 0.5| of the scores: 0 when the checked set cannot be told apart from the reference, 1 when every image can. ",
        `Threshold ${value(result.threshold)} (${result.assumption}); FRD between the sets ${value(result.frd)}.`),
      h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: () => download(`ood-${summary.id}.csv`, csv(["file", "score", "out_of_domain", "p_value"], images.map((r) => [r.name, r.score, r.ood, r.p_value])), "text/csv") }, "Download the table (CSV)"))),
    h("section", { class: "card" }, h("h2", {}, "Per image"), h("p", { class: "hint" }, "Select a column heading to sort by it."), table),
    (result.skipped || []).length ? h("section", { class: "card" }, h("h2", {}, "Skipped files"),
      h("ul", {}, result.skipped.map((k) => h("li", {}, h("span", { class: "mono" }, k.name), ` — ${k.reason}`)))) : null);
}

export async function oodResultView(main, id) {
  const heading = h("h1", {}, "Out-of-domain check");
  const body = h("div");
  main.append(heading, body, h("p", {}, h("a", { href: "#/ood" }, "All checks")));
  let summary;
  try {
    summary = await get(`v1/ood/${encodeURIComponent(id)}/summary`);
  } catch (err) {
    replace(body, h("p", { class: "error", role: "alert" }, err.message));
    return null;
  }
  heading.textContent = `Out-of-domain check of ${label(summary.test)} against ${label(summary.reference)}`;
  return watchJob(body, summary, {
    poll: () => get(`v1/ood/${encodeURIComponent(id)}/summary`),
    cancel: () => del(`v1/jobs/${encodeURIComponent(id)}`),
    what: "check",
    progressText: (done, total) => (total ? `Images extracted: ${done} of ${total}` : "Scoring the images…"),
    onEnd: async (final) => {
      const result = await get(`v1/ood/${encodeURIComponent(id)}`);
      renderOod(body, final, result);
      announce(`Check finished: ${result.n_flagged} of ${result.n_test} images flagged`);
    },
  });
}
