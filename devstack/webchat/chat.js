// The web chat channel: POST /api/channels/webchat/conversations for a conversation id and its token
// (kept for this tab in sessionStorage), then POST the customer's messages and poll the replies, each
// with "Authorization: Bearer <token>". A 429 (too many messages) pauses the form for Retry-After.
(function () {
  const api = window.SWITCHBOARD_FUNCTIONS_URL.replace(/\/$/, "") + "/api/channels/webchat";
  const log = document.getElementById("log");
  const form = document.getElementById("send");
  const input = document.getElementById("text");
  const store = window.sessionStorage;
  let conversation = store.getItem("switchboard.conversation");
  let token = store.getItem("switchboard.token");
  let cursor = Number(store.getItem("switchboard.cursor") || 0);
  let opening = null;  // the request for a new conversation, while one is in flight
  let expired = false;

  function newId() {
    return Array.from(crypto.getRandomValues(new Uint8Array(12)), b => b.toString(16).padStart(2, "0")).join("");
  }
  function show(who, text) {
    const item = document.createElement("li");
    item.className = who;
    item.textContent = text;
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }
  const sleep = ms => new Promise(res => setTimeout(res, ms));
  async function reason(r) {
    try { return await r.json(); } catch (e) { return { error: r.statusText }; }
  }
  // Seconds to wait after a 429: the body says (another origin cannot read the Retry-After header).
  function retryAfter(r, data) {
    return Math.max(1, Number(data.retry_after || r.headers.get("Retry-After") || 5));
  }
  // Too many messages: say so politely, count down with the form disabled, then enable it again.
  async function pause(seconds, what) {
    const notice = show("notice", "");
    form.querySelectorAll("input, button").forEach(el => { el.disabled = true; });
    for (let left = seconds; left > 0; left--) {
      notice.textContent = `Sorry, that's ${what} for now. Please wait ${left} s.`;
      await sleep(1000);
    }
    notice.remove();
    form.querySelectorAll("input, button").forEach(el => { el.disabled = false; });
    input.focus();
  }
  function expire() {  // the token is not (or no longer) the conversation's: start again
    if (expired) return;
    expired = true;
    ["switchboard.conversation", "switchboard.token", "switchboard.cursor"].forEach(k => store.removeItem(k));
    show("error", "This chat has expired. Press New chat to start a new one.");
  }

  async function open() {  // this tab's conversation: issued by the server once, then kept
    while (!conversation) {
      const r = await fetch(api + "/conversations", { method: "POST" });
      const data = await reason(r);
      if (r.status === 429) { await pause(retryAfter(r, data), "too many new chats"); continue; }
      if (!r.ok) throw new Error(data.error || r.statusText);
      conversation = data.conversation_id;
      token = data.token;
      store.setItem("switchboard.conversation", conversation);
      store.setItem("switchboard.token", token);
    }
  }
  function opened() {
    if (!opening) opening = open().finally(() => { opening = null; });
    return opening;
  }
  const auth = () => ({ "Authorization": "Bearer " + token });

  async function send(text) {
    show("customer", text);
    try { await opened(); } catch (e) { show("error", "The chat could not start. Please try again."); return; }
    const body = JSON.stringify({ conversation_id: conversation, message_id: newId(), text });
    for (let attempt = 0, paused = 0; attempt < 3; attempt++) {  // the same message_id: a retry is never a second turn
      try {
        const r = await fetch(api + "/messages", {
          method: "POST", headers: { "Content-Type": "application/json", ...auth() }, body });
        if (r.ok) return;
        const data = await reason(r);
        if (r.status === 429 && paused++ < 3) {  // then send it again: it was not taken
          await pause(retryAfter(r, data), "too many messages");
          attempt--;
          continue;
        }
        if (r.status === 401 || r.status === 403) { expire(); return; }
        if (r.status < 500) { show("error", data.error || r.statusText); return; }
      } catch (e) { /* network: retry */ }
      await sleep(500 * (attempt + 1));
    }
    show("error", "The message could not be sent. Please try again.");
  }
  async function poll() {
    if (conversation && !expired) {
      try {
        const r = await fetch(`${api}/conversations/${conversation}/messages?after=${cursor}`, { headers: auth() });
        if (r.ok) {
          const data = await r.json();
          data.messages.forEach(m => show("bot", m.text));
          cursor = data.cursor;
          store.setItem("switchboard.cursor", String(cursor));
        } else if (r.status === 401 || r.status === 403) {
          expire();
        }
      } catch (e) { /* the functions host is restarting: keep polling */ }
    }
    setTimeout(poll, 400);
  }
  form.addEventListener("submit", e => {
    e.preventDefault();
    const text = input.value.trim();
    if (text) send(text);
    input.value = "";
  });
  document.getElementById("restart").addEventListener("click", () => {
    ["switchboard.conversation", "switchboard.token", "switchboard.cursor"].forEach(k => store.removeItem(k));
    location.reload();
  });
  opened().catch(() => { /* opened again on the first message */ });
  poll();
})();
