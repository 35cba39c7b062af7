// A version's page: the out-of-scope trade-off curve (validation), from the section's data-points,
// drawn with Chart.js (served from /static/vendor). The section's data-state ends as "drawn" or "error".
(function () {
  "use strict";
  const root = document.getElementById("oos-curve");
  if (!root) return;
  if (typeof window.Chart === "undefined") {
    root.dataset.state = "error";
    return;
  }
  const points = JSON.parse(root.dataset.points).filter((p) => p.oos_recall !== null);
  const threshold = Number(root.dataset.threshold);
  const chosen = points.reduce((best, p) => (Math.abs(p.threshold - threshold) < Math.abs(best.threshold - threshold) ? p : best), points[0]);
  new window.Chart(document.getElementById("oos-chart"), {
    type: "scatter",
    data: {
      datasets: [
        { label: "threshold", data: points.map((p) => ({ x: 100 * p.oos_recall, y: 100 * p.in_scope_accuracy })),
          showLine: true, borderColor: "#2d5bd7", backgroundColor: "#2d5bd7", pointRadius: 2 },
        { label: "in use", data: [{ x: 100 * chosen.oos_recall, y: 100 * chosen.in_scope_accuracy }],
          borderColor: "#b3261e", backgroundColor: "#b3261e", pointRadius: 6 },
      ],
    },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      scales: { x: { title: { display: true, text: "out-of-scope recall (%)" }, min: 0, max: 100 },
                y: { title: { display: true, text: "in-scope accuracy (%)" } } },
    },
  });
  root.dataset.state = "drawn";
})();
