// The run page: attributes, source (with the uncommitted diff), environment, params,
// tags, note (safe Markdown), one chart per metric, and the artifacts browser.
// While the run is RUNNING the page refreshes itself every few seconds.
"use strict";

(function () {
  const h = GT.h;
  const REFRESH_MS = 3000;

  function filterableTable(obj, what) {
    const keys = Object.keys(obj).sort();
    const body = h("tbody");
    const input = h("input", { type: "search", placeholder: "Find " + what + "…", oninput: () => fill() });
    const count = h("span", { class: "muted" });
    const fill = () => {
      const q = input.value.trim().toLowerCase();
      const hits = keys.filter((k) => !q || k.toLowerCase().includes(q) || String(obj[k]).toLowerCase().includes(q));
      GT.clear(body);
      for (const k of hits.slice(0, 500)) body.appendChild(h("tr", null, h("th", null, k), h("td", null, String(obj[k]))));
      count.textContent = hits.length > 500 ? " showing 500 of " + hits.length : " " + hits.length + " " + what;
    };
    fill();
    if (!keys.length) return h("p", { class: "muted" }, "No " + what + ".");
    return h("div", null, keys.length > 10 ? h("div", { class: "row" }, input, count) : null, h("table", { class: "kv" }, body));
  }

  class RunView {
    constructor(root, runId, params) {
      this.root = root;
      this.runId = runId;
      this.params = params;
      this.charts = {};
      this.timer = null;
      this.commit = null;
      // a hidden tab stops polling; showing it again brings the page up to date
      this.onVisible = () => { if (!document.hidden && this.run && this.run.status === "RUNNING") this.refresh(); };
      document.addEventListener("visibilitychange", this.onVisible);
      this.load();
    }

    destroy() {
      clearTimeout(this.timer);
      document.removeEventListener("visibilitychange", this.onVisible);
      for (const c of Object.values(this.charts)) c.destroy();
    }

    async load() {
      let run;
      try {
        run = await GT.api("runs/" + encodeURIComponent(this.runId));
      } catch (e) {
        GT.clear(this.root).appendChild(h("div", { class: "card" }, h("h1", null, "Run not found"), GT.errorBox(e),
          h("p", null, h("a", { href: "#/runs" }, "Back to all runs"))));
        return;
      }
      this.run = run;
      this.commit = run.commit;
      this.render(run);
      this.scheduleRefresh();
    }

    scheduleRefresh() {
      clearTimeout(this.timer);
      if (this.run.status !== "RUNNING" || document.hidden) return;
      this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
    }

    async refresh() {
      clearTimeout(this.timer);
      if (!document.body.contains(this.root) || GT.currentView !== this || document.hidden) return;
      try {
        const run = await GT.api("runs/" + encodeURIComponent(this.runId));
        if (run.commit !== this.commit) {
          this.commit = run.commit;
          this.run = run;
          this.renderHeader(run);
          GT.clear(this.paramsBox).appendChild(filterableTable(run.params, "params"));
          GT.clear(this.tagsBox).appendChild(filterableTable(run.tags, "tags"));
          if (this.metricsDone) this.updateMetrics(run);
        }
        this.run = run;
        this.renderHeader(run);
      } catch (e) { /* keep the page; try again */ }
      this.scheduleRefresh();
    }

    renderHeader(run) {
      const src = run.source || {};
      const r = run.run || {};
      GT.clear(this.header);
      GT.append(this.header, [
        h("h1", null, run.run_name || run.run_id, " ", GT.statusBadge(run.status),
          run.status === "RUNNING" ? h("span", { class: "live muted" }, " live") : null),
        GT.kvTable([
          ["Run id", h("code", null, run.run_id)],
          ["Experiment", run.experiment_name + " (" + run.experiment_id + ")"],
          ["Started", GT.fmtTime(run.start_time)],
          ["Ended", GT.fmtTime(run.end_time)],
          ["Duration", run.duration !== null ? GT.fmtDuration(run.duration) : run.status === "RUNNING" ? "running" : ""],
          ["User", run.user_id + (r.host ? " on " + r.host : "")],
          ["Command", r.command ? h("code", null, String(r.command)) : ""],
          ["Source", src.commit ? [h("code", null, src.commit.slice(0, 12)),
            src.branch ? " on " + src.branch : "", src.dirty ? h("span", { class: "dirty", title: "The run used uncommitted changes (see Code)" }, " + uncommitted changes") : ""] : "not recorded"],
          ["Branches", (run.branches || []).join(", ")],
          ["Parent run", r.parent_run_id ? h("a", { href: GT.runUrl(r.parent_run_id) }, r.parent_run_id) : ""],
          ["Rerun of", run.tags["gittrack.rerunOf"] ? h("a", { href: GT.runUrl(run.tags["gittrack.rerunOf"]), class: "rerun-of" }, run.tags["gittrack.rerunOf"]) : ""],
          ["Reruns", (run.reruns || []).length ? h("span", { class: "reruns" }, (run.reruns || []).map((x, i) => [i ? ", " : "",
            h("a", { href: GT.runUrl(x.run_id) }, x.run_name || x.run_id.slice(0, 8)), " ", GT.statusBadge(x.status)])) : ""],
          ["Model versions", GT.runModelVersions(run.model_versions)],
          ["Run commit", h("code", null, run.commit)],
          ["Artifact URI", r.artifact_uri || ""],
        ]),
      ]);
    }

    render(run) {
      this.header = h("div", { class: "card run-header" });
      this.metricsBox = h("div", { class: "charts" });
      this.paramsBox = h("div", { id: "params" });
      this.tagsBox = h("div", { id: "tags" });
      this.codeBox = h("div", null, h("p", { class: "muted" }, "Loading…"));
      this.envBox = h("div", null, h("p", { class: "muted" }, "Loading…"));
      this.artBox = h("div", { class: "artifacts" });
      const tabs = [["metrics", "Metrics"], ["params", "Params & tags"], ["code", "Code"], ["env", "Environment"], ["artifacts", "Artifacts"]];
      this.tabBar = h("nav", { class: "tabs" });
      this.panes = {
        metrics: h("div", null, this.metricsBox),
        params: h("div", { class: "two" }, GT.section("Params", this.paramsBox), GT.section("Tags", this.tagsBox)),
        code: this.codeBox, env: this.envBox, artifacts: this.artBox,
      };
      for (const [id, label] of tabs) {
        this.tabBar.appendChild(h("a", { href: "#", "data-tab": id, onclick: (e) => { e.preventDefault(); this.showTab(id); } }, label));
      }
      GT.append(GT.clear(this.root), [
        this.header,
        run.note ? GT.section("Note", GT.renderMarkdown(run.note)) : null,
        this.tabBar,
        h("div", { class: "pane" }, Object.values(this.panes)),
      ]);
      this.renderHeader(run);
      this.paramsBox.appendChild(filterableTable(run.params, "params"));
      this.tagsBox.appendChild(filterableTable(run.tags, "tags"));
      this.showTab(this.params.get("tab") || "metrics");
    }

    showTab(id) {
      if (!this.panes[id]) id = "metrics";
      for (const [k, el] of Object.entries(this.panes)) el.hidden = k !== id;
      for (const a of this.tabBar.children) a.classList.toggle("active", a.dataset.tab === id);
      GT.replaceHash(GT.hashFor("/run/" + this.runId, { tab: id === "metrics" ? "" : id, art: this.params.get("art") }));
      if (id === "metrics" && !this.metricsDone) { this.metricsDone = true; this.renderMetrics(this.run); }
      if (id === "code" && !this.codeDone) { this.codeDone = true; this.loadCode(); }
      if (id === "env" && !this.envDone) { this.envDone = true; this.loadEnv(); }
      if (id === "artifacts" && !this.artDone) { this.artDone = true; this.openArtifacts(this.params.get("art") || ""); }
    }

    // New points of a live run: the summary is rebuilt and each chart fetches its series
    // again (a zoomed chart keeps its range); new metrics get their charts.
    updateMetrics(run) {
      const keys = Object.keys(run.metrics).sort();
      const have = Object.keys(this.charts).sort();
      if (!this.summary || keys.length > 100 || keys.join("\n") !== have.join("\n")) { this.renderMetrics(run); return; }
      const fresh = this.summaryTable(run, keys);
      this.summary.replaceWith(fresh);
      this.summary = fresh;
      for (const c of Object.values(this.charts)) c.refresh();
    }

    summaryTable(run, keys) {
      return h("table", { class: "kv metrics-summary" }, h("thead", null, h("tr", null,
        ["Metric", "Last", "Step", "Min", "Max", "Points"].map((t) => h("th", null, t)))),
      h("tbody", null, keys.map((k) => {
        const m = run.metrics[k];
        return h("tr", { "data-metric": k }, h("th", null, k), h("td", null, GT.fmtNum(m.value)), h("td", null, m.step),
          h("td", null, GT.fmtNum(m.min)), h("td", null, GT.fmtNum(m.max)), h("td", null, m.count));
      })));
    }

    renderMetrics(run) {
      const keys = Object.keys(run.metrics).sort();
      if (!keys.length) {
        GT.clear(this.metricsBox).appendChild(h("p", { class: "muted" }, "No metrics logged."));
        return;
      }
      const summary = (this.summary = this.summaryTable(run, keys));
      for (const c of Object.values(this.charts)) c.destroy();
      this.charts = {};
      const grid = h("div", { class: "chart-grid" });
      const o = this.chartOpts = this.chartOpts || { xMode: "step", smoothing: 0, log: false };
      const controls = GT.chartControls(o, () => {
        for (const c of Object.values(this.charts)) c.update({ xMode: o.xMode, smoothing: o.smoothing, log: o.log });
      });
      GT.append(GT.clear(this.metricsBox), [summary, controls, grid]);
      for (const k of keys.slice(0, 100)) {
        this.charts[k] = new GT.MetricChart(grid, { key: k, runs: [{ id: run.run_id, label: k }],
          xMode: o.xMode, smoothing: o.smoothing, log: o.log });
      }
      if (keys.length > 100) this.metricsBox.appendChild(h("p", { class: "muted" }, "Charts for the first 100 metrics shown."));
    }

    async loadCode() {
      try {
        const d = await GT.api("runs/" + encodeURIComponent(this.runId) + "/diff");
        const src = this.run.source || {};
        GT.append(GT.clear(this.codeBox), [
          GT.section("Uncommitted changes",
            h("p", { class: "muted" }, d.source_commit
              ? ["Difference between source commit ", h("code", null, d.source_commit.slice(0, 12)), src.branch ? " (" + src.branch + ")" : "",
                " and the code the run executed. Restore it with ", h("code", null, "gittrack checkout " + this.runId.slice(0, 8)), "."]
              : "No source commit was recorded; showing the run's whole snapshot."),
            d.missing ? h("p", { class: "error" }, "The source commit is not in this repository.") : GT.renderDiff(d.files, d.truncated)),
          (src.skipped_files || []).length ? GT.section("Files not captured (too large)", h("ul", null, src.skipped_files.map((f) => h("li", null, f)))) : null,
        ]);
      } catch (e) { GT.clear(this.codeBox).appendChild(GT.errorBox(e)); }
    }

    async loadEnv() {
      try {
        const d = await GT.api("runs/" + encodeURIComponent(this.runId) + "/environment");
        GT.clear(this.envBox);
        if (!d.environment) { this.envBox.appendChild(h("p", { class: "muted" }, "No environment snapshot recorded.")); return; }
        const env = d.environment;
        const simple = [], nested = [];
        for (const [k, v] of Object.entries(env)) (v !== null && typeof v === "object" ? nested : simple).push([k, v]);
        this.envBox.appendChild(GT.section("Environment", d.summary ? h("p", null, d.summary) : null,
          GT.kvTable(simple.map(([k, v]) => [k, String(v)]))));
        for (const [k, v] of nested) {
          const flat = {};
          if (Array.isArray(v)) v.forEach((x, i) => { flat[i] = typeof x === "object" ? JSON.stringify(x) : String(x); });
          else for (const [a, b] of Object.entries(v)) flat[a] = typeof b === "object" && b !== null ? JSON.stringify(b) : String(b);
          this.envBox.appendChild(GT.section(k, filterableTable(flat, k)));
        }
      } catch (e) { GT.clear(this.envBox).appendChild(GT.errorBox(e)); }
    }

    // Show the artifacts folder ``path``, or the folder of the file ``path`` with the
    // file previewed. ``isDir`` says which when the caller knows (a click on a listing);
    // otherwise (a URL) the parent folder's listing tells, so no request 404s.
    async openArtifacts(path, isDir) {
      this.artList = this.artList || h("div", { class: "art-list" });
      this.artPreview = this.artPreview || h("div", { class: "art-preview" });
      if (!this.artBox.firstChild) GT.append(this.artBox, [this.artList, this.artPreview]);
      const rid = encodeURIComponent(this.runId);
      try {
        const parentDir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
        let listing = null;
        let file = null;
        if (path && isDir === undefined) {
          const up = await GT.api("runs/" + rid + "/artifacts", { path: parentDir });
          const entry = up.files.find((f) => f.path === path);
          if (entry && !entry.is_dir) { listing = up; file = path; }
        } else if (path && !isDir) {
          listing = await GT.api("runs/" + rid + "/artifacts", { path: parentDir });
          file = path;
        }
        if (!listing) listing = await GT.api("runs/" + rid + "/artifacts", { path });
        const crumbs = [h("a", { href: "#", onclick: (e) => { e.preventDefault(); this.openArtifacts("", true); } }, "artifacts")];
        let acc = "";
        for (const part of listing.path.split("/").filter(Boolean)) {
          acc = acc ? acc + "/" + part : part;
          const target = acc;
          crumbs.push(" / ", h("a", { href: "#", onclick: (e) => { e.preventDefault(); this.openArtifacts(target, true); } }, part));
        }
        GT.append(GT.clear(this.artList), [h("div", { class: "crumbs" }, crumbs),
          listing.files.length ? h("ul", null, listing.files.map((f) => h("li", null,
            h("a", { href: "#", "data-path": f.path, onclick: (e) => { e.preventDefault(); this.openArtifacts(f.path, !!f.is_dir); } },
              f.is_dir ? f.name + "/" : f.name),
            h("span", { class: "muted" }, " " + GT.fmtBytes(f.size))))) : h("p", { class: "muted" }, "No artifacts.")]);
        if (file) this.preview(file);
        GT.replaceHash(GT.hashFor("/run/" + this.runId, { tab: "artifacts", art: path }));
      } catch (e) {
        GT.clear(this.artList).appendChild(GT.errorBox(e));
      }
    }

    async preview(path) {
      const rid = encodeURIComponent(this.runId);
      const box = GT.clear(this.artPreview);
      box.appendChild(h("div", { class: "art-head" }, h("strong", null, path), " ",
        h("a", { href: GT.artifactUrl(this.runId, path, true), download: "" }, "Download")));
      let p;
      try { p = await GT.api("runs/" + rid + "/preview", { path }); } catch (e) { box.appendChild(GT.errorBox(e)); return; }
      if (p.kind === "image") {
        box.appendChild(h("img", { class: "art-image", src: GT.artifactUrl(this.runId, path, false), alt: path }));
      } else if (p.kind === "binary") {
        box.appendChild(h("p", { class: "muted" }, "Binary file, " + GT.fmtBytes(p.size) + ": no preview."));
      } else if (p.kind === "json") {
        let text = p.text;
        try { text = JSON.stringify(JSON.parse(p.text), null, 2); } catch (e) { /* show as is */ }
        box.appendChild(h("pre", { class: "art-text" }, text));
      } else if (p.kind === "csv" || p.kind === "tsv") {
        box.appendChild(GT.csvTable(p.text, p.kind === "tsv" ? "\t" : ","));
      } else {
        if (p.kind === "html") box.appendChild(h("p", { class: "muted" }, "HTML source shown as text; download to open it."));
        box.appendChild(h("pre", { class: "art-text" }, p.text));
      }
      if (p.truncated) box.appendChild(h("p", { class: "muted" }, "Preview cut at 1 MiB of " + GT.fmtBytes(p.size) + "."));
    }
  }

  // Parse CSV (quoted fields allowed) into a table of text cells; first 500 rows.
  GT.csvTable = function csvTable(text, sep) {
    const rows = [];
    let row = [], field = "", q = false;
    for (let i = 0; i < text.length && rows.length < 501; i++) {
      const c = text[i];
      if (q) {
        if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') q = false; else field += c;
      } else if (c === '"') q = true;
      else if (c === sep) { row.push(field); field = ""; }
      else if (c === "\n") { row.push(field); rows.push(row); row = []; field = ""; }
      else if (c !== "\r") field += c;
    }
    if (field || row.length) { row.push(field); rows.push(row); }
    if (!rows.length) return h("p", { class: "muted" }, "Empty table.");
    return h("div", { class: "table-wrap" }, h("table", { class: "runs csv" },
      h("thead", null, h("tr", null, rows[0].map((c) => h("th", null, c)))),
      h("tbody", null, rows.slice(1, 501).map((r) => h("tr", null, r.map((c) => h("td", null, c)))))));
  };

  GT.RunView = RunView;
})();
