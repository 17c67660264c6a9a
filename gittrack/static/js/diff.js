// The run diff view (#/diff?a=<run>&b=<run>): two runs' params, metrics, tags and
// attributes side by side with what differs highlighted, the change in their environments
// (package versions, Python, platform) and the code diff between their exact snapshots,
// with the `gittrack diff` command that prints the same in a terminal.
"use strict";

(function () {
  const h = GT.h;

  const ATTRS = [["status", "Status"], ["start_time", "Started"], ["duration", "Duration"], ["user_id", "User"],
    ["experiment_id", "Experiment"], ["branch", "Branch"], ["commit", "Source commit"], ["dirty", "Uncommitted changes"]];

  function shown(kind, key, v) {
    if (v === null || v === undefined) return "";
    if (kind === "attributes") {
      if (key === "start_time") return GT.fmtTime(v);
      if (key === "duration") return GT.fmtDuration(v);
      if (key === "status") return GT.statusBadge(v);
      if (key === "commit") return h("code", null, String(v).slice(0, 12));
      if (key === "dirty") return v ? "yes" : "no";
    }
    return kind === "metrics" ? GT.fmtNum(v) : String(v);
  }

  // "b − a" for two numbers, with the relative change when a is not 0.
  function delta(a, b) {
    if (typeof a !== "number" || typeof b !== "number") return "";
    const d = b - a;
    if (d === 0) return "0";
    const rel = a !== 0 ? " (" + (d > 0 ? "+" : "") + (100 * d / Math.abs(a)).toPrecision(3) + "%)" : "";
    return (d > 0 ? "+" : "") + GT.fmtNum(d) + rel;
  }

  class DiffView {
    constructor(root, params) {
      this.root = root;
      this.a = params.get("a") || "";
      this.b = params.get("b") || "";
      this.onlyDiff = params.get("all") !== "1";
      this.load();
    }

    saveUrl() {
      GT.replaceHash(GT.hashFor("/diff", { a: this.a, b: this.b, all: this.onlyDiff ? "" : "1" }));
    }

    async load() {
      if (!this.a || !this.b) {
        GT.clear(this.root).appendChild(h("div", { class: "card" }, h("p", null, "Select two runs in the ",
          h("a", { href: "#/runs" }, "runs table"), " and press Diff.")));
        return;
      }
      let rows;
      try {
        rows = (await GT.api("compare", { runs: this.a + "," + this.b })).rows;
        if (rows.length !== 2) throw new Error("Both runs are needed; one of them has an unreadable record.");
      } catch (e) {
        GT.clear(this.root).appendChild(h("div", { class: "card" }, h("h1", null, "Cannot diff"), GT.errorBox(e)));
        return;
      }
      this.rows = rows;
      [this.a, this.b] = rows.map((r) => r.run_id);
      this.render();
      this.loadEnv();
      this.loadCode();
    }

    name(r) { return r.run_name || r.run_id.slice(0, 8); }

    render() {
      const [ra, rb] = this.rows;
      const only = h("input", { type: "checkbox", checked: this.onlyDiff, onchange: () => {
        this.onlyDiff = only.checked; this.renderValues(); this.saveUrl(); } });
      this.valuesBox = h("div");
      this.envBox = h("div", null, h("p", { class: "muted" }, "Loading…"));
      this.codeBox = h("div", null, h("p", { class: "muted" }, "Loading…"));
      const cmd = "gittrack diff " + ra.run_id.slice(0, 8) + " " + rb.run_id.slice(0, 8) + " --code";
      GT.append(GT.clear(this.root), [
        h("div", { class: "card diff-head" },
          h("h1", null, "Diff of two runs"),
          h("div", { class: "legend" },
            h("a", { href: GT.runUrl(ra.run_id), class: "run-chip side-a" }, h("span", { class: "side" }, "A"), this.name(ra), " ", GT.statusBadge(ra.status)),
            h("button", { type: "button", title: "Swap A and B", onclick: () => {
              location.hash = GT.hashFor("/diff", { a: rb.run_id, b: ra.run_id, all: this.onlyDiff ? "" : "1" }); } }, "⇄"),
            h("a", { href: GT.runUrl(rb.run_id), class: "run-chip side-b" }, h("span", { class: "side" }, "B"), this.name(rb), " ", GT.statusBadge(rb.status))),
          h("p", { class: "muted" }, "In a terminal: ", h("code", { class: "cli" }, cmd), " · ",
            h("a", { href: GT.hashFor("/compare", { runs: [ra.run_id, rb.run_id] }) }, "charts in Compare")),
          h("label", null, only, " Only what differs")),
        this.valuesBox,
        GT.section("Environment", this.envBox),
        GT.section("Code", h("p", { class: "muted" }, "From A's snapshot to B's: the exact code each run executed."), this.codeBox),
      ]);
      this.renderValues();
      this.saveUrl();
    }

    renderValues() {
      const [ra, rb] = this.rows;
      const groups = [["attributes", ATTRS.map(([k]) => k)]];
      for (const kind of ["params", "metrics", "tags"]) {
        groups.push([kind, Array.from(new Set([...Object.keys(ra[kind]), ...Object.keys(rb[kind])])).sort()]);
      }
      GT.clear(this.valuesBox);
      for (const [kind, keys] of groups) {
        const body = h("tbody");
        let differing = 0;
        for (const key of keys) {
          const va = kind === "attributes" ? ra[key] : ra[kind][key];
          const vb = kind === "attributes" ? rb[key] : rb[kind][key];
          const inA = va !== undefined && va !== null, inB = vb !== undefined && vb !== null;
          const differs = String(inA ? va : "\u0000") !== String(inB ? vb : "\u0000");
          if (differs) differing++;
          if (this.onlyDiff && !differs && kind !== "attributes") continue;
          const label = kind === "attributes" ? ATTRS.find(([k]) => k === key)[1] : key;
          const cls = !differs ? null : !inA ? "differs only-b" : !inB ? "differs only-a" : "differs";
          body.appendChild(h("tr", { class: cls, "data-key": kind + "." + key },
            h("th", null, label),
            h("td", { class: kind === "metrics" ? "num" : null }, inA ? shown(kind, key, va) : h("span", { class: "muted" }, "—")),
            h("td", { class: kind === "metrics" ? "num" : null }, inB ? shown(kind, key, vb) : h("span", { class: "muted" }, "—")),
            kind === "metrics" ? h("td", { class: "num delta" }, delta(va, vb)) : null));
        }
        const title = kind === "attributes" ? "Run" : kind[0].toUpperCase() + kind.slice(1);
        const count = kind === "attributes" ? "" : " · " + differing + " of " + keys.length + " differ";
        const head = h("thead", null, h("tr", null, h("th", null, ""), h("th", null, "A"), h("th", null, "B"),
          kind === "metrics" ? h("th", null, "B − A") : null));
        this.valuesBox.appendChild(h("section", { class: "card", "data-kind": kind },
          h("h2", null, title, h("span", { class: "muted" }, count)),
          body.children.length ? h("table", { class: "kv diffview" }, head, body)
            : h("p", { class: "muted" }, keys.length ? "No differences." : "None recorded.")));
      }
    }

    async loadEnv() {
      try {
        const d = await GT.api("envdiff", { a: this.a, b: this.b });
        GT.clear(this.envBox);
        const missing = ["A", "B"].filter((_, i) => !d.recorded[i]);
        if (missing.length) {
          this.envBox.appendChild(h("p", { class: "muted" }, "Run " + missing.join(" and ") + " recorded no environment snapshot."));
          return;
        }
        if (!d.changes.length) { this.envBox.appendChild(h("p", { class: "muted" }, "Same environment.")); return; }
        const text = (v) => (v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));
        this.envBox.appendChild(h("table", { class: "kv diffview env-diff" },
          h("thead", null, h("tr", null, h("th", null, ""), h("th", null, "A"), h("th", null, "B"))),
          h("tbody", null, d.changes.map((c) => h("tr", { class: "differs " + c.change, "data-key": c.key },
            h("th", null, c.key), h("td", null, text(c.old)), h("td", null, text(c.new)))))));
      } catch (e) { GT.clear(this.envBox).appendChild(GT.errorBox(e)); }
    }

    async loadCode() {
      try {
        const d = await GT.api("diff", { a: this.a, b: this.b });
        GT.clear(this.codeBox).appendChild(GT.renderDiff(d.files, d.truncated));
      } catch (e) { GT.clear(this.codeBox).appendChild(GT.errorBox(e)); }
    }
  }

  GT.DiffView = DiffView;
})();
