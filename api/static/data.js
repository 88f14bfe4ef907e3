// "Image sets": add a set, see your sets and stored reference statistics (name, images,
// 2D/3D, size, created, feature extraction), keep a set's statistics, delete either.

import { ApiError, del, get, post } from "./api.js";
import { announce, bytes, count, date, h, label, replace, tableWrap } from "./dom.js";
import { confirmDialog } from "./dialog.js";
import { SetCard } from "./setcard.js";
import { syncRows } from "./table.js";

let addCard = null; // kept for the tab's life, like the comparison's cards
let refreshShown = null; // the refresh of the view on screen

function extractionCell(item) {
  const job = item.extraction;
  if (!job) return "on first use";
  const { done, total } = job.progress;
  switch (job.state) {
    case "queued": return "queued";
    case "running": {
      if (!total) return "running";
      const bar = h("progress", { max: String(total), value: String(done), "aria-label": `Feature extraction of ${item.name || item.id}` });
      return [bar, ` ${done} of ${total}`];
    }
    case "succeeded": return `ready${(job.skipped || []).length ? `, ${count(job.skipped.length, "image")} skipped` : ""}`;
    case "failed": return h("span", { class: "error" }, `failed: ${job.error || "unknown error"}`);
    default: return job.state;
  }
}

export async function dataView(main) {
  if (!addCard) addCard = new SetCard({ role: "set", title: "Add an image set", allowExisting: false, onChange: () => { if (addCard.id && refreshShown) refreshShown(); } });
  const status = h("p", { class: "status", role: "status" });
  const setsBody = h("tbody");
  const statsBody = h("tbody");
  const setsMore = h("button", { type: "button", class: "secondary", hidden: true }, "Show older sets");
  const statsMore = h("button", { type: "button", class: "secondary", hidden: true }, "Show older statistics");
  const setsEmpty = h("p", { class: "empty", hidden: true }, "No image set yet: add one above, or on the comparison page.");
  const statsEmpty = h("p", { class: "empty", hidden: true }, "No stored statistics. Keep a set's statistics to compare many candidates against it quickly, even after the set itself is deleted.");
  const head = (titles) => h("thead", {}, h("tr", {}, titles.map(([t, num]) => h("th", { scope: "col", class: num ? "num" : null }, t))));

  main.append(
    h("h1", {}, "Image sets"),
    h("p", { class: "lead" }, "The sets on the service under your key. Features are extracted once, right after an upload, and reused by every comparison."),
    addCard.root,
    h("section", { class: "card", "aria-labelledby": "sets-title" },
      h("h2", { id: "sets-title" }, "Your image sets"),
      tableWrap(h("table", { id: "datasets" }, h("caption", { class: "visually-hidden" }, "Your image sets"),
        head([["Name"], ["Images", true], ["2D/3D"], ["Size", true], ["Added"], ["Features"], ["Actions"]]), setsBody)),
      setsEmpty, setsMore),
    h("section", { class: "card", "aria-labelledby": "stats-title" },
      h("h2", { id: "stats-title" }, "Stored reference statistics"),
      tableWrap(h("table", { id: "reference-stats" }, h("caption", { class: "visually-hidden" }, "Stored reference statistics"),
        head([["Name"], ["Images", true], ["Features", true], ["Version"], ["Added"], ["Actions"]]), statsBody)),
      statsEmpty, statsMore),
    status);

  let timer = null;
  let stopped = false;
  const cursors = { sets: null, stats: null };

  async function remove(kind, item) {
    const name = item.name || item.id;
    const ok = await confirmDialog(kind === "set" ? "Delete this image set?" : "Delete these statistics?",
      kind === "set" ? `“${name}” and its ${count(item.n_images, "image")} will be deleted from the service. Comparisons already made keep their results.`
        : `The statistics of “${name}” will be deleted. Comparisons already made keep their results.`, "Delete");
    if (!ok) return;
    try {
      await del(kind === "set" ? `v1/datasets/${encodeURIComponent(item.id)}` : `v1/reference-stats/${encodeURIComponent(item.id)}`);
      [...(kind === "set" ? setsBody : statsBody).children].find((tr) => tr.dataset.id === item.id)?.remove();
      status.textContent = `Deleted “${name}”.`;
      announce(`Deleted ${name}`);
    } catch (err) {
      status.textContent = `“${name}” could not be deleted: ${err.message}`;
    }
    refresh();
  }

  async function keepStats(item, button) {
    button.disabled = true;
    status.textContent = `Computing the statistics of “${item.name || item.id}”…`;
    try {
      const job = await post("v1/reference-stats", { dataset: item.id });
      const poll = async () => {
        const now = await get(`v1/jobs/${encodeURIComponent(job.id)}`);
        if (now.state === "succeeded") { status.textContent = `Statistics of “${item.name || item.id}” stored.`; refresh(); }
        else if (now.state === "failed" || now.state === "cancelled") { status.textContent = `The statistics could not be computed: ${now.error || now.state}`; button.disabled = false; }
        else if (!stopped) setTimeout(poll, 1000);
      };
      poll();
    } catch (err) {
      status.textContent = `The statistics could not be computed: ${err instanceof ApiError ? err.message : err}`;
      button.disabled = false;
    }
  }

  const setRow = (item) => {
    const keep = h("button", { type: "button", class: "secondary small", dataset: { action: "keep" }, onclick: (e) => keepStats(item, e.currentTarget) }, "Keep statistics");
    return h("tr", {},
      h("th", { scope: "row" }, item.name || h("span", { class: "mono" }, item.id)),
      h("td", { class: "num" }, String(item.n_images), item.n_masks ? ` (+${item.n_masks} masks)` : ""),
      h("td", {}, item.dimensionality || "—"),
      h("td", { class: "num" }, bytes(item.bytes)),
      h("td", {}, date(item.created)),
      h("td", {}, extractionCell(item)),
      h("td", { class: "row-actions" }, keep,
        h("button", { type: "button", class: "danger small", dataset: { action: "delete" }, "aria-label": `Delete ${item.name || item.id}`, onclick: () => remove("set", item) }, "Delete")));
  };
  const statsRow = (item) => h("tr", {},
    h("th", { scope: "row" }, label({ ...item.dataset, name: item.name || item.dataset?.id })),
    h("td", { class: "num" }, String(item.n)),
    h("td", { class: "num" }, String(item.n_features)),
    h("td", {}, item.version || "—"),
    h("td", {}, date(item.created)),
    h("td", { class: "row-actions" }, h("button", { type: "button", class: "danger small", "aria-label": `Delete the statistics of ${item.name || item.id}`, onclick: () => remove("stats", item) }, "Delete")));

  const firstPage = { sets: [], stats: [] };
  async function loadPage(path, key, body, more, empty, row, append) {
    const page = await get(`${path}?limit=50${append && cursors[key] ? `&cursor=${encodeURIComponent(cursors[key])}` : ""}`);
    if (append) {
      body.append(...page.items.map((item) => { const tr = row(item); tr.dataset.id = item.id; return tr; }));
    } else {
      firstPage[key] = syncRows(body, page.items, row, firstPage[key]);
    }
    // A refresh of the first page keeps the cursor of older pages the user already opened.
    if (append || body.children.length <= page.items.length) cursors[key] = page.next_cursor;
    more.hidden = !cursors[key];
    empty.hidden = body.children.length > 0;
    return page.items;
  }

  async function refresh() {
    clearTimeout(timer);
    if (stopped) return;
    try {
      const [sets] = await Promise.all([
        loadPage("v1/datasets", "sets", setsBody, setsMore, setsEmpty, setRow, false),
        loadPage("v1/reference-stats", "stats", statsBody, statsMore, statsEmpty, statsRow, false),
      ]);
      if (sets.some((s) => s.extraction && (s.extraction.state === "queued" || s.extraction.state === "running"))) {
        timer = setTimeout(refresh, 1500);
      }
    } catch (err) {
      replace(status, `Your sets could not be listed: ${err.message}`);
    }
  }
  setsMore.addEventListener("click", () => loadPage("v1/datasets", "sets", setsBody, setsMore, setsEmpty, setRow, true));
  statsMore.addEventListener("click", () => loadPage("v1/reference-stats", "stats", statsBody, statsMore, statsEmpty, statsRow, true));
  refreshShown = refresh;
  await refresh();
  return () => { stopped = true; clearTimeout(timer); refreshShown = null; };
}
