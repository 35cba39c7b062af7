// The agent inbox's transcript: new turns (a customer writing while a person has the conversation,
// an agent's message once delivered) appear without a reload. Text goes in through textContent only.
(function () {
  const table = document.getElementById("transcript");
  if (!table) return;
  const body = table.tBodies[0];
  const status = document.getElementById("transcript-status");
  const url = table.dataset.turnsUrl;
  let cursor = Number(table.dataset.cursor) || 0;
  const EVERY_MS = 4000;

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function row(turn) {
    const tr = document.createElement("tr");
    tr.dataset.id = turn.id;
    tr.dataset.received = turn.received_at;
    tr.appendChild(cell(turn.when, "muted"));
    tr.appendChild(cell(turn.customer));
    const answer = cell("");
    if (turn.reply) {
      const tag = document.createElement("span");
      tag.className = "tag by-" + turn.by;
      tag.textContent = turn.by;
      answer.appendChild(tag);
      answer.appendChild(document.createTextNode(" " + turn.reply));
    }
    tr.appendChild(answer);
    const state = cell(turn.status, "muted");
    if (turn.error) {
      const error = document.createElement("span");
      error.className = "error";
      error.textContent = " " + turn.error;
      state.appendChild(error);
    }
    tr.appendChild(state);
    return tr;
  }

  function place(turn) {
    const fresh = row(turn);
    const same = Array.from(body.rows).find((r) => r.dataset.id === turn.id);
    if (same) { same.replaceWith(fresh); return; }
    const later = Array.from(body.rows).find((r) => Number(r.dataset.received) > turn.received_at);
    body.insertBefore(fresh, later || null);
  }

  async function poll() {
    try {
      const data = await window.switchboard.get(url + "?after=" + encodeURIComponent(cursor));
      (data.turns || []).forEach(place);
      if (typeof data.cursor === "number") cursor = data.cursor;
      status.textContent = data.handoff === false ? "The bot has this conversation again: reload the page." : "";
    } catch (e) {
      status.textContent = "Could not fetch new messages: " + e.message;
    }
    window.setTimeout(poll, EVERY_MS);
  }

  window.setTimeout(poll, EVERY_MS);
})();
