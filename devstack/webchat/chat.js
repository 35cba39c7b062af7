// The web chat channel: POST /api/channels/webchat/messages, then poll the conversation's replies.
(function () {
  const api = window.SWITCHBOARD_FUNCTIONS_URL.replace(/\/$/, "") + "/api/channels/webchat";
  const log = document.getElementById("log");
  const input = document.getElementById("text");
  let conversation = localStorage.getItem("switchboard.conversation");
  let cursor = Number(localStorage.getItem("switchboard.cursor") || 0);

  function newId() {
    return Array.from(crypto.getRandomValues(new Uint8Array(12)), b => b.toString(16).padStart(2, "0")).join("");
  }
  if (!conversation) {
    conversation = newId();
    localStorage.setItem("switchboard.conversation", conversation);
  }
  function show(who, text) {
    const item = document.createElement("li");
    item.className = who;
    item.textContent = text;
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }
  async function send(text) {
    show("customer", text);
    const body = JSON.stringify({ conversation_id: conversation, message_id: newId(), text });
    for (let attempt = 0; attempt < 3; attempt++) {  // the same message_id: a retry is never a second turn
      try {
        const r = await fetch(api + "/messages", { method: "POST", headers: { "Content-Type": "application/json" }, body });
        if (r.ok) return;
        const reason = (await r.json()).error || r.statusText;
        if (r.status < 500) { show("error", reason); return; }
      } catch (e) { /* network: retry */ }
      await new Promise(res => setTimeout(res, 500 * (attempt + 1)));
    }
    show("error", "The message could not be sent. Please try again.");
  }
  async function poll() {
    try {
      const r = await fetch(`${api}/conversations/${conversation}/messages?after=${cursor}`);
      if (r.ok) {
        const data = await r.json();
        data.messages.forEach(m => show("bot", m.text));
        cursor = data.cursor;
        localStorage.setItem("switchboard.cursor", String(cursor));
      }
    } catch (e) { /* the functions host is restarting: keep polling */ }
    setTimeout(poll, 400);
  }
  document.getElementById("send").addEventListener("submit", e => {
    e.preventDefault();
    const text = input.value.trim();
    if (text) send(text);
    input.value = "";
  });
  document.getElementById("restart").addEventListener("click", () => {
    localStorage.removeItem("switchboard.conversation");
    localStorage.removeItem("switchboard.cursor");
    location.reload();
  });
  poll();
})();
