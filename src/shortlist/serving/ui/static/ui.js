// Refreshes the parts of a page marked data-refresh (the overview's live figures) in place, every
// data-every seconds, while the tab is visible. Hand-written: no library, nothing fetched elsewhere.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-refresh]")) {
    const every = Math.max(2, Number(el.dataset.every || 10)) * 1000;
    setInterval(async () => {
      if (document.hidden) return;
      try {
        const resp = await fetch(el.dataset.refresh, {credentials: "same-origin"});
        if (!resp.ok) return;
        const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
        const fresh = doc.getElementById(el.id);
        if (fresh) el.replaceChildren(...fresh.childNodes);
      } catch (err) {
        // the server went away (restart): keep the figures shown, try again next time
      }
    }, every);
  }
});
