// The load curve of a power finding (Apache ECharts, served from /static/vendor/echarts/): the mean kW of each
// day, the day the load stepped up marked, before and after shaded. Data come embedded in the page (#load-data).
(function () {
  "use strict";
  var holder = document.getElementById("load-data");
  var el = document.getElementById("load-curve");
  if (!holder || !el || typeof echarts === "undefined") return;
  var data = JSON.parse(holder.textContent);
  var FONT = '"Noto Sans CJK SC", "WenQuanYi Micro Hei", system-ui, sans-serif';
  var days = data.days.map(function (d) { return d[0]; });
  var kw = data.days.map(function (d) { return d[1]; });
  var chart = echarts.init(el);
  var marks = [];
  if (data.start && days.length) {
    marks = [[{ name: data.labels.before, xAxis: days[0], itemStyle: { color: "rgba(138,150,163,0.12)" } },
              { xAxis: data.start }],
             [{ name: data.labels.after, xAxis: data.start, itemStyle: { color: "rgba(185,119,14,0.12)" } },
              { xAxis: days[days.length - 1] }]];
  }
  chart.setOption({
    textStyle: { fontFamily: FONT },
    animation: false,
    grid: { left: 56, right: 24, top: 24, bottom: 48 },
    tooltip: { trigger: "axis", valueFormatter: function (v) { return v == null ? "–" : v.toFixed(2) + " kW"; } },
    xAxis: { type: "category", data: days, boundaryGap: false },
    yAxis: { type: "value", name: "kW", min: 0 },
    dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }],
    series: [{
      type: "line", data: kw, showSymbol: false, lineStyle: { width: 1.5, color: "#2b5b93" },
      markArea: { silent: true, label: { color: "#5b6b7b" }, data: marks },
      markLine: data.start ? { symbol: "none", lineStyle: { color: "#b9770e", type: "dashed" },
                               label: { formatter: data.start }, data: [{ xAxis: data.start }] } : undefined
    }]
  });
  el.setAttribute("data-drawn", String(kw.length));
  window.addEventListener("resize", function () { chart.resize(); });
})();

// The text of a content finding (a listing, post, comment or app) with its lexicon matches highlighted: each match
// gives its field and its span in code points (Python's offsets; a JS string counts UTF-16 units, so the text is
// split with Array.from). Text goes in as text nodes only: nothing of it is ever parsed as HTML.
(function () {
  "use strict";
  var holder = document.getElementById("content-data");
  if (!holder) return;
  var data = JSON.parse(holder.textContent);
  var marked = 0;
  Object.keys(data.fields).forEach(function (field) {
    var text = data.fields[field];
    var el = document.querySelector('#content-item [data-field="' + field + '"]');
    if (!el || !text) return;
    var chars = Array.from(text);
    var spans = data.matches.filter(function (m) { return m.field === field && m.start < chars.length; })
      .sort(function (a, b) { return a.start - b.start || b.end - a.end; });
    el.textContent = "";
    var at = 0;
    spans.forEach(function (m) {
      if (m.start < at) return;  // inside a longer match already marked
      el.appendChild(document.createTextNode(chars.slice(at, m.start).join("")));
      var mark = document.createElement("mark");
      mark.textContent = chars.slice(m.start, Math.min(m.end, chars.length)).join("");
      mark.title = m.term + " · " + m.category + (m.evasions && m.evasions.length ? " · " + m.evasions.join(", ") : "");
      mark.setAttribute("data-term", m.term);
      el.appendChild(mark);
      at = Math.min(m.end, chars.length);
      marked += 1;
    });
    el.appendChild(document.createTextNode(chars.slice(at).join("")));
  });
  document.getElementById("content-item").setAttribute("data-marked", String(marked));
})();
