(function () {
  "use strict";
  // The site's one script, allowed by its hash. Run strings reach the page only through textContent and
  // attribute setters, never as markup; data comes from JSON blocks written by the report.
  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D1F", "#000000"];
  var SCORE_COLOURS = ["#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac"];
  var PERSPECTIVES = ["following", "preserving", "quality"];
  var MIN_PHOTOS = 10;
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return (root || document).querySelectorAll(sel); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function readData(id) {
    var block = document.getElementById(id);
    return block ? JSON.parse(block.textContent) : null;
  }
  function typing(e) {
    var t = e.target;
    return t && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(t.tagName));
  }
  function fmt(x, digits) { return x === null || x === undefined ? "\u2013" : x.toFixed(digits); }
  function pct(x) { return x === null || x === undefined ? "\u2013" : (100 * x).toFixed(0) + "%"; }

  // ---------------------------------------------------------------- sortable tables
  // Each body is sorted on its own, so ranked, unranked and published rows stay in their groups.
  function key(cell) {
    if (!cell) return null;
    var named = cell.getAttribute("data-sort"); // a cell with more than its name in it (links, badges)
    if (named !== null) return named.toLowerCase();
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
  each($$("table.sortable"), function (table) {
    if (!table.tHead) return;
    var bodies = Array.prototype.filter.call(table.tBodies, function (b) { return !b.classList.contains("group"); });
    var heads = table.tHead.rows[0].cells;
    each(heads, function (th, idx) {
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
        each(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        bodies.forEach(function (body) {
          var rows = Array.prototype.slice.call(body.rows);
          var order = new Map();
          rows.forEach(function (r, i) { order.set(r, i); });
          rows.sort(function (r1, r2) {
            return compare(key(r1.cells[idx]), key(r2.cells[idx]), dir) || order.get(r1) - order.get(r2);
          });
          rows.forEach(function (r) { body.appendChild(r); });
        });
      }
      th.addEventListener("click", sortNow);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortNow(); }
      });
    });
  });

  // ---------------------------------------------------------------- wide tables
  // A table wider than its box scrolls inside it (the page never does); a hint says so when it happens.
  var hints = [];
  each($$(".scroll"), function (box) {
    var hint = el("p", { "class": "scroll-hint" }, "more columns \u2192 scroll the table sideways");
    box.parentNode.insertBefore(hint, box);
    box.tabIndex = 0; // a keyboard can scroll it too
    hints.push([box, hint]);
  });
  function showHints() {
    hints.forEach(function (bh) { bh[1].hidden = bh[0].scrollWidth <= bh[0].clientWidth + 1; });
  }
  showHints();
  window.addEventListener("resize", showHints);
  each($$(".toolbar input"), function (box) { box.addEventListener("change", showHints); });

  // ---------------------------------------------------------------- charts
  // Drawn at the width of their box, and again when it changes: legible on a phone and on a wide screen.
  function truncate(text, px) {
    var max = Math.max(4, Math.floor(px / 6.6));
    return text.length <= max ? text : text.slice(0, max - 1) + "\u2026";
  }
  function drawBars(plot, runs, p, measure) {
    var width = Math.max(200, plot.clientWidth);
    var top = measure === "acc" ? 1 : 5;
    var side = width >= 460; // labels beside the bars, else above them
    var labelW = side ? Math.min(220, Math.round(width * 0.34)) : 0;
    var rowH = side ? 24 : 38;
    var x0 = side ? labelW + 8 : 14, x1 = width - 46; // room for half of the first tick's label
    var height = runs.length * rowH + 28;
    var svg = svgEl("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img" });
    svg.appendChild(svgEl("title", {}, p + ": " + (measure === "acc" ? "accuracy" : "mean score") + " per run"));
    function sx(v) { return x0 + (x1 - x0) * Math.max(0, Math.min(top, v)) / top; }
    (measure === "acc" ? [0, 0.25, 0.5, 0.75, 1] : [0, 1, 2, 3, 4, 5]).forEach(function (tv) {
      var gx = sx(tv);
      svg.appendChild(svgEl("line", { x1: gx, x2: gx, y1: 0, y2: height - 22, "class": "grid" }));
      svg.appendChild(svgEl("text", { x: gx, y: height - 8, "text-anchor": "middle", "class": "tick" },
        measure === "acc" ? pct(tv) : String(tv)));
    });
    runs.forEach(function (run, i) {
      var v = (run.values[p] || {})[measure];
      var y = i * rowH + (side ? 4 : 18);
      var label = svgEl("text", side ? { x: labelW, y: y + 12, "text-anchor": "end", "class": "label" }
        : { x: x0, y: y - 4, "class": "label" }, truncate(run.label, side ? labelW : x1 - x0));
      label.appendChild(svgEl("title", {}, run.label));
      svg.appendChild(label);
      if (!v || v[0] === null) {
        svg.appendChild(svgEl("text", { x: x0 + 4, y: y + 12, "class": "none" }, "no valid judgment"));
        return;
      }
      svg.appendChild(svgEl("rect", { x: x0, y: y, width: Math.max(1, sx(v[0]) - x0), height: 14,
        fill: PALETTE[i % PALETTE.length] }));
      if (v[1] !== null) {
        var lo = sx(v[1]), hi = sx(v[2]), mid = y + 7;
        svg.appendChild(svgEl("path", { d: "M" + lo + " " + (mid - 4) + "v8M" + lo + " " + mid + "H" + hi +
          "M" + hi + " " + (mid - 4) + "v8", "class": "whisker" }));
      }
      var photos = run.values[p].photos;
      var text = (measure === "acc" ? pct(v[0]) : fmt(v[0], 2)) +
        (photos !== null && photos < MIN_PHOTOS && v[1] !== null ? " \u26a0" : "");
      var value = svgEl("text", { x: Math.min(x1 + 4, sx(v[2] !== null ? v[2] : v[0]) + 4), y: y + 12,
        "class": "value" }, text);
      if (text.indexOf("\u26a0") >= 0) {
        value.appendChild(svgEl("title", {}, "interval from " + photos + " photos: too few to trust"));
      }
      svg.appendChild(value);
    });
    plot.replaceChildren(svg);
  }
  function drawDist(plot, runs, p) {
    var width = Math.max(200, plot.clientWidth);
    var side = width >= 460;
    var labelW = side ? Math.min(220, Math.round(width * 0.34)) : 0;
    var rowH = side ? 24 : 38;
    var x0 = labelW + 6, x1 = width - 4;
    var height = runs.length * rowH + 24;
    var svg = svgEl("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img" });
    svg.appendChild(svgEl("title", {}, p + ": share of valid scores 0 to 5 per run"));
    var step = (x1 - x0) / 6;
    for (var s = 0; s < 6; s++) { // the legend: one swatch per score
      svg.appendChild(svgEl("rect", { x: x0 + s * step, y: 2, width: 12, height: 12, fill: SCORE_COLOURS[s] }));
      svg.appendChild(svgEl("text", { x: x0 + s * step + 16, y: 12, "class": "tick" }, "score " + s));
    }
    runs.forEach(function (run, i) {
      var y = 24 + i * rowH + (side ? 0 : 14);
      var label = svgEl("text", side ? { x: labelW, y: y + 12, "text-anchor": "end", "class": "label" }
        : { x: x0, y: y - 4, "class": "label" }, truncate(run.label, side ? labelW : x1 - x0));
      label.appendChild(svgEl("title", {}, run.label));
      svg.appendChild(label);
      var hist = (run.values[p] || {}).hist || [];
      var total = hist.reduce(function (a, b) { return a + b; }, 0);
      if (!total) {
        svg.appendChild(svgEl("text", { x: x0 + 4, y: y + 12, "class": "none" }, "no valid judgment"));
        return;
      }
      var x = x0;
      hist.forEach(function (n, k) {
        var w = (x1 - x0) * n / total;
        if (w <= 0) return;
        var seg = svgEl("rect", { x: x, y: y, width: w, height: 16, fill: SCORE_COLOURS[k] });
        seg.appendChild(svgEl("title", {}, "score " + k + ": " + n + " of " + total));
        svg.appendChild(seg);
        if (w > 30) {
          svg.appendChild(svgEl("text", { x: x + w / 2, y: y + 12, "text-anchor": "middle",
            "class": k === 2 || k === 3 ? "seg dark" : "seg" }, Math.round(100 * n / total) + "%"));
        }
        x += w;
      });
    });
    plot.replaceChildren(svg);
  }
  var chartData = readData("chart-data");
  if (chartData) {
    each($$("section.charts"), function (section) {
      var runs = chartData[section.getAttribute("data-table")];
      if (!runs) return;
      var controls = $(".chart-controls", section);
      var measure = $(".chart-measure", section);
      controls.hidden = false;
      var lastWidth = -1;
      function draw() {
        lastWidth = section.clientWidth;
        each($$("figure.bars", section), function (f) {
          drawBars($(".plot", f), runs, f.getAttribute("data-perspective"), measure.value);
        });
        each($$("figure.dist", section), function (f) {
          drawDist($(".plot", f), runs, f.getAttribute("data-perspective"));
        });
      }
      measure.addEventListener("change", draw);
      draw();
      window.addEventListener("resize", function () { if (section.clientWidth !== lastWidth) draw(); });
    });
  }

  // ---------------------------------------------------------------- image viewer
  // A click on an image opens its larger copy; arrow keys move between the images shown, Esc closes.
  var viewer = null, current = null;
  function shownZooms() {
    return Array.prototype.filter.call($$("a.zoom"), function (a) { return a.offsetParent !== null; });
  }
  function openZoom(a) {
    if (!viewer) {
      viewer = el("dialog", { id: "viewer", "aria-label": "larger image" });
      var bar = el("div", { "class": "viewer-bar" });
      var prev = el("button", { type: "button", "class": "prev", "aria-label": "previous image" }, "\u2190");
      var next = el("button", { type: "button", "class": "next", "aria-label": "next image" }, "\u2192");
      var close = el("button", { type: "button", "class": "close", "aria-label": "close" }, "\u00d7 close");
      bar.append(prev, el("span", { "class": "caption" }), next, close);
      viewer.append(bar, el("img", { alt: "" }));
      document.body.appendChild(viewer);
      prev.addEventListener("click", function () { step(-1); });
      next.addEventListener("click", function () { step(1); });
      close.addEventListener("click", function () { viewer.close(); });
      viewer.addEventListener("click", function (e) { if (e.target === viewer) viewer.close(); });
      viewer.addEventListener("close", function () { if (current) current.focus(); });
      viewer.addEventListener("keydown", function (e) {
        if (e.key === "ArrowLeft") { e.preventDefault(); step(-1); }
        if (e.key === "ArrowRight") { e.preventDefault(); step(1); }
      });
    }
    current = a;
    var img = $("img", viewer);
    img.src = a.getAttribute("href");
    img.alt = ($("img", a) || {}).alt || "";
    $(".caption", viewer).textContent = a.getAttribute("data-caption") || img.alt;
    if (!viewer.open) viewer.showModal();
    $("button.close", viewer).focus();
  }
  function step(by) {
    var all = shownZooms();
    var i = all.indexOf(current);
    if (i < 0 || !all.length) return;
    openZoom(all[(i + by + all.length) % all.length]);
  }
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a.zoom");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    openZoom(a);
  });

  // ---------------------------------------------------------------- gallery pages
  var form = document.getElementById("gallery-filters");
  if (form) {
    form.hidden = false;
    $(".keys").hidden = false;
    var boxes = $$('input[name="run"]', form);
    var fc = document.getElementById("filter-category");
    var ft = document.getElementById("filter-text");
    var apply = function () {
      var on = Object.create(null); // keyed by run strings: no prototype to collide with
      each(boxes, function (b) { on[b.value] = b.checked; });
      each($$(".card[data-run]"), function (card) { card.hidden = !on[card.getAttribute("data-run")]; });
      var c = fc.value, words = ft.value.toLowerCase().split(/\s+/).filter(Boolean);
      each($$("section.item"), function (sec) {
        var text = sec.querySelector(".instruction").textContent.toLowerCase();
        sec.hidden = (c !== "" && sec.getAttribute("data-category") !== c) ||
          !words.every(function (w) { return text.indexOf(w) >= 0; });
      });
    };
    each(boxes, function (b) { b.addEventListener("change", apply); });
    fc.addEventListener("change", apply);
    ft.addEventListener("input", apply);
    document.getElementById("runs-all").addEventListener("click", function () {
      each(boxes, function (b) { b.checked = true; }); apply();
    });
    document.getElementById("runs-none").addEventListener("click", function () {
      each(boxes, function (b) { b.checked = false; }); apply();
    });
    document.addEventListener("keydown", function (e) {
      if (typing(e) || e.altKey || e.ctrlKey || e.metaKey || (viewer && viewer.open)) return;
      var link = e.key === "ArrowLeft" ? $('a[rel="prev"]') : e.key === "ArrowRight" ? $('a[rel="next"]') : null;
      if (link) { e.preventDefault(); link.click(); }
    });
  }

  // ---------------------------------------------------------------- gallery index: search and arrow keys
  var search = document.getElementById("gallery-search");
  var searchData = readData("search-data");
  if (search && searchData) {
    search.hidden = false;
    $(".keys").hidden = false;
    var input = document.getElementById("search-text");
    var results = document.getElementById("search-results");
    var count = document.getElementById("search-count");
    var find = function () {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var pages = Object.create(null), hits = [];
      searchData.forEach(function (page) {
        page.items.forEach(function (it) {
          var text = (it[0] + " " + it[1]).toLowerCase();
          if (words.length && words.every(function (w) { return text.indexOf(w) >= 0; })) {
            hits.push([page, it]);
            pages[page.href] = true;
          }
        });
      });
      each($$("a.photo"), function (a) { a.hidden = words.length > 0 && !pages[a.getAttribute("data-page")]; });
      results.replaceChildren();
      results.hidden = !words.length;
      count.textContent = words.length ? hits.length + " instruction" + (hits.length === 1 ? "" : "s") + " on " +
        Object.keys(pages).length + " page" + (Object.keys(pages).length === 1 ? "" : "s") : "";
      hits.slice(0, 200).forEach(function (h) {
        var li = el("li");
        var a = el("a", { href: h[1][2] }, h[0].title + " \u00b7 " + h[1][0]);
        li.append(a, el("span", {}, ": " + h[1][1]));
        results.appendChild(li);
      });
    };
    input.addEventListener("input", find);
    search.addEventListener("submit", function (e) { e.preventDefault(); find(); });
    document.addEventListener("keydown", function (e) {
      if (e.key === "/" && !typing(e)) { e.preventDefault(); input.focus(); return; }
      var a = e.target.closest && e.target.closest("a.photo");
      if (!a || ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].indexOf(e.key) < 0) return;
      var tiles = Array.prototype.filter.call($$("a.photo"), function (t) { return !t.hidden; });
      var i = tiles.indexOf(a), perRow = 1;
      while (perRow < tiles.length && tiles[perRow].offsetTop === tiles[0].offsetTop) perRow++;
      var by = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -perRow, ArrowDown: perRow }[e.key];
      var target = tiles[Math.max(0, Math.min(tiles.length - 1, i + by))];
      e.preventDefault();
      target.focus();
    });
  }

  // ---------------------------------------------------------------- comparison of two runs
  var cmpData = readData("compare-data");
  var cmpForm = document.getElementById("compare-form");
  if (cmpForm && cmpData && cmpData.length) {
    cmpForm.hidden = false;
    var selT = document.getElementById("cmp-table");
    var selA = document.getElementById("cmp-a");
    var selB = document.getElementById("cmp-b");
    var shown = 0, disagreements = [];
    cmpData.forEach(function (t, i) {
      selT.appendChild(el("option", { value: String(i) }, t.title));
      t.order = t.samples.map(function (s) { return s[0]; }); // benchmark order
      t.info = Object.create(null);
      t.samples.forEach(function (s) { t.info[s[0]] = s.slice(1); });
    });
    document.getElementById("cmp-table-label").hidden = cmpData.length < 2;
    var fillRuns = function (t) {
      [selA, selB].forEach(function (sel) {
        sel.replaceChildren();
        t.runs.forEach(function (r, i) {
          var rank = r.rank !== null ? "#" + r.rank + " " : "not ranked: ";
          sel.appendChild(el("option", { value: String(i) }, rank + r.label));
        });
      });
    };
    var value = function (v, rankBy) { // the measure the table ranks by, for one sample
      if (!v) return null;
      if (rankBy !== "overall") {
        var k = PERSPECTIVES.indexOf(rankBy);
        return v[2 * k + 1];
      }
      if (v[1] === null || v[3] === null || v[5] === null) return null;
      return (v[1] + v[3] + v[5]) / 3;
    };
    var mean = function (xs) { return xs.length ? xs.reduce(function (a, b) { return a + b; }, 0) / xs.length : null; };
    var row = function (cells, head) {
      var tr = el("tr");
      cells.forEach(function (c, i) { tr.appendChild(el(head || i === 0 ? "th" : "td", {}, c)); });
      return tr;
    };
    var summary = function (t, a, b) {
      var ids = t.order, wins = [0, 0, 0], da = [], db = [];
      ids.forEach(function (sid) {
        var x = value(a.values[sid], t.rank_by), y = value(b.values[sid], t.rank_by);
        if (x === null || y === null) return;
        da.push(x); db.push(y);
        wins[x > y ? 0 : x < y ? 1 : 2] += 1;
      });
      var box = document.getElementById("cmp-summary");
      box.replaceChildren();
      if (!da.length) {
        box.appendChild(el("p", { "class": "note warn" }, "No sample was judged validly by both runs: nothing to compare."));
        return;
      }
      box.appendChild(el("p", { "class": "headline" }, "On " + da.length + " samples both judged validly (" +
        t.compared + "): A is higher on " + wins[0] + ", B on " + wins[1] + ", equal on " + wins[2] + "."));
      var table = el("table", { "class": "cmp-summary" });
      table.appendChild(row(["", "A: " + a.label, "B: " + b.label, "\u0394 (A \u2212 B)", "samples"], true));
      table.appendChild(row([t.compared, fmt(mean(da), 2), fmt(mean(db), 2), fmt(mean(da) - mean(db), 2),
        String(da.length)]));
      PERSPECTIVES.forEach(function (p, k) {
        var sa = [], sb = [], va = [], vb = [];
        ids.forEach(function (sid) {
          var x = a.values[sid], y = b.values[sid];
          if (!x || !y || x[2 * k + 1] === null || y[2 * k + 1] === null) return;
          sa.push(x[2 * k + 1]); sb.push(y[2 * k + 1]); va.push(x[2 * k]); vb.push(y[2 * k]);
        });
        table.appendChild(row([p + " score / accuracy", fmt(mean(sa), 2) + " / " + pct(mean(va)),
          fmt(mean(sb), 2) + " / " + pct(mean(vb)), sa.length ? fmt(mean(sa) - mean(sb), 2) : "\u2013",
          String(sa.length)]));
      });
      var wrap = el("div", { "class": "scroll" });
      wrap.appendChild(table);
      box.appendChild(wrap);
      box.appendChild(el("p", { "class": "note" }, "Means over the samples both runs judged validly; no test is run " +
        "here (the leaderboard's 'vs next' tests neighbours with a paired bootstrap over photos)."));
    };
    var categories = function (t, a, b) {
      var cats = [], by = Object.create(null);
      t.order.forEach(function (sid) {
        var c = t.info[sid][1];
        if (!by[c]) { by[c] = []; cats.push(c); }
        by[c].push(sid);
      });
      var table = el("table", { "class": "cmp-categories" });
      var head = ["edit type"];
      PERSPECTIVES.forEach(function (p) { head.push(p + " A", p + " B", "\u0394"); });
      head.push("samples");
      table.appendChild(row(head, true));
      cats.forEach(function (c) {
        var cells = [c], n = 0;
        PERSPECTIVES.forEach(function (p, k) {
          var sa = [], sb = [];
          by[c].forEach(function (sid) {
            var x = a.values[sid], y = b.values[sid];
            if (!x || !y || x[2 * k + 1] === null || y[2 * k + 1] === null) return;
            sa.push(x[2 * k + 1]); sb.push(y[2 * k + 1]);
          });
          n = Math.max(n, sa.length);
          cells.push(fmt(mean(sa), 2), fmt(mean(sb), 2), sa.length ? fmt(mean(sa) - mean(sb), 2) : "\u2013");
        });
        cells.push(String(n));
        var tr = row(cells);
        tr.setAttribute("data-category", c);
        table.appendChild(tr);
      });
      document.getElementById("cmp-categories").replaceChildren(table);
      document.getElementById("cmp-categories-title").hidden = false;
      showHints();
    };
    var zoomLink = function (pair, caption, alt) {
      if (!pair || !pair[0]) return el("div", { "class": "missing" }, "no image");
      var a = el("a", { "class": "zoom", href: pair[1] ? "full/" + pair[1] : "thumbs/" + pair[0], "data-caption": caption });
      a.appendChild(el("img", { src: "thumbs/" + pair[0], alt: alt, loading: "lazy", decoding: "async" }));
      return a;
    };
    var verdictLine = function (v, k) {
      if (!v || v[2 * k] === null) return "no valid judgment";
      return (v[2 * k] >= 0.5 ? "yes" : "no") + ", score " + fmt(v[2 * k + 1], 1);
    };
    var disagreeCard = function (t, a, b, sid) {
      var s = t.info[sid], va = a.values[sid], vb = b.values[sid];
      var card = el("article", { "class": "disagree", "data-sample": sid });
      var h = el("h3");
      var title = "Photo " + s[0] + " \u00b7 " + s[1];
      if (s[5]) h.appendChild(el("a", { href: s[5] }, title)); else h.textContent = title;
      h.appendChild(el("span", { "class": "text" }, ": " + s[2]));
      card.appendChild(h);
      var imgs = el("div", { "class": "cards" });
      [["original", [s[3], s[4]]], ["A: " + a.label, a.images[sid]], ["B: " + b.label, b.images[sid]]].forEach(function (x) {
        var c = el("div", { "class": "card" });
        c.appendChild(el("h4", {}, x[0]));
        c.appendChild(zoomLink(x[1], title + " \u00b7 " + x[0], x[0]));
        imgs.appendChild(c);
      });
      card.appendChild(imgs);
      var list = el("ul", { "class": "verdict-pairs" });
      PERSPECTIVES.forEach(function (p, k) {
        var li = el("li");
        li.appendChild(el("b", {}, p));
        li.appendChild(document.createTextNode(": A " + verdictLine(va, k) + " \u00b7 B " + verdictLine(vb, k)));
        var differ = va && vb && va[2 * k] !== null && vb[2 * k] !== null && (va[2 * k] >= 0.5) !== (vb[2 * k] >= 0.5);
        if (differ) li.className = "differ";
        list.appendChild(li);
      });
      card.appendChild(list);
      return card;
    };
    var showMore = function () {
      var t = cmpData[Number(selT.value)], a = t.runs[Number(selA.value)], b = t.runs[Number(selB.value)];
      var box = document.getElementById("cmp-disagree");
      disagreements.slice(shown, shown + 30).forEach(function (sid) { box.appendChild(disagreeCard(t, a, b, sid)); });
      shown = Math.min(disagreements.length, shown + 30);
      var more = document.getElementById("cmp-more");
      more.hidden = shown >= disagreements.length;
      more.textContent = "show more (" + (disagreements.length - shown) + " left)";
    };
    var disagree = function (t, a, b) {
      var ids = t.order;
      disagreements = ids.filter(function (sid) {
        var x = a.values[sid], y = b.values[sid];
        return x && y && PERSPECTIVES.some(function (p, k) {
          return x[2 * k] !== null && y[2 * k] !== null && (x[2 * k] >= 0.5) !== (y[2 * k] >= 0.5);
        });
      });
      var gap = function (sid) {
        var x = value(a.values[sid], t.rank_by), y = value(b.values[sid], t.rank_by);
        return x === null || y === null ? -1 : Math.abs(x - y);
      };
      var order = Object.create(null);
      ids.forEach(function (sid, i) { order[sid] = i; });
      disagreements.sort(function (s1, s2) { return gap(s2) - gap(s1) || order[s1] - order[s2]; });
      document.getElementById("cmp-disagree").replaceChildren();
      document.getElementById("cmp-disagree-title").hidden = false;
      document.getElementById("cmp-disagree-title").textContent = "Where they disagree (" + disagreements.length + " sample" +
        (disagreements.length === 1 ? "" : "s") + ")";
      document.getElementById("cmp-disagree-note").hidden = false;
      shown = 0;
      showMore();
    };
    var update = function (fromHash) {
      var t = cmpData[Number(selT.value)];
      if (!fromHash && selA.value === selB.value && t.runs.length > 1) {
        selB.value = String((Number(selA.value) + 1) % t.runs.length);
      }
      var a = t.runs[Number(selA.value)], b = t.runs[Number(selB.value)];
      history.replaceState(null, "", "#" + t.id + ":" + selA.value + ":" + selB.value);
      summary(t, a, b);
      categories(t, a, b);
      disagree(t, a, b);
    };
    var fromHash = function () {
      var m = /^#(t\d+):(\d+):(\d+)$/.exec(location.hash);
      var ti = 0;
      if (m) cmpData.forEach(function (t, i) { if (t.id === m[1]) ti = i; });
      selT.value = String(ti);
      var t = cmpData[ti];
      fillRuns(t);
      var a = m ? Number(m[2]) : 0, b = m ? Number(m[3]) : 1;
      selA.value = String(a < t.runs.length ? a : 0);
      selB.value = String(b < t.runs.length ? b : 1);
      update(true);
    };
    selT.addEventListener("change", function () { fillRuns(cmpData[Number(selT.value)]); selB.value = "1"; update(); });
    selA.addEventListener("change", function () { update(); });
    selB.addEventListener("change", function () { update(); });
    document.getElementById("cmp-swap").addEventListener("click", function () {
      var x = selA.value; selA.value = selB.value; selB.value = x; update();
    });
    document.getElementById("cmp-more").addEventListener("click", showMore);
    fromHash();
  }
})();
