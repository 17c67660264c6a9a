// Metric line charts over uPlot: one metric, one or more runs overlaid.
// The server sends each series downsampled to the chart's pixel width (min and max of
// every bucket kept); zooming (drag) asks for the zoomed range at full resolution,
// double-click goes back to the whole history.
"use strict";

(function () {
  const h = GT.h;

  // Debiased exponential moving average, as TensorBoard's smoothing slider.
  GT.smooth = function smooth(ys, weight) {
    if (!weight) return ys;
    const out = new Array(ys.length);
    let last = 0, n = 0;
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (y === null || y === undefined || !isFinite(y)) { out[i] = null; continue; }
      last = last * weight + (1 - weight) * y;
      n++;
      out[i] = last / (1 - Math.pow(weight, n));
    }
    return out;
  };

  function withAlpha(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }

  // Width of a y axis that fits its widest tick label (uPlot calls this while it lays the
  // axes out; after two passes it keeps the last size, as uPlot asks).
  function axisWidth(u, values, axisIdx, cycleNum) {
    const axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    let text = 0;
    if (values && values.length) {
      u.ctx.font = axis.font[0];
      for (const v of values) text = Math.max(text, u.ctx.measureText(String(v)).width / devicePixelRatio);
    }
    return Math.max(40, Math.ceil(text + axis.ticks.size + axis.gap + 4));
  }

  // Fetch one run's series; range is in the server's x units (step, or ms for time).
  async function fetchSeries(runId, key, xMode, width, range) {
    return GT.api("runs/" + encodeURIComponent(runId) + "/series", {
      key, x: xMode === "step" ? "step" : "time", width: Math.max(50, Math.round(width)),
      min: range ? range[0] : null, max: range ? range[1] : null,
    });
  }

  // The metric charts' toolbar (run page and compare): x axis, smoothing and log scale.
  // Changes are written into ``o`` ({xMode, smoothing, log}), then onChange() is called.
  GT.chartControls = function chartControls(o, onChange) {
    const xSel = h("select", { "aria-label": "X axis", onchange: () => { o.xMode = xSel.value; onChange(); } },
      [["step", "Step"], ["wall", "Wall time"], ["relative", "Relative time"]].map(([v, t]) => h("option", { value: v, selected: o.xMode === v }, t)));
    const smooth = h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: o.smoothing, "aria-label": "Smoothing" });
    const smoothVal = h("span", null, String(o.smoothing));
    smooth.addEventListener("change", () => { o.smoothing = parseFloat(smooth.value); smoothVal.textContent = smooth.value; onChange(); });
    const logCb = h("input", { type: "checkbox", checked: o.log, onchange: () => { o.log = logCb.checked; onChange(); } });
    return h("div", { class: "toolbar" }, h("label", null, "X axis ", xSel),
      h("label", null, "Smoothing ", smooth, " ", smoothVal), h("label", null, logCb, " Log scale"));
  };

  // opts: {key, runs: [{id, label}], xMode: step|wall|relative, smoothing, log, height}
  GT.MetricChart = class MetricChart {
    constructor(container, opts) {
      this.opts = Object.assign({ xMode: "step", smoothing: 0, log: false, height: 220 }, opts);
      this.el = h("div", { class: "chart", "data-metric": opts.key, "data-drawn": "0" });
      this.status = h("div", { class: "chart-note muted" });
      this.box = h("div", { class: "chart-box" }, h("div", { class: "chart-title" }, opts.key), this.el, this.status);
      container.appendChild(this.box);
      this.offsets = {}; // relative mode: run id -> first timestamp (ms)
      this.plot = null;
      this.zoomed = false;
      this.loadedRange = null;
      this.load(null);
    }

    width() {
      return Math.max(200, this.el.clientWidth || this.box.clientWidth || 400);
    }

    toServerRange(min, max) {
      const m = this.opts.xMode;
      if (m === "step") return [Math.floor(min), Math.ceil(max)];
      if (m === "wall") return [Math.floor(min * 1000), Math.ceil(max * 1000)];
      return null; // relative: per run, see load()
    }

    async load(range) {
      const { key, runs, xMode } = this.opts;
      const width = this.width();
      // only the newest load draws: a zoom answer arriving after a reset (or a newer zoom)
      // must not overwrite it
      const seq = (this._seq = (this._seq || 0) + 1);
      let results;
      try {
        results = await Promise.all(runs.map((r) => {
          let rr = null;
          if (range) {
            if (xMode === "relative") {
              const off = this.offsets[r.id] || 0;
              rr = [Math.floor(off + range[0] * 1000), Math.ceil(off + range[1] * 1000)];
            } else rr = this.toServerRange(range[0], range[1]);
          }
          return fetchSeries(r.id, key, xMode, width, rr).catch((e) => (e.status === 404 ? null : Promise.reject(e)));
        }));
      } catch (e) {
        if (seq !== this._seq) return;
        GT.clear(this.el).appendChild(GT.errorBox(e));
        return;
      }
      if (seq !== this._seq) return;
      this.last = results;
      this.draw(results, range);
    }

    draw(results, range) {
      const { runs, xMode, smoothing, log } = this.opts;
      const tables = [];
      const series = [{ label: xMode === "step" ? "step" : xMode === "wall" ? "time" : "seconds" }];
      let total = 0, shown = 0, downsampled = false;
      results.forEach((s, i) => {
        if (!s) return;
        if (!range && s.timestamp.length) this.offsets[runs[i].id] = s.timestamp[0];
        const off = this.offsets[runs[i].id] || 0;
        const xs = xMode === "step" ? s.step : xMode === "wall"
          ? s.timestamp.map((t) => t / 1000) : s.timestamp.map((t) => (t - off) / 1000);
        let ys = s.value;
        if (log) ys = ys.map((v) => (v !== null && v > 0 ? v : null));
        total += s.total; shown += s.value.length; downsampled = downsampled || s.downsampled;
        const color = runs[i].color || GT.color(i);
        if (smoothing > 0) {
          tables.push([xs, ys]);
          series.push({ label: runs[i].label + " (raw)", stroke: withAlpha(color, 0.25), width: 1, spanGaps: true, show: true });
          tables.push([xs, GT.smooth(ys, smoothing)]);
          series.push({ label: runs[i].label, stroke: color, width: 1.5, spanGaps: true });
        } else {
          tables.push([xs, ys]);
          series.push({ label: runs[i].label, stroke: color, width: 1.5, spanGaps: true });
        }
      });
      if (!tables.length) {
        GT.clear(this.el).appendChild(h("p", { class: "muted" }, "No points."));
        return;
      }
      const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
      this.status.textContent = downsampled
        ? shown.toLocaleString() + " of " + total.toLocaleString() + " points drawn (min/max per pixel); drag to zoom, double-click to reset"
        : total.toLocaleString() + " points" + (range ? " (zoomed; double-click to reset)" : "");
      const self = this;
      const opts = {
        width: this.width(),
        height: this.opts.height,
        series,
        scales: {
          x: { time: xMode === "wall" },
          y: log ? { distr: 3, log: 10 } : {},
        },
        axes: [
          { label: xMode === "step" ? "step" : xMode === "wall" ? "" : "seconds since start", size: 40 },
          { size: axisWidth, values: (u, splits) => splits.map((v) => (v === null ? "" : GT.fmtTick(v))) },
        ],
        legend: { live: true },
        cursor: { drag: { x: true, y: false, setScale: true } },
        hooks: {
          draw: [() => { self.el.setAttribute("data-drawn", "1"); }],
          // uPlot fires setScale after a commit (a microtask later), so a flag set around
          // our own calls would be stale: tell a user's zoom from our own scale changes by
          // the range instead (the whole data extent, or the range we just loaded).
          setScale: [(u, key) => {
            if (key !== "x") return;
            const { min, max } = u.scales.x;
            if (min === null || max === null || self.isOwnRange(u, min, max)) return;
            self.zoomed = true;
            performance.mark("gt:zoom:start");
            self.reloadZoom([min, max]);
          }],
        },
      };
      if (this.plot && range) {
        // setData(data, false) alone does not repaint: set the zoomed x range again,
        // which rebuilds the paths and fits y to the full-resolution points.
        this.loadedRange = range;
        this.plot.setData(data, false);
        this.plot.setScale("x", { min: range[0], max: range[1] });
        requestAnimationFrame(() => setTimeout(() => performance.mark("gt:zoom:painted"), 0));
        return;
      }
      if (this.plot) this.plot.destroy();
      GT.clear(this.el);
      this.loadedRange = null;
      this.plot = new uPlot(opts, data, this.el);
      this.el.uplot = this.plot; // for tests and the console: the drawn chart
      this.plot.over.addEventListener("dblclick", () => {
        if (self.zoomed) {
          clearTimeout(self._zt); // a zoom fetch still waiting must not run after the reset
          self.zoomed = false; self.plot.destroy(); self.plot = null; self.load(null);
        }
      });
    }

    // True when the x scale [min, max] was set by this chart, not by a drag: the whole
    // extent of the drawn data (uPlot's own fit) or the zoomed range just loaded.
    isOwnRange(u, min, max) {
      const r = this.loadedRange;
      if (r && min === r[0] && max === r[1]) return true;
      const xs = u.data[0];
      return !this.zoomed && (!xs.length || (min <= xs[0] && max >= xs[xs.length - 1]));
    }

    reloadZoom(range) {
      clearTimeout(this._zt);
      this._zt = setTimeout(() => this.load(range), 30); // one fetch for a burst of scale changes
    }

    // New points arrived: fetch the series again (the zoomed range when zoomed).
    refresh() {
      if (this.zoomed && this.plot) {
        const { min, max } = this.plot.scales.x;
        this.load([min, max]);
      } else this.load(null);
    }

    update(opts) {
      Object.assign(this.opts, opts);
      if (this.plot) { this.plot.destroy(); this.plot = null; }
      clearTimeout(this._zt);
      this.zoomed = false;
      this.load(null);
    }

    destroy() {
      if (this.plot) this.plot.destroy();
      this.plot = null;
      this.box.remove();
    }
  };
})();
