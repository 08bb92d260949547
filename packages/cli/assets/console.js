// Accord console: draws every <canvas data-chart="id"> from the JSON block with that id, with Chart.js.
// Spec: { type, unit, labels, datasets: [{ label, data }], objective }. No inline scripts (CSP).
(() => {
  var palette = ['#2563eb', '#dc2626', '#d97706', '#059669', '#7c3aed', '#db2777', '#0891b2', '#65a30d'];
  document.querySelectorAll('canvas[data-chart]').forEach((canvas) => {
    var block = document.getElementById(canvas.getAttribute('data-chart'));
    if (!block || typeof Chart === 'undefined') return;
    var spec = JSON.parse(block.textContent);
    var datasets = spec.datasets.map((d, i) => {
      var color = palette[i % palette.length];
      return {
        label: d.label,
        data: d.data,
        borderColor: color,
        backgroundColor: color,
        spanGaps: true,
        tension: 0.2,
      };
    });
    if (spec.objective !== undefined && spec.objective !== null) {
      datasets.push({
        label: 'objective',
        data: spec.labels.map(() => spec.objective),
        borderColor: '#6b7280',
        backgroundColor: '#6b7280',
        borderDash: [6, 4],
        pointRadius: 0,
        type: 'line',
      });
    }
    new Chart(canvas, {
      type: spec.type || 'line',
      data: { labels: spec.labels, datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { stacked: !!spec.stacked },
          y: {
            stacked: !!spec.stacked,
            beginAtZero: true,
            title: { display: !!spec.unit, text: spec.unit || '' },
          },
        },
      },
    });
    canvas.setAttribute('data-rendered', 'true');
  });
})();
