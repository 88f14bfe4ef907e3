// One image set on the page: pick or drop it, upload it with progress, read the service's
// verdict on every file, watch its features being extracted — or choose a set (or stored
// reference statistics) that is already on the service.

import { ApiError, get, upload } from "./api.js";
import { announce, bytes, count, download, h, replace, tableWrap, uid } from "./dom.js";
import { formData, fromDrop, fromInput, imageSet } from "./files.js";
import { csv } from "./table.js";

const PAGE = 200; // file rows rendered at a time: a set of 10,000 files must not stall the tab

function filePicker(text, { folder = false, accept, onPick, describedBy }) {
  const id = uid("pick");
  const input = h("input", {
    type: "file", id, class: "visually-hidden", multiple: true,
    accept: accept || null, "aria-describedby": describedBy || null,
    onchange: () => { if (input.files.length) onPick(fromInput(input.files)); input.value = ""; },
  });
  if (folder) input.webkitdirectory = true;
  return h("span", { class: "picker" }, input, h("label", { for: id, class: "button secondary" }, text));
}

/** Rows of a file list, PAGE at a time, with "show more". */
function pagedList(rows, columns, caption) {
  const body = h("tbody");
  const more = h("button", { type: "button", class: "link" });
  let shown = 0;
  const showMore = () => {
    for (const row of rows.slice(shown, shown + PAGE)) body.append(h("tr", {}, columns.map((c, i) => (i === 0 ? h("th", { scope: "row" }, c.get(row)) : h("td", {}, c.get(row))))));
    shown = Math.min(rows.length, shown + PAGE);
    more.hidden = shown >= rows.length;
    more.textContent = `Show ${Math.min(PAGE, rows.length - shown)} more of ${rows.length - shown} remaining`;
  };
  more.addEventListener("click", showMore);
  showMore();
  return tableWrap(
    h("table", {}, h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.title)))), body), more);
}

export class SetCard {
  /**
   * role: "reference" | "candidate" | "set"; title: the card's heading;
   * allowStats: offer stored reference statistics as a choice; onChange(): after any state change.
   */
  constructor({ role, title, allowStats = false, allowExisting = true, onChange = () => {} }) {
    Object.assign(this, { role, title, allowStats, allowExisting, onChange });
    this.state = "empty";
    this.picked = null; // {entries, folder}
    this.maskPick = null;
    this.result = null; // the upload's answer
    this.error = null;
    this.existing = null; // {id, kind, item}
    this.choices = { datasets: [], stats: [] };
    this.headingId = uid("card");
    this.root = h("section", { class: "card setcard", "aria-labelledby": this.headingId, dataset: { role } });
    this.render();
  }

  // ----- what the rest of the page asks --------------------------------------------------
  /** The chosen id (ds_… or st_…) once the set is on the service, else null. */
  get id() {
    if (this.state === "existing") return this.existing.id;
    if (this.state === "done") return this.result.id;
    return null;
  }

  get pending() { return this.state === "selected"; }
  get busy() { return this.state === "uploading"; }

  setChoices(datasets, stats) {
    this.choices = { datasets, stats };
    if (this.state === "empty" || this.state === "existing") this.render();
  }

  reset() {
    if (this.uploadHandle) this.uploadHandle.abort();
    clearTimeout(this.pollTimer);
    Object.assign(this, { state: "empty", picked: null, maskPick: null, result: null, error: null, existing: null, dataset: null });
    this.render();
    this.onChange();
  }

  // ----- transitions -----------------------------------------------------------------------
  pick(picked) {
    if (!picked.entries.length) return;
    this.picked = picked;
    this.maskPick = null;
    this.state = "selected";
    this.render();
    this.onChange();
    const set = this.set();
    announce(`${this.title}: ${count(set.images.length || (set.archive ? 1 : 0), "file")} selected, ${bytes(set.bytes)}`);
    this.root.querySelector(".set-name input")?.focus();
  }

  set() {
    return imageSet(this.picked, this.maskPick ? this.maskPick.entries : []);
  }

