// Self-refreshing lists (progressive enhancement: every page is complete without this).
// Every REFRESH_MS the page fetches itself and swaps in the new version of each element
// marked data-refresh, unless the reader is typing or clicking inside it.
(function () {
  "use strict";
  var REFRESH_MS = 15000;

  function busy(element) {
    var active = document.activeElement;
    return active && active !== document.body && element.contains(active);
  }

  function refresh() {
    if (document.hidden) { return; }
    var targets = document.querySelectorAll("[data-refresh][id]");
    if (!targets.length) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        targets.forEach(function (old) {
          var replacement = fresh.getElementById(old.id);
          if (replacement && !busy(old)) { old.replaceWith(document.importNode(replacement, true)); }
        });
      })
      .catch(function () { /* offline for a moment: the next round tries again */ });
  }

  window.setInterval(refresh, REFRESH_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
})();
