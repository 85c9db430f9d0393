// streamsuite web: the little JavaScript there is. Pages work without it (reading, paging,
// filtering; Status then reloads itself through <noscript>); it adds the live feed on Records,
// the in-place refresh of Status, "copy as curl" and expand/collapse on a record page.
(function () {
  "use strict";

  var MAX_ROWS = 500;

  function liveRecords() {
    var state = document.getElementById("live");
    var table = document.getElementById("records");
    if (!state || !table || !window.EventSource) return;
    var body = table.tBodies[0];
    var toggle = document.getElementById("live-toggle");
    var source = null;
    var paused = false;

    function show(text, cls) {
      state.textContent = text;
      state.className = "live-state " + cls;
    }

    var announcer = document.getElementById("live-announce");
    var unannounced = 0;
    var announceTimer = null;

    // Screen readers hear "3 new records" once every few seconds, not every row.
    function announce() {
      if (!announcer) return;
      unannounced += 1;
      if (announceTimer) return;
      announceTimer = window.setTimeout(function () {
        announcer.textContent = unannounced + (unannounced === 1 ? " new record" : " new records");
        unannounced = 0;
        announceTimer = null;
      }, 3000);
    }

    function add(data) {
      var item = JSON.parse(data);
      if (body.querySelector('tr[data-id="' + item.id + '"]')) return; // on the page already
      var holder = document.createElement("tbody");
      holder.innerHTML = item.html; // escaped by the server's templates
      var row = holder.firstElementChild;
      if (!row) return;
      row.classList.add("new");
      body.insertBefore(row, body.firstElementChild);
      var empty = document.getElementById("no-records");
      if (empty) empty.remove();
      while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
      announce();
    }

    function open() {
      source = new EventSource(state.getAttribute("data-src"));
      source.addEventListener("record", function (e) { add(e.data); });
      source.onopen = function () { show("Live: new records appear at the top.", "on"); };
      source.onerror = function () { show("Live feed interrupted; reconnecting…", "off"); };
    }

    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      paused = !paused;
      if (paused) {
        if (source) source.close();
        source = null;
        show("Paused.", "off");
        toggle.textContent = "Resume";
      } else {
        // Resume from the newest row shown, so nothing in between is lost.
        var first = body.querySelector("tr[data-id]");
        if (first) {
          var url = new URL(state.getAttribute("data-src"), window.location.href);
          url.searchParams.set("after", first.getAttribute("data-id"));
          state.setAttribute("data-src", url.pathname + url.search);
        }
        toggle.textContent = "Pause";
        open();
      }
    });
    show("Connecting to the live feed…", "off");
    open();
  }

  function treeTools() {
    var tools = document.querySelector(".tree-tools");
    var tree = document.getElementById("document");
    if (!tools || !tree) return;
    tools.hidden = false;
    tools.addEventListener("click", function (e) {
      var what = e.target.getAttribute("data-tree");
      if (!what) return;
      var nodes = tree.querySelectorAll("details");
      for (var i = 0; i < nodes.length; i++) {
        // Collapse all but the root, so the top-level keys stay visible.
        nodes[i].open = what === "open" || i === 0;
      }
    });
  }

  // Status: fetch the page again every data-refresh seconds and swap its numbers in place
  // (no reload, no scroll jump, focus kept); a button pauses it.
  function statusRefresh() {
    var asOf = document.getElementById("as-of");
    var live = document.getElementById("status-live");
    var toggle = document.getElementById("refresh-toggle");
    if (!asOf || !live || !toggle || !window.fetch || !window.DOMParser) return;
    var every = parseInt(asOf.getAttribute("data-refresh"), 10) * 1000;
    var timer = null;
    var paused = false;

    function refresh() {
      window.fetch(window.location.href, { headers: { Accept: "text/html" } })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          if (paused) return;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var next = fresh.getElementById("status-live");
          var nextAsOf = fresh.getElementById("as-of");
          if (!next || !nextAsOf) return;
          // keep open tables open
          var open = {};
          live.querySelectorAll("details[id]").forEach(function (d) { open[d.id] = d.open; });
          live.innerHTML = next.innerHTML;  // the server's escaped markup
          live.querySelectorAll("details[id]").forEach(function (d) {
            if (open[d.id]) d.open = true;
          });
          asOf.textContent = nextAsOf.textContent;
          asOf.setAttribute("data-refreshed", String(Date.now()));
        })
        .catch(function () {
          asOf.textContent = "Refresh failed; trying again in " + every / 1000 + " s.";
        });
    }

    function start() { timer = window.setInterval(refresh, every); }
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.setAttribute("aria-pressed", paused ? "true" : "false");
      toggle.textContent = paused ? "Resume refresh" : "Pause refresh";
      if (paused) {
        window.clearInterval(timer);
      } else {
        refresh();
        start();
      }
    });
    start();
  }

  // Records: "copy as curl" puts the shown command on the clipboard (it is selectable anyway).
  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (!target || !navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(target.textContent).then(function () {
          button.textContent = "Copied";
          var said = document.getElementById(button.getAttribute("data-copy") + "-said");
          if (said) said.textContent = "Command copied to the clipboard.";
        });
      });
    });
  }

  // Records: the browser's offset for "custom times in local time" (minutes east of UTC).
  function timeZone() {
    var offset = document.getElementById("tz-offset");
    if (offset) offset.value = String(0 - new Date().getTimezoneOffset()); // never "-0"
  }

  document.addEventListener("DOMContentLoaded", function () {
    timeZone();
    liveRecords();
    treeTools();
    statusRefresh();
    copyButtons();
  });
})();
