// 时限's two charts (templates/dashboard.html), drawn with Chart.js, which the window serves
// itself (static/vendor/chart.umd.js; services/window/vendor.sh). The CSP runs no inline script,
// so the figures come in a <script type="application/json"> block — a data block, which the
// browser never runs — with the words in the reader's language: this file holds no text. The
// charts are a convenience: the same figures are in the tables below them, which is all a
// reader without script (or with a screen reader) gets, and needs.
"use strict";

(function () {
  const source = document.getElementById("dashboard-data");
  const Chart = window.Chart;
  if (!source || !Chart) return;
  const data = JSON.parse(source.textContent);
  const words = data.words;
  const whole = new Intl.NumberFormat(data.lang === "en" ? "en" : "zh-CN", { maximumFractionDigits: 0 });

  // The page's own fonts: Chart.js's default (Helvetica, Arial) has no Chinese glyphs, and the
  // canvas would fall back to whatever font the system picks, or to empty boxes.
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.font.size = 14;
  Chart.defaults.color = "#1d2733";
  // Told apart by lightness as well as hue (a reader who does not see red from blue still sees
  // dark, light, darkest): the window's blue within, amber near, the page's red past, grey for
  // the stages without a statutory limit.
  const COLOURS = { within: "#0b5cad", near: "#f0b429", past: "#b3261e", untimed: "#c5cdd6" };
  const TREND = { open: "#5b6775", awaiting_review: "#b3261e", awaiting_approval: "#b85c00" };

  const count = (v) => (Number.isInteger(v) ? whole.format(v) : null); // cases come whole
  const tip = (item) => `${item.dataset.label}: ${whole.format(item.parsed.y)} ${words.cases_unit}`;

  function options(xTitle, stacked) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false, // the figures are read, not watched; and a screenshot shows them all
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "top" }, tooltip: { callbacks: { label: tip } } },
      scales: {
        x: { stacked, title: { display: true, text: xTitle }, grid: { display: false } },
        y: { stacked, beginAtZero: true, title: { display: true, text: words.cases_axis },
             ticks: { callback: count } },
      },
    };
  }

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    canvas.closest("figure").hidden = false; // shown first: Chart.js sizes to its container
    new Chart(canvas, config);
  }

  const stages = data.stages;
  if (stages.labels.length) {
    draw("chart-stages", {
      type: "bar",
      data: {
        labels: stages.labels,
        datasets: ["within", "near", "past", "untimed"].map((bucket) => ({
          label: words[bucket], data: stages[bucket], backgroundColor: COLOURS[bucket],
        })),
      },
      options: options(words.stage_axis, true),
    });
  }

  const trend = data.trend;
  if (trend.labels.length) {
    const line = (label, values, colour, dashed) => ({
      label, data: values, borderColor: colour, backgroundColor: colour, borderWidth: 3,
      borderDash: dashed ? [6, 4] : [], pointRadius: 0, pointStyle: "line", tension: 0,
    });
    const config = options(words.day_axis, false);
    // Lines in the legend too (a box would not show which one is dashed).
    config.plugins.legend.labels = { usePointStyle: true, pointStyleWidth: 36 };
    draw("chart-trend", {
      type: "line",
      data: {
        labels: trend.labels,
        datasets: [
          line(words.open_timed, trend.open, TREND.open, true),
          ...trend.past.map((p) => line(p.label, p.data, TREND[p.stage] || COLOURS.past, false)),
        ],
      },
      options: config,
    });
  }
})();