  /** Upload the selected files; resolves to the dataset id (rejects with the reason). */
  async uploadNow() {
    if (this.state === "done") return this.result.id;
    if (this.state !== "selected") throw new Error(`${this.title}: choose the images first`);
    const set = this.set();
    if (!set.images.length && !set.archive) throw new Error(`${this.title}: no files to upload (only hidden files were chosen)`);
    const name = this.root.querySelector(".set-name input").value.trim();
    this.state = "uploading";
    this.progress = { sent: 0, total: set.bytes };
    this.render();
    this.onChange();
    this.uploadHandle = upload("v1/datasets", formData(set, name), (sent, total) => this.showProgress(sent, total));
    try {
      this.result = await this.uploadHandle.promise;
      this.state = "done";
      this.dataset = null;
      announce(`${this.title}: uploaded, ${this.result.accepted.length} accepted, ${this.result.rejected.length} rejected`);
      this.render();
      this.watchExtraction();
      return this.result.id;
    } catch (err) {
      this.state = "failed";
      this.error = err;
      announce(`${this.title}: upload failed: ${err.message}`);
      this.render();
      throw err;
    } finally {
      this.uploadHandle = null;
      this.onChange();
    }
  }

  showProgress(sent, total) {
    this.progress = { sent, total: total || this.progress.total };
    const bar = this.root.querySelector("progress");
    const text = this.root.querySelector(".progress-text");
    if (!bar) return;
    bar.max = this.progress.total || 1;
    bar.value = Math.min(sent, bar.max);
    const done = sent >= this.progress.total;
    text.textContent = done
      ? `${bytes(this.progress.total)} sent — the service is checking every file…`
      : `${bytes(sent)} of ${bytes(this.progress.total)} sent (${Math.floor((100 * sent) / (this.progress.total || 1))} %)`;
  }

