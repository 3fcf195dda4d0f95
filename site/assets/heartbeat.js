// spine evidence site: heartbeat ages against the reader's clock. The
// pages measure them against the newest time in the repository (the same
// input gives the same pages); a page read later would call a loop fresh
// that has long gone stale. This script measures them again, with the
// rules of the build: ok within heartbeat_ttl_minutes, late within twice
// that, stale beyond.
(function () {
  "use strict";
  function age(ms) {
    var s = Math.floor(Math.abs(ms) / 1000), out;
    if (s < 60) out = s + "s";
    else if (s < 3600) out = Math.floor(s / 60) + "m";
    else if (s < 48 * 3600) out = Math.floor(s / 3600) + "h";
    else out = Math.floor(s / 86400) + "d";
    return ms < 0 ? "in " + out : out;
  }
  function init() {
    var now = Date.now(), live = document.querySelectorAll("span.hb[data-hb]");
    for (var i = 0; i < live.length; i++) {
      var el = live[i], last = Date.parse(el.getAttribute("data-hb"));
      var ttl = parseInt(el.getAttribute("data-ttl"), 10) * 60000;
      if (isNaN(last) || !(ttl > 0)) continue;
      var a = now - last;
      el.textContent = age(a);
      el.className = "hb hb-" + (a <= ttl ? "ok" : a <= 2 * ttl ? "late" : "stale");
    }
    var asof = document.querySelector("time.hb-asof");
    if (asof && live.length) {
      asof.setAttribute("datetime", new Date(now).toISOString());
      asof.textContent = "now (this browser's clock)";
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
