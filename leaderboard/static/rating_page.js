"use strict";
// Annotation page of `realedit agree --template`: renders the embedded items, keeps answers in
// localStorage and exports the long ratings CSV. Built with DOM calls only (no innerHTML): every string
// comes from a run and is treated as text.
(function () {
  var data = JSON.parse(document.getElementById("data").textContent);
  var storeKey = "realedit-annotate-" + document.body.getAttribute("data-page-id");
  var state = {};
  try { state = JSON.parse(localStorage.getItem(storeKey) || "{}"); } catch (e) { state = {}; }
  // Whatever is stored (another version, a hand edit, "null") must not stop the page from rendering.
  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
  if (!isObject(state)) state = {};
  if (!isObject(state.answers)) state.answers = {};
  if (typeof state.rater !== "string") state.rater = "";
  var SCORES = ["0", "1", "2", "3", "4", "5"], VERDICTS = ["yes", "no"];
  var rater = document.getElementById("rater");
  var status = document.getElementById("status");
  rater.value = state.rater || "";
  var boxes = []; // [item, box, mark] to refresh the per-edit markers
  function save() {
    state.rater = rater.value.trim();
    try { localStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) { /* private mode: no saving */ }
    progress();
  }
  function key(item, p) { return item.sample_id + "\u0000" + p; }
  function answer(item, p) {
    var a = state.answers[key(item, p)];
    if (!isObject(a)) a = {};
    return {score: SCORES.indexOf(a.score) >= 0 ? a.score : "", verdict: VERDICTS.indexOf(a.verdict) >= 0 ? a.verdict : ""};
  }
  function el(tag, text) { var e = document.createElement(tag); if (text !== undefined) e.textContent = text; return e; }
  // One radio group; its accessible name (e.g. "following score") tells a screen reader what "4" is about.
  function choice(name, label, values, current, onChange) {
    var span = el("span"); span.className = "choice";
    span.setAttribute("role", "radiogroup"); span.setAttribute("aria-label", label);
    values.forEach(function (v) {
      var lab = el("label"); var inp = document.createElement("input");
      inp.type = "radio"; inp.name = name; inp.value = v; inp.checked = current === v;
      inp.addEventListener("change", function () { onChange(v); });
      lab.appendChild(inp); lab.appendChild(document.createTextNode(" " + v)); span.appendChild(lab);
    });
    var clear = el("button", "clear"); clear.type = "button"; clear.title = "take this answer back";
    clear.addEventListener("click", function () {
      span.querySelectorAll("input").forEach(function (i) { i.checked = false; }); onChange("");
    });
    span.appendChild(clear);
    return span;
  }
  var root = document.getElementById("items");
  var n = data.items.length;
  data.items.forEach(function (item, idx) {
    var box = el("section"); box.className = "item";
    box.setAttribute("data-sample-id", item.sample_id);
    var h = el("h2", "Edit " + (idx + 1) + " of " + n + " ");
    h.appendChild(el("small", item.sample_id + " · " + item.category));
    var mark = el("span"); mark.className = "mark"; h.appendChild(mark);
    box.appendChild(h);
    var ins = el("p"); ins.className = "instruction";
    ins.appendChild(el("b", "Instruction: ")); ins.appendChild(el("span", item.instruction));
    box.appendChild(ins);
    var imgs = el("div"); imgs.className = "imgs";
    [["before (source)", data.sources[item.source]], ["after (edited)", item.edited]].forEach(function (pair) {
      var fig = el("figure"); var img = document.createElement("img");
      img.src = pair[1]; img.alt = pair[0] + " image of " + item.sample_id;
      fig.appendChild(el("figcaption", pair[0])); fig.appendChild(img); imgs.appendChild(fig);
    });
    box.appendChild(imgs);
    data.perspectives.forEach(function (p) {
      var a = answer(item, p);
      var q = el("div"); q.className = "q";
      var head = el("div"); head.appendChild(el("b", p + ": ")); head.appendChild(el("span", data.questions[p]));
      q.appendChild(head);
      q.appendChild(el("span", "score ")).className = "what";
      q.appendChild(choice("s-" + idx + "-" + p, p + " score", SCORES, a.score, function (v) {
        a.score = v; state.answers[key(item, p)] = a; save();
      }));
      q.appendChild(el("span", "verdict ")).className = "what";
      q.appendChild(choice("v-" + idx + "-" + p, p + " verdict", VERDICTS, a.verdict, function (v) {
        a.verdict = v; state.answers[key(item, p)] = a; save();
      }));
      box.appendChild(q);
    });
    root.appendChild(box);
    boxes.push([item, box, mark]);
  });
  function progress() {
    var total = n * data.perspectives.length, done = 0, lonely = 0;
    boxes.forEach(function (b) {
      var scored = 0;
      data.perspectives.forEach(function (p) {
        var a = answer(b[0], p);
        if (a.score !== "") { scored += 1; } else if (a.verdict !== "") { lonely += 1; }
      });
      done += scored;
      b[2].textContent = scored === data.perspectives.length ? "✓ done" : scored + " / " + data.perspectives.length + " scored";
      b[1].classList.toggle("complete", scored === data.perspectives.length);
    });
    var el2 = document.getElementById("progress");
    el2.textContent = done + " / " + total + " scored" +
      (lonely ? " · " + lonely + " verdict" + (lonely > 1 ? "s" : "") + " without a score (not exported)" : "");
    el2.className = done === total ? "done" : "todo";
    return done;
  }
  function csvCell(v) {
    v = String(v);
    return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
  }
  function toCsv() {
    var who = rater.value.trim();
    var lines = ["sample_id,model,perspective,rater,score,verdict"];
    data.items.forEach(function (item) {
      data.perspectives.forEach(function (p) {
        var a = answer(item, p);
        if (a.score === "") return; // blank: not rated (a verdict alone is not exported)
        lines.push([item.sample_id, data.model, p, who, a.score, a.verdict].map(csvCell).join(","));
      });
    });
    return lines.join("\n") + "\n";
  }
  window.realeditRatingsCsv = toCsv; // for scripted checks
  rater.addEventListener("input", save);
  document.getElementById("export").addEventListener("click", function () {
    if (!rater.value.trim()) { alert("Type your name (rater id) first."); rater.focus(); return; }
    var done = progress();
    if (!done) { alert("Nothing to export yet: give at least one score."); return; }
    var blob = new Blob([toCsv()], {type: "text/csv"});
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "ratings-" + rater.value.trim().replace(/[^A-Za-z0-9_-]+/g, "_") + ".csv";
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
    status.textContent = "exported " + done + " rating" + (done > 1 ? "s" : "") + " to " + a.download +
      " (see your downloads folder)";
  });
  progress();
})();