  async watchExtraction() {
    clearTimeout(this.pollTimer);
    if (this.state !== "done" && this.state !== "existing") return;
    const id = this.id;
    if (!id || id.startsWith("st_")) return;
    try {
      this.dataset = await get(`v1/datasets/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) { this.dataset = { gone: true }; }
      else { this.pollTimer = setTimeout(() => this.watchExtraction(), 3000); return; }
    }
    if (this.id !== id) return;
    const line = this.root.querySelector(".extraction");
    if (line) replace(line, extractionText(this.dataset));
    const state = this.dataset.extraction && this.dataset.extraction.state;
    if (state === "queued" || state === "running") this.pollTimer = setTimeout(() => this.watchExtraction(), 1500);
    this.onChange();
  }

  choose(value) {
    if (!value) { this.reset(); return; }
    const stats = value.startsWith("st_");
    const item = (stats ? this.choices.stats : this.choices.datasets).find((x) => x.id === value);
    this.existing = { id: value, kind: stats ? "stats" : "dataset", item };
    this.state = "existing";
    this.dataset = null;
    this.render();
    this.watchExtraction();
    this.onChange();
  }

  // ----- rendering -------------------------------------------------------------------------
  render() {
    const body = {
      empty: () => this.renderEmpty(),
      existing: () => this.renderExisting(),
      selected: () => this.renderSelected(),
      uploading: () => this.renderUploading(),
      done: () => this.renderDone(),
      failed: () => this.renderFailed(),
    }[this.state]();
    replace(this.root, h("h3", { id: this.headingId }, this.title), body);
  }

  dropZone() {
    const hintId = uid("hint");
    const zone = h("div", { class: "dropzone" },
      h("p", { class: "drop-title" }, "Drop a folder, image files or one .zip here"),
      h("p", { id: hintId, class: "hint" },
        "PNG, JPEG, BMP, TIFF, NIfTI, NRRD, MetaImage or DICOM. Sub-folders are kept. ",
        "A folder with images/ and masks/ inside is split into images and masks."),
      h("div", { class: "actions" },
        filePicker("Choose a folder", { folder: true, onPick: (p) => this.pick(p), describedBy: hintId }),
        filePicker("Choose files or a .zip", { onPick: (p) => this.pick(p), describedBy: hintId })));
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", async (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      this.pick(await fromDrop(e.dataTransfer));
    });
    return zone;
  }

  existingSelect() {
    if (!this.allowExisting) return null;
    const id = uid("existing");
    const datasets = this.choices.datasets;
    const stats = this.allowStats ? this.choices.stats : [];
    if (!datasets.length && !stats.length) return null;
    const option = (item, text) => h("option", { value: item.id, selected: this.existing && this.existing.id === item.id }, text);
    const select = h("select", { id, onchange: () => this.choose(select.value) },
      h("option", { value: "" }, "— upload a new set —"),
      datasets.length ? h("optgroup", { label: "Image sets on the service" },
        datasets.map((d) => option(d, `${d.name || d.id} — ${count(d.n_images, "image")}${d.dimensionality ? `, ${d.dimensionality}` : ""}`))) : null,
      stats.length ? h("optgroup", { label: "Stored reference statistics" },
        stats.map((st) => option(st, `${st.name || st.dataset?.id || st.id} — statistics of ${count(st.n, "image")}`))) : null);
    return h("div", { class: "field existing" }, h("label", { for: id }, "Or use one already on the service"), select);
  }

  renderEmpty() {
    return [this.dropZone(), this.existingSelect()];
  }

  renderExisting() {
    const { item, kind } = this.existing;
    const lines = kind === "stats"
      ? [`Stored reference statistics of ${item ? count(item.n, "image") : "a set"}`, item && item.version ? ` (FRD ${item.version})` : ""]
      : [item ? `${count(item.n_images, "image")}${item.n_masks ? `, ${count(item.n_masks, "mask")}` : ""}, ${bytes(item.bytes)}` : ""];
    return [
      this.existingSelect(),
      h("p", { class: "summary" }, h("strong", {}, item ? (item.name || item.id) : this.existing.id), " — ", lines),
      kind === "dataset" ? h("p", { class: "extraction", role: "status" }, extractionText(this.dataset)) : null,
      h("button", { type: "button", class: "secondary", onclick: () => this.reset() }, "Use another set"),
    ];
  }

  renderSelected() {
    const set = this.set();
    const nameId = uid("name");
    const maskHint = uid("hint");
    const masks = set.masks.length;
    return [
      h("div", { class: "field set-name" }, h("label", { for: nameId }, "Name of this set"),
        h("input", { id: nameId, type: "text", maxlength: "200", value: set.name || "", autocomplete: "off", placeholder: "e.g. scanner A, synthetic batch 3" })),
      h("p", { class: "summary" },
        set.archive ? `One zip archive (${set.archive.name}), ${bytes(set.bytes)}`
          : `${count(set.images.length, "image file")}${masks ? ` and ${count(masks, "mask")}` : ""}, ${bytes(set.bytes)}`,
        set.hiddenSkipped ? ` — ${count(set.hiddenSkipped, "hidden file")} left out` : ""),
      h("div", { class: "masks" },
        h("p", { id: maskHint, class: "hint" },
          masks ? `Masks: ${count(masks, "file")}, paired with the images by name (case01.png ↔ case01.png or case01_mask.png).`
            : "Masks (optional): paired with the images by name, e.g. case01.png ↔ case01_mask.png. Without masks the whole image is used."),
        h("div", { class: "actions" },
          filePicker(masks ? "Replace masks (folder)" : "Add masks (folder)", { folder: true, describedBy: maskHint, onPick: (p) => { this.maskPick = p; this.render(); this.onChange(); } }),
          filePicker(masks ? "Replace masks (files)" : "Add masks (files)", { describedBy: maskHint, onPick: (p) => { this.maskPick = p; this.render(); this.onChange(); } }))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", onclick: () => this.uploadNow().catch(() => {}) }, "Upload"),
        h("button", { type: "button", class: "secondary", onclick: () => this.reset() }, "Clear")),
    ];
  }

  renderUploading() {
    const barId = uid("bar");
    return [
      h("label", { for: barId, class: "progress-label" }, `Uploading ${this.set().name || "the set"}`),
      h("progress", { id: barId, max: String(this.progress.total || 1), value: "0" }),
      h("p", { class: "progress-text", role: "status" }, `0 bytes of ${bytes(this.progress.total)} sent`),
      h("button", { type: "button", class: "secondary", onclick: () => this.uploadHandle && this.uploadHandle.abort() }, "Cancel upload"),
    ];
  }

  verdicts(accepted, rejected) {
    const out = [];
    if (rejected.length) {
      out.push(h("div", { class: "rejected" },
        h("h4", {}, `${count(rejected.length, "file")} rejected`),
        pagedList(rejected, [{ title: "File", get: (r) => r.name }, { title: "Reason", get: (r) => r.reason }], "Rejected files and why"),
        h("button", { type: "button", class: "link", onclick: () => download(`${this.title.toLowerCase()}-rejected.csv`, csv(["file", "reason"], rejected.map((r) => [r.name, r.reason])), "text/csv") }, "Download the rejected files as CSV")));
    }
    if (accepted.length) {
      const details = h("details", { class: "accepted" }, h("summary", {}, `${count(accepted.length, "file")} accepted — show them`));
      details.addEventListener("toggle", () => {
        if (details.open && details.children.length === 1) {
          details.append(pagedList(accepted, [{ title: "File", get: (a) => a.name }, { title: "Kind", get: (a) => `${a.role === "mask" ? "mask, " : ""}${a.kind}` }, { title: "Size", get: (a) => bytes(a.size) }], "Accepted files"));
        }
      });
      out.push(details);
    }
    return out;
  }

  renderDone() {
    const { accepted, rejected } = this.result;
    const images = accepted.filter((a) => a.role === "image").length;
    const masks = accepted.length - images;
    return [
      h("p", { class: "summary ok" }, h("strong", {}, this.result.name || this.result.id), " uploaded: ",
        `${count(images, "image")}${masks ? ` and ${count(masks, "mask")}` : ""} accepted`,
        rejected.length ? `, ${count(rejected.length, "file")} rejected` : ", none rejected"),
      h("p", { class: "extraction", role: "status" }, extractionText(this.dataset)),
      this.verdicts(accepted, rejected),
      h("button", { type: "button", class: "secondary", onclick: () => this.reset() }, "Use another set"),
    ];
  }

  renderFailed() {
    const err = this.error;
    const rejected = (err && err.body && err.body.error && err.body.error.rejected) || [];
    return [
      h("p", { class: "error", role: "alert" }, "The upload failed: ", err ? err.message : "unknown error"),
      this.verdicts([], rejected),
      h("div", { class: "actions" },
        this.picked ? h("button", { type: "button", class: "primary", onclick: () => { this.state = "selected"; this.render(); this.onChange(); } }, "Back to the selection") : null,
        h("button", { type: "button", class: "secondary", onclick: () => this.reset() }, "Start over")),
    ];
  }
}

/** "Extracting features: 4 of 10 images" and the like, for a GET /v1/datasets/{id} answer. */
export function extractionText(dataset) {
  if (!dataset) return "Checking feature extraction…";
  if (dataset.gone) return "This set was deleted.";
  const job = dataset.extraction;
  if (!job) return "Features are extracted when a comparison needs them.";
  const { done, total } = job.progress;
  switch (job.state) {
    case "queued": return "Feature extraction is queued.";
    case "running": return total ? `Extracting features: ${done} of ${count(total, "image")}` : "Extracting features…";
    case "succeeded": {
      const r = job.result || {};
      const skipped = (r.skipped || []).length;
      return `Features ready${r.images !== undefined ? ` for ${count(r.images, "image")}` : ""}${skipped ? ` (${count(skipped, "image")} skipped: see the comparison)` : ""}.`;
    }
    case "failed": return `Feature extraction failed: ${job.error || "unknown error"}`;
    default: return `Feature extraction ${job.state}.`;
  }
}

