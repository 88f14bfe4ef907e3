// Past comparisons, newest first, each openable; pages of 50 with "Show older".

import { get } from "./api.js";
import { date, h, label, tableWrap, value } from "./dom.js";
import { syncRows } from "./table.js";

const STATE = { queued: "queued", running: "running", succeeded: "done", failed: "failed", cancelled: "cancelled" };

function valueCell(item) {
  if (item.state !== "succeeded") return h("span", { class: `state state-${item.state}` }, STATE[item.state] || item.state,
    item.state === "running" && item.progress.total ? ` (${item.progress.done}/${item.progress.total})` : "");
  const r = item.result;
  const v = r.identical && r.frd === null ? "−∞ (identical)" : value(r.frd);
  return [h("strong", {}, v), r.ci ? h("span", { class: "muted" }, ` [${value(r.ci.low)} – ${value(r.ci.high)}]`) : null];
}

export function comparisonRow(item) {
  return h("tr", {},
    h("th", { scope: "row" }, h("a", { href: `#/comparisons/${item.id}` }, date(item.created))),
    h("td", {}, label(item.reference)),
    h("td", {}, label(item.candidate)),
    h("td", {}, item.version),
    h("td", { class: "num" }, valueCell(item)));
}

export async function historyView(main) {
  const body = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Show older comparisons");
  const empty = h("p", { class: "empty", hidden: true }, "No comparison yet. ", h("a", { href: "#/" }, "Start one"), ".");
  const status = h("p", { class: "status", role: "status" });
  main.append(
    h("h1", {}, "Comparisons"),
    h("p", { class: "lead" }, "Every comparison you started, newest first. Open one to read its result, its warnings and its report."),
    h("div", { class: "card" }, tableWrap(h("table", { id: "comparisons" },
      h("caption", { class: "visually-hidden" }, "Your comparisons"),
      h("thead", {}, h("tr", {}, ["Started", "Reference", "Candidate", "Version", "FRD"].map((t, i) => h("th", { scope: "col", class: i === 4 ? "num" : null }, t)))),
      body)), empty, more),
    status);

  let cursor = null;
  let timer = null;
  let firstPage = [];
  async function load(append) {
    try {
      const page = await get(`v1/comparisons?limit=50${append && cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      if (append) {
        body.append(...page.items.map((item) => { const tr = comparisonRow(item); tr.dataset.id = item.id; return tr; }));
      } else {
        firstPage = syncRows(body, page.items, comparisonRow, firstPage);
      }
      if (append || body.children.length <= page.items.length) cursor = page.next_cursor;
      more.hidden = !cursor;
      empty.hidden = body.children.length > 0;
      // Keep the first page current while something runs.
      if (!append && page.items.some((i) => i.state === "queued" || i.state === "running")) timer = setTimeout(() => load(false), 2000);
    } catch (err) {
      status.textContent = `The comparisons could not be listed: ${err.message}`;
    }
  }
  more.addEventListener("click", () => { clearTimeout(timer); load(true); });
  await load(false);
  return () => clearTimeout(timer);
}
