// spine site serve: reload the page when the site is rebuilt. The stream
// closes when the page is left, so that open tabs never hold the browser's
// connections to the server.
(function () {
  "use strict";
  if (!window.EventSource) return;
  // The version of the site this page was served from; null when unknown.
  var script = document.currentScript;
  var es = null, version = (script && script.getAttribute("data-version")) || null;
  function connect() {
    es = new EventSource("/__spine/events");
    es.addEventListener("build", function (e) {
      if (version !== null && e.data !== version) location.reload();
      version = e.data;
    });
  }
  window.addEventListener("pagehide", function () { if (es) { es.close(); es = null; } });
  window.addEventListener("pageshow", function (e) { if (e.persisted || !es) connect(); });
  connect();
})();
