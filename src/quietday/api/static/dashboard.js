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

  function cell(row, text, className, href) {
    var td = row.insertCell();
    if (className) {
      td.className = className;
    }
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      td.appendChild(a);
    } else {
      td.textContent = text;
    }
  }

  // The pairs near their yearly cap aggregate a whole year: fetched once the page is drawn.
  function caps() {
    var box = document.querySelector("[data-caps]");
    if (!box) {
      return;
    }
    fetch(box.getAttribute("data-caps"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) {
          throw new Error(String(r.status));
        }
        return r.json();
      })
      .then(function (d) {
        var kpi = document.querySelector("[data-caps-kpi]");
        if (kpi) {
          kpi.querySelector(".value").textContent = (d.over + d.at).toLocaleString("zh-CN");
          kpi.querySelector(".sub").textContent = d.year + " 年部门-企业组合:超过 " + d.over + ",达到 " + d.at + ",差一次 " + d.below;
          if (d.over + d.at > 0) {
            kpi.className += " warn";
          }
        }
        box.textContent = "";
        if (!d.pairs.length) {
          var none = document.createElement("p");
          none.className = "muted";
          none.textContent = "没有接近上限的部门-企业组合。";
          box.appendChild(none);
          return;
        }
        var wrap = document.createElement("div");
        wrap.className = "scroll short";
        var table = document.createElement("table");
        var head = table.createTHead().insertRow();
        ["部门", "企业", "已用/上限"].forEach(function (name, i) {
          var th = document.createElement("th");
          th.textContent = name;
          if (i === 2) {
            th.className = "num";
          }
          head.appendChild(th);
        });
        var body = table.createTBody();
        d.pairs.forEach(function (p) {
          var row = body.insertRow();
          cell(row, p.agency_name, null, "/dashboard/agencies/" + encodeURIComponent(p.agency_id));
          cell(row, p.enterprise_name, null, "/dashboard/enterprises/" + encodeURIComponent(p.enterprise_id));
          cell(row, p.used + "/" + p.cap, "num" + (p.used > p.cap ? " bad" : p.used === p.cap ? " warn-text" : ""));
        });
        wrap.appendChild(table);
        box.appendChild(wrap);
        var total = d.over + d.at + d.below;
        if (total > d.pairs.length) {
          var more = document.createElement("p");
          more.className = "muted small";
          more.textContent = "共 " + total + " 组,显示前 " + d.pairs.length + " 组;完整清单见下方导出。";
          box.appendChild(more);
        }
      })
      .catch(function () {
        box.textContent = "统计失败,请刷新页面重试。";
      });
  }

  function start() {
    draw();
    caps();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
