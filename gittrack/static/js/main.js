// Router: #/runs (table), #/run/<id> (run page), #/compare?runs=a,b (comparison),
// #/diff?a=<id>&b=<id> (two runs diffed).
"use strict";

(function () {
  const app = document.getElementById("app");

  function route() {
    if (GT.currentView && GT.currentView.destroy) GT.currentView.destroy();
    const { parts, params } = GT.parseHash();
    const view = document.createElement("div");
    GT.clear(app).appendChild(view);
    window.scrollTo(0, 0);
    if (parts[0] === "run" && parts[1]) {
      GT.currentView = new GT.RunView(view, parts[1], params);
      document.title = "Run " + parts[1].slice(0, 8) + " · gittrack";
    } else if (parts[0] === "diff") {
      GT.currentView = new GT.DiffView(view, params);
      document.title = "Diff · gittrack";
    } else if (parts[0] === "compare") {
      GT.currentView = new GT.CompareView(view, params);
      document.title = "Compare · gittrack";
    } else if (parts[0] === "models") { // the model registry (models.js)
      GT.currentView = new GT.ModelsView(view);
      document.title = "Models · gittrack";
    } else if (parts[0] === "model" && parts[1]) {
      GT.currentView = new GT.ModelView(view, parts[1], params);
      document.title = "Model " + parts[1] + " · gittrack";
    } else {
      GT.currentView = new GT.RunsView(view, params);
      document.title = "Runs · gittrack";
    }
  }

  window.addEventListener("hashchange", route);
  route();
})();
