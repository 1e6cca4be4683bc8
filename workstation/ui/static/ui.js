// The workstation's UI, everywhere: the idle lock and the search key.
// No inline script anywhere (CSP script-src 'self'); no eval; no request
// to any other host.
"use strict";
(function () {
  const body = document.body;
  const idle = Number(body.dataset.idle || "0");
  if (idle > 0 && !body.classList.contains("unlock")) {
    let timer = null;
    const lock = () => {
      // Blank the page first: what is decrypted leaves the screen at once.
      document.querySelector("main")?.replaceChildren();
      window.location.replace("/unlock");
    };
    const reset = () => {
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(lock, idle * 1000);
    };
    for (const name of ["keydown", "pointerdown", "wheel", "touchstart"]) {
      window.addEventListener(name, reset, { passive: true });
    }
    reset();
  }
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]");
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      const box = document.getElementById("global-search");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    }
  });
})();
