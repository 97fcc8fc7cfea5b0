// The overview's chart: new alerts per day and severity (data embedded in the page; no request, no CDN).
(function () {
  var node = document.getElementById("chart-data");
  var canvas = document.getElementById("chart");
  if (!node || !canvas || typeof Chart === "undefined") return;
  var data = JSON.parse(node.textContent);
  var colours = { critical: "#8b0000", high: "#d9480f", medium: "#e8a400", low: "#1c7ed6", info: "#868e96" };
  var names = JSON.parse(canvas.dataset.names || "{}");
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: data.series.map(function (s) {
        return { label: names[s.severity] || s.severity, data: s.data, backgroundColor: colours[s.severity], stack: "a" };
      })
    },
    options: {
      animation: false,
      responsive: true,
      plugins: { legend: { position: "bottom" } },
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } }
    }
  });
})();
