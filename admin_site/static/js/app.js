// Shared by every page: fetch calls that carry the CSRF token, as forms do.
(function () {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  window.switchboard = {
    // JSON in, JSON out; a 4xx/5xx rejects with the server's reason.
    async send(method, url, body) {
      const response = await fetch(url, {
        method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token, "Accept": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(data.error || response.statusText);
      return data;
    },
    async get(url) {
      const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(data.error || response.statusText);
      return data;
    },
  };
})();
