// streamsuite web: the little JavaScript there is. Pages work without it (reading, paging,
// filtering); it adds the live feed on Records and expand/collapse on a record page.
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

  document.addEventListener("DOMContentLoaded", function () {
    liveRecords();
    treeTools();
  });
})();
