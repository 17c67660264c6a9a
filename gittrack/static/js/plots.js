// Parallel coordinates and scatter plots on a plain canvas (text drawn with fillText,
// so run names and values can never become markup).
"use strict";

(function () {
  const h = GT.h;

  function canvas(container, width, height) {
    const dpr = window.devicePixelRatio || 1;
    const c = h("canvas", { width: Math.round(width * dpr), height: Math.round(height * dpr) });
    c.style.width = width + "px";
    c.style.height = height + "px";
    container.appendChild(c);
    const ctx = c.getContext("2d");
    ctx.scale(dpr, dpr);
    ctx.font = "11px system-ui, sans-serif";
    return { c, ctx };
  }

  // A scale for a list of values: numeric when all present values are numbers.
  function scaleFor(values) {
    const present = values.filter((v) => v !== null && v !== undefined && v !== "");
    const nums = present.map((v) => (typeof v === "number" ? v : Number(v)));
    if (present.length && nums.every((n) => isFinite(n))) {
      let lo = Math.min(...nums), hi = Math.max(...nums);
      if (lo === hi) { lo -= 0.5; hi += 0.5; }
      return { numeric: true, lo, hi, pos: (v) => (v === null || v === undefined || v === "" ? null : (Number(v) - lo) / (hi - lo)),
        ticks: [[0, GT.fmtNum(lo)], [1, GT.fmtNum(hi)]] };
    }
    const cats = Array.from(new Set(present.map(String))).sort();
    const n = Math.max(cats.length - 1, 1);
    return { numeric: false, pos: (v) => (v === null || v === undefined ? null : cats.indexOf(String(v)) / n),
      ticks: cats.slice(0, 12).map((c, i) => [i / n, c]) };
  }

  function clip(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + "…" : s; }

  function gradient(t) { // 0 -> blue, 1 -> red
    const r = Math.round(40 + 200 * t), b = Math.round(220 - 180 * t);
    return "rgb(" + r + ",80," + b + ")";
  }

  // dims: [{label, values}]; colorBy: values (numbers) used to colour each line.
  GT.parallelCoordinates = function parallelCoordinates(container, dims, colorBy, labels) {
    GT.clear(container);
    if (dims.length < 2) {
      container.appendChild(h("p", { class: "muted" }, "Need at least two columns that vary between the runs."));
      return;
    }
    const width = Math.max(400, container.clientWidth || 800), height = 300;
    const pad = { l: 40, r: 60, t: 30, b: 30 };
    const { c, ctx } = canvas(container, width, height);
    c.setAttribute("data-drawn", "1");
    const scales = dims.map((d) => scaleFor(d.values));
    // room on the right for the last axis's tick labels (drawn right of it) and half its title
    const last = dims.length - 1;
    const tickW = Math.max(0, ...scales[last].ticks.map(([, t]) => ctx.measureText(clip(t, 14)).width + 4));
    pad.r = Math.ceil(Math.max(pad.r, tickW + 6, ctx.measureText(clip(dims[last].label, 22)).width / 2 + 6));
    const cs = scaleFor(colorBy);
    const x = (i) => pad.l + (i * (width - pad.l - pad.r)) / (dims.length - 1);
    const y = (p) => pad.t + (1 - p) * (height - pad.t - pad.b);
    const n = dims[0].values.length;
    ctx.lineWidth = 1.5;
    for (let r = 0; r < n; r++) {
      const t = cs.numeric ? cs.pos(colorBy[r]) : null;
      ctx.strokeStyle = t === null ? "rgba(120,120,120,0.6)" : gradient(t);
      const ps = dims.map((d, i) => scales[i].pos(d.values[r]));
      ctx.beginPath();
      ps.forEach((p, i) => {
        if (p === null) return;
        if (i === 0 || ps[i - 1] === null) ctx.moveTo(x(i), y(p)); else ctx.lineTo(x(i), y(p));
      });
      ctx.stroke();
      // a value whose neighbours are both missing has no segment: mark it with a dot, so a
      // run missing every other value (e.g. one of two axes) is still drawn
      ctx.fillStyle = ctx.strokeStyle;
      ps.forEach((p, i) => {
        if (p === null || (i > 0 && ps[i - 1] !== null) || (i < ps.length - 1 && ps[i + 1] !== null)) return;
        ctx.beginPath(); ctx.arc(x(i), y(p), 3.5, 0, 2 * Math.PI); ctx.fill();
      });
    }
    ctx.fillStyle = "#222";
    ctx.strokeStyle = "#444";
    ctx.lineWidth = 1;
    dims.forEach((d, i) => {
      ctx.beginPath(); ctx.moveTo(x(i), y(0)); ctx.lineTo(x(i), y(1)); ctx.stroke();
      ctx.textAlign = "center";
      ctx.fillText(clip(d.label, 22), x(i), pad.t - 12);
      ctx.textAlign = "left";
      for (const [p, txt] of scales[i].ticks) ctx.fillText(clip(txt, 14), x(i) + 4, y(p) + 4);
    });
    if (labels) container.appendChild(h("div", { class: "muted" }, labels));
  };

  // points: [{x, y, label, color}]
  GT.scatter = function scatter(container, xLabel, yLabel, points) {
    GT.clear(container);
    const width = Math.max(300, Math.min(container.clientWidth || 600, 700)), height = 360;
    const pad = { l: 70, r: 20, t: 20, b: 50 };
    const { c, ctx } = canvas(container, width, height);
    const tip = h("div", { class: "tooltip", hidden: true });
    container.appendChild(tip);
    const xs = scaleFor(points.map((p) => p.x)), ys = scaleFor(points.map((p) => p.y));
    const X = (v) => pad.l + xs.pos(v) * (width - pad.l - pad.r);
    const Y = (v) => pad.t + (1 - ys.pos(v)) * (height - pad.t - pad.b);
    ctx.strokeStyle = "#444";
    ctx.beginPath(); ctx.moveTo(pad.l, pad.t); ctx.lineTo(pad.l, height - pad.b); ctx.lineTo(width - pad.r, height - pad.b); ctx.stroke();
    ctx.fillStyle = "#222";
    ctx.textAlign = "center";
    ctx.fillText(clip(xLabel, 60), (pad.l + width - pad.r) / 2, height - 10);
    for (const [p, t] of xs.ticks) ctx.fillText(clip(t, 12), pad.l + p * (width - pad.l - pad.r), height - pad.b + 14);
    ctx.save(); ctx.translate(14, (pad.t + height - pad.b) / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText(clip(yLabel, 50), 0, 0); ctx.restore();
    ctx.textAlign = "right";
    for (const [p, t] of ys.ticks) ctx.fillText(clip(t, 10), pad.l - 4, pad.t + (1 - p) * (height - pad.t - pad.b) + 4);
    const drawn = [];
    for (const p of points) {
      if (xs.pos(p.x) === null || ys.pos(p.y) === null) continue;
      const px = X(p.x), py = Y(p.y);
      ctx.fillStyle = p.color || "#1f77b4";
      ctx.beginPath(); ctx.arc(px, py, 4, 0, 2 * Math.PI); ctx.fill();
      drawn.push([px, py, p]);
    }
    c.setAttribute("data-drawn", String(drawn.length));
    c.addEventListener("mousemove", (ev) => {
      const r = c.getBoundingClientRect();
      const mx = ev.clientX - r.left, my = ev.clientY - r.top;
      let best = null, bd = 100;
      for (const d of drawn) {
        const dd = (d[0] - mx) ** 2 + (d[1] - my) ** 2;
        if (dd < bd) { bd = dd; best = d; }
      }
      if (!best) { tip.hidden = true; return; }
      tip.hidden = false;
      tip.textContent = best[2].label + ": " + GT.fmtNum(best[2].x) + ", " + GT.fmtNum(best[2].y);
      tip.style.left = best[0] + 10 + "px";
      tip.style.top = best[1] - 10 + "px";
    });
  };
})();
