// Building the page's DOM safely, and formatting numbers for people.
//
// Every value that comes from the server or from a file name is user data: it only ever
// becomes a text node or an attribute value, never markup (nothing here parses HTML).

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [name, given] of Object.entries(attrs || {})) {
    if (given === null || given === undefined || given === false) continue;
    if (name === "text") el.textContent = String(given);
    else if (name === "class") el.setAttribute("class", Array.isArray(given) ? given.filter(Boolean).join(" ") : given);
    else if (name.startsWith("on") && typeof given === "function") el.addEventListener(name.slice(2), given);
    else if (name === "dataset") Object.assign(el.dataset, given);
    else if (name === "style" || name === "innerHTML") throw new Error(`${name} is not allowed (CSP, safety)`);
    else if (name in el && typeof given !== "string" && !(el instanceof SVGElement)) el[name] = given;
    else el.setAttribute(name, given === true ? "" : String(given));
  }
  append(el, children);
  return el;
}

/** append(el, ...children): strings become text nodes; arrays are flattened; null is skipped. */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("p", {class: "x"}, "text", otherNode) — an HTML element. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** s("rect", {x: 0}) — an SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Tell screen-reader users about something that changed elsewhere on the page. */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

let ids = 0;
export function uid(prefix = "id") {
  ids += 1;
  return `${prefix}-${ids}`;
}

// ----- formatting ------------------------------------------------------------------------
const UNITS = ["bytes", "KB", "MB", "GB", "TB"];

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  let i = 0;
  let v = n;
  while (v >= 1000 && i < UNITS.length - 1) { v /= 1000; i += 1; }
  return i === 0 ? `${n} ${n === 1 ? "byte" : "bytes"}` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${UNITS[i]}`;
}

export function count(n, one, many) {
  return `${Number(n).toLocaleString("en")} ${n === 1 ? one : (many || one + "s")}`;
}

/** A measured value for reading: 4 significant digits, scientific when very large or small. */
export function value(v) {
  if (v === null || v === undefined) return "—";
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return Number(v.toPrecision(4)).toLocaleString("en", { maximumFractionDigits: 6 });
}

export function percent(share) {
  if (share === null || share === undefined || !Number.isFinite(share)) return "—";
  const p = share * 100;
  return `${Math.abs(p) < 10 && p !== 0 ? p.toFixed(1) : p.toFixed(0)} %`;
}

export function date(seconds) {
  if (!seconds) return "—";
  return new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const secs = Math.max(0, Math.round(seconds));
  if (secs < 60) return `${secs} s`;
  const m = Math.floor(secs / 60);
  if (m < 60) return `${m} min ${String(secs % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** A short label for a dataset or statistics reference from a listing ({id, name, exists}). */
export function label(ref) {
  if (!ref) return "—";
  const name = ref.name || ref.id;
  return ref.exists === false ? `${name} (deleted)` : name;
}

/** Save text or a Blob as a file the user downloads (no navigation, no server round trip). */
export function download(filename, content, type) {
  const blob = content instanceof Blob ? content : new Blob([content], { type });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, class: "visually-hidden" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * A box for a table that scrolls sideways when the window is narrow. While it does, it can
 * be focused (and so scrolled from the keyboard) and is named after its table's caption.
 */
export function tableWrap(...children) {
  const box = h("div", { class: "table-wrap" }, ...children);
  const update = () => {
    if (box.scrollWidth > box.clientWidth + 1) {
      box.tabIndex = 0;
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", box.querySelector("caption")?.textContent || "Table");
    } else {
      box.removeAttribute("tabindex");
      box.removeAttribute("role");
      box.removeAttribute("aria-label");
    }
  };
  new ResizeObserver(update).observe(box);
  return box;
}
