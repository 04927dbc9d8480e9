// The console's one enhancement: parts marked data-live="URL" are refreshed in place every
// data-every milliseconds from URL (HTML rendered by the server, same origin). Without
// JavaScript the pages are whole and a reload shows the same. A part holding the keyboard
// focus is left alone until focus leaves it; a session that ended stops the refresh.
"use strict";
(function () {
  function refresh(el) {
    var every = Number(el.getAttribute("data-every")) || 5000;
    function tick() {
      if (el.contains(document.activeElement) && document.activeElement !== document.body) {
        window.setTimeout(tick, every);
        return;
      }
      fetch(el.getAttribute("data-live"), {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
        cache: "no-store",
      })
        .then(function (response) {
          if (response.status === 401) {
            window.location.reload(); // the server sends the login page
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== undefined) {
            el.innerHTML = html;
            el.setAttribute("data-refreshed", String(Date.now()));
          }
          window.setTimeout(tick, every);
        })
        .catch(function () {
          window.setTimeout(tick, every * 2);
        });
    }
    window.setTimeout(tick, every);
  }
  document.querySelectorAll("[data-live]").forEach(refresh);
})();
