// The dashboard: fetch the aggregated turn log for the chosen range (/dashboard/data, the page's
// data-source) and draw it with Chart.js (served from /static/vendor, no CDN). Text goes in with
// textContent only. The section's data-state ends as "drawn", "empty" or "error" (for the tests).
(function () {
  "use strict";
  const form = document.querySelector("form.dashboard-range");
  if (form) {
    // from/to are typed in the browser's time zone: tell the server which one that is
    form.elements.tz.value = String(new Date().getTimezoneOffset());
    for (const name of ["from", "to"]) {
      form.elements[name].addEventListener("input", () => { form.elements.range.value = "custom"; });
    }
    form.elements.range.addEventListener("change", () => {
      if (form.elements.range.value !== "custom") { form.elements.from.value = ""; form.elements.to.value = ""; }
    });
  }

  const root = document.getElementById("dashboard");
  if (!root) return;
  const part = (name) => root.querySelector(`[data-${name}]`);
  const status = part("status");
  const COLORS = ["#2d5bd7", "#e07b39", "#1e7b34", "#b3261e", "#7b4bc4", "#0f8b8d", "#9a6700", "#c2185b", "#5b6475"];
  const RATE_LABELS = { fallback: "fallback", out_of_scope: "out of scope", handoff: "handoff", failed: "failed" };

  function fail(message) {
    status.textContent = message;
    status.classList.add("error");
    root.dataset.state = "error";
  }

  if (typeof window.Chart === "undefined") {
    fail("The charting library did not load (static/vendor/chart.umd.js: run make install).");
    return;
  }
  window.switchboard.get(root.dataset.source).then(draw).catch((e) => fail(`Could not load the dashboard: ${e.message}`));

  function label(ms, span) {
    const d = new Date(ms);
    const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (span <= 24 * 3600e3) return time;
    return `${d.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" })} ${time}`;
  }

  function percent(rate) {
    return rate === null ? "–" : `${(rate * 100).toFixed(1)} %`;
  }

  function row(tbody, cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      td.textContent = cell === null || cell === undefined ? "–" : String(cell);
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }

  function chart(id, config) {
    const base = { animation: false, responsive: true, maintainAspectRatio: false };
    return new window.Chart(document.getElementById(id), { ...config, options: { ...base, ...config.options } });
  }

  function summary(data) {
    const body = part("summary");
    const t = data.totals;
    row(body, ["customer turns", t.turns, "", "messages from customers"]);
    for (const [channel, n] of Object.entries(t.by_channel)) {
      row(body, [`on ${channel}`, n, t.turns ? percent(n / t.turns) : null, ""]);
    }
    for (const r of data.rates) row(body, [RATE_LABELS[r.name] || r.name, r.turns, percent(r.rate), r.meaning]);
    if (t.agent_replies) row(body, ["agent replies", t.agent_replies, "", "sent by people from the inbox"]);
    part("period").textContent = `${new Date(data.from).toLocaleString()} – ${new Date(data.to).toLocaleString()}`;
  }

  function latencyTable(data) {
    const body = part("latency");
    for (const s of data.latency) row(body, [s.step, s.turns, s.p50, s.p95]);
    part("latency-note").textContent =
      `Percentiles come from log-spaced histograms: each is within ${data.latency_relative_error * 100} % of the exact value.`;
  }

  function draw(data) {
    if (!data || !data.totals) {  // e.g. the session ended and the answer was the login page
      fail("Could not load the dashboard: log in again.");
      return;
    }
    status.hidden = true;
    if (data.totals.turns === 0 && data.totals.agent_replies === 0) {
      part("empty").hidden = false;
      root.dataset.state = "empty";
      return;
    }
    part("drawn").hidden = false;
    summary(data);
    latencyTable(data);
    const s = data.series;
    const span = data.to - data.from;
    const labels = s.starts.map((ms) => label(ms, span));
    part("turns-title").textContent =
      data.step_ms >= 3600e3 ? "Turns per hour by channel" : `Turns per ${data.step_ms / 60e3} minutes by channel`;

    chart("chart-turns", {
      type: "bar",
      data: { labels, datasets: Object.entries(s.turns_by_channel).map(([channel, counts], i) => (
        { label: channel, data: counts, backgroundColor: COLORS[i % COLORS.length] })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    });

    const top = data.intents.slice(0, 8);
    const rest = data.intents.slice(8).reduce((n, i) => n + i.turns, 0);
    const intents = rest ? [...top, { name: "other intents", turns: rest }] : top;
    chart("chart-intents", {
      type: "doughnut",
      data: { labels: intents.map((i) => i.name),
              datasets: [{ data: intents.map((i) => i.turns), backgroundColor: intents.map((_, i) => COLORS[i % COLORS.length]) }] },
      options: { plugins: { legend: { position: "right" } } },
    });

    chart("chart-rates", {
      type: "line",
      data: { labels, datasets: data.rates.map(({ name }, i) => ({
        label: RATE_LABELS[name] || name, data: s.rates[name].map((r) => (r === null ? null : r * 100)),
        borderColor: COLORS[i % COLORS.length], backgroundColor: COLORS[i % COLORS.length], pointRadius: 1 })) },
      options: { scales: { y: { beginAtZero: true, suggestedMax: 10, title: { display: true, text: "% of customer turns" } } } },
    });

    chart("chart-latency", {
      type: "bar",
      data: { labels: data.latency.map((l) => l.step),
              datasets: [{ label: "p50", data: data.latency.map((l) => l.p50), backgroundColor: COLORS[0] },
                         { label: "p95", data: data.latency.map((l) => l.p95), backgroundColor: COLORS[1] }] },
      options: { scales: { y: { type: "logarithmic", title: { display: true, text: "ms (log scale)" } } } },
    });

    chart("chart-e2e", {
      type: "line",
      data: { labels, datasets: [
        { label: "p50", data: s.end_to_end.p50, borderColor: COLORS[0], backgroundColor: COLORS[0], pointRadius: 1 },
        { label: "p95", data: s.end_to_end.p95, borderColor: COLORS[1], backgroundColor: COLORS[1], pointRadius: 1 }] },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "ms" } } } },
    });
    root.dataset.state = "drawn";
  }
})();
