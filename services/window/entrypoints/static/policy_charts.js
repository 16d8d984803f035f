// 政策测算's two charts (templates/policy_simulation_result.html), drawn with Chart.js, which the
// window serves itself (static/vendor/chart.umd.js; services/window/vendor.sh). The CSP runs no
// inline script, so the figures come in a <script type="application/json"> block — a data
// block, which the browser never runs — with the words in the reader's language: this file
// holds no text. The charts are a convenience: the same figures are in the tables below them,
// which is all a reader without script (or with a screen reader) gets, and needs.
"use strict";

(function () {
  const source = document.getElementById("simulation-data");
  const Chart = window.Chart;
  if (!source || !Chart) return;
  const data = JSON.parse(source.textContent);
  const words = data.words;
  const locale = data.lang === "en" ? "en" : "zh-CN";
  const money = new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const whole = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });

  // The page's own fonts: Chart.js's default (Helvetica, Arial) has no Chinese glyphs, and the
  // canvas would fall back to whatever font the system picks, or to empty boxes.
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.font.size = 14;
  Chart.defaults.color = "#1d2733";
  // Grey before, the window's blue after: told apart by lightness too, not by hue alone.
  const BEFORE = "#9aa5b1";
  const AFTER = "#0b5cad";

  function bars(figures) {
    return {
      labels: figures.labels,
      datasets: [
        { label: words.before, data: figures.before, backgroundColor: BEFORE },
        { label: words.after, data: figures.after, backgroundColor: AFTER },
      ],
    };
  }

  function options(xTitle, yTitle, tick, tip) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false, // the figures are read, not watched; and a screenshot shows them all
      plugins: {
        legend: { position: "top" },
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${tip(item.parsed.y)}` } },
      },
      scales: {
        x: { title: { display: Boolean(xTitle), text: xTitle }, grid: { display: false } },
        y: { beginAtZero: true, title: { display: true, text: yTitle }, ticks: { callback: tick } },
      },
    };
  }

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    canvas.closest("figure").hidden = false; // shown first: Chart.js sizes to its container
    new Chart(canvas, config);
  }

  if (data.distribution.labels.length) {
    draw("chart-distribution", {
      type: "bar",
      data: bars(data.distribution),
      options: options(words.amount_axis, words.households_axis,
        (v) => (Number.isInteger(v) ? whole.format(v) : null), // households come whole
        (v) => `${whole.format(v)} ${words.households_unit}`),
    });
  }
  if (data.towns.labels.length) {
    draw("chart-towns", {
      type: "bar",
      data: bars(data.towns),
      options: options(words.town_axis, words.cost_axis, (v) => whole.format(v),
        (v) => `${money.format(v)} ${words.yuan}`),
    });
  }
})();
