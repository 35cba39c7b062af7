// The Models page and a job's page: while a job is queued or running, its status, phase, progress
// and elapsed time (and, on a job's page, its log) follow the worker without a reload; when a job
// ends the page reloads once to show the new version. Text goes in through textContent only.
(function () {
  const table = document.getElementById("jobs");
  if (!table) return;
  const url = table.dataset.pollUrl;
  const status = document.getElementById("jobs-status");
  const log = document.getElementById("job-log");
  const EVERY_MS = 2000;

  function progress(job) {
    if (!job.epochs) return "";
    let text = (job.tier ? job.tier + ": " : "") + "epoch " + job.epoch + " / " + job.epochs + ", loss " + job.loss;
    if (job.val_accuracy !== null && job.val_accuracy !== undefined) {
      text += ", validation " + (100 * job.val_accuracy).toFixed(1) + " %";
    }
    return text;
  }

  function set(row, field, text) {
    const cell = row.querySelector('[data-field="' + field + '"]');
    if (cell && cell.textContent !== text) cell.textContent = text;
  }

  async function poll() {
    const watched = Array.from(table.querySelectorAll('tr[data-active="yes"]'));
    if (!watched.length) return;
    let jobs;
    try {
      const response = await fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
      if (!response.ok || !(response.headers.get("Content-Type") || "").includes("json")) throw new Error(response.status);
      jobs = (await response.json()).jobs;
    } catch (e) {
      if (status) status.textContent = "Could not refresh the jobs; retrying.";
      return setTimeout(poll, EVERY_MS * 2);
    }
    if (status) status.textContent = "";
    const byId = new Map(jobs.map(function (j) { return [j.id, j]; }));
    let ended = false;
    for (const row of watched) {
      const job = byId.get(row.dataset.job);
      if (!job) continue;
      set(row, "status", job.status);
      set(row, "phase", job.phase);
      set(row, "progress", progress(job));
      set(row, "elapsed", job.elapsed);
      const tag = row.querySelector('[data-field="status"]');
      if (tag) tag.className = "tag status-" + job.status.replace(/ /g, "-");
      if (log && job.log.length) log.textContent = job.log.join("\n");
      if (!job.active) ended = true;
    }
    if (ended) return window.location.reload();
    setTimeout(poll, EVERY_MS);
  }

  setTimeout(poll, EVERY_MS);
})();
