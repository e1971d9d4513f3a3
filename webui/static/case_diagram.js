// 案卷页：用 bpmn-js 查看器显示流程实例所用版本的流程图，并按环节状态着色；以及复制 SHA-256。
// 数据来自 data-diagram-url 指向的 JSON（xml, states, flows），不使用内联脚本（CSP: script-src 'self'）。
(function () {
  "use strict";

  var LABELS = { done: "已完成", current: "当前环节", overdue: "已逾期" };

  function message(container, text, isError) {
    container.textContent = "";
    var p = document.createElement("p");
    p.className = isError ? "error diagram-msg" : "muted diagram-msg";
    p.textContent = text;
    container.appendChild(p);
  }

  function badge(text, kind) {
    var el = document.createElement("span");
    el.className = "diagram-badge badge-" + kind;
    el.textContent = text;
    return el;
  }

  // A definition without diagram interchange (BPMN DI) cannot be drawn: list the states instead.
  function listStates(container, data) {
    message(container, "该流程定义（" + data.key + " 第 " + data.version + " 版）未包含图形布局信息，无法绘制流程图；" +
      "请在建模器中打开、保存后重新部署。各环节状态如下：", false);
    var list = document.createElement("ul");
    list.className = "state-list";
    ["overdue", "current", "done"].forEach(function (state) {
      Object.keys(data.states).forEach(function (id) {
        if (data.states[id] !== state) { return; }
        var item = document.createElement("li");
        item.className = "state-" + state;
        item.textContent = (data.names[id] || id) + "：" + LABELS[state];
        list.appendChild(item);
      });
    });
    container.appendChild(list);
    container.setAttribute("data-diagram-ready", "1");
  }

  // A large process drawn whole is too small to read: show the current (or overdue) step at a readable
  // size instead. The whole process is a drag (pan) and Ctrl + wheel (zoom) away.
  function focusOn(canvas, registry, states) {
    if (canvas.zoom() >= 0.6) { return; }
    var ids = Object.keys(states).filter(function (id) {
      return (states[id] === "overdue" || states[id] === "current") && registry.get(id);
    });
    if (!ids.length) { return; }
    var el = registry.get(ids[0]);
    canvas.zoom(0.8);
    var box = canvas.viewbox();
    canvas.viewbox({
      x: el.x + el.width / 2 - box.width / 2,
      y: el.y + el.height / 2 - box.height / 2,
      width: box.width,
      height: box.height
    });
  }

  function show(container) {
    if (typeof window.BpmnJS !== "function") {
      message(container, "流程图组件未安装（需先运行 npm install 安装 bpmn-js），下方的办理过程不受影响。", true);
      return;
    }
    fetch(container.getAttribute("data-diagram-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) { throw new Error(data.error || ("加载失败（" + response.status + "）")); }
          return data;
        });
      })
      .then(function (data) {
        if (data.has_layout === false) { return listStates(container, data); }
        container.textContent = "";
        var viewer = new window.BpmnJS({ container: container });
        return viewer.importXML(data.xml).then(function () {
          var canvas = viewer.get("canvas");
          var registry = viewer.get("elementRegistry");
          var overlays = viewer.get("overlays");
          Object.keys(data.states).forEach(function (id) {
            var state = data.states[id];
            if (!registry.get(id)) { return; }
            canvas.addMarker(id, "state-" + state);
            if (state === "overdue" || state === "current") {
              overlays.add(id, { position: { top: -10, right: 12 }, html: badge(LABELS[state], state) });
            }
          });
          (data.flows || []).forEach(function (id) {
            if (registry.get(id)) { canvas.addMarker(id, "state-done"); }
          });
          canvas.zoom("fit-viewport", "auto");
          focusOn(canvas, registry, data.states);
          container.setAttribute("data-diagram-ready", "1");
        });
      })
      .catch(function (err) {
        message(container, "流程图无法显示：" + (err && err.message ? err.message : err), true);
      });
  }

  function copy(button) {
    var value = button.getAttribute("data-copy");
    var done = function () {
      var old = button.textContent;
      button.textContent = "已复制";
      window.setTimeout(function () { button.textContent = old; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(done, function () { window.prompt("SHA-256：", value); });
    } else {
      window.prompt("SHA-256（按 Ctrl+C 复制）：", value);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-diagram-url]"), show);
    document.addEventListener("click", function (event) {
      var target = event.target;
      if (target && target.matches && target.matches("button.copy[data-copy]")) { copy(target); }
    });
  });
})();
