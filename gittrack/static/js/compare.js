// Compare runs: values side by side with differences highlighted, the code diff between
// two runs' snapshots, overlaid metric charts (x: step, wall time or relative time;
// smoothing; log scale; hover values), parallel coordinates and a scatter of any two columns.
"use strict";

(function () {
  const h = GT.h;

  function rowValue(row, kind, key) {
    if (kind === "attributes") return row[key];
    return row[kind][key];
  }

  function same(values) {
    const s = values.map((v) => (v === undefined || v === null ? "\u0000" : String(v)));
    return s.every((x) => x === s[0]);
  }

  class CompareView {
    constructor(root, params) {
      this.root = root;
      this.params = params;
      this.ids = (params.get("runs") || "").split(",").filter(Boolean);
      this.charts = [];
      this.opts = {
        xMode: ["step", "wall", "relative"].includes(params.get("x")) ? params.get("x") : "step",
        smoothing: Math.min(0.99, Math.max(0, parseFloat(params.get("smooth") || "0") || 0)),
        log: params.get("log") === "1",
        onlyDiff: params.get("diff") !== "0",
      };
      this.load();
    }

    destroy() { for (const c of this.charts) c.destroy(); }

    saveUrl() {
      const o = this.opts;
      GT.replaceHash(GT.hashFor("/compare", { runs: this.ids, x: o.xMode === "step" ? "" : o.xMode,
        smooth: o.smoothing || "", log: o.log ? "1" : "", diff: o.onlyDiff ? "" : "0" }));
    }

    async load() {
      if (this.ids.length < 1) {
        GT.clear(this.root).appendChild(h("div", { class: "card" }, h("p", null, "Select runs in the ",
          h("a", { href: "#/runs" }, "runs table"), " to compare them.")));
        return;
      }
      try {
        const d = await GT.api("compare", { runs: this.ids.join(",") });
        this.rows = d.rows;
      } catch (e) {
        GT.clear(this.root).appendChild(h("div", { class: "card" }, h("h1", null, "Cannot compare"), GT.errorBox(e)));
        return;
      }
      this.ids = this.rows.map((r) => r.run_id);
      this.render();
    }

    label(i) {
      const r = this.rows[i];
      return (r.run_name || r.run_id.slice(0, 8));
    }

    render() {
      const rows = this.rows;
      this.tableBox = h("div", { class: "table-wrap" });
      this.chartGrid = h("div", { class: "chart-grid" });
      this.codeBox = h("div");
      this.pcBox = h("div", { class: "plot" });
      this.scBox = h("div", { class: "plot" });
      const o = this.opts;
      const onlyDiff = h("input", { type: "checkbox", checked: o.onlyDiff, onchange: () => { o.onlyDiff = onlyDiff.checked; this.renderTable(); this.saveUrl(); } });
      GT.append(GT.clear(this.root), [
        h("h1", null, "Comparing " + rows.length + " runs",
          rows.length === 2 ? h("a", { class: "diff-link", href: GT.hashFor("/diff", { a: rows[0].run_id, b: rows[1].run_id }) }, " · diff these two") : null),
        h("div", { class: "legend" }, rows.map((r, i) => h("a", { href: GT.runUrl(r.run_id), class: "run-chip" },
          h("span", { class: "swatch", style: { background: GT.color(i) } }), this.label(i)))),
        GT.section("Values", h("label", null, onlyDiff, " Only rows that differ"), this.tableBox),
        GT.section("Metrics", GT.chartControls(o, () => this.redrawCharts()), this.chartGrid),
        GT.section("Parallel coordinates", this.pcControls(), this.pcBox),
        GT.section("Scatter", this.scControls(), this.scBox),
        rows.length >= 2 ? GT.section("Code diff", this.codeControls(), this.codeBox) : null,
      ]);
      this.renderTable();
      this.redrawCharts();
      this.drawPC();
      this.drawScatter();
      if (rows.length >= 2) this.loadDiff(0, 1);
      this.saveUrl();
    }

    allKeys(kind) {
      const s = new Set();
      for (const r of this.rows) for (const k of Object.keys(r[kind])) s.add(k);
      return Array.from(s).sort();
    }

    renderTable() {
      const rows = this.rows;
      const groups = [
        ["attributes", ["status", "start_time", "duration", "user_id", "experiment_id", "branch", "commit"]],
        ["params", this.allKeys("params")], ["metrics", this.allKeys("metrics")], ["tags", this.allKeys("tags")],
      ];
      const body = h("tbody");
      let hidden = 0;
      for (const [kind, keys] of groups) {
        if (!keys.length) continue;
        body.appendChild(h("tr", { class: "group" }, h("th", { colspan: rows.length + 1 }, kind)));
        let shown = 0;
        const limit = this.expanded && this.expanded[kind] ? Infinity : 40;
        for (const key of keys) {
          const vals = rows.map((r) => rowValue(r, kind, key));
          const differs = !same(vals);
          if (this.opts.onlyDiff && !differs && kind !== "attributes") { hidden++; continue; }
          if (++shown > limit) continue;
          body.appendChild(h("tr", { class: differs ? "differs" : null, "data-key": kind + "." + key },
            h("th", null, key),
            vals.map((v) => h("td", { class: kind === "metrics" ? "num" : null },
              v === null || v === undefined ? "" : key === "start_time" ? GT.fmtTime(v) : key === "duration" ? GT.fmtDuration(v)
                : key === "status" ? GT.statusBadge(v) : key === "commit" ? h("code", null, String(v).slice(0, 8)) : kind === "metrics" ? GT.fmtNum(v) : String(v)))));
        }
        if (shown > limit) {
          body.appendChild(h("tr", null, h("td", { colspan: rows.length + 1 }, h("button", { type: "button", onclick: () => {
            this.expanded = Object.assign(this.expanded || {}, { [kind]: true }); this.renderTable();
          } }, "Show all " + shown + " " + kind))));
        }
      }
      const head = h("thead", null, h("tr", null, h("th", null, ""), rows.map((r, i) => h("th", null,
        h("span", { class: "swatch", style: { background: GT.color(i) } }), h("a", { href: GT.runUrl(r.run_id) }, this.label(i))))));
      GT.clear(this.tableBox).appendChild(h("table", { class: "runs compare" }, head, body));
      if (hidden) this.tableBox.appendChild(h("p", { class: "muted" }, hidden + " identical rows hidden."));
    }

    redrawCharts() {
      for (const c of this.charts) c.destroy();
      this.charts = [];
      GT.clear(this.chartGrid);
      const keys = this.allKeys("metrics");
      if (!keys.length) { this.chartGrid.appendChild(h("p", { class: "muted" }, "No metrics.")); return; }
      const runs = this.rows.map((r, i) => ({ id: r.run_id, label: this.label(i), color: GT.color(i) }));
      for (const key of keys.slice(0, 50)) {
        this.charts.push(new GT.MetricChart(this.chartGrid, { key, runs, xMode: this.opts.xMode, smoothing: this.opts.smoothing, log: this.opts.log }));
      }
      this.saveUrl();
    }

    numericColumns() {
      const cols = [["attributes", "start_time"], ["attributes", "duration"]];
      for (const k of this.allKeys("metrics")) cols.push(["metrics", k]);
      for (const k of this.allKeys("params")) cols.push(["params", k]);
      return cols;
    }

    pcControls() {
      const metrics = this.allKeys("metrics");
      this.pcMetric = h("select", { "aria-label": "Colour by metric", onchange: () => this.drawPC() },
        metrics.map((k) => h("option", { value: k }, k)));
      return h("div", { class: "toolbar" }, h("label", null, "Metric ", this.pcMetric));
    }

    drawPC() {
      // params that vary, those most runs have first
      const present = (k) => this.rows.filter((r) => r.params[k] !== undefined).length;
      const params = this.allKeys("params").filter((k) => !same(this.rows.map((r) => r.params[k])))
        .sort((a, b) => present(b) - present(a));
      const metric = this.pcMetric.value;
      const dims = params.slice(0, 12).map((k) => ({ label: k, values: this.rows.map((r) => r.params[k]) }));
      const colorBy = this.rows.map((r) => (metric ? r.metrics[metric] : null));
      if (metric) dims.push({ label: metric, values: colorBy });
      GT.parallelCoordinates(this.pcBox, dims, colorBy,
        params.length > 12 ? "First 12 of " + params.length + " differing params shown." : null);
    }

    scControls() {
      const cols = this.numericColumns();
      const opt = (sel) => cols.map(([k, key], i) => h("option", { value: i, selected: i === sel }, k.replace(/s$/, "") + " " + key));
      const ms = cols.findIndex(([k]) => k === "metrics");
      const inAll = (kind, key) => this.rows.every((r) => r[kind][key] !== undefined);
      let ps = cols.findIndex(([k, key]) => k === "params" && inAll(k, key) && !same(this.rows.map((r) => r.params[key])));
      if (ps < 0) ps = cols.findIndex(([k]) => k === "params");
      this.scX = h("select", { "aria-label": "Scatter X", onchange: () => this.drawScatter() }, opt(ps >= 0 ? ps : 0));
      this.scY = h("select", { "aria-label": "Scatter Y", onchange: () => this.drawScatter() }, opt(ms >= 0 ? ms : 1));
      return h("div", { class: "toolbar" }, h("label", null, "X ", this.scX), h("label", null, "Y ", this.scY));
    }

    drawScatter() {
      const cols = this.numericColumns();
      const [kx, x] = cols[parseInt(this.scX.value, 10)] || cols[0];
      const [ky, y] = cols[parseInt(this.scY.value, 10)] || cols[1];
      GT.scatter(this.scBox, kx + "." + x, ky + "." + y, this.rows.map((r, i) => ({
        x: rowValue(r, kx, x), y: rowValue(r, ky, y), label: this.label(i), color: GT.color(i) })));
    }

    codeControls() {
      const opts = (sel) => this.rows.map((r, i) => h("option", { value: i, selected: i === sel }, this.label(i)));
      const a = h("select", { "aria-label": "From run" }, opts(0));
      const b = h("select", { "aria-label": "To run" }, opts(1));
      const go = () => this.loadDiff(parseInt(a.value, 10), parseInt(b.value, 10));
      a.addEventListener("change", go);
      b.addEventListener("change", go);
      return h("div", { class: "toolbar" }, h("label", null, "From ", a), h("label", null, "to ", b));
    }

    async loadDiff(i, j) {
      GT.clear(this.codeBox).appendChild(h("p", { class: "muted" }, "Loading…"));
      try {
        const d = await GT.api("diff", { a: this.rows[i].run_id, b: this.rows[j].run_id });
        GT.clear(this.codeBox).appendChild(GT.renderDiff(d.files, d.truncated));
      } catch (e) { GT.clear(this.codeBox).appendChild(GT.errorBox(e)); }
    }
  }

  GT.CompareView = CompareView;
})();
