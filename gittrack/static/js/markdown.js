// A small, safe Markdown renderer for run notes: it builds DOM nodes directly, so raw
// HTML in a note shows as text and links only follow http(s)/mailto URLs.
// Supports headings, paragraphs, fenced code, lists, block quotes, rules,
// `code`, **bold**, *emphasis* and [links](https://...).
"use strict";

(function () {
  const h = GT.h;

  function inline(text) {
    const out = [];
    // "_" and "__" emphasis only at word boundaries (snake_case and __dunder__ stay text)
    const re = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*([^*]+)\*\*|(?<!\w)__([^_]+)__(?!\w)|\*([^*\s][^*]*)\*|(?<!\w)_([^_\s][^_]*)_(?!\w)|\[([^\]]+)\]\(([^)\s]+)\)/g;
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) out.push(text.slice(last, m.index));
      if (m[1]) out.push(h("code", null, m[2]));
      else if (m[3] || m[4]) out.push(h("strong", null, inline(m[3] || m[4])));
      else if (m[5] || m[6]) out.push(h("em", null, inline(m[5] || m[6])));
      else if (m[7]) {
        const url = m[8];
        if (/^(https?:|mailto:)/i.test(url)) {
          out.push(h("a", { href: url, rel: "noopener noreferrer nofollow", target: "_blank" }, inline(m[7])));
        } else {
          out.push(m[0]); // unsafe or relative scheme: show the source text
        }
      }
      last = re.lastIndex;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }

  GT.renderMarkdown = function renderMarkdown(src) {
    const root = h("div", { class: "markdown" });
    const lines = String(src || "").replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    let para = [];
    const flush = () => {
      if (para.length) root.appendChild(h("p", null, inline(para.join(" "))));
      para = [];
    };
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if ((m = /^(```|~~~)\s*(\S*)/.exec(line))) {
        flush();
        const fence = m[1];
        const body = [];
        i++;
        while (i < lines.length && !lines[i].startsWith(fence)) body.push(lines[i++]);
        i++;
        root.appendChild(h("pre", null, h("code", null, body.join("\n"))));
        continue;
      }
      if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
        flush();
        root.appendChild(h("h" + Math.min(m[1].length + 2, 6), null, inline(m[2].replace(/\s#+\s*$/, ""))));
        i++;
        continue;
      }
      if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
        flush();
        root.appendChild(h("hr"));
        i++;
        continue;
      }
      if (/^>\s?/.test(line)) {
        flush();
        const body = [];
        while (i < lines.length && /^>\s?/.test(lines[i])) body.push(lines[i++].replace(/^>\s?/, ""));
        root.appendChild(h("blockquote", null, GT.renderMarkdown(body.join("\n"))));
        continue;
      }
      if ((m = /^\s*([-*+]|\d+[.)])\s+/.exec(line))) {
        flush();
        const ordered = /\d/.test(m[1]);
        const list = h(ordered ? "ol" : "ul");
        while (i < lines.length && (m = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(lines[i]))) {
          list.appendChild(h("li", null, inline(m[2])));
          i++;
        }
        root.appendChild(list);
        continue;
      }
      if (!line.trim()) {
        flush();
        i++;
        continue;
      }
      para.push(line.trim());
      i++;
    }
    flush();
    return root;
  };
})();
