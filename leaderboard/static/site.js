(function () {
  "use strict";
  // Sorting: every table.sortable gets clickable headers; numbers sort by data-value, empty cells last.
  function key(cell) {
    if (!cell) return null;
    var v = cell.getAttribute("data-value");
    if (v !== null && v !== "") {
      var f = Number(v);
      if (!isNaN(f)) return f;
    }
    var t = cell.textContent.trim();
    return t === "" || t === "\u2013" ? null : t.toLowerCase();
  }
  function compare(a, b, dir) {
    if (a === null && b === null) return 0;
    if (a === null) return 1;
    if (b === null) return -1;
    if (typeof a === "number" && typeof b === "number") return dir * (a - b);
    return dir * String(a).localeCompare(String(b));
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var body = table.tBodies[0];
    if (!body || !table.tHead) return;
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, idx) {
      th.classList.add("sort-handle");
      th.tabIndex = 0;
      th.title = "Sort by this column";
      function sortNow() {
        var current = th.getAttribute("aria-sort");
        var dir;
        if (current === "descending") dir = 1;
        else if (current === "ascending") dir = -1;
        // Text, ranks and lower-is-better columns start ascending (best first); other numbers descending.
        else dir = th.getAttribute("data-type") === "text" || th.getAttribute("data-order") === "asc" ? 1 : -1;
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        var order = new Map();
        rows.forEach(function (r, i) { order.set(r, i); });
        rows.sort(function (r1, r2) {
          return compare(key(r1.cells[idx]), key(r2.cells[idx]), dir) || order.get(r1) - order.get(r2);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sortNow);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortNow(); }
      });
    });
  });
  // A table wider than its box scrolls inside it; say so, since the scroll bar sits below a long table.
  var hints = [];
  Array.prototype.forEach.call(document.querySelectorAll(".scroll"), function (box) {
    var hint = document.createElement("p");
    hint.className = "scroll-hint";
    hint.textContent = "more columns to the right: scroll sideways (shift + wheel)";
    box.parentNode.insertBefore(hint, box);
    hints.push([box, hint]);
  });
  function showHints() {
    hints.forEach(function (bh) { bh[1].hidden = bh[0].scrollWidth <= bh[0].clientWidth + 1; });
  }
  showHints();
  window.addEventListener("resize", showHints);
  // Published reference rows can be hidden (the switch is shown only when script runs).
  var toggle = document.getElementById("show-reference");
  if (toggle) {
    toggle.closest("label").hidden = false;
    toggle.addEventListener("change", function () {
      document.body.classList.toggle("hide-reference", !toggle.checked);
      showHints();
    });
  }
  // Gallery filters by model and category.
  var form = document.getElementById("gallery-filters");
  if (form) {
    form.hidden = false;
    var fm = document.getElementById("filter-model");
    var fc = document.getElementById("filter-category");
    var apply = function () {
      var m = fm.value, c = fc.value;
      Array.prototype.forEach.call(document.querySelectorAll("[data-model]"), function (el) {
        el.hidden = m !== "" && el.getAttribute("data-model") !== m;
      });
      Array.prototype.forEach.call(document.querySelectorAll("[data-category]"), function (el) {
        el.hidden = c !== "" && el.getAttribute("data-category") !== c;
      });
    };
    fm.addEventListener("change", apply);
    fc.addEventListener("change", apply);
  }
})();
