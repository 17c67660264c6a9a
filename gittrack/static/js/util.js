// gittrack UI helpers: DOM building without innerHTML, API calls, formatting, URL state.
// Every piece of text from the server is inserted as a text node, never parsed as HTML.
"use strict";

const GT = (window.GT = window.GT || {});

// h("a", {href: "#/runs", class: "x", onclick: fn}, "text", child, [more]) -> element
GT.h = function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k === "value") el.value = v;
      else if (k === "checked") el.checked = !!v;
      else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
      else if (k === "href" && !GT.safeHref(String(v))) el.setAttribute("href", "#");
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  GT.append(el, children);
  return el;
};

GT.append = function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) GT.append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
};

// Only in-app hash links, same-origin API paths and http(s)/mailto URLs are followed.
GT.safeHref = function safeHref(url) {
  const u = url.trim();
  if (u.startsWith("#") || u.startsWith("/ui/")) return true;
  return /^(https?:|mailto:)/i.test(u);
};

GT.clear = function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
};

GT.ApiError = class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
};

GT.api = async function api(path, params) {
  const qs = params ? "?" + new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "")
  ).toString() : "";
  const resp = await fetch("/ui/api/" + path + qs, { headers: { Accept: "application/json" } });
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (!resp.ok) {
    const msg = body && body.message ? body.message : resp.status + " " + resp.statusText;
    throw new GT.ApiError(resp.status, body && body.error_code, msg);
  }
  return body;
};

GT.runUrl = (id) => "#/run/" + encodeURIComponent(id);
GT.artifactUrl = (id, path, download) =>
  "/ui/api/runs/" + encodeURIComponent(id) + "/artifact?path=" + encodeURIComponent(path) +
  (download ? "&download=1" : "");

// --- formatting ---------------------------------------------------------------
GT.pad = (n) => String(n).padStart(2, "0");
GT.fmtTime = function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  return d.getFullYear() + "-" + GT.pad(d.getMonth() + 1) + "-" + GT.pad(d.getDate()) + " " +
    GT.pad(d.getHours()) + ":" + GT.pad(d.getMinutes()) + ":" + GT.pad(d.getSeconds());
};
GT.fmtDuration = function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return ms + " ms";
  let s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
};
GT.fmtNum = function fmtNum(v) {
  if (v === null || v === undefined) return "";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e6)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
};
// An axis tick: as fmtNum, but exponents without trailing zeros (1e-5, 2.5e+6).
GT.fmtTick = function fmtTick(v) {
  const s = GT.fmtNum(v);
  return s.includes("e") ? s.replace(/\.?0+e/, "e") : s;
};
GT.fmtBytes = function fmtBytes(n) {
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(1) + " " + u[i];
};

GT.statusBadge = function statusBadge(status) {
  return GT.h("span", { class: "status status-" + String(status || "").toLowerCase(), title: status === "CRASHED"
    ? "The run's record says RUNNING but its process stopped sending heartbeats" : null }, status || "");
};

// --- URL state: "#/route/arg?key=value" ----------------------------------------
GT.parseHash = function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/runs";
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params };
};

GT.hashFor = function hashFor(path, params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) continue;
    qs.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  const s = qs.toString();
  return "#" + path + (s ? "?" + s : "");
};

// Put the current view's state in the URL without re-rendering.
GT.replaceHash = function replaceHash(hash) {
  if (location.hash !== hash) history.replaceState(null, "", hash); // fires no hashchange
};

GT.errorBox = function errorBox(err) {
  return GT.h("div", { class: "error", role: "alert" }, err && err.message ? err.message : String(err));
};

GT.debounce = function debounce(fn, ms) {
  let t = null;
  return function (...args) {
    clearTimeout(t);
    t = setTimeout(() => fn.apply(this, args), ms);
  };
};

GT.section = function section(title, ...body) {
  return GT.h("section", { class: "card" }, GT.h("h2", null, title), ...body);
};

// A two-column key/value table; values may be nodes or text.
GT.kvTable = function kvTable(pairs, cls) {
  return GT.h("table", { class: "kv " + (cls || "") },
    GT.h("tbody", null, pairs.map(([k, v]) => GT.h("tr", null, GT.h("th", null, k), GT.h("td", null, v)))));
};

GT.palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];
GT.color = (i) => GT.palette[i % GT.palette.length];

// Unified diff of one or more files, each line coloured by its first character.
GT.renderDiff = function renderDiff(files, truncated) {
  if (!files.length) return GT.h("p", { class: "muted" }, "No differences.");
  return GT.h("div", { class: "diff" },
    files.map((f) => GT.h("details", { class: "diff-file", open: files.length <= 20 },
      GT.h("summary", null,
        GT.h("span", { class: "diff-status" }, f.status), " ",
        GT.h("code", null, f.old_path && f.old_path !== f.path ? f.old_path + " → " + f.path : f.path), " ",
        GT.h("span", { class: "add" }, "+" + f.additions), " ",
        GT.h("span", { class: "del" }, "−" + f.deletions)),
      f.binary ? GT.h("p", { class: "muted" }, "Binary file") :
        GT.h("pre", { class: "diff-body" }, (f.patch || "").split("\n").map((line) => {
          const c = line[0];
          const cls = line.startsWith("@@") ? "hunk" : c === "+" && !line.startsWith("+++") ? "add"
            : c === "-" && !line.startsWith("---") ? "del" : "";
          return GT.h("span", { class: "line " + cls }, line + "\n");
        })))),
    truncated ? GT.h("p", { class: "muted" }, "Diff truncated.") : null);
};
