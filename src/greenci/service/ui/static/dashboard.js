/* greenci dashboard charts: each [data-chart] element is drawn with uPlot from the JSON block it names.
   No inline script (the Content-Security-Policy allows this origin's files only); charts are kept in
   window.greenciCharts by element id so that the browser tests can check what was drawn. */
(function () {
  "use strict";
  var PALETTE = ["#2b6cb0", "#c05621", "#2f855a", "#805ad5", "#d53f8c", "#b7791f", "#319795", "#e53e3e",
                 "#4c51bf", "#38a169", "#975a16", "#00a3c4"];
  var charts = {};
  window.greenciCharts = charts;

  function color(i) { return PALETTE[i % PALETTE.length]; }
  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }
  function size(el) {
    var w = Math.max(240, Math.floor(el.clientWidth));
    return { width: w, height: w < 600 ? 230 : 300 };
  }
  function grams(v) {
    if (v == null) { return "-"; }
    var a = Math.abs(v);
    return a < 1000 ? v.toFixed(1) + " g" : a < 1e6 ? (v / 1000).toFixed(2) + " kg" : (v / 1e6).toFixed(2) + " t";
  }
  function iso(ts) { return new Date(ts * 1e3).toISOString().slice(0, 16).replace("T", " "); }
  function xScale(xs) {
    // uPlot pads a single instant by 86400/ms (1,000 days for seconds): an instant, or under an hour of
    // them, gets half an hour either side instead
    var lo = Math.min.apply(null, xs), hi = Math.max.apply(null, xs);
    var scale = { time: true };
    if (xs.length && hi - lo < 3600) { scale.range = function () { return [lo - 1800, hi + 1800]; }; }
    return scale;
  }
  function timeLabels(u, splits) {
    var span = u.scales.x.max - u.scales.x.min;
    return splits.map(function (ts) {
      var t = iso(ts);  // "YYYY-MM-DD HH:MM" in UTC
      return span > 3 * 86400 ? t.slice(5, 10) : t.slice(11) + "\n" + t.slice(5, 10);
    });
  }
  function fromZero(u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.08 : 1]; }
  function base(el, xs, series, yLabel, yFormat) {
    var s = size(el);
    return {
      width: s.width, height: s.height,
      scales: { x: xScale(xs) },
      series: [{ label: "time (UTC)", value: function (u, v) { return v == null ? "-" : iso(v); } }].concat(series),
      axes: [{ values: timeLabels, size: 50 },
             { label: yLabel, size: 60, values: yFormat ? function (u, vals) { return vals.map(yFormat); } : undefined }],
      legend: { live: true }
    };
  }

  var builders = {
    forecast: function (el, d) {
      var series = d.regions.map(function (r, i) {
        return { label: r + (d.synthetic ? " (synthetic)" : ""), stroke: color(i), width: 2,
                 paths: uPlot.paths.stepped({ align: 1 }), value: function (u, v) { return v == null ? "-" : v.toFixed(0); } };
      });
      var opts = base(el, d.x, series, d.unit);
      opts.hooks = { drawClear: [function (u) {
        var ctx = u.ctx, b = u.bbox;
        ctx.save();
        ctx.beginPath(); ctx.rect(b.left, b.top, b.width, b.height); ctx.clip();
        d.windows.forEach(function (w) {
          var c = color(Math.max(0, d.regions.indexOf(w.region)));
          var x0 = u.valToPos(w.start, "x", true), x1 = u.valToPos(w.end, "x", true);
          ctx.fillStyle = alpha(c, 0.16);
          ctx.fillRect(x0, b.top, Math.max(x1 - x0, 3), b.height);
          ctx.fillStyle = alpha(c, 0.9);
          ctx.fillRect(x0, b.top, Math.max(2, uPlot.pxRatio * 2), b.height);
        });
        ctx.restore();
      }] };
      return { opts: opts, data: [d.x].concat(d.y) };
    },
    decisions: function (el, d) {
      var total = d.now.map(function (v, i) { return v + d.shifted[i]; });
      var bars = uPlot.paths.bars({ size: [0.8, 40] });
      var narrow = uPlot.paths.bars({ size: [0.45, 22] });
      var opts = base(el, d.x, [
        { label: "all decisions", stroke: "#4a5568", fill: alpha("#4a5568", 0.35), paths: bars, points: { show: false } },
        { label: "shifted later", stroke: "#2f855a", fill: alpha("#2f855a", 0.85), paths: narrow, points: { show: false } }
      ], "decisions");
      opts.scales.y = { range: fromZero };
      return { opts: opts, data: [d.x, total, d.shifted] };
    },
    saving: function (el, d) {
      var names = Object.keys(d.classes);
      var series = [{ label: "all classes", stroke: "#2f855a", width: 3, fill: alpha("#2f855a", 0.08),
                      value: function (u, v) { return grams(v); } }].concat(names.map(function (c, i) {
        return { label: c, stroke: color(i), width: 1.5, dash: [6, 4], value: function (u, v) { return grams(v); } };
      }));
      var opts = base(el, d.x, series, "gCO2eq", function (v) { return grams(v); });
      opts.axes[1].size = 72;
      opts.scales.y = { range: fromZero };
      return { opts: opts, data: [d.x, d.total].concat(names.map(function (c) { return d.classes[c]; })) };
    },
    completed: function (el, d) {
      var none = function () { return null; };
      var opts = base(el, d.x, [
        { label: "predicted", stroke: "#2b6cb0", fill: "#2b6cb0", paths: none, points: { show: true, size: 9, fill: "#2b6cb0" },
          value: function (u, v) { return grams(v); } },
        { label: "actual", stroke: "#c05621", fill: "#c05621", paths: none, points: { show: true, size: 9, fill: "#c05621" },
          value: function (u, v) { return grams(v); } }
      ], "gCO2eq", function (v) { return grams(v); });
      opts.axes[1].size = 72;
      return { opts: opts, data: [d.x, d.predicted, d.actual] };
    }
  };

  function mount(el) {
    var build = builders[el.getAttribute("data-chart")];
    var source = document.getElementById(el.getAttribute("data-source"));
    if (!build || !source) { return; }
    var made = build(el, JSON.parse(source.textContent));
    var u = new uPlot(made.opts, made.data, el);
    charts[el.id] = u;
    if (window.ResizeObserver) {
      var last = el.clientWidth;
      new ResizeObserver(function () {
        if (Math.abs(el.clientWidth - last) < 2) { return; }
        last = el.clientWidth;
        u.setSize(size(el));
      }).observe(el);
    }
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), mount);
})();
