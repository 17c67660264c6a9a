// The runs table: experiment and branch pickers, filter box (MLflow search syntax, errors
// shown inline), column chooser, sort by any column, server-side paging, selection.
// All of it lives in the URL (#/runs?filter=...&order=...&cols=...&sel=...), so a link
// reproduces the view. Long pages render only the rows in view (a 1,000-row page costs
// the browser ~60 rows of DOM); a page with RUNNING runs refreshes itself while the tab
// is visible; keys: / filter, j/k move, x select, o open, c compare, d diff; grouping
// by a param or tag shows each group's runs and statistics of a metric.
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

  // A cell's text (for column widths).
  function cellText(row, col) {
    if (col === "attributes.status") return row.status || "";
    if (col === "attributes.commit") return row.commit ? "012345678" : "";
    const v = renderCell(row, col);
    return v instanceof Node ? v.textContent : String(v);
  }

  function spacer(height, span) {
    return h("tr", { class: "spacer", "aria-hidden": "true" }, h("td", { colspan: span, style: { height: height + "px", padding: 0 } }));
  }

  const ALL_ROWS = 200; // pages up to this size draw every row; longer ones the rows in view
  const OVERSCAN = 30; // rows drawn above and below the view
  const LIVE_MS = 5000;

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
        group: params.get("group") || "",
        gmetric: params.get("gmetric") || "",
        best: params.get("best") === "max" ? "max" : "min",
      };
      this.reqId = 0;
      this.cursor = -1;
      this.onKey = (e) => this.key(e);
      document.addEventListener("keydown", this.onKey);
      this.onVisible = () => { if (!document.hidden) this.scheduleLive(0); };
      document.addEventListener("visibilitychange", this.onVisible);
      this.columns = { attributes: [], params: [], metrics: [], tags: [], popular: { params: [], metrics: [] } };
      this.build();
      this.load(); // first: the server answers requests in order, and the rows matter most
      this.loadPickers();
    }

    saveUrl() {
      const s = this.state;
      GT.replaceHash(GT.hashFor("/runs", {
        exp: s.exps, branch: s.branch, filter: s.filter, lifecycle: s.lifecycle === "active" ? "" : s.lifecycle,
        order: s.order === "attributes.start_time DESC" ? "" : s.order,
        cols: s.cols === null ? null : s.cols.join(",") || ",", sel: Array.from(s.sel),
        page: s.page || "", size: s.size === 100 ? "" : s.size,
        group: s.group, gmetric: s.group ? s.gmetric : "", best: s.group && s.best === "max" ? "max" : "",
      }));
    }

    destroy() {
      document.removeEventListener("keydown", this.onKey);
      document.removeEventListener("visibilitychange", this.onVisible);
      clearTimeout(this.liveTimer);
      this.dead = true;
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
      this.diffBtn = h("button", { type: "button", class: "diff-btn", title: "Diff two runs: params, metrics, environment and code (d)",
        onclick: () => this.diff() }, "Diff");
      this.groupSel = h("select", { "aria-label": "Group by", onchange: () => { s.group = this.groupSel.value; this.load(); } });
      this.gmetricSel = h("select", { "aria-label": "Group metric", onchange: () => { s.gmetric = this.gmetricSel.value; this.load(); } });
      this.bestSel = h("select", { "aria-label": "Best is", onchange: () => { s.best = this.bestSel.value; this.renderGroups(); this.saveUrl(); } },
        h("option", { value: "min", selected: s.best === "min" }, "lowest is best"),
        h("option", { value: "max", selected: s.best === "max" }, "highest is best"));
      this.groupOpts = h("span", { class: "group-opts" }, " metric ", this.gmetricSel, " ", this.bestSel);
      this.clearBtn = h("button", { type: "button", onclick: () => { s.sel.clear(); this.updateSelection(); } }, "Clear selection");
      this.summary = h("span", { class: "muted" });
      this.table = h("table", { class: "runs" });
      this.wrap = h("div", { class: "table-wrap runs-wrap" }, this.table);
      this.wrap.addEventListener("scroll", () => {
        if (!this.rafPending) { this.rafPending = true; requestAnimationFrame(() => { this.rafPending = false; this.renderWindow(); }); }
      });
      this.table.addEventListener("change", (e) => this.onTableChange(e));
      this.table.addEventListener("click", (e) => {
        const tr = e.target.closest("tr[data-run]");
        if (tr && !e.target.closest("a, input")) this.setCursor(this.rowIndex(tr.dataset.run), false);
      });
      this.live = h("span", { class: "live muted", hidden: true }, "live");
      this.pager = h("div", { class: "pager" });
      GT.append(GT.clear(this.root), [
        h("div", { class: "toolbar" }, this.expPicker, this.branchSel, this.lifecycleSel,
          h("div", { class: "filter-wrap" }, this.filterInput, this.filterError),
          h("button", { type: "button", onclick: () => this.applyFilter() }, "Search"),
          this.colPicker, h("label", { class: "group-by" }, "Group by ", this.groupSel, this.groupOpts),
          this.compareBtn, this.diffBtn, this.clearBtn, this.live),
        h("div", { class: "keys muted" }, "Keys: / filter · j/k move · x select · o open · c compare · d diff"),
        this.wrap,
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

    async load(quiet) {
      const s = this.state;
      const id = ++this.reqId;
      clearTimeout(this.liveTimer);
      if (s.group) { this.loadGroups(id, quiet); return; }
      this.expSummary.textContent = s.exps.length ? "Experiments (" + s.exps.length + ")" : "All experiments";
      this.saveUrl();
      let page;
      performance.mark("gt:runs:request");
      try {
        page = await GT.api("runs", {
          experiment_ids: s.exps.join(","), branch: s.branch, filter: s.filter, order_by: s.order, lifecycle: s.lifecycle,
          offset: s.page * s.size, limit: s.size,
          columns: s.cols === null ? null : s.cols.filter((c) => !c.startsWith("attributes.")).join(",") || ",",
        });
      } catch (e) {
        if (id !== this.reqId) return;
        if (quiet) { this.scheduleLive(); return; } // keep the rows shown; try again later
        if (e.status === 400 && s.filter) { this.showFilterError(e); return; }
        GT.clear(this.table).appendChild(h("tbody", null, h("tr", null, h("td", null, GT.errorBox(e)))));
        return;
      }
      if (id !== this.reqId) return;
      performance.mark("gt:runs:data");
      this.showFilterError(null);
      this.page = page;
      this.columns = page.columns;
      this.defaults = page.default_columns;
      if (page.total && page.offset >= page.total) { s.page = Math.floor((page.total - 1) / s.size); this.load(); return; }
      this.renderColumnChooser();
      this.renderGroupPicker();
      this.renderRows();
      this.scheduleLive();
      performance.mark("gt:runs:rendered");
      // the frame after this one: the rows are laid out and painted
      requestAnimationFrame(() => setTimeout(() => performance.mark("gt:runs:painted"), 0));
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

    // Column widths from the page's text (fixed layout: laying out 1,000 auto-sized rows
    // costs the browser far more than building them, and rows drawn on scroll must not
    // change the widths).
    columnWidths(cols) {
      const rows = this.page.rows;
      return cols.map((c) => {
        let n = c === "attributes.run_name" ? 8 : String(c.split(".").slice(1).join(".")).length + 4;
        for (let i = 0; i < rows.length; i++) {
          const v = c === "attributes.run_name" ? rows[i].run_name || rows[i].run_id.slice(0, 12) : cellText(rows[i], c);
          if (v.length > n) { n = v.length; if (n > 44) break; }
        }
        return Math.min(320, Math.max(56, Math.ceil(n * 7.4) + 20));
      });
    }

    renderRows() {
      const s = this.state;
      const page = this.page;
      if (!page) return;
      const cols = (this.cols = ["attributes.run_name", "attributes.status"].concat(this.visibleColumns()));
      const cur = s.order.replace(/\s+(ASC|DESC)$/i, "");
      const dir = /\sDESC$/i.test(s.order) ? "▼" : "▲";
      this.selAll = h("input", { type: "checkbox", "aria-label": "Select all on this page", "data-all": "1" });
      const head = h("tr", null,
        h("th", { class: "sel" }, this.selAll),
        cols.map((c) => h("th", { class: "sortable" + (c === cur ? " sorted" : ""), "data-col": c, title: "Sort by " + c,
          onclick: () => this.sortBy(c) }, colLabel(c), c === cur ? " " + dir : "")));
      const widths = this.columnWidths(cols);
      const colgroup = h("colgroup", null, h("col", { style: { width: "30px" } }),
        widths.map((w) => h("col", { style: { width: w + "px" } })));
      this.table.classList.remove("grouped");
      this.table.style.minWidth = (30 + widths.reduce((a, b) => a + b, 0)) + "px";
      // the new rows are drawn before the old ones go, so the scroll position stays
      this.body = h("tbody");
      this.rendered = null;
      if (this.cursor >= page.rows.length) this.cursor = page.rows.length - 1;
      if (!page.rows.length) {
        this.body.appendChild(h("tr", null, h("td", { colspan: cols.length + 1, class: "empty" },
          page.indexing ? "Indexing runs… " + page.indexing.toLocaleString() + " to go." :
          page.total === 0 && !s.filter ? "No runs recorded yet. Log one with gittrack.start_run() and it shows up here." : "No runs match.")));
      } else {
        this.renderWindow();
      }
      this.table.replaceChildren(colgroup, h("thead", null, head), this.body);
      if (page.rows.length > ALL_ROWS && !this.rowHeight) {
        const tr = this.body.querySelector("tr[data-run]");
        const measured = tr ? tr.getBoundingClientRect().height : 0;
        if (measured > 0) { this.rowHeight = measured; this.rendered = null; this.renderWindow(); }
      }
      this.updateSelection();
      const first = page.total ? page.offset + 1 : 0;
      const last = page.offset + page.rows.length;
      const pages = Math.max(1, Math.ceil(page.total / s.size));
      GT.clear(this.pager);
      GT.append(this.pager, [
        h("button", { type: "button", disabled: s.page === 0, onclick: () => { s.page = 0; this.load(); } }, "«"),
        h("button", { type: "button", disabled: s.page === 0, onclick: () => { s.page--; this.load(); } }, "‹ Prev"),
        h("span", { class: "count" }, first.toLocaleString() + "–" + last.toLocaleString() + " of " + page.total.toLocaleString() + " runs"
          + (page.indexing ? " (indexing " + page.indexing.toLocaleString() + " more…)" : "")),
        h("button", { type: "button", disabled: s.page >= pages - 1, onclick: () => { s.page++; this.load(); } }, "Next ›"),
        h("button", { type: "button", disabled: s.page >= pages - 1, onclick: () => { s.page = pages - 1; this.load(); } }, "»"),
        h("label", null, " Rows per page ", h("select", { onchange: (e) => { s.size = parseInt(e.target.value, 10); s.page = 0; this.load(); } },
          [25, 50, 100, 250, 500, 1000].map((n) => h("option", { value: n, selected: n === s.size }, n)))),
      ]);
      this.saveUrl();
    }

    // Draw the rows in view (all of them on pages of up to ALL_ROWS rows), with spacer
    // rows standing for the others so the scroll bar keeps the page's full height.
    renderWindow() {
      const rows = this.page && this.page.rows;
      if (!rows || !rows.length || !this.body) return;
      let start = 0, end = rows.length;
      if (rows.length > ALL_ROWS) {
        const rh = this.rowHeight || 27;
        const top = this.wrap.scrollTop;
        const view = this.wrap.clientHeight || window.innerHeight;
        start = Math.max(0, Math.floor(top / rh) - OVERSCAN);
        end = Math.min(rows.length, Math.ceil((top + view) / rh) + OVERSCAN);
      }
      if (this.rendered && this.rendered[0] === start && this.rendered[1] === end) return;
      this.rendered = [start, end];
      const frag = document.createDocumentFragment();
      const rh = this.rowHeight || 27;
      const span = this.cols.length + 1;
      if (start > 0) frag.appendChild(spacer(start * rh, span));
      for (let i = start; i < end; i++) frag.appendChild(this.rowElement(rows[i], i));
      if (end < rows.length) frag.appendChild(spacer((rows.length - end) * rh, span));
      this.body.replaceChildren(frag);
    }

    rowElement(r, i) {
      const sel = this.state.sel.has(r.run_id);
      const tr = document.createElement("tr");
      tr.dataset.run = r.run_id;
      tr.className = (sel ? "selected" : "") + (i === this.cursor ? " cursor" : "");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = sel;
      box.setAttribute("aria-label", "Select run");
      const td0 = document.createElement("td");
      td0.className = "sel";
      td0.appendChild(box);
      tr.appendChild(td0);
      for (const c of this.cols) {
        const td = document.createElement("td");
        if (c === "attributes.run_name") {
          td.className = "name";
          td.appendChild(h("a", { href: GT.runUrl(r.run_id) }, r.run_name || r.run_id.slice(0, 12)));
        } else {
          const v = cellValue(r, c);
          if (v !== null && v !== undefined) td.title = String(v);
          if (c.startsWith("metrics.")) td.className = "num";
          const shown = renderCell(r, c);
          if (shown instanceof Node) td.appendChild(shown); else td.textContent = shown;
        }
        tr.appendChild(td);
      }
      return tr;
    }

    rowIndex(runId) {
      return this.page ? this.page.rows.findIndex((r) => r.run_id === runId) : -1;
    }

    onTableChange(e) {
      const t = e.target;
      if (t.type !== "checkbox") return;
      const s = this.state;
      if (t.dataset.all) {
        for (const r of this.page.rows) { if (t.checked) s.sel.add(r.run_id); else s.sel.delete(r.run_id); }
      } else {
        const tr = t.closest("tr[data-run]");
        if (!tr) return;
        if (t.checked) s.sel.add(tr.dataset.run); else s.sel.delete(tr.dataset.run);
      }
      this.updateSelection();
    }

    // Selection marks, the select-all box and the buttons, without redrawing the rows.
    updateSelection() {
      const s = this.state;
      const page = this.page;
      if (this.body) {
        for (const tr of this.body.querySelectorAll("tr[data-run]")) {
          const on = s.sel.has(tr.dataset.run);
          tr.classList.toggle("selected", on);
          const box = tr.querySelector("td.sel input");
          if (box) box.checked = on;
        }
      }
      if (this.selAll && page) this.selAll.checked = page.rows.length > 0 && page.rows.every((r) => s.sel.has(r.run_id));
      this.compareBtn.textContent = "Compare (" + s.sel.size + ")";
      this.compareBtn.disabled = s.sel.size < 2;
      this.diffBtn.disabled = s.sel.size !== 2;
      this.clearBtn.disabled = s.sel.size === 0;
      this.saveUrl();
    }

    // --- keyboard --------------------------------------------------------------------
    key(e) {
      if (e.ctrlKey || e.metaKey || e.altKey || GT.currentView !== this) return;
      const t = e.target;
      const typing = t && (t.tagName === "INPUT" && t.type !== "checkbox" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
      if (typing) { if (e.key === "Escape") t.blur(); return; }
      const rows = this.page && !this.state.group ? this.page.rows : [];
      const at = rows[this.cursor];
      switch (e.key) {
        case "/": e.preventDefault(); this.filterInput.focus(); this.filterInput.select(); break;
        case "j": case "ArrowDown": if (rows.length) { e.preventDefault(); this.setCursor(Math.min(rows.length - 1, this.cursor + 1), true); } break;
        case "k": case "ArrowUp": if (rows.length) { e.preventDefault(); this.setCursor(Math.max(0, this.cursor - 1), true); } break;
        case "x": case " ":
          if (at) {
            e.preventDefault();
            if (this.state.sel.has(at.run_id)) this.state.sel.delete(at.run_id); else this.state.sel.add(at.run_id);
            this.updateSelection();
          }
          break;
        case "o": case "Enter": if (at) { e.preventDefault(); location.hash = GT.runUrl(at.run_id); } break;
        case "c": if (this.state.sel.size >= 2) { e.preventDefault(); this.compare(); } break;
        case "d": if (this.state.sel.size === 2) { e.preventDefault(); this.diff(); } break;
        default:
      }
    }

    // Move the keyboard cursor to row ``i`` (scrolling it into view when ``scroll``).
    setCursor(i, scroll) {
      const rows = this.page ? this.page.rows : [];
      if (i < 0 || i >= rows.length) return;
      this.cursor = i;
      if (scroll) {
        const rh = this.rowHeight || 27;
        const head = this.table.tHead ? this.table.tHead.offsetHeight : 0;
        const top = i * rh, view = this.wrap.clientHeight - head;
        if (top < this.wrap.scrollTop) this.wrap.scrollTop = top;
        else if (top + rh > this.wrap.scrollTop + view) this.wrap.scrollTop = top + rh - view;
        this.renderWindow();
      }
      for (const tr of this.body.querySelectorAll("tr.cursor")) tr.classList.remove("cursor");
      const tr = this.body.querySelector('tr[data-run="' + rows[i].run_id + '"]');
      if (tr) {
        tr.classList.add("cursor");
        if (scroll) tr.scrollIntoView({ block: "nearest" });
      }
    }

    // --- live updates ------------------------------------------------------------------
    // While the page shows a RUNNING run, fetch it again every LIVE_MS (not while the tab
    // is hidden: the next visibilitychange brings it up to date).
    scheduleLive(delay) {
      clearTimeout(this.liveTimer);
      const rows = this.state.group ? [] : (this.page ? this.page.rows : []);
      const running = rows.some((r) => r.status === "RUNNING");
      const indexing = !this.state.group && this.page && this.page.indexing > 0;
      this.live.hidden = !running;
      if ((!running && !indexing) || this.dead) return; // an index being built: ask again soon
      this.liveTimer = setTimeout(() => {
        if (this.dead || GT.currentView !== this) return;
        if (document.hidden) return;
        this.load(true);
      }, delay === undefined ? (indexing && !running ? 1000 : LIVE_MS) : delay);
    }

    // --- grouping ----------------------------------------------------------------------
    renderGroupPicker() {
      const s = this.state;
      const c = this.columns;
      GT.clear(this.groupSel);
      GT.append(this.groupSel, [h("option", { value: "" }, "(none)"),
        h("optgroup", { label: "Attributes" },
          [["attributes.status", "status"], ["attributes.user_id", "user"]].map(([v, t]) => h("option", { value: v }, t))),
        ["params", "tags"].map((kind) => {
          // the keys most runs have first, then the others (500 at most: a run may have thousands)
          const popular = (c.popular && c.popular[kind]) || [];
          const keys = popular.concat((c[kind] || []).filter((k) => !popular.includes(k))).slice(0, 500);
          return keys.length ? h("optgroup", { label: kind === "params" ? "Params" : "Tags" },
            keys.map((k) => h("option", { value: kind + "." + k }, k))) : null;
        })]);
      if (s.group && ![...this.groupSel.options].some((o) => o.value === s.group)) {
        this.groupSel.appendChild(h("option", { value: s.group }, s.group));
      }
      this.groupSel.value = s.group;
      GT.clear(this.gmetricSel);
      GT.append(this.gmetricSel, [h("option", { value: "" }, "(none)"),
        (c.metrics || []).slice(0, 500).map((k) => h("option", { value: k }, k))]);
      if (s.group && !s.gmetric && c.popular && (c.popular.metrics || []).length) s.gmetric = c.popular.metrics[0];
      if (s.gmetric && ![...this.gmetricSel.options].some((o) => o.value === s.gmetric)) {
        this.gmetricSel.appendChild(h("option", { value: s.gmetric }, s.gmetric));
      }
      this.gmetricSel.value = s.gmetric;
      this.groupOpts.hidden = !s.group;
    }

    async loadGroups(id, quiet) {
      const s = this.state;
      this.saveUrl();
      if (!this.page) {
        // the column lists (for the pickers) come with a page of runs
        try {
          const first = await GT.api("runs", { experiment_ids: s.exps.join(","), branch: s.branch, lifecycle: s.lifecycle, limit: 1, columns: "," });
          if (id !== this.reqId) return;
          this.columns = first.columns;
        } catch (e) { /* the groups request reports it */ }
      }
      this.renderGroupPicker();
      let d;
      try {
        d = await GT.api("groups", { experiment_ids: s.exps.join(","), branch: s.branch, filter: s.filter, lifecycle: s.lifecycle,
          group_by: s.group, metric: s.gmetric });
      } catch (e) {
        if (id !== this.reqId || quiet) return;
        if (e.status === 400 && s.filter) { this.showFilterError(e); return; }
        GT.clear(this.table).appendChild(h("tbody", null, h("tr", null, h("td", null, GT.errorBox(e)))));
        return;
      }
      if (id !== this.reqId) return;
      this.showFilterError(null);
      this.groups = d;
      this.open = this.open && this.open.group === s.group ? this.open : { group: s.group, values: new Map() };
      this.renderGroups();
    }

    renderGroups() {
      const s = this.state;
      const d = this.groups;
      if (!d || !s.group) return;
      const fmt = (v) => (v === null || v === undefined ? "" : GT.fmtNum(v));
      const best = (g) => (s.best === "max" ? g.max : g.min);
      const bests = d.groups.filter((g) => g.metric_count).map(best);
      const top = bests.length ? (s.best === "max" ? Math.max(...bests) : Math.min(...bests)) : null;
      const m = d.metric;
      this.table.style.minWidth = "";
      this.table.classList.add("grouped");
      const head = h("tr", null, h("th", null, s.group), h("th", { class: "num" }, "Runs"),
        m ? [h("th", { class: "num" }, "Best " + m + (s.best === "max" ? " (max)" : " (min)")), h("th", { class: "num" }, "Mean " + m),
          h("th", { class: "num" }, s.best === "max" ? "Min" : "Max"), h("th", { class: "num" }, "Runs with " + m)] : null);
      const body = h("tbody");
      for (const g of d.groups) {
        const label = g.value === null ? "(not set)" : String(g.value);
        const key = g.value === null ? "\u0000" : String(g.value);
        const isOpen = this.open.values.has(key);
        const toggle = h("button", { type: "button", class: "group-toggle", "aria-expanded": isOpen ? "true" : "false",
          onclick: () => { if (isOpen) this.open.values.delete(key); else this.open.values.set(key, g.filter); this.renderGroups(); } },
          isOpen ? "▾ " : "▸ ", label);
        body.appendChild(h("tr", { class: "group-row" + (m && g.metric_count && best(g) === top ? " best" : ""), "data-group": key },
          h("th", null, toggle), h("td", { class: "num" }, g.count.toLocaleString()),
          m ? [h("td", { class: "num group-best" }, fmt(best(g))), h("td", { class: "num group-mean" }, fmt(g.mean)),
            h("td", { class: "num" }, fmt(s.best === "max" ? g.min : g.max)), h("td", { class: "num" }, g.metric_count.toLocaleString())] : null));
        if (isOpen) body.appendChild(this.groupRuns(g, m ? 6 : 2));
      }
      if (!d.groups.length) body.appendChild(h("tr", null, h("td", { colspan: 6, class: "empty" }, "No runs match.")));
      GT.clear(this.table);
      GT.append(this.table, [h("thead", null, head), body]);
      GT.clear(this.pager).appendChild(h("span", { class: "count" }, d.groups.length.toLocaleString() + " groups of " +
        d.total.toLocaleString() + " runs"));
      this.live.hidden = true;
      this.saveUrl();
    }

    // One group's runs (the first 50, newest first), as the runs table shows them.
    groupRuns(g, span) {
      const cell = h("td", { colspan: span }, h("p", { class: "muted" }, "Loading…"));
      const tr = h("tr", { class: "group-runs" }, cell);
      if (g.filter === null) { GT.clear(cell).appendChild(h("p", { class: "muted" }, "These runs cannot be listed by a filter.")); return tr; }
      const s = this.state;
      GT.api("runs", { experiment_ids: s.exps.join(","), branch: s.branch, filter: g.filter, lifecycle: s.lifecycle,
        order_by: s.gmetric ? "metrics.`" + s.gmetric + "` " + (s.best === "max" ? "DESC" : "ASC") : s.order, limit: 50,
        columns: s.cols === null ? null : s.cols.filter((c) => !c.startsWith("attributes.")).join(",") || "," })
        .then((page) => {
          const cols = ["attributes.run_name", "attributes.status"].concat(this.state.cols || page.default_columns)
            .concat(s.gmetric && !(this.state.cols || page.default_columns).includes("metrics." + s.gmetric) ? ["metrics." + s.gmetric] : []);
          GT.clear(cell).appendChild(h("table", { class: "runs inner" },
            h("thead", null, h("tr", null, cols.map((c) => h("th", null, colLabel(c))))),
            h("tbody", null, page.rows.map((r) => h("tr", { "data-run": r.run_id }, cols.map((c) => c === "attributes.run_name"
              ? h("td", { class: "name" }, h("a", { href: GT.runUrl(r.run_id) }, r.run_name || r.run_id.slice(0, 12)))
              : h("td", { class: c.startsWith("metrics.") ? "num" : null }, renderCell(r, c))))))));
          cell.appendChild(h("p", null, page.total > page.rows.length ? page.rows.length + " of " + page.total + " runs. " : "",
            h("a", { href: GT.hashFor("/runs", { filter: g.filter, exp: s.exps, branch: s.branch }), class: "group-open" }, "Open in the runs table")));
        })
        .catch((e) => GT.clear(cell).appendChild(GT.errorBox(e)));
      return tr;
    }

    diff() {
      const [a, b] = Array.from(this.state.sel);
      if (b) location.hash = GT.hashFor("/diff", { a, b });
    }

    compare() {
      location.hash = GT.hashFor("/compare", { runs: Array.from(this.state.sel) });
    }
  }

  GT.RunsView = RunsView;
})();
