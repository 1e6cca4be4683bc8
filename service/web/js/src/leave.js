/**
 * The "leave quickly" control of every witness page: the link goes to a
 * neutral site; with JavaScript the page first empties itself and then
 * replaces itself in the history (`location.replace`), so Back does not
 * return to it. Without JavaScript the link still works, as a plain link.
 */
export function leaveNow(url) {
  try {
    document.title = "";
    document.body.replaceChildren();
  } finally {
    window.location.replace(url);
  }
}

/** Wire every `[data-leave]` link of the page. */
export function installLeave(root = document) {
  for (const link of root.querySelectorAll("a[data-leave]")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      leaveNow(link.href);
    });
  }
}
