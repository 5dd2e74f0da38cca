// Charts of the dashboard page (Apache ECharts, served from /static/vendor/echarts/).
// The figures come embedded in the page (#dashboard-data); the map shapes from /static/vendor/china-map/.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var FONT = '"Noto Sans CJK SC", "WenQuanYi Micro Hei", system-ui, sans-serif';
  var BLUES = ["#e6eef7", "#a9c4e4", "#5b8fc9", "#2b5b93", "#1f3a5f"];
  var charts = [];

  function drill(code) {
    if (code) window.location.href = "/dashboard?region=" + encodeURIComponent(code);
  }

  function init(id) {
    var el = document.getElementById(id);
    if (!el || typeof echarts === "undefined") return null;
    var chart = echarts.init(el);
    charts.push(chart);
    return chart;
  }

  function empty(chart) {
    chart.setOption({
      title: { text: data.labels.no_data, left: "center", top: "middle",
               textStyle: { color: "#8a96a3", fontSize: 14, fontWeight: "normal", fontFamily: FONT } }
    });
  }

  function drawMap(chart) {
    var el = document.getElementById("map");
    fetch(data.map.url).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    }).then(function (geo) {
      echarts.registerMap(data.map.name, geo);
      var max = Math.max.apply(null, [1].concat(data.map.regions.map(function (r) { return r.value; })));
      var national = data.map.name === "china";
      chart.setOption({
        textStyle: { fontFamily: FONT },
        tooltip: { trigger: "item", formatter: function (p) {
          return p.name + "<br>" + data.labels.hosts + ": " + (p.data ? p.data.value : "–");
        } },
        visualMap: { min: 0, max: max, left: 10, bottom: 10, calculable: true, itemHeight: 100,
                     inRange: { color: BLUES }, textStyle: { color: "#5b6878" } },
        series: [{
          type: "map", map: data.map.name, roam: false, selectedMode: false,
          top: 10, bottom: 10, left: "center",
          itemStyle: { borderColor: "#98a9bd", borderWidth: 0.6, areaColor: "#eef1f5" },
          label: { show: !national, fontSize: 11, color: "#1d2733", textBorderColor: "#ffffff", textBorderWidth: 2 },
          labelLayout: { hideOverlap: true },
          emphasis: { label: { show: true }, itemStyle: { areaColor: "#f0b45a" } },
          data: data.map.regions.map(function (r) {
            // on the country map, name only the provinces with mining hosts
            return national && r.value > 0 ? Object.assign({ label: { show: true } }, r) : r;
          })
        }]
      });
      chart.on("click", function (p) { drill(p.data && p.data.code); });
      el.dataset.ready = "true";
    }).catch(function () { drawBars(chart); });
  }

  function drawBars(chart) {
    var el = document.getElementById("map");
    var bars = data.bars.slice().reverse();  // largest on top
    el.style.height = Math.min(430, Math.max(180, 36 * bars.length + 70)) + "px";
    chart.resize();
    if (!bars.length) { empty(chart); el.dataset.ready = "true"; return; }
    chart.setOption({
      textStyle: { fontFamily: FONT },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 10, right: 30, top: 10, bottom: 30, containLabel: true },
      xAxis: { type: "value", minInterval: 1, name: data.labels.hosts, nameLocation: "middle", nameGap: 26 },
      yAxis: { type: "category", data: bars.map(function (b) { return b.name; }) },
      series: [{ type: "bar", barMaxWidth: 28, itemStyle: { color: "#2b5b93" },
                 data: bars.map(function (b) { return { value: b.value, code: b.code }; }) }]
    });
    chart.on("click", function (p) { drill(p.data && p.data.code); });
    el.dataset.ready = "true";
  }

  var map = init("map");
  if (map) {
    if (data.map) drawMap(map); else drawBars(map);
  }

  var trend = init("trend");
  if (trend) {
    trend.setOption({
      textStyle: { fontFamily: FONT },
      tooltip: { trigger: "axis" },
      grid: { left: 10, right: 20, top: 20, bottom: 10, containLabel: true },
      xAxis: { type: "category", data: data.trend.days, boundaryGap: false },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "line", name: data.labels.findings, data: data.trend.counts, smooth: true, symbolSize: 4,
                 itemStyle: { color: "#2b5b93" }, areaStyle: { color: "rgba(43, 91, 147, 0.15)" } }]
    });
  }

  var kinds = init("kinds");
  if (kinds) {
    if (!data.kinds.length) empty(kinds);
    else kinds.setOption({
      textStyle: { fontFamily: FONT },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 10, right: 40, top: 10, bottom: 10, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: data.kinds.map(function (k) { return k.name; }).reverse() },
      series: [{ type: "bar", name: data.labels.findings, barMaxWidth: 26, label: { show: true, position: "right" },
                 itemStyle: { color: "#5b8fc9" }, data: data.kinds.map(function (k) { return k.value; }).reverse() }]
    });
  }

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
