// Intents: a live preview of an examples textarea (`textarea[data-annotate]`), one example a line.
// Each line is parsed as the server parses it (nlu/dataset.py parse_annotated): entity spans are
// shown marked, and a line's problems (an unbalanced bracket, an unknown entity, nothing but an
// annotation) are named before saving. The known entities come from the textarea's data-entities.
// The server checks again on save: it is the authority. Built with DOM methods and textContent only.
(function () {
  "use strict";

  const ANNOTATION = /\[([^\[\]()]+)\]\(([A-Za-z_][\p{L}\p{N}_.-]*)\)/gu;
  const SHOWN = 1000; // lines without problems rendered at most (every line with a problem is shown)
  const DELAY = 150; // ms of quiet typing before the preview is rebuilt

  function bracketProblem(fragment) {
    for (const ch of "[]") {
      if (fragment.includes(ch)) return `unbalanced annotation bracket '${ch}': write entities as [value](entity_name)`;
    }
    return null;
  }

  // One example -> {parts: [{text, entity|null}], problems: [string]}.
  function parseLine(raw, known) {
    const parts = [];
    const problems = [];
    let pos = 0;
    let text = "";
    ANNOTATION.lastIndex = 0;
    for (const m of raw.matchAll(ANNOTATION)) {
      const before = raw.slice(pos, m.index);
      const bad = bracketProblem(before);
      if (bad) return { parts: [{ text: raw, entity: null }], problems: [bad] };
      if (before) parts.push({ text: before, entity: null });
      parts.push({ text: m[1], entity: m[2] });
      text += before + m[1];
      pos = m.index + m[0].length;
    }
    const rest = raw.slice(pos);
    const bad = bracketProblem(rest);
    if (bad) return { parts: [{ text: raw, entity: null }], problems: [bad] };
    if (rest) parts.push({ text: rest, entity: null });
    text += rest;
    if (!text.trim()) return { parts, problems: ["the example is empty"] };
    const names = [...known].sort().join(", ") || "none";
    for (const part of parts) {
      if (part.entity !== null && !known.has(part.entity)) {
        problems.push(`unknown entity '${part.entity}' (known: ${names})`);
      }
    }
    return { parts, problems };
  }

  // Every non-blank line of a textarea's value, with its (1-based) line number.
  function parseText(value, known) {
    const lines = [];
    value.split(/\r\n|\r|\n/).forEach((line, i) => {
      const raw = line.trim();
      if (raw) lines.push({ number: i + 1, raw, ...parseLine(raw, known) });
    });
    return lines;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function renderLine(line) {
    const li = el("li", line.problems.length ? "bad" : "");
    li.value = line.number;
    const body = el("span", "example");
    for (const part of line.parts) {
      if (part.entity === null) {
        body.appendChild(document.createTextNode(part.text));
      } else {
        const mark = el("mark", "entity", part.text);
        mark.appendChild(el("small", "", part.entity));
        body.appendChild(mark);
      }
    }
    li.appendChild(body);
    for (const problem of line.problems) li.appendChild(el("span", "error", ` ${problem}`));
    return li;
  }

  // `all`: every line (once the admin types); else only the lines with problems (the page's first
  // view, where the stored examples are listed below anyway).
  function render(textarea, preview, known, all) {
    const lines = parseText(textarea.value, known);
    const list = preview.querySelector("ol.lines");
    const summary = preview.querySelector(".summary");
    const bad = lines.filter((line) => line.problems.length).length;
    const fragment = document.createDocumentFragment();
    let quiet = 0;
    for (const line of lines) {
      if (!line.problems.length && (!all || ++quiet > SHOWN)) continue;
      fragment.appendChild(renderLine(line));
    }
    list.replaceChildren(fragment);
    let said = `${lines.length} example${lines.length === 1 ? "" : "s"}`;
    said += bad ? `, ${bad} with problems: fix them before saving.` : ", no problems.";
    if (quiet > SHOWN) said += ` Showing the first ${SHOWN} lines without problems.`;
    summary.textContent = said;
    summary.classList.toggle("error", bad > 0);
    summary.classList.toggle("muted", bad === 0);
    list.hidden = !list.children.length;
    preview.hidden = lines.length === 0;
  }

  function setup(textarea) {
    const preview = document.getElementById(textarea.dataset.preview);
    if (!preview) return;
    let known;
    try {
      known = new Set(JSON.parse(textarea.dataset.entities || "[]"));
    } catch (e) {
      known = new Set();
    }
    let timer = null;
    textarea.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => render(textarea, preview, known, true), DELAY);
    });
    render(textarea, preview, known, false);
  }

  if (typeof module !== "undefined" && module.exports) {
    module.exports = { parseLine, parseText }; // for the tests (node)
    return;
  }
  document.querySelectorAll("textarea[data-annotate]").forEach(setup);
})();
