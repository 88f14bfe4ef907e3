// Tables: sortable by any column from the keyboard, and exported as CSV.

import { h, replace, tableWrap } from "./dom.js";

/**
 * CSV text (RFC 4180). A text cell starting with = + - @ or a tab is prefixed with ' so
 * that a spreadsheet opening the file shows a file name instead of running it as a formula.
 */
export function csv(header, rows) {
  const cell = (v) => {
    if (v === null || v === undefined) return "";
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    let text = String(v);
    if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [header, ...rows].map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

/**
 * A table whose column headers are buttons that sort it (aria-sort tells which and how).
 * columns: [{title, get(row) → sortable value, show(row) → text or node, numeric}].
 */
export function sortableTable(rows, columns, { caption, initial = 0, descending = false, limit = 500 } = {}) {
  let by = initial;
  let desc = descending;
  let shown = limit;
  const body = h("tbody");
  const headRow = h("tr");
  const more = h("button", { type: "button", class: "link" });
  const table = h("table", { class: "sortable" }, h("caption", {}, caption), h("thead", {}, headRow), body);

  const compare = (a, b) => {
    const x = columns[by].get(a);
    const y = columns[by].get(b);
    const r = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
    return desc ? -r : r;
  };

  function draw() {
    const sorted = [...rows].sort(compare);
    replace(headRow, columns.map((c, i) => h("th", {
      scope: "col", class: c.numeric ? "num" : null,
      "aria-sort": i === by ? (desc ? "descending" : "ascending") : null,
    }, h("button", {
      type: "button", class: "sort",
      onclick: () => { if (by === i) desc = !desc; else { by = i; desc = Boolean(c.numeric); } draw(); },
    }, c.title, h("span", { class: "sort-mark", "aria-hidden": "true" }, i === by ? (desc ? " ▼" : " ▲") : " ↕")))));
    replace(body, sorted.slice(0, shown).map((row) => h("tr", {}, columns.map((c, i) => {
      const content = c.show ? c.show(row) : c.get(row);
      return i === 0 ? h("th", { scope: "row" }, content) : h("td", { class: c.numeric ? "num" : null }, content);
    }))));
    more.hidden = sorted.length <= shown;
    more.textContent = `Show all ${sorted.length} rows`;
  }
  more.addEventListener("click", () => { shown = rows.length; draw(); });
  draw();
  return tableWrap(table, more);
}

/**
 * Bring the rows of a refreshed first page up to date in place: an unchanged row is kept (so
 * a control the user is on keeps its focus), a changed one is rebuilt (focus moves to the
 * control with the same data-action), rows of `previous` ids no longer listed are removed.
 * Returns the ids now listed, for the next refresh.
 */
export function syncRows(body, items, build, previous = []) {
  const rows = new Map([...body.children].map((tr) => [tr.dataset.id, tr]));
  const focused = document.activeElement;
  const wanted = items.map((item) => {
    const sig = JSON.stringify(item);
    const tr = rows.get(item.id);
    if (tr && tr.dataset.sig === sig) return tr;
    const fresh = build(item);
    fresh.dataset.id = item.id;
    fresh.dataset.sig = sig;
    if (tr) {
      const action = tr.contains(focused) ? focused.dataset.action : null;
      tr.replaceWith(fresh);
      if (action) fresh.querySelector(`[data-action="${action}"]`)?.focus();
    }
    return fresh;
  });
  const ids = new Set(items.map((item) => item.id));
  for (const id of previous) if (!ids.has(id)) rows.get(id)?.remove();
  let next = body.firstElementChild; // the listed rows first, in order, moving only those out of place
  for (const tr of wanted) {
    if (tr === next) next = next.nextElementSibling;
    else body.insertBefore(tr, next);
  }
  return [...ids];
}
