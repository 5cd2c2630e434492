// Draws the dashboard's charts with ECharts from the JSON in #chart-data (no inline script, so
// the pages run under `default-src 'self'`). Each element with data-chart names its entry.
(function () {
  "use strict";

  var palette = ["#1f6feb", "#0e9f6e", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d"];

  function bar(spec) {
    var horizontal = Boolean(spec.horizontal);
    var category = { type: "category", data: spec.labels, axisLabel: { interval: horizontal ? 0 : "auto", width: 170, overflow: "truncate" } };
    var value = { type: "value", minInterval: 1 };
    var series = [{ name: spec.name, type: "bar", data: spec.values, itemStyle: { color: palette[0] }, barMaxWidth: 28 }];
    if (spec.capacity) {
      series.push({ name: "可入企容量", type: "line", data: spec.capacity, itemStyle: { color: "#9aa5b1" }, lineStyle: { type: "dashed" }, symbol: "none" });
    }
    if (horizontal) {
      category.inverse = true;
    }
    return {
      color: palette,
      tooltip: { trigger: "axis" },
      legend: spec.capacity ? { top: 0 } : undefined,
      grid: { left: horizontal ? 180 : 48, right: 24, top: spec.capacity ? 32 : 16, bottom: 32, containLabel: false },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? category : value,
      series: series
    };
  }

  function pie(spec) {
    return {
      color: palette,
      tooltip: { trigger: "item", formatter: "{b}: {c} 项({d}%)" },
      legend: { bottom: 0 },
      series: [{ name: spec.name, type: "pie", radius: ["38%", "68%"], center: ["50%", "45%"], data: spec.items, label: { formatter: "{b}\n{c}" } }]
    };
  }

  function heatmap(spec) {
    var most = spec.days.reduce(function (m, d) { return Math.max(m, d[1]); }, 1);
    return {
      tooltip: { formatter: function (p) { return p.value[0] + ":" + p.value[1] + " 个部门入企"; } },
      visualMap: { min: 0, max: most, calculable: false, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#dbeafe", "#1f6feb"] }, text: ["多", "少"] },
      calendar: { range: String(spec.year), top: 30, left: 40, right: 20, cellSize: ["auto", 16], dayLabel: { nameMap: "ZH", firstDay: 1 }, monthLabel: { nameMap: "ZH" }, yearLabel: { show: false }, itemStyle: { borderColor: "#fff" } },
      series: [{ name: spec.name, type: "heatmap", coordinateSystem: "calendar", data: spec.days }]
    };
  }

  var builders = { bar: bar, pie: pie, calendar: heatmap };

  function draw() {
    var source = document.getElementById("chart-data");
    if (!source) {
      return;
    }
    var data = JSON.parse(source.textContent);
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var spec = data[el.getAttribute("data-chart")];
      if (!spec) {
        return;
      }
      if (typeof window.echarts === "undefined") {
        el.textContent = "图表组件未加载";
        el.className += " chart-missing";
        return;
      }
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(builders[spec.type](spec));
      if (spec.links) {
        chart.on("click", function (p) {
          var target = spec.links[p.dataIndex];
          if (target) {
            window.location.assign(target);
          }
        });
      }
      charts.push(chart);
    });
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.resize(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
