// Keeps the active jobs on an admin page current without reloading it: every POLL_MS, asks the admin's
// live/ endpoint for the fields marked data-live-job and swaps them in. Nothing else on the page is
// touched, so ticked rows, typed search text and the scroll position stay as the operator left them.
"use strict";
(function () {
  const POLL_MS = 1500;
  const script = document.currentScript;
  const endpoint = script.dataset.liveUrl;

  function activeIds() {
    const ids = new Set();
    document.querySelectorAll("[data-live-job][data-live-active='1']").forEach((el) => ids.add(el.dataset.liveJob));
    return Array.from(ids);
  }

  function apply(jobs) {
    Object.entries(jobs).forEach(([id, job]) => {
      document.querySelectorAll(`[data-live-job='${id}']`).forEach((el) => {
        const html = job.fields[el.dataset.liveField];
        if (html !== undefined && el.innerHTML !== html) el.innerHTML = html;
        el.dataset.liveActive = job.active ? "1" : "";
      });
      if (!job.active) {
        // Whatever only an active job offers (its Cancel button) goes when it ends.
        document.querySelectorAll(`[data-while-active='${id}']`).forEach((el) => el.remove());
      }
    });
  }

  async function poll() {
    const ids = activeIds();
    if (ids.length === 0) return; // every job on the page has ended: nothing changes any more
    try {
      const query = ids.map((id) => `id=${encodeURIComponent(id)}`).join("&");
      const response = await fetch(`${endpoint}?${query}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) apply((await response.json()).jobs);
    } finally {
      window.setTimeout(poll, POLL_MS);
    }
  }

  window.setTimeout(poll, POLL_MS);
})();
