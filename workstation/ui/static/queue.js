// The queue (workstation/ui/pages/queue.py): keys to move between rows and
// open them, "select all on this page", and the filters answering without a
// full page load. Everything here is an addition: without JavaScript the
// filter form, the pager links and the bulk form work as they are.
// No inline script anywhere (CSP script-src 'self'); no eval; no request to
// any other host.
"use strict";
(function () {
  const filters = document.getElementById("queue-filters");
  const bulk = document.getElementById("queue-bulk");
  if (!filters || !bulk) return;

  let current = -1;
  let generation = 0;
  let busy = false; // one request at a time: the server answers one at a time anyway
  let waiting = null; // the address wanted while one was under way (the latest wins)
  let shown = window.location.pathname + window.location.search;

  const results = () => document.getElementById("queue-results");
  const rows = () => Array.from(document.querySelectorAll("#queue-rows tr[data-href]"));

  // --- moving between rows ---------------------------------------------------------------------

  function mark(index) {
    const all = rows();
    if (!all.length) return null;
    current = Math.max(0, Math.min(all.length - 1, index));
    all.forEach((row, i) => {
      row.classList.toggle("current", i === current);
      if (i === current) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    });
    return all[current];
  }

  function move(by) {
    const row = mark(current < 0 ? (by > 0 ? 0 : rows().length - 1) : current + by);
    if (row) {
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function currentRow() {
    const all = rows();
    return current >= 0 && current < all.length ? all[current] : null;
  }

  function open(row) {
    const link = row.querySelector("a.open");
    window.location.assign(link ? link.href : row.dataset.href);
  }

  function toggle(row) {
    const box = row.querySelector('input[type="checkbox"][name="id"]');
    if (!box) return;
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
  }

  const interactive = "a, button, input, select, textarea, summary, [contenteditable]";

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const target = event.target instanceof Element ? event.target : null;
    const field = target && target.closest("input, textarea, select, [contenteditable]");
    if (field) {
      if (event.key === "Escape" && filters.contains(field)) field.blur();
      return;
    }
    const key = event.key;
    if (key === "j" || key === "ArrowDown") {
      event.preventDefault();
      move(1);
    } else if (key === "k" || key === "ArrowUp") {
      event.preventDefault();
      move(-1);
    } else if (key === "o" || (key === "Enter" && !(target && target.closest(interactive)))) {
      const row = currentRow();
      if (row) {
        event.preventDefault();
        open(row);
      }
    } else if (key === "x") {
      const row = currentRow();
      if (row) {
        event.preventDefault();
        toggle(row);
      }
    } else if (key === "f") {
      const box = document.getElementById("queue-q");
      if (box) {
        event.preventDefault();
        box.focus();
        box.select();
      }
    }
  });

  bulk.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const row = target && target.closest("#queue-rows tr[data-href]");
    if (row && !target.closest(interactive)) mark(rows().indexOf(row));
  });

  // --- select all on this page -----------------------------------------------------------------

  bulk.addEventListener("change", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLInputElement) || target.type !== "checkbox") return;
    const all = document.getElementById("queue-all");
    const boxes = Array.from(bulk.querySelectorAll('#queue-rows input[type="checkbox"][name="id"]'));
    if (target === all) {
      for (const box of boxes) box.checked = all.checked;
    } else if (all && target.name === "id") {
      const ticked = boxes.filter((box) => box.checked).length;
      all.checked = ticked > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
  });

  // --- the filters answer in place ---------------------------------------------------------------

  function wanted() {
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(filters)) {
      if (typeof value !== "string" || value === "") continue;
      if (name === "sort" && value === "newest") continue;
      query.append(name, value);
    }
    const text = query.toString();
    return "/queue" + (text ? "?" + text : "");
  }

  // Typing asks at once; keys typed while an answer is on its way are asked
  // for together when it arrives (no fixed pause, no pile of requests).
  function request(url) {
    shown = url;
    if (busy) {
      waiting = url;
      return;
    }
    busy = true;
    load(url).finally(() => {
      busy = false;
      const next = waiting;
      waiting = null;
      if (next !== null) request(next);
    });
  }

  async function load(url) {
    const started = performance.now();
    const address = url + (url.includes("?") ? "&" : "?") + "fragment=1";
    let html;
    try {
      const response = await fetch(address, {
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
      });
      if (!response.ok || response.redirected) throw new Error("not the rows");
      html = await response.text();
    } catch (error) {
      window.location.assign(url); // locked, or the server gone: the whole page says why
      return;
    }
    if (waiting !== null) return; // already out of date: the next answer is asked for
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("queue-results");
    const old = results();
    if (!fresh || !old) {
      window.location.assign(url);
      return;
    }
    const kept = fresh.dataset.url || url;
    old.replaceWith(document.adoptNode(fresh));
    shown = kept;
    history.replaceState(null, "", kept);
    const back = bulk.querySelector('input[name="back"]');
    if (back) back.value = kept;
    current = -1;
    generation += 1;
    results().dataset.generation = String(generation);
    const told = document.getElementById("queue-announce"); // a live region that stays
    const count = document.getElementById("queue-count");
    if (told && count) told.textContent = count.textContent;
    document.dispatchEvent(
      new CustomEvent("queue:replaced", {
        detail: { generation, url: kept, ms: performance.now() - started },
      })
    );
  }

  function update(force) {
    const url = wanted();
    if (!force && url === shown) return;
    request(url);
  }

  filters.addEventListener("input", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.id === "queue-q") update(false);
  });
  filters.addEventListener("change", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.id === "queue-q") return;
    update(false);
  });
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    update(true);
  });

  // "Assigned to me": one click, on or off, the other filters kept.
  const mineLink = filters.querySelector("a.queue-mine");
  function showMine() {
    const select = document.getElementById("queue-assigned");
    if (!mineLink || !select) return;
    const on = select.value === "me";
    mineLink.textContent = (on ? mineLink.dataset.off : mineLink.dataset.on) || mineLink.textContent;
    if (on) mineLink.setAttribute("aria-current", "true");
    else mineLink.removeAttribute("aria-current");
  }
  if (mineLink) {
    mineLink.addEventListener("click", (event) => {
      const select = document.getElementById("queue-assigned");
      if (!select) return;
      event.preventDefault();
      select.value = select.value === "me" ? "" : "me";
      showMine();
      update(false);
    });
    filters.addEventListener("change", showMine);
  }

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const link = target && target.closest("#queue-pager a[href]");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    request(link.getAttribute("href") || "/queue");
    const count = document.getElementById("queue-count");
    if (count) count.scrollIntoView({ block: "start" });
  });
})();
