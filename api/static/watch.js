// Watching a job: its state, the images extracted so far, the time it has taken, and a
// cancel button — polled once a second (the service answers that from one indexed read).

import { announce, duration, h, replace } from "./dom.js";

const STATE_WORDS = {
  queued: "Waiting for a free worker",
  running: "Running",
  succeeded: "Finished",
  failed: "Failed",
  cancelled: "Cancelled",
};

/**
 * Render the job `item` (a listing/summary entry) into `el` and keep it current until it
 * ends; then call onEnd(final). Returns a function that stops watching.
 */
export function watchJob(el, item, { poll, cancel, what, progressText, onEnd }) {
  let stopped = false;
  let timer = null;
  let ticker = null;
  const stateLine = h("p", { class: "job-state", id: "job-state" });
  const bar = h("progress", { id: "job-progress", "aria-labelledby": "job-progress-label" });
  const barLabel = h("p", { id: "job-progress-label", class: "progress-text" });
  const elapsed = h("p", { class: "elapsed" });
  const cancelButton = h("button", { type: "button", class: "secondary", onclick: doCancel }, `Cancel the ${what}`);
  const message = h("p", { class: "status", role: "status" });
  const panel = h("section", { class: "card job", "aria-labelledby": "job-state", "aria-busy": "true" },
    stateLine, bar, barLabel, elapsed, cancelButton, message);

  function started(job) {
    return job.started || job.created;
  }

  function tick(job) {
    const end = job.finished || Date.now() / 1000;
    elapsed.textContent = `Elapsed: ${duration(end - started(job))}`;
  }

  function show(job) {
    stateLine.textContent = STATE_WORDS[job.state] || job.state;
    stateLine.dataset.state = job.state;
    const { done, total } = job.progress;
    if (job.state === "running" && total) {
      bar.max = total;
      bar.value = done;
    } else if (job.state === "queued" || job.state === "running") {
      bar.removeAttribute("value"); // indeterminate
    }
    barLabel.textContent = job.state === "queued" ? "Other work is ahead of this one." : progressText(done, total);
    tick(job);
  }

  async function doCancel() {
    cancelButton.disabled = true;
    message.textContent = "Cancelling…";
    try {
      await cancel();
      message.textContent = "Cancelling: the work stops after the image being processed.";
    } catch (err) {
      message.textContent = `It could not be cancelled: ${err.message}`;
      cancelButton.disabled = false;
    }
  }

  async function loop(job, fetchNext) {
    if (stopped) return;
    if (job.state === "succeeded" || job.state === "failed" || job.state === "cancelled") {
      clearInterval(ticker);
      if (job.state === "succeeded") {
        replace(el);
        await onEnd(job);
      } else {
        show(job);
        panel.setAttribute("aria-busy", "false");
        bar.remove();
        barLabel.remove();
        cancelButton.remove();
        replace(message, job.state === "failed" ? `The ${what} failed: ${job.error || "no reason was given"}` : `The ${what} was cancelled.`);
        message.classList.toggle("error", job.state === "failed");
        message.setAttribute("role", "alert");
        announce(`The ${what} ${job.state === "failed" ? "failed" : "was cancelled"}`);
      }
      return;
    }
    show(job);
    timer = setTimeout(async () => {
      let next = job;
      try {
        next = await fetchNext();
        message.textContent = message.textContent.startsWith("Lost") ? "" : message.textContent;
      } catch (err) {
        message.textContent = `Lost contact with the service (${err.message}); trying again…`;
      }
      loop(next, fetchNext);
    }, 1000);
  }

  let latest = item;
  if (item.state !== "succeeded") {
    replace(el, panel);
    ticker = setInterval(() => { if (!stopped) tick(latest); }, 1000);
  }
  const pollLatest = async () => { latest = await poll(); return latest; };
  loop(item, pollLatest);
  return () => { stopped = true; clearTimeout(timer); clearInterval(ticker); };
}
