// "New comparison": two image sets (uploaded here, or already on the service), the common
// options, the rest behind "Advanced", and the button that starts the job.

import { ApiError, listAll, post } from "./api.js";
import { announce, bytes, h, uid } from "./dom.js";
import { SetCard } from "./setcard.js";

// The cards live as long as the tab: an upload goes on while the user looks elsewhere.
let cards = null;
let form = null;
let submitting = false;

function checkbox(name, text, hint, checked = false) {
  const id = uid(name);
  const hintId = hint ? uid("hint") : null;
  return h("div", { class: "check" },
    h("input", { type: "checkbox", id, name, checked, "aria-describedby": hintId }),
    h("label", { for: id }, text),
    hint ? h("p", { id: hintId, class: "hint" }, hint) : null);
}

function field(name, text, input, hint) {
  const id = uid(name);
  const hintId = hint ? uid("hint") : null;
  input.id = id;
  input.name = name;
  if (hintId) input.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" }, h("label", { for: id }, text), input, hint ? h("p", { id: hintId, class: "hint" }, hint) : null);
}

function checkGroup(name, legend, values, hint) {
  const hintId = uid("hint");
  return h("fieldset", { class: "group", "aria-describedby": hintId },
    h("legend", {}, legend), h("p", { id: hintId, class: "hint" }, hint),
    h("div", { class: "checks" }, values.map(([v, text]) => {
      const id = uid(name);
      return h("span", { class: "check inline" }, h("input", { type: "checkbox", id, name, value: v }), h("label", { for: id }, text));
    })));
}

function select(choices) {
  return h("select", {}, choices.map(([v, text]) => h("option", { value: v }, text)));
}

function buildForm() {
  const bootstrapCount = h("input", { type: "number", min: "10", max: "2000", step: "10", value: "200", inputmode: "numeric" });
  const f = h("form", { class: "card options", novalidate: true, "aria-labelledby": "options-title" },
    h("h2", { id: "options-title" }, "How to compare"),
    h("fieldset", { class: "group" }, h("legend", {}, "FRD version"),
      h("div", { class: "checks" },
        h("span", { class: "check inline" }, h("input", { type: "radio", id: "version-v1", name: "version", value: "v1", checked: true }),
          h("label", { for: "version-v1" }, "v1 — the published FRD (recommended)")),
        h("span", { class: "check inline" }, h("input", { type: "radio", id: "version-v0", name: "version", value: "v0" }),
          h("label", { for: "version-v0" }, "v0 — the original version")))),
    checkbox("ci", "Add a 95 % confidence interval", "Resamples the images of each set (bootstrap) to show how much the value could change with other images of the same kind. Takes a few seconds more."),
    field("bootstrap", "Resamples for the interval", bootstrapCount, "Between 10 and 2000; 200 is usually enough."),
    checkbox("report", "Make the full HTML report", "One file with charts, the most different features, and a check of whether the sets are large enough.", true),
    h("details", { class: "advanced" }, h("summary", {}, "Advanced options"),
      h("p", { class: "hint" }, "Leave these alone to get the published definition; every change makes the value incomparable with values computed without it."),
      checkGroup("feature_classes", "Feature classes", [["firstorder", "first order"], ["glcm", "GLCM"], ["glrlm", "GLRLM"], ["glszm", "GLSZM"], ["gldm", "GLDM"], ["ngtdm", "NGTDM"], ["shape2D", "shape (2D)"], ["shape", "shape (3D)"]], "None ticked: the version's own classes."),
      checkGroup("image_types", "Filters", [["Original", "original"], ["LoG", "LoG"], ["Wavelet", "wavelet"], ["Square", "square"], ["SquareRoot", "square root"], ["Logarithm", "logarithm"], ["Exponential", "exponential"], ["Gradient", "gradient"], ["LBP2D", "LBP 2D"], ["LBP3D", "LBP 3D"]], "None ticked: the version's own filters."),
      field("log_sigma", "LoG sigmas (mm)", h("input", { type: "text", inputmode: "decimal", placeholder: "e.g. 1, 2, 3" }), "Comma-separated; empty: the version's default."),
      field("bin_width", "Bin width", h("input", { type: "number", min: "0", step: "any", inputmode: "decimal" }), "Gray-level bin width; empty: the version's default."),
      checkGroup("exclude", "Leave out", [["textural", "texture features"], ["wavelet", "wavelet features"], ["firstorder", "first-order features"], ["shape", "shape features"]], "Drop whole groups of features from the distance."),
      field("norm_type", "Normalisation", select([["", "the version's default"], ["zscore", "z-score"], ["minmax", "min–max"]])),
      field("norm_ref", "Normalise against", select([["", "the version's default"], ["d1", "the reference set"], ["joint", "both sets together"], ["independent", "each set on its own"]])),
      checkbox("robust", "Robust value", "Leave out features whose reference spread is at round-off level (they can make the value numerical noise)."),
      checkbox("match_sample_count", "Use equally many images from each set", "Draws the larger set down to the size of the smaller one (seeded)."),
      field("seed", "Seed", h("input", { type: "number", step: "1", inputmode: "numeric" }), "For the bootstrap and the drawing of images; empty: 0."),
      checkbox("means_only", "Means only", "Compare the feature averages only (no covariance term)."),
      checkbox("paper_log", "Log scale of the paper (ln d instead of ln d²)"),
      field("engine", "Extraction engine", select([["frd", "frd (fast, identical features)"], ["pyradiomics", "pyradiomics"]]))),
    h("div", { class: "submit" },
      h("button", { type: "submit", class: "primary big", id: "compare-button" }, "Compare"),
      h("p", { id: "compare-status", class: "status", role: "status" })));

  const sync = () => {
    const ci = f.elements.ci.checked;
    f.elements.bootstrap.closest(".field").hidden = !ci;
  };
  f.elements.ci.addEventListener("change", sync);
  sync();
  f.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  return f;
}

