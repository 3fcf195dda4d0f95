// spine evidence site: search over search.json. Progressive enhancement:
// the form stays hidden unless this script runs, and from the file system,
// where browsers refuse to fetch the index.
(function () {
  "use strict";
  var script = document.currentScript;
  var root = new URL("..", script ? script.src : location.href);
  function init() {
    var form = document.querySelector("form.search");
    if (!form || !window.fetch) return;
    var input = form.querySelector("input");
    var list = form.querySelector(".results");
    var index = null, loading = null, sel = -1;
    function load() {
      if (!loading) {
        loading = fetch(new URL("search.json", root)).then(function (r) {
          if (!r.ok) throw new Error("search.json: " + r.status);
          return r.json();
        }).then(function (items) {
          index = items.map(function (it) {
            it.hay = [it.id, it.title, it.status, it.owner, it.loop, it.severity, it.host, it.gate, it.by].join(" ").toLowerCase();
            return it;
          });
        });
      }
      return loading;
    }
    function clear() { list.textContent = ""; list.hidden = true; sel = -1; }
    function show() {
      var q = input.value.trim().toLowerCase();
      if (!q || !index) { clear(); return; }
      var terms = q.split(/\s+/), out = [];
      for (var i = 0; i < index.length && out.length < 40; i++) {
        var it = index[i], ok = true;
        for (var j = 0; j < terms.length; j++) if (it.hay.indexOf(terms[j]) < 0) { ok = false; break; }
        if (ok) out.push(it);
      }
      list.textContent = "";
      out.forEach(function (it) {
        var li = document.createElement("li"), a = document.createElement("a");
        var kind = document.createElement("span"), t = document.createElement("span");
        a.href = new URL(it.url, root).href;
        kind.className = "kind"; kind.textContent = it.kind;
        t.className = "t"; t.textContent = [it.title, it.status, it.host].filter(Boolean).join(" · ");
        a.appendChild(kind); a.appendChild(document.createTextNode(it.id)); a.appendChild(t);
        li.appendChild(a); list.appendChild(li);
      });
      if (!out.length) {
        var li = document.createElement("li"); li.className = "muted"; li.textContent = "  no match";
        list.appendChild(li);
      }
      list.hidden = false; sel = -1;
    }
    function move(d) {
      var links = list.querySelectorAll("a");
      if (!links.length) return;
      if (sel >= 0 && links[sel]) links[sel].classList.remove("sel");
      sel = (sel + d + links.length) % links.length;
      links[sel].classList.add("sel");
      links[sel].scrollIntoView({ block: "nearest" });
    }
    input.addEventListener("focus", function () { load().then(show, function () {}); });
    input.addEventListener("input", function () { load().then(show, function () {}); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") { move(1); e.preventDefault(); }
      else if (e.key === "ArrowUp") { move(-1); e.preventDefault(); }
      else if (e.key === "Escape") { clear(); input.blur(); }
      else if (e.key === "Enter") {
        var links = list.querySelectorAll("a");
        var a = links[sel >= 0 ? sel : 0];
        if (a) location.href = a.href;
        e.preventDefault();
      }
    });
    document.addEventListener("click", function (e) { if (!form.contains(e.target)) clear(); });
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    document.addEventListener("keydown", function (e) {
      if (e.key === "/" && document.activeElement !== input && !/input|textarea/i.test(document.activeElement.tagName)) {
        input.focus(); e.preventDefault();
      }
    });
    if (location.protocol !== "file:") {
      form.hidden = false;
      return;
    }
    // From the file system browsers refuse to fetch search.json: no box
    // that finds nothing, but where search works.
    var note = document.createElement("p");
    note.className = "muted search-off";
    note.textContent = "Search needs the site served (spine site serve, or any web server).";
    form.parentNode.insertBefore(note, form.nextSibling);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
