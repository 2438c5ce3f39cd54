// Live updates: every element marked data-live is refreshed in place by
// fetching its page again with ?partial=live, every data-poll ms. Only
// the live part is replaced, so a form being filled in is left alone.
"use strict";
for (const el of document.querySelectorAll("[data-live]")) {
  const every = Number(el.dataset.poll) || 2000;
  let last = el.innerHTML;
  let busy = false;
  setInterval(async () => {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const u = new URL(location.href);
      u.searchParams.set("partial", "live");
      const r = await fetch(u, { credentials: "same-origin" });
      if (r.ok) {
        const html = await r.text();
        if (html !== last) {
          el.innerHTML = html;
          last = html;
          el.dispatchEvent(new CustomEvent("amber:updated", { bubbles: true }));
        }
      }
    } catch (e) {
      // The inspector is restarting or the network dropped: try again.
    } finally {
      busy = false;
    }
  }, every);
}

// The replay debugger: ← and → step through the journal.
document.addEventListener("keydown", (ev) => {
  if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.target.closest("input, select, textarea")) return;
  const rel = { ArrowLeft: "prev", ArrowRight: "next" }[ev.key];
  const a = rel && document.querySelector(`a[rel="${rel}"]`);
  if (a) location.href = a.href;
});