/** The request body's options from the form (only what differs from the defaults). */
function options(f) {
  const el = f.elements;
  const o = { version: f.querySelector("input[name=version]:checked").value };
  const ticked = (name) => [...f.querySelectorAll(`input[name=${name}]:checked`)].map((x) => x.value);
  for (const name of ["feature_classes", "image_types", "exclude"]) {
    const values = ticked(name);
    if (values.length) o[name] = values;
  }
  const sigmas = el.log_sigma.value.split(/[,;\s]+/).filter(Boolean).map(Number);
  if (sigmas.length) {
    if (sigmas.some((x) => !Number.isFinite(x) || x <= 0)) throw new Error("LoG sigmas must be positive numbers, e.g. 1, 2, 3");
    o.log_sigma = sigmas;
  }
  if (el.bin_width.value !== "") o.bin_width = Number(el.bin_width.value);
  for (const name of ["norm_type", "norm_ref"]) if (el[name].value) o[name] = el[name].value;
  if (el.engine.value !== "frd") o.engine = el.engine.value;
  for (const name of ["robust", "match_sample_count", "means_only", "paper_log"]) if (el[name].checked) o[name] = true;
  if (el.seed.value !== "") o.seed = Number(el.seed.value);
  return o;
}

function status(text, error = false) {
  const el = document.getElementById("compare-status");
  if (!el) return;
  el.textContent = text;
  el.classList.toggle("error", error);
}

function updateButton() {
  const button = document.getElementById("compare-button");
  if (!button || !cards) return;
  if (submitting) {
    button.textContent = "Working…";
    button.setAttribute("aria-disabled", "true");
    return;
  }
  const [ref, cand] = cards;
  const pending = ref.pending || cand.pending;
  button.textContent = pending ? "Upload and compare" : "Compare";
  const ready = (ref.id || ref.pending || ref.busy) && (cand.id || cand.pending || cand.busy);
  button.setAttribute("aria-disabled", ready ? "false" : "true");
}

