// Entities: the synonyms textarea (`textarea[data-synonyms]`) checked as you type, line by line, as the
// server checks it on save (admin_site/catalogue.py parse_synonyms): `value: alternative, alternative`,
// and no word a synonym of two values. Problems are listed with textContent only.
(function () {
  "use strict";

  function synonymProblems(value) {
    const problems = [];
    const owner = new Map();
    value.split(/\r\n|\r|\n/).forEach((line, i) => {
      if (!line.trim()) return;
      const colon = line.indexOf(":");
      const name = colon < 0 ? "" : line.slice(0, colon).trim();
      const alternatives = colon < 0 ? [] : line.slice(colon + 1).split(",").map((a) => a.trim()).filter(Boolean);
      if (!name || !alternatives.length) {
        problems.push(`line ${i + 1}: write the value, a colon and its alternatives separated by commas, like 'blue: navy, cobalt'`);
        return;
      }
      for (const alt of alternatives) {
        const first = owner.get(alt.toLowerCase());
        if (first === undefined) owner.set(alt.toLowerCase(), name);
        else if (first !== name) problems.push(`line ${i + 1}: '${alt}' is already a synonym of '${first}'`);
      }
    });
    return problems;
  }

  function setup(textarea) {
    const list = document.getElementById(textarea.dataset.problems);
    if (!list) return;
    const render = () => {
      const items = synonymProblems(textarea.value).map((problem) => {
        const li = document.createElement("li");
        li.textContent = problem;
        return li;
      });
      list.replaceChildren(...items);
      list.hidden = items.length === 0;
    };
    textarea.addEventListener("input", render);
    render();
  }

  if (typeof module !== "undefined" && module.exports) {
    module.exports = { synonymProblems };
    return;
  }
  document.querySelectorAll("textarea[data-synonyms]").forEach(setup);
})();
