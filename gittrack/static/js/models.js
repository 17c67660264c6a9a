// The model registry pages: #/models (every registered model) and #/model/<name>
// (its versions with their source runs, and the alias history read from the git log
// of the model's registry ref). Names, tags and descriptions are inserted as text.
"use strict";

(function () {
  const h = GT.h;

  GT.modelUrl = (name) => "#/model/" + encodeURIComponent(name);
  GT.modelVersionUrl = (name, version) => GT.modelUrl(name) + "?v=" + encodeURIComponent(version);

  function aliasChips(aliases) {
    // aliases: {alias: version} or [alias]
    const items = Array.isArray(aliases) ? aliases.map((a) => [a, null]) : Object.entries(aliases || {});
    return h("span", { class: "aliases" }, items.map(([a, v]) =>
      h("span", { class: "alias-chip", title: v ? "@" + a + " → version " + v : "@" + a }, "@" + a, v ? " → v" + v : "")));
  }

  function tagText(tags) {
    return Object.entries(tags || {}).map(([k, v]) => k + "=" + v).join(", ");
  }

  function notFound(root, title, err, back) {
    GT.clear(root).appendChild(h("div", { class: "card not-found" }, h("h1", null, title), GT.errorBox(err),
      h("p", null, h("a", { href: back[0] }, back[1]))));
  }

  // "Loading…" in root, then the API's answer; null once onError(error) has shown a failure
  async function fetchInto(root, path, params, onError) {
    GT.clear(root).appendChild(h("p", { class: "muted" }, "Loading…"));
    try {
      return await GT.api(path, params);
    } catch (e) {
      onError(e);
      return null;
    }
  }

  // One page of models at a time, the registry search's own pages: Next follows the page's
  // next_page_token, Prev goes back to the token that gave the page before; the name filter
  // is a search of every model (name ILIKE), which starts again from the first page.
  class ModelsView {
    constructor(root) {
      this.root = root;
      this.search = "";
      this.tokens = [null]; // tokens[i]: the page_token of page i (null: the first page)
      this.index = 0;
      this.pageSizes = []; // rows on each page seen, for the "101–103" count
      this.seq = 0;
      this.build();
      this.load();
    }

    build() {
      this.find = h("input", { type: "search", class: "filter", placeholder: "Find a model by name…",
        oninput: GT.debounce(() => {
          this.search = this.find.value.trim();
          this.tokens = [null];
          this.pageSizes = [];
          this.index = 0;
          this.load();
        }, 250) });
      this.body = h("tbody", null, h("tr", null, h("td", { colspan: 5, class: "muted" }, "Loading…")));
      this.warn = h("div");
      this.pager = h("div", { class: "pager" });
      GT.clear(this.root).appendChild(h("div", { class: "models-page" },
        h("h1", null, "Registered models"),
        h("div", { class: "toolbar" }, h("div", { class: "filter-wrap" }, this.find)),
        this.warn,
        h("div", { class: "table-wrap" }, h("table", { class: "runs models" },
          h("thead", null, h("tr", null, ["Name", "Latest version", "Aliases", "Description", "Last updated"]
            .map((c) => h("th", null, c)))),
          this.body)),
        this.pager));
    }

    async load() {
      const seq = ++this.seq; // an answer to an older request (typing on) is dropped
      let data;
      try {
        data = await GT.api("models", { search: this.search, page_token: this.tokens[this.index] });
      } catch (e) {
        if (seq !== this.seq) return;
        GT.clear(this.body).appendChild(h("tr", null, h("td", { colspan: 5 }, GT.errorBox(e))));
        return;
      }
      if (seq !== this.seq) return;
      this.tokens.length = this.index + 1;
      if (data.next_page_token) this.tokens.push(data.next_page_token);
      this.fill(data);
    }

    fill(data) {
      const body = GT.clear(this.body);
      for (const m of data.models) {
        body.appendChild(h("tr", { "data-model": m.name },
          h("td", { class: "name" }, h("a", { href: GT.modelUrl(m.name) }, m.name)),
          h("td", { class: "num" }, m.latest_version === null ? "" :
            h("a", { href: GT.modelVersionUrl(m.name, m.latest_version) }, "v" + m.latest_version)),
          h("td", { class: "aliases-cell" }, aliasChips(m.aliases)),
          h("td", { class: "desc", title: m.description }, m.description),
          h("td", null, GT.fmtTime(m.last_updated_timestamp))));
      }
      if (!data.models.length) {
        body.appendChild(h("tr", null, h("td", { colspan: 5, class: "empty" },
          this.search || this.index ? "No model matches." : "No registered models yet. Register one with " +
            "gittrack models register RUN NAME, gittrack.register_model(…) or mlflow.register_model(…).")));
      }
      const skipped = Object.entries(data.skipped || {});
      GT.clear(this.warn);
      if (skipped.length) {
        this.warn.appendChild(h("div", { class: "error", role: "alert" }, skipped.map(([ref, why]) =>
          "Skipped " + ref + ", its record is unreadable: " + why + "\n")));
      }
      const before = this.pageSizes.slice(0, this.index).reduce((a, b) => a + b, 0);
      this.pageSizes[this.index] = data.models.length;
      const first = data.models.length ? before + 1 : before;
      const go = (i) => { this.index = i; this.load(); };
      GT.clear(this.pager);
      GT.append(this.pager, [
        h("button", { type: "button", class: "prev", disabled: this.index === 0, onclick: () => go(this.index - 1) }, "‹ Prev"),
        h("span", { class: "count" }, first.toLocaleString() + "–" + (before + data.models.length).toLocaleString() + " models"),
        h("button", { type: "button", class: "next", disabled: this.index + 1 >= this.tokens.length, onclick: () => go(this.index + 1) }, "Next ›"),
      ]);
    }
  }

  function historyChange(e) {
    if (e.old === null || e.old === undefined) return "set → v" + e.new;
    if (e.new === null || e.new === undefined) return "v" + e.old + " → removed";
    return "v" + e.old + " → v" + e.new;
  }

  class ModelView {
    constructor(root, name, params) {
      this.root = root;
      this.name = name;
      this.params = params;
      this.load();
    }

    async load() {
      const m = await fetchInto(this.root, "model", { name: this.name },
        (e) => notFound(this.root, "Model not found", e, ["#/models", "Back to all models"]));
      if (!m) return;
      const want = this.params.get("v");
      const versions = h("tbody");
      for (const v of m.versions) {
        const runCell = v.run_id ? [h("a", { href: GT.runUrl(v.run_id), class: "run-link", title: v.run_id },
          v.run_name || v.run_id.slice(0, 12)),
        v.run_name === null ? h("span", { class: "muted", title: "The run is not in this repository" }, " (not here)")
          : h("span", { class: "muted" }, " " + v.run_id.slice(0, 8))]
          : v.model_id ? h("code", null, v.model_id) : "";
        versions.appendChild(h("tr", { "data-version": v.version, class: want === v.version ? "selected" : null },
          h("td", { class: "num" }, "v" + v.version),
          h("td", null, h("span", { class: "status status-" + (v.status === "READY" ? "finished" : "running"),
            title: v.status_message || null }, v.status)),
          h("td", null, aliasChips(v.aliases)),
          h("td", null, v.current_stage === "None" ? "" : v.current_stage),
          h("td", null, runCell),
          h("td", { class: "source", title: v.source }, h("code", null, v.source)),
          h("td", { class: "tags", title: tagText(v.tags) }, tagText(v.tags)),
          h("td", { class: "desc", title: v.description }, v.description),
          h("td", null, GT.fmtTime(v.creation_timestamp))));
      }
      if (!m.versions.length) versions.appendChild(h("tr", null, h("td", { colspan: 9, class: "empty" }, "No versions.")));
      const hist = h("tbody");
      for (const e of m.alias_history) {
        hist.appendChild(h("tr", { "data-alias": e.alias },
          h("td", null, GT.fmtTime(e.time)),
          h("td", null, "@" + e.alias),
          h("td", { class: "change" }, historyChange(e)),
          h("td", null, e.author),
          h("td", null, h("code", { title: e.message }, e.commit.slice(0, 10))),
          h("td", { class: "desc", title: e.message }, e.message)));
      }
      if (!m.alias_history.length) hist.appendChild(h("tr", null, h("td", { colspan: 6, class: "empty" }, "No alias was ever set.")));
      const head = (cols) => h("thead", null, h("tr", null, cols.map((c) => h("th", null, c))));
      GT.clear(this.root).appendChild(h("div", { class: "model-page" },
        h("p", null, h("a", { href: "#/models" }, "← All models")),
        h("div", { class: "card" },
          h("h1", null, m.name),
          GT.kvTable([
            ["Description", m.description],
            ["Aliases", Object.keys(m.aliases).length ? aliasChips(m.aliases) : "none"],
            ["Tags", tagText(m.tags)],
            ["Created", GT.fmtTime(m.creation_timestamp)],
            ["Last updated", GT.fmtTime(m.last_updated_timestamp)],
          ])),
        h("section", { class: "card", id: "versions" }, h("h2", null, "Versions (" + m.versions.length + ")"),
          h("div", { class: "table-wrap" }, h("table", { class: "runs versions" },
            head(["Version", "Status", "Aliases", "Stage", "Source run", "Source", "Tags", "Description", "Created"]),
            versions))),
        h("section", { class: "card", id: "alias-history" },
          h("h2", null, "Alias history"),
          h("p", { class: "muted" }, "Read from the commits of the model's registry ref (git log), newest first."),
          h("div", { class: "table-wrap" }, h("table", { class: "runs history" },
            head(["When", "Alias", "Change", "Who", "Commit", "Message"]), hist)))));
    }
  }

  // The run page's "Model versions" row: links to each version registered from the run.
  GT.runModelVersions = function runModelVersions(list) {
    if (!list || !list.length) return "";
    return h("span", { class: "model-versions" }, list.map((v, i) => [i ? ", " : "",
      h("a", { href: GT.modelVersionUrl(v.name, v.version) }, v.name + " v" + v.version),
      v.aliases.length ? [" ", aliasChips(v.aliases)] : null]));
  };

  GT.ModelsView = ModelsView;
  GT.ModelView = ModelView;
})();
