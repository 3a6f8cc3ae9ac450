/* layerwise report charts: SVG line charts with hover values, drag-to-zoom (double-click resets),
   run and layer toggles and a log scale. Data: the JSON in #lw-data (report/interactive.py).
   Written for layerwise; no external library, works offline. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var W = 760, H = 300, M = {l: 62, r: 16, t: 12, b: 36};
  var RUN_DASH = ["", "6 3", "2 3", "10 3 2 3", "1 5", "8 6"];
  var RUN_COLORS = ["#1f5fa8", "#d1495b", "#2e8b57", "#edae49", "#6a4c93", "#00798c", "#8d6a9f",
                    "#5c5c5c", "#b5651d", "#3d5a80"];

  function el(tag, attrs, parent) {
    var node = document.createElementNS(NS, tag);
    for (var k in attrs) { node.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function html(tag, cls, text, parent) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function depthColor(i, n) {  /* shallow layers blue, deep layers orange */
    var t = n > 1 ? i / (n - 1) : 0;
    var hue = 220 - 190 * t;
    return "hsl(" + hue.toFixed(0) + ",70%," + (38 + 10 * Math.sin(Math.PI * t)).toFixed(0) + "%)";
  }

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) { return "NaN"; }
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) { return v.toExponential(3); }
    return Number(v.toPrecision(4)).toString();
  }

  function ticks(lo, hi, n) {
    var span = hi - lo || Math.abs(hi) || 1;
    var step = Math.pow(10, Math.floor(Math.log10(span / n)));
    var err = span / n / step;
    step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-12 * span; v += step) { out.push(v); }
    return out;
  }

  /* One chart: spec = {title, ylabel, series: [{key, run, layer, label, color, dash, x, y}],
     runs: [...], layers: [...] (may be empty)}. */
  function Chart(root, spec) {
    this.root = root; this.spec = spec;
    this.hiddenRuns = {}; this.hiddenLayers = {}; this.log = false; this.xrange = null;
    this.build();
    this.draw();
  }

  Chart.prototype.build = function () {
    var self = this, spec = this.spec;
    var bar = html("div", "lw-chart-controls", undefined, this.root);
    if (spec.runs.length > 1) {
      html("span", "lw-chart-label", "runs:", bar);
      spec.runs.forEach(function (run, i) {
        var chip = html("button", "lw-chip", run, bar);
        chip.type = "button";
        chip.dataset.run = run;
        chip.style.borderColor = RUN_COLORS[i % RUN_COLORS.length];
        chip.title = "show or hide this run";
        chip.onclick = function () { self.toggle(self.hiddenRuns, run, chip); };
      });
    }
    if (spec.layers.length > 1) {
      var box = html("span", "lw-chart-layers", undefined, bar);
      html("span", "lw-chart-label", "layers:", box);
      spec.layers.forEach(function (layer, i) {
        var chip = html("button", "lw-chip", layer, box);
        chip.type = "button";
        chip.dataset.layer = layer;
        chip.style.borderColor = depthColor(i, spec.layers.length);
        chip.title = "click: show or hide; double-click: this layer only";
        chip.onclick = function () { self.toggle(self.hiddenLayers, layer, chip); };
        chip.ondblclick = function () { self.only(layer); };
      });
      var all = html("button", "lw-chip lw-chip-all", "all", box);
      all.type = "button";
      all.onclick = function () { self.only(null); };
    }
    var logLabel = html("label", "lw-chart-log", undefined, bar);
    var check = html("input", "", undefined, logLabel);
    check.type = "checkbox";
    logLabel.appendChild(document.createTextNode(" log scale"));
    check.onchange = function () { self.log = check.checked; self.draw(); };
    this.svg = el("svg", {viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
                          "aria-label": spec.title}, this.root);
    this.tip = html("div", "lw-tip", undefined, this.root);
    this.tip.hidden = true;
    this.svg.addEventListener("mousemove", function (e) { self.hover(e); });
    this.svg.addEventListener("mouseleave", function () { self.tip.hidden = true; self.cross(null); });
    this.svg.addEventListener("mousedown", function (e) { self.dragStart(e); });
    this.svg.addEventListener("mouseup", function (e) { self.dragEnd(e); });
    this.svg.addEventListener("dblclick", function () { self.xrange = null; self.draw(); });
  };

  Chart.prototype.toggle = function (hidden, key, chip) {
    hidden[key] = !hidden[key];
    chip.classList.toggle("lw-off", hidden[key]);
    this.draw();
  };

  Chart.prototype.only = function (layer) {
    var self = this;
    this.spec.layers.forEach(function (l) { self.hiddenLayers[l] = layer !== null && l !== layer; });
    this.root.querySelectorAll("button[data-layer]").forEach(function (chip) {
      chip.classList.toggle("lw-off", !!self.hiddenLayers[chip.dataset.layer]);
    });
    this.draw();
  };

  Chart.prototype.visible = function () {
    var self = this;
    return this.spec.series.filter(function (s) {
      return !self.hiddenRuns[s.run] && !(s.layer && self.hiddenLayers[s.layer]);
    });
  };

  Chart.prototype.bounds = function (series) {
    var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity, log = this.log, xr = this.xrange;
    series.forEach(function (s) {
      for (var i = 0; i < s.x.length; i++) {
        var x = s.x[i], y = s.y[i];
        if (y === null || (log && y <= 0)) { continue; }
        if (xr && (x < xr[0] || x > xr[1])) { continue; }
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    });
    if (!isFinite(x0)) { return null; }
    if (xr) { x0 = xr[0]; x1 = xr[1]; }
    if (log) { y0 = Math.log10(y0); y1 = Math.log10(y1); }
    if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
    if (x0 === x1) { x0 -= 0.5; x1 += 0.5; }
    var pad = (y1 - y0) * 0.05;
    return {x0: x0, x1: x1, y0: y0 - pad, y1: y1 + pad};
  };

  Chart.prototype.draw = function () {
    while (this.svg.firstChild) { this.svg.removeChild(this.svg.firstChild); }
    var series = this.visible(), b = this.bounds(series), self = this;
    this.b = b;
    if (!b) {
      el("text", {x: W / 2, y: H / 2, "text-anchor": "middle", class: "lw-empty"}, this.svg)
        .textContent = "nothing to show (every value hidden, NaN, or not positive on a log scale)";
      this.root.dataset.drawn = "0";
      return;
    }
    var sx = function (x) { return M.l + (x - b.x0) / (b.x1 - b.x0) * (W - M.l - M.r); };
    var sy = function (y) { return H - M.b - (y - b.y0) / (b.y1 - b.y0) * (H - M.t - M.b); };
    this.sx = sx;
    var axes = el("g", {class: "lw-axes"}, this.svg);
    ticks(b.y0, b.y1, 5).forEach(function (t) {
      el("line", {x1: M.l, x2: W - M.r, y1: sy(t), y2: sy(t), class: "lw-grid"}, axes);
      el("text", {x: M.l - 6, y: sy(t) + 4, "text-anchor": "end"}, axes)
        .textContent = self.log ? fmt(Math.pow(10, t)) : fmt(t);
    });
    ticks(b.x0, b.x1, 7).forEach(function (t) {
      el("text", {x: sx(t), y: H - M.b + 16, "text-anchor": "middle"}, axes).textContent = fmt(Math.round(t));
    });
    el("text", {x: (W + M.l) / 2, y: H - 4, "text-anchor": "middle"}, axes).textContent = "step";
    el("rect", {x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b, class: "lw-frame"}, axes);
    var clip = "lw-clip-" + this.root.id;
    var defs = el("defs", {}, this.svg);
    var cp = el("clipPath", {id: clip}, defs);
    el("rect", {x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b}, cp);
    var lines = el("g", {"clip-path": "url(#" + clip + ")"}, this.svg);
    var drawn = 0;
    series.forEach(function (s) {
      var d = "", pen = false;
      for (var i = 0; i < s.x.length; i++) {
        var y = s.y[i];
        if (y === null || (self.log && y <= 0)) { pen = false; continue; }
        var py = self.log ? Math.log10(y) : y;
        d += (pen ? "L" : "M") + sx(s.x[i]).toFixed(1) + " " + sy(py).toFixed(1);
        pen = true;
      }
      if (d) {
        el("path", {d: d, stroke: s.color, "stroke-dasharray": s.dash, class: "lw-line",
                    "data-series": s.label}, lines);
        drawn += 1;
      }
    });
    this.crossLine = el("line", {y1: M.t, y2: H - M.b, class: "lw-cross", visibility: "hidden"}, this.svg);
    this.band = el("rect", {y: M.t, height: H - M.t - M.b, class: "lw-band", visibility: "hidden"}, this.svg);
    this.root.dataset.drawn = String(drawn);
  };

  Chart.prototype.stepAt = function (e) {
    var box = this.svg.getBoundingClientRect();
    var px = (e.clientX - box.left) * W / box.width;
    var b = this.b;
    return b ? b.x0 + (px - M.l) / (W - M.l - M.r) * (b.x1 - b.x0) : null;
  };

  Chart.prototype.cross = function (x) {
    if (!this.crossLine) { return; }
    if (x === null) { this.crossLine.setAttribute("visibility", "hidden"); return; }
    this.crossLine.setAttribute("x1", this.sx(x));
    this.crossLine.setAttribute("x2", this.sx(x));
    this.crossLine.setAttribute("visibility", "visible");
  };

  Chart.prototype.hover = function (e) {
    var x = this.stepAt(e);
    if (x === null) { return; }
    if (this.dragFrom !== undefined && this.dragFrom !== null) {
      var a = Math.min(this.dragFrom, x), b = Math.max(this.dragFrom, x);
      this.band.setAttribute("x", this.sx(a));
      this.band.setAttribute("width", Math.max(0, this.sx(b) - this.sx(a)));
      this.band.setAttribute("visibility", "visible");
    }
    var rows = [], near = null;
    this.visible().forEach(function (s) {
      var best = -1, dist = Infinity;
      for (var i = 0; i < s.x.length; i++) {
        var d = Math.abs(s.x[i] - x);
        if (d < dist) { dist = d; best = i; }
      }
      if (best >= 0) {
        near = near === null ? s.x[best] : near;
        rows.push([s.label, s.y[best], s.color]);
      }
    });
    if (near === null) { return; }
    this.cross(near);
    rows.sort(function (p, q) { return (q[1] === null ? -Infinity : q[1]) - (p[1] === null ? -Infinity : p[1]); });
    var tip = this.tip;
    tip.textContent = "";
    html("div", "lw-tip-head", "step " + near, tip);
    rows.slice(0, 14).forEach(function (r) {
      var line = html("div", "", undefined, tip);
      var mark = html("span", "lw-tip-mark", "\u25A0 ", line);
      mark.style.color = r[2];
      line.appendChild(document.createTextNode(r[0] + ": " + fmt(r[1])));
    });
    if (rows.length > 14) { html("div", "lw-note", "+" + (rows.length - 14) + " more", tip); }
    tip.hidden = false;
  };

  Chart.prototype.dragStart = function (e) { this.dragFrom = this.stepAt(e); e.preventDefault(); };

  Chart.prototype.dragEnd = function (e) {
    var a = this.dragFrom, b = this.stepAt(e);
    this.dragFrom = null;
    if (this.band) { this.band.setAttribute("visibility", "hidden"); }
    if (a === null || b === null || a === undefined) { return; }
    if (Math.abs(this.sx(b) - this.sx(a)) > 6) { this.xrange = [Math.min(a, b), Math.max(a, b)]; this.draw(); }
  };

  function scalarSpec(name, series, runs) {
    return {title: name, runs: runs, layers: [], series: series.map(function (s) {
      var i = runs.indexOf(s.run);
      return {run: s.run, layer: "", label: s.run, color: RUN_COLORS[i % RUN_COLORS.length],
              dash: "", x: s.x, y: s.y};
    })};
  }

  function layerSpec(metric, block, runs) {
    var n = block.layers.length;
    return {title: metric, runs: runs, layers: block.layers, series: block.series.map(function (s) {
      var r = runs.indexOf(s.run), l = block.layers.indexOf(s.layer);
      return {run: s.run, layer: s.layer, label: (runs.length > 1 ? s.run + " / " : "") + s.layer,
              color: depthColor(l, n), dash: RUN_DASH[r % RUN_DASH.length], x: s.x, y: s.y};
    })};
  }

  function start() {
    var source = document.getElementById("lw-data");
    if (!source) { return; }
    var data = JSON.parse(source.textContent), charts = 0, drawn = 0;
    document.querySelectorAll("[data-lw-chart]").forEach(function (root) {
      var kind = root.dataset.lwChart, name = root.dataset.name, spec = null;
      if (kind === "scalar" && data.scalars[name]) { spec = scalarSpec(name, data.scalars[name], data.runs); }
      if (kind === "layers" && data.layers[name]) { spec = layerSpec(name, data.layers[name], data.runs); }
      if (!spec) { return; }
      charts += 1;
      new Chart(root, spec);
      if (Number(root.dataset.drawn) > 0) { drawn += 1; }
    });
    document.body.dataset.chartsOk = drawn + "/" + charts;
    if (window.location.hash === "#lw-selftest") { document.body.dataset.selftest = selfTest(); }
  }

  /* Exercised by the tests in headless Chromium: toggling a run hides its lines, hovering shows
     values, dragging zooms and double-clicking resets. Returns "ok" or what failed. */
  function selfTest() {
    var root = document.querySelector("[data-lw-chart]");
    var chip = root && root.querySelector("button[data-run]");
    if (!chip) { return "fail: no chart with run toggles"; }
    var svg = root.querySelector("svg"), lines = function () { return root.querySelectorAll(".lw-line").length; };
    var before = lines();
    chip.click();
    var hidden = lines();
    chip.click();
    if (!(hidden < before && lines() === before)) { return "fail: toggle " + before + "/" + hidden + "/" + lines(); }
    var box = svg.getBoundingClientRect(), y = box.top + box.height / 2;
    var at = function (f) { return box.left + box.width * f; };
    svg.dispatchEvent(new MouseEvent("mousemove", {clientX: at(0.5), clientY: y}));
    var tip = root.querySelector(".lw-tip");
    if (tip.hidden || tip.textContent.indexOf("step") < 0) { return "fail: hover shows no values"; }
    var path = root.querySelector(".lw-line").getAttribute("d");
    svg.dispatchEvent(new MouseEvent("mousedown", {clientX: at(0.3), clientY: y}));
    svg.dispatchEvent(new MouseEvent("mouseup", {clientX: at(0.7), clientY: y}));
    var zoomed = root.querySelector(".lw-line").getAttribute("d");
    svg.dispatchEvent(new MouseEvent("dblclick", {clientX: at(0.5), clientY: y}));
    var reset = root.querySelector(".lw-line").getAttribute("d");
    if (zoomed === path || reset !== path) { return "fail: zoom or reset did not redraw"; }
    return "ok";
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