async function submit() {
  if (submitting) return;
  const [ref, cand] = cards;
  const missing = [ref, cand].filter((c) => !(c.id || c.pending || c.busy)).map((c) => c.title.toLowerCase());
  if (missing.length) {
    status(`Choose the ${missing.join(" and the ")} set first: drop a folder, pick files, or choose one already on the service.`, true);
    return;
  }
  let body;
  try {
    body = {
      reference: null, candidate: null, options: options(form),
      bootstrap: form.elements.ci.checked ? Number(form.elements.bootstrap.value || 200) : 0,
      report: form.elements.report.checked,
    };
    if (form.elements.ci.checked && !(body.bootstrap >= 10 && body.bootstrap <= 2000)) throw new Error("Resamples must be between 10 and 2000.");
  } catch (err) {
    status(err.message, true);
    return;
  }
  submitting = true;
  const button = document.getElementById("compare-button");
  button.setAttribute("aria-disabled", "true");
  button.textContent = "Working…";
  try {
    const uploads = Promise.all([ref, cand].map((c) => (c.id ? c.id : c.busy ? waitFor(c) : c.uploadNow())));
    // The sets' own progress bars are above: say here, by the button, how far both have got.
    const overall = () => {
      const busy = [ref, cand].filter((c) => c.busy && c.progress);
      const sent = busy.reduce((n, c) => n + c.progress.sent, 0);
      const total = busy.reduce((n, c) => n + (c.progress.total || 0), 0);
      if (total) status(`Uploading the image sets: ${bytes(sent)} of ${bytes(total)} sent…`);
    };
    overall();
    const ticker = setInterval(overall, 250);
    let ids;
    try {
      ids = await uploads;
    } finally {
      clearInterval(ticker);
    }
    [body.reference, body.candidate] = ids;
    status("Starting the comparison…");
    const job = await post("v1/comparisons", body);
    status("");
    announce("Comparison started");
    location.hash = `#/comparisons/${job.id}`;
  } catch (err) {
    const what = err instanceof ApiError ? err.message : err.message || String(err);
    status(`The comparison could not start: ${what}`, true);
  } finally {
    submitting = false;
    updateButton();
  }
}

/** Resolve with a card's dataset id once the upload it is doing ends. */
function waitFor(card) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (card.id) resolve(card.id);
      else if (card.state === "failed") reject(new Error(`${card.title}: ${card.error.message}`));
      else if (card.state !== "uploading") reject(new Error(`${card.title}: the upload did not finish`));
      else setTimeout(check, 300);
    };
    check();
  });
}

export async function compareView(main) {
  if (!cards) {
    cards = [
      new SetCard({ role: "reference", title: "Reference", allowStats: true, onChange: updateButton }),
      new SetCard({ role: "candidate", title: "Candidate", onChange: updateButton }),
    ];
    form = buildForm();
    window.addEventListener("beforeunload", (e) => {
      if (cards.some((c) => c.busy)) { e.preventDefault(); e.returnValue = ""; }
    });
  }
  main.append(
    h("h1", {}, "Compare two image sets"),
    h("p", { class: "lead" },
      "The Fréchet Radiomic Distance (FRD) tells how different two sets of medical images are, from interpretable features of intensity and texture. ",
      "Give the reference (e.g. real scans) and the candidate (e.g. synthetic or another scanner's); lower values mean closer."),
    h("div", { class: "pair" }, cards[0].root, cards[1].root),
    form);
  updateButton();
  try {
    const [datasets, stats] = await Promise.all([listAll("v1/datasets", 500), listAll("v1/reference-stats", 500)]);
    cards[0].setChoices(datasets, stats);
    cards[1].setChoices(datasets, []);
  } catch (err) {
    status(`Your sets on the service could not be listed: ${err.message}`, true);
  }
  return () => {};
}
