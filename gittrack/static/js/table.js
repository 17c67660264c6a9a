// The runs table: experiment and branch pickers, filter box (MLflow search syntax, errors
// shown inline), column chooser, sort by any column, server-side paging, selection.
// All of it lives in the URL (#/runs?filter=...&order=...&cols=...&sel=...), so a link
// reproduces the view.
"use strict";

(function () {
  const h = GT.h;

  const ATTR_LABELS = {
    run_name: "Name", status: "Status", start_time: "Started", end_time: "Ended", duration: "Duration",
    user_id: "User", experiment_id: "Experiment", branch: "Branch", commit: "Source", run_id: "Run id",
  };
  const DEFAULT_ATTRS = ["attributes.start_time", "attributes.duration", "attributes.user_id",
    "attributes.branch", "attributes.commit"];

  function splitCol(col) {
    const i = col.indexOf(".");
    return [col.slice(0, i), col.slice(i + 1)];
  }

  function colLabel(col) {
    const [kind, key] = splitCol(col);
    if (kind === "attributes") return [ATTR_LABELS[key] || key];
    return [h("span", { class: "col-kind" }, kind.replace(/s$/, "") + " "), key];
  }

  function cellValue(row, col) {
    const [kind, key] = splitCol(col);
    if (kind !== "attributes") return row[kind][key];
    return row[key];
  }

  function renderCell(row, col) {
    const [kind, key] = splitCol(col);
    const v = cellValue(row, col);
    if (kind === "attributes") {
      if (key === "start_time" || key === "end_time") return GT.fmtTime(v);
      if (key === "duration") return GT.fmtDuration(v);
      if (key === "status") return GT.statusBadge(v);
      if (key === "commit") return v ? h("code", { title: v + (row.dirty ? " with uncommitted changes" : "") }, v.slice(0, 8) + (row.dirty ? "*" : "")) : "";
      if (key === "run_id") return h("code", null, v.slice(0, 12));
      return v === null || v === undefined ? "" : String(v);
    }
    if (v === null || v === undefined) return "";
    return kind === "metrics" ? GT.fmtNum(v) : String(v);
  }

  // Where in the filter a syntax error is, when the message says so.
  function errorPosition(message) {
    const m = /(?:position|offset|column|col|char(?:acter)?)\s*(\d+)/i.exec(message || "");
    return m ? parseInt(m[1], 10) : null;
  }

  class RunsView {
    constructor(root, params) {
      this.root = root;
      this.state = {
        exps: (params.get("exp") || "").split(",").filter(Boolean),
        branch: params.get("branch") || "",
        filter: params.get("filter") || "",
        order: params.get("order") || "attributes.start_time DESC",
        cols: params.has("cols") ? (params.get("cols") || "").split(",").filter(Boolean) : null,
        sel: new Set((params.get("sel") || "").split(",").filter(Boolean)),
        lifecycle: ["deleted", "all"].includes(params.get("lifecycle")) ? params.get("lifecycle") : "active",
        page: Math.max(0, parseInt(params.get("page") || "0", 10) || 0),
        size: Math.min(1000, Math.max(10, parseInt(params.get("size") || "100", 10) || 100)),
      };
      this.reqId = 0;
      this.columns = { attributes: [], params: [], metrics: [], tags: [], popular: { params: [], metrics: [] } };
      this.build();
      this.loadPickers();
      this.load();
    }

    saveUrl() {
      const s = this.state;
      GT.replaceHash(GT.hashFor("/runs", {
        exp: s.exps, branch: s.branch, filter: s.filter, lifecycle: s.lifecycle === "active" ? "" : s.lifecycle,
        order: s.order === "attributes.start_time DESC" ? "" : s.order,
        cols: s.cols === null ? null : s.cols.join(",") || ",", sel: Array.from(s.sel),
        page: s.page || "", size: s.size === 100 ? "" : s.size,
      }));
    }

    build() {
      const s = this.state;
      this.expBox = h("div", { class: "picker-list" });
      this.expSummary = h("summary", null, "Experiments");
      this.expPicker = h("details", { class: "picker" }, this.expSummary, this.expBox);
      this.branchSel = h("select", { "aria-label": "Branch", onchange: () => { s.branch = this.branchSel.value; s.page = 0; this.load(); } },
        h("option", { value: "" }, "All branches"));
      this.lifecycleSel = h("select", { "aria-label": "Deleted runs", onchange: () => { s.lifecycle = this.lifecycleSel.value; s.page = 0; this.load(); } },
        [["active", "Active runs"], ["deleted", "Deleted runs"], ["all", "Active and deleted"]].map(([v, t]) =>
          h("option", { value: v, selected: s.lifecycle === v }, t)));
      this.filterInput = h("input", {
        type: "search", class: "filter", placeholder: "Filter: metrics.loss < 0.5 and params.lr = '0.1'",
        value: s.filter, spellcheck: "false", "aria-label": "Filter",
        onkeydown: (e) => { if (e.key === "Enter") this.applyFilter(); },
      });
      this.filterError = h("div", { class: "filter-error", hidden: true, role: "alert" });
      this.colBox = h("div", { class: "picker-list cols" });
      this.colSearch = h("input", { type: "search", placeholder: "Find a column…", oninput: () => this.renderColumnChooser() });
      this.colPicker = h("details", { class: "picker", id: "columns" },
        h("summary", null, "Columns"),
        h("div", { class: "picker-panel" }, this.colSearch,
          h("div", { class: "row" },
            h("button", { type: "button", onclick: () => { s.cols = null; this.afterColumns(); } }, "Defaults"),
            h("button", { type: "button", onclick: () => { s.cols = []; this.afterColumns(); } }, "None")),
          this.colBox));
      this.compareBtn = h("button", { type: "button", class: "primary", onclick: () => this.compare() }, "Compare");
      this.clearBtn = h("button", { type: "button", onclick: () => { s.sel.clear(); this.renderRows(); } }, "Clear selection");
      this.summary = h("span", { class: "muted" });
      this.table = h("table", { class: "runs" });
      this.pager = h("div", { class: "pager" });
      GT.append(GT.clear(this.root), [
        h("div", { class: "toolbar" }, this.expPicker, this.branchSel, this.lifecycleSel,
          h("div", { class: "filter-wrap" }, this.filterInput, this.filterError),
          h("button", { type: "button", onclick: () => this.applyFilter() }, "Search"),
          this.colPicker, this.compareBtn, this.clearBtn),
        h("div", { class: "table-wrap" }, this.table),
        this.pager,
      ]);
    }

    async loadPickers() {
      try {
        const [exps, branches] = await Promise.all([GT.api("experiments"), GT.api("branches")]);
        GT.clear(this.expBox);
        for (const e of exps.experiments) {
          const cb = h("input", { type: "checkbox", value: e.experiment_id, checked: this.state.exps.includes(e.experiment_id),
            onchange: () => {
              const set = new Set(this.state.exps);
              if (cb.checked) set.add(e.experiment_id); else set.delete(e.experiment_id);
              this.state.exps = Array.from(set); this.state.page = 0; this.load();
            } });
          this.expBox.appendChild(h("label", { class: e.lifecycle_stage === "deleted" ? "muted" : null }, cb, " ", e.name,
            h("span", { class: "muted" }, " (" + e.experiment_id + ")")));
        }
        for (const b of branches.branches) {
          this.branchSel.appendChild(h("option", { value: b.name, selected: b.name === this.state.branch }, b.name));
        }
        this.branchSel.value = this.state.branch;
      } catch (e) {
        this.root.prepend(GT.errorBox(e));
      }
    }

    applyFilter() {
      this.state.filter = this.filterInput.value.trim();
      this.state.page = 0;
      this.load();
    }

    showFilterError(err) {
      const msg = err ? err.message : "";
      this.filterError.hidden = !err;
      this.filterInput.classList.toggle("invalid", !!err);
      GT.clear(this.filterError);
      if (!err) return;
      const pos = errorPosition(msg);
      const text = this.state.filter;
      if (pos !== null && pos <= text.length) {
        this.filterError.appendChild(h("code", { class: "where" }, text.slice(0, pos),
          h("mark", null, text.slice(pos, pos + 1) || " "), text.slice(pos + 1)));
      }
      this.filterError.appendChild(h("div", null, msg));
    }

    async load() {
      const s = this.state;
      const id = ++this.reqId;
      this.expSummary.textContent = s.exps.length ? "Experiments (" + s.exps.length + ")" : "All experiments";
      this.saveUrl();
      let page;
      try {
        page = await GT.api("runs", {
          experiment_ids: s.exps.join(","), branch: s.branch, filter: s.filter, order_by: s.order, lifecycle: s.lifecycle,
          offset: s.page * s.size, limit: s.size,
          columns: s.cols === null ? null : s.cols.filter((c) => !c.startsWith("attributes.")).join(",") || ",",
        });
      } catch (e) {
        if (id !== this.reqId) return;
        if (e.status === 400 && s.filter) { this.showFilterError(e); return; }
        GT.clear(this.table).appendChild(h("tbody", null, h("tr", null, h("td", null, GT.errorBox(e)))));
        return;
      }
      if (id !== this.reqId) return;
      this.showFilterError(null);
      this.page = page;
      this.columns = page.columns;
      this.defaults = page.default_columns;
      if (page.total && page.offset >= page.total) { s.page = Math.floor((page.total - 1) / s.size); this.load(); return; }
      this.renderColumnChooser();
      this.renderRows();
    }

    visibleColumns() {
      if (this.state.cols !== null) return this.state.cols;
      return this.defaults || DEFAULT_ATTRS;
    }

    afterColumns() {
      this.load();
    }

    renderColumnChooser() {
      const q = this.colSearch.value.trim().toLowerCase();
      const visible = new Set(this.visibleColumns());
      GT.clear(this.colBox);
      let shown = 0;
      for (const kind of ["attributes", "metrics", "params", "tags"]) {
        const keys = (this.columns[kind] || []).filter((k) => k !== "run_name" && k !== "status");
        const hits = keys.filter((k) => !q || (kind + "." + k).toLowerCase().includes(q));
        if (!hits.length) continue;
        this.colBox.appendChild(h("div", { class: "picker-head" }, kind + " (" + keys.length + ")"));
        for (const k of hits.slice(0, 200)) {
          const col = kind + "." + k;
          const cb = h("input", { type: "checkbox", checked: visible.has(col), "data-col": col, onchange: () => {
            const cols = this.visibleColumns().slice();
            const i = cols.indexOf(col);
            if (cb.checked && i < 0) cols.push(col);
            if (!cb.checked && i >= 0) cols.splice(i, 1);
            this.state.cols = cols;
            this.load();
          } });
          this.colBox.appendChild(h("label", null, cb, " ", kind === "attributes" ? ATTR_LABELS[k] || k : k));
          shown++;
        }
        if (hits.length > 200) this.colBox.appendChild(h("div", { class: "muted" }, (hits.length - 200) + " more: type to narrow"));
      }
      if (!shown) this.colBox.appendChild(h("div", { class: "muted" }, "No columns match."));
    }

    sortBy(col) {
      const cur = this.state.order.trim();
      const desc = cur.toUpperCase().endsWith(" DESC");
      const curCol = cur.replace(/\s+(ASC|DESC)$/i, "");
      const numericFirst = col.startsWith("metrics.") || col === "attributes.start_time" || col === "attributes.duration";
      this.state.order = col + (curCol === col ? (desc ? " ASC" : " DESC") : (numericFirst ? " DESC" : " ASC"));
      this.state.page = 0;
      this.load();
    }

    renderRows() {
      const s = this.state;
      const page = this.page;
      if (!page) return;
      const cols = ["attributes.run_name", "attributes.status"].concat(this.visibleColumns());
      const cur = s.order.replace(/\s+(ASC|DESC)$/i, "");
      const dir = /\sDESC$/i.test(s.order) ? "▼" : "▲";
      const allSel = page.rows.length > 0 && page.rows.every((r) => s.sel.has(r.run_id));
      const head = h("tr", null,
        h("th", { class: "sel" }, h("input", { type: "checkbox", "aria-label": "Select all on this page", checked: allSel,
          onchange: (e) => { for (const r of page.rows) { if (e.target.checked) s.sel.add(r.run_id); else s.sel.delete(r.run_id); } this.renderRows(); } })),
        cols.map((c) => h("th", { class: "sortable" + (c === cur ? " sorted" : ""), "data-col": c, title: "Sort by " + c,
          onclick: () => this.sortBy(c) }, colLabel(c), c === cur ? " " + dir : "")));
      const body = h("tbody", null, page.rows.map((r) => h("tr", { "data-run": r.run_id, class: s.sel.has(r.run_id) ? "selected" : null },
        h("td", { class: "sel" }, h("input", { type: "checkbox", checked: s.sel.has(r.run_id), "aria-label": "Select run",
          onchange: (e) => { if (e.target.checked) s.sel.add(r.run_id); else s.sel.delete(r.run_id); this.renderRows(); } })),
        cols.map((c) => {
          if (c === "attributes.run_name") return h("td", { class: "name" }, h("a", { href: GT.runUrl(r.run_id) }, r.run_name || r.run_id.slice(0, 12)));
          const v = cellValue(r, c);
          return h("td", { title: v === null || v === undefined ? null : String(v), class: c.startsWith("metrics.") ? "num" : null }, renderCell(r, c));
        }))));
      GT.clear(this.table);
      GT.append(this.table, [h("thead", null, head), body]);
      if (!page.rows.length) {
        body.appendChild(h("tr", null, h("td", { colspan: cols.length + 1, class: "empty" },
          page.total === 0 && !s.filter ? "No runs recorded yet. Log one with gittrack.start_run() and it shows up here." : "No runs match.")));
      }
      this.compareBtn.textContent = "Compare (" + s.sel.size + ")";
      this.compareBtn.disabled = s.sel.size < 2;
      this.clearBtn.disabled = s.sel.size === 0;
      const first = page.total ? page.offset + 1 : 0;
      const last = page.offset + page.rows.length;
      const pages = Math.max(1, Math.ceil(page.total / s.size));
      GT.clear(this.pager);
      GT.append(this.pager, [
        h("button", { type: "button", disabled: s.page === 0, onclick: () => { s.page = 0; this.load(); } }, "«"),
        h("button", { type: "button", disabled: s.page === 0, onclick: () => { s.page--; this.load(); } }, "‹ Prev"),
        h("span", { class: "count" }, first.toLocaleString() + "–" + last.toLocaleString() + " of " + page.total.toLocaleString() + " runs"),
        h("button", { type: "button", disabled: s.page >= pages - 1, onclick: () => { s.page++; this.load(); } }, "Next ›"),
        h("button", { type: "button", disabled: s.page >= pages - 1, onclick: () => { s.page = pages - 1; this.load(); } }, "»"),
        h("label", null, " Rows per page ", h("select", { onchange: (e) => { s.size = parseInt(e.target.value, 10); s.page = 0; this.load(); } },
          [25, 50, 100, 250, 500, 1000].map((n) => h("option", { value: n, selected: n === s.size }, n)))),
      ]);
      this.saveUrl();
    }

    compare() {
      location.hash = GT.hashFor("/compare", { runs: Array.from(this.state.sel) });
    }
  }

  GT.RunsView = RunsView;
})();
