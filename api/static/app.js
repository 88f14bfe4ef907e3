// The page: signing in, the navigation and the views behind the #/ routes.

import { ApiError, auth, get } from "./api.js";
import { announce, h, replace } from "./dom.js";
import { compareView } from "./compare.js";
import { comparisonView } from "./result.js";
import { historyView } from "./history.js";
import { dataView } from "./data.js";
import { oodView, oodResultView } from "./ood.js";

const ROUTES = [
  [/^\/?$/, compareView, "new"],
  [/^\/comparisons\/?$/, historyView, "history"],
  [/^\/comparisons\/([A-Za-z0-9_-]+)$/, comparisonView, "history"],
  [/^\/data\/?$/, dataView, "data"],
  [/^\/ood\/?$/, oodView, "ood"],
  [/^\/ood\/([A-Za-z0-9_-]+)$/, oodResultView, "ood"],
];

const main = () => document.getElementById("main");
let cleanup = null;
let signInMessage = "";

function setNav(name) {
  for (const link of document.querySelectorAll("nav a[data-nav]")) {
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function renderSession() {
  const box = document.getElementById("session");
  if (auth.mode === "keys" && auth.key) {
    replace(box, h("span", { class: "who" }, "Signed in"),
      h("button", { type: "button", class: "secondary small", onclick: signOut }, "Sign out"));
  } else if (auth.mode === "open") {
    replace(box, h("span", { class: "who" }, "Open service (this computer only)"));
  } else {
    replace(box);
  }
}

function signOut() {
  auth.key = null;
  signInMessage = "You are signed out. The key was removed from this tab.";
  start();
}

async function route() {
  if (cleanup) { try { cleanup(); } catch { /* a view's timers only */ } cleanup = null; }
  const path = decodeURIComponent((location.hash || "#/").slice(1));
  const el = main();
  for (const [pattern, view, nav] of ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      setNav(nav);
      replace(el);
      try {
        cleanup = await view(el, ...match.slice(1));
      } catch (err) {
        replace(el, h("h1", { tabindex: "-1" }, "Something went wrong"), h("p", { class: "error", role: "alert" }, err.message));
      }
      focusHeading();
      return;
    }
  }
  setNav(null);
  replace(el, h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Start a new comparison")));
  focusHeading();
}

let firstRender = true;
function focusHeading() {
  const heading = main().querySelector("h1");
  if (!heading) return;
  document.title = `${heading.textContent} — FRD`;
  if (firstRender) { firstRender = false; return; } // on load the page starts at the top
  heading.setAttribute("tabindex", "-1");
  heading.focus();
}

function signInView(message) {
  setNav(null);
  const form = h("form", { class: "card signin", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "api-key" }, "API key"),
      h("input", { id: "api-key", name: "api-key", type: "password", autocomplete: "off", required: true, spellcheck: "false", "aria-describedby": "key-hint" }),
      h("p", { id: "key-hint", class: "hint" },
        "The key your administrator gave you (one of the service's FRD_API_KEYS). It is kept in this tab only and forgotten when you close it.")),
    h("p", { id: "signin-error", class: "error", role: "alert" }, message || ""),
    h("button", { type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = form.querySelector("input").value.trim();
    if (!key) { form.querySelector("#signin-error").textContent = "Enter your API key."; return; }
    auth.key = key;
    await start("That key was not accepted. Check it and try again.");
  });
  replace(main(), h("h1", { tabindex: "-1" }, "Sign in"),
    h("p", {}, "This service keeps each team's image sets and results apart: sign in with your API key to see yours."), form);
  document.title = "Sign in — FRD";
  form.querySelector("input").focus();
}

/** Find out whether the service needs a key (and whether ours works), then show the page. */
let starting = false;
async function start(rejectedMessage) {
  starting = true;
  try {
    await get("v1/datasets?limit=1");
    auth.mode = auth.key ? "keys" : "open";
  } catch (err) {
    starting = false;
    if (err instanceof ApiError && err.status === 401) {
      const hadKey = Boolean(auth.key);
      auth.key = null;
      auth.mode = "keys";
      renderSession();
      signInView(hadKey ? (rejectedMessage || "Your key was not accepted any more: sign in again.") : signInMessage);
      signInMessage = "";
      return;
    }
    auth.mode = null;
    renderSession();
    setNav(null);
    const text = err instanceof ApiError && err.status === 403
      ? "This service has no API keys and serves only the computer it runs on. Open the page on that computer, or ask its administrator to set FRD_API_KEYS."
      : `The service cannot be reached: ${err.message}`;
    replace(main(), h("h1", { tabindex: "-1" }, "The service is not available"), h("p", { class: "error", role: "alert" }, text),
      h("button", { type: "button", class: "primary", onclick: () => start() }, "Try again"));
    return;
  }
  starting = false;
  renderSession();
  if (signInMessage) { announce(signInMessage); signInMessage = ""; }
  await route();
}

const signedIn = () => auth.mode === "open" || (auth.mode === "keys" && Boolean(auth.key));
window.addEventListener("hashchange", () => {
  if (signedIn()) route();
  else if (auth.mode === "keys") signInView("Sign in first.");
});
window.addEventListener("frd:unauthorized", () => {
  // A key that stopped working (the service's keys changed): back to signing in.
  if (!starting && auth.mode === "keys" && auth.key) start("Your key was not accepted any more: sign in again.");
});
document.querySelector(".skip")?.addEventListener("click", (e) => {
  e.preventDefault(); // a #main link would replace the route in the address bar
  const heading = main().querySelector("h1") || main();
  heading.setAttribute("tabindex", "-1");
  heading.focus();
});
start();
