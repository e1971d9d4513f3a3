// 热力图：用 bpmn-js 查看器显示某一流程版本，在每个用户任务上标出当前停留的实例数和平均办理时长。
// 数据来自 data-heatmap-url（任务记录汇总），不使用内联脚本（CSP: script-src 'self'）。
(function () {
  "use strict";

  function message(container, text, isError) {
    container.textContent = "";
    var p = document.createElement("p");
    p.className = isError ? "error diagram-msg" : "muted diagram-msg";
    p.textContent = text;
    container.appendChild(p);
  }

  function badge(cell, level) {
    var box = document.createElement("div");
    box.className = "heat-badge heat-" + level;
    box.textContent = String(cell.waiting);
    box.title = "当前停留 " + cell.waiting + " 个实例，其中逾期 " + cell.overdue + " 个";
    if (cell.overdue) {
      var over = document.createElement("span");
      over.className = "heat-overdue";
      over.textContent = "逾期 " + cell.overdue;
      box.appendChild(over);
    }
    return box;
  }

  function average(cell) {
    var box = document.createElement("div");
    box.className = "heat-avg";
    box.textContent = "平均 " + cell.hours + " 小时（" + cell.done + " 次）";
    return box;
  }

  function show(container) {
    if (typeof window.BpmnJS !== "function") {
      message(container, "流程图组件未安装（需先运行 npm install 安装 bpmn-js），下方表格不受影响。", true);
      return;
    }
    fetch(container.getAttribute("data-heatmap-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("加载失败（" + response.status + "）"); }
        return response.json();
      })
      .then(function (data) {
        container.textContent = "";
        var viewer = new window.BpmnJS({ container: container });
        return viewer.importXML(data.xml).then(function () {
          var registry = viewer.get("elementRegistry");
          var overlays = viewer.get("overlays");
          var canvas = viewer.get("canvas");
          var max = 0;
          Object.keys(data.cells).forEach(function (id) { max = Math.max(max, data.cells[id].waiting); });
          Object.keys(data.cells).forEach(function (id) {
            var cell = data.cells[id];
            if (!registry.get(id)) { return; }
            var level = cell.waiting && max ? Math.max(1, Math.ceil((cell.waiting / max) * 5)) : 0;
            if (level) {
              canvas.addMarker(id, "heat-" + level);
              overlays.add(id, { position: { top: -14, right: 14 }, html: badge(cell, level) });
            }
            if (cell.hours !== null) {
              overlays.add(id, { position: { bottom: 16, left: 0 }, html: average(cell) });
            }
          });
          canvas.zoom("fit-viewport", "auto");
          container.setAttribute("data-diagram-ready", "1");
        });
      })
      .catch(function (err) { message(container, "流程图无法显示：" + (err && err.message ? err.message : err), true); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-heatmap-url]"), show);
  });
})();
