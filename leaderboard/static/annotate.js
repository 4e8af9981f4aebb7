"use strict";
// Annotation page of `realedit agree --template`: renders the embedded items, keeps answers in
// localStorage and exports the long ratings CSV. Built with DOM calls only (no innerHTML): every string
// comes from a run and is treated as text.
(function () {
  var data = JSON.parse(document.getElementById("data").textContent);
  var storeKey = "realedit-annotate-" + document.body.getAttribute("data-page-id");
  var state = {};
  try { state = JSON.parse(localStorage.getItem(storeKey) || "{}"); } catch (e) { state = {}; }
  state.answers = state.answers || {};
  var rater = document.getElementById("rater");
  rater.value = state.rater || "";
  function save() {
    state.rater = rater.value.trim();
    try { localStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) { /* private mode: no saving */ }
    progress();
  }
  function key(item, p) { return item.sample_id + "\u0000" + p; }
  function el(tag, text) { var e = document.createElement(tag); if (text !== undefined) e.textContent = text; return e; }
  function choice(name, values, current, onChange) {
    var span = el("span");
    values.forEach(function (v) {
      var lab = el("label"); var inp = document.createElement("input");
      inp.type = "radio"; inp.name = name; inp.value = v; inp.checked = current === v;
      inp.addEventListener("change", function () { onChange(v); });
      lab.appendChild(inp); lab.appendChild(document.createTextNode(" " + v)); span.appendChild(lab);
    });
    var clear = el("button", "clear"); clear.type = "button";
    clear.addEventListener("click", function () {
      span.querySelectorAll("input").forEach(function (i) { i.checked = false; }); onChange("");
    });
    span.appendChild(clear);
    return span;
  }
  var root = document.getElementById("items");
  data.items.forEach(function (item, idx) {
    var box = el("div"); box.className = "item";
    box.appendChild(el("h3", (idx + 1) + ". " + item.sample_id + " (" + item.category + ")"));
    box.appendChild(el("p", "Instruction: " + item.instruction));
    var imgs = el("div"); imgs.className = "imgs";
    [["source", data.sources[item.source]], ["edited", item.edited]].forEach(function (pair) {
      var fig = el("figure"); var img = document.createElement("img");
      img.src = pair[1]; img.alt = pair[0] + " image of " + item.sample_id;
      fig.appendChild(img); fig.appendChild(el("figcaption", pair[0])); imgs.appendChild(fig);
    });
    box.appendChild(imgs);
    data.perspectives.forEach(function (p) {
      var a = state.answers[key(item, p)] || {score: "", verdict: ""};
      var q = el("div"); q.className = "q";
      q.appendChild(el("b", p + ": ")); q.appendChild(el("span", data.questions[p] + " "));
      q.appendChild(el("br"));
      q.appendChild(document.createTextNode("score "));
      q.appendChild(choice("s-" + idx + "-" + p, ["0", "1", "2", "3", "4", "5"], a.score, function (v) {
        a.score = v; state.answers[key(item, p)] = a; save();
      }));
      q.appendChild(document.createTextNode(" · verdict "));
      q.appendChild(choice("v-" + idx + "-" + p, ["yes", "no"], a.verdict, function (v) {
        a.verdict = v; state.answers[key(item, p)] = a; save();
      }));
      box.appendChild(q);
    });
    root.appendChild(box);
  });
  function progress() {
    var total = data.items.length * data.perspectives.length, done = 0;
    Object.keys(state.answers).forEach(function (k) { if (state.answers[k].score !== "") done += 1; });
    var p = document.getElementById("progress");
    p.textContent = done + " / " + total + " scored";
    p.className = done === total ? "done" : "todo";
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
        var a = state.answers[key(item, p)];
        if (!a || a.score === "") return; // blank: not rated (a verdict alone is not exported)
        lines.push([item.sample_id, data.model, p, who, a.score, a.verdict].map(csvCell).join(","));
      });
    });
    return lines.join("\n") + "\n";
  }
  window.realeditRatingsCsv = toCsv; // for scripted checks
  rater.addEventListener("input", save);
  document.getElementById("export").addEventListener("click", function () {
    if (!rater.value.trim()) { alert("Type your name (rater id) first."); rater.focus(); return; }
    var blob = new Blob([toCsv()], {type: "text/csv"});
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "ratings-" + rater.value.trim().replace(/[^A-Za-z0-9_-]+/g, "_") + ".csv";
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
  });
  progress();
})();
