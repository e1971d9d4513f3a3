// 内嵌建模器：bpmn-js / dmn-js Modeler 加 Camunda 7 属性面板。由 build.mjs（esbuild）打包到 ../build/modeller.js。
// 页面上的 #modeller 元素用 data-* 属性给出各接口地址；不使用内联脚本（CSP: script-src 'self'）。
import BpmnModeler from "bpmn-js/lib/Modeler";
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
} from "bpmn-js-properties-panel";
import CamundaBehaviorsModule from "camunda-bpmn-js-behaviors/lib/camunda-platform";
import camundaBpmnModdle from "camunda-bpmn-moddle/resources/camunda.json";
import DmnModeler from "dmn-js/lib/Modeler";
import {
  DmnPropertiesPanelModule,
  DmnPropertiesProviderModule,
  CamundaPropertiesProviderModule,
} from "dmn-js-properties-panel";
import camundaDmnModdle from "camunda-dmn-moddle/resources/camunda.json";
import ChineseTranslate from "./translations.js";

const KIND_LABELS = { added: "新增", removed: "删除", changed: "修改" };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  });
  children.flat().forEach((c) => node.append(c instanceof Node ? c : String(c)));
  return node;
}

class Page {
  constructor(root) {
    this.root = root;
    this.urls = { ...root.dataset };
    this.kind = root.dataset.kind;
    this.fileName = root.dataset.file;
    this.csrf = document.querySelector('meta[name="csrf-token"]').content;
    this.result = document.getElementById("modeller-result");
    this.status = document.getElementById("modeller-status");
    this.problemOverlays = [];
    this.problemRows = [];
  }

  async start() {
    this.modeler = this.kind === "dmn" ? this.dmnModeler() : this.bpmnModeler();
    const source = await this.request("GET", this.urls.sourceUrl);
    await this.modeler.importXML(source.xml);
    if (this.kind === "dmn") this.showViews();
    else this.modeler.get("canvas").zoom("fit-viewport");
    this.setStatus(source.draft ? `已载入草稿（保存于 ${source.draft.updated_at}）` : `已载入${source.base_label}`);
    document.querySelectorAll("[data-action]").forEach((button) => {
      button.addEventListener("click", () => this.run(button));
    });
    this.root.setAttribute("data-ready", "1");
  }

  bpmnModeler() {
    return new BpmnModeler({
      container: "#modeller-canvas",
      propertiesPanel: { parent: "#modeller-properties" },
      additionalModules: [
        BpmnPropertiesPanelModule,
        BpmnPropertiesProviderModule,
        CamundaPlatformPropertiesProviderModule,
        CamundaBehaviorsModule,
        ChineseTranslate,
      ],
      moddleExtensions: { camunda: camundaBpmnModdle },
    });
  }

  dmnModeler() {
    return new DmnModeler({
      container: "#modeller-canvas",
      drd: {
        propertiesPanel: { parent: "#modeller-properties" },
        additionalModules: [DmnPropertiesPanelModule, DmnPropertiesProviderModule, CamundaPropertiesProviderModule, ChineseTranslate],
      },
      common: { keyboard: { bindTo: document } },
      moddleExtensions: { camunda: camundaDmnModdle },
    });
  }

  // DMN: one tab per view (the decision requirements diagram and each decision table); open the first table.
  showViews() {
    const tabs = document.getElementById("modeller-views");
    const views = this.modeler.getViews();
    const render = () => {
      const active = this.modeler.getActiveView();
      tabs.replaceChildren(
        ...views.map((view) =>
          el(
            "button",
            {
              type: "button",
              class: view === active ? "tab on" : "tab",
              onclick: () => this.modeler.open(view).then(render),
            },
            view.type === "drd" ? "决策需求图" : `决策表：${view.name || view.element.id}`,
          ),
        ),
      );
      this.markProblemRows();
    };
    const table = views.find((v) => v.type === "decisionTable");
    (table ? this.modeler.open(table) : Promise.resolve()).then(render);
  }

  async xml() {
    const { xml } = await this.modeler.saveXML({ format: true });
    return xml;
  }

  async request(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": this.csrf },
      body: body ? JSON.stringify(body) : undefined,
    });
    let data;
    try {
      data = await response.json();
    } catch (e) {
      throw new Error(`服务器返回了无法识别的内容（${response.status}）`);
    }
    if (!response.ok && !data.problems) throw new Error(data.error || `请求失败（${response.status}）`);
    return data;
  }

  setStatus(text, isError) {
    this.status.textContent = text;
    this.status.className = isError ? "error" : "muted";
  }

  async run(button) {
    const action = button.dataset.action;
    button.disabled = true;
    try {
      if (action === "download") return await this.download();
      if (action === "deploy" && !window.confirm("确认部署为新版本？新立案件将使用新版本，在办案件继续使用原版本。")) return;
      const xml = await this.xml();
      const data = await this.request("POST", this.urls[`${action}Url`], { xml });
      this[`after_${action}`](data);
    } catch (err) {
      this.setStatus(`操作失败：${err.message || err}`, true);
    } finally {
      button.disabled = false;
    }
  }

  async download() {
    const blob = new Blob([await this.xml()], { type: "application/xml" });
    const link = el("a", { href: URL.createObjectURL(blob), download: this.fileName });
    document.body.append(link);
    link.click();
    link.remove();
    this.setStatus(`已下载 ${this.fileName}（可用 Camunda Modeler 打开）`);
  }

  after_save(data) {
    this.setStatus(`草稿已保存（${data.updated_at}）`);
  }

  after_validate(data) {
    this.showProblems(data.problems);
    if (!data.problems.length) this.setStatus("校验通过，可以部署");
  }

  after_deploy(data) {
    if (data.problems && data.problems.length) {
      this.showProblems(data.problems);
      return;
    }
    this.showProblems([]);
    const done = data.deployed.length
      ? `已部署：${data.deployed.map((d) => `${d.name || d.key} 第 ${d.version} 版`).join("、")}`
      : "内容与已部署版本相同，没有产生新版本";
    this.setStatus(done);
    this.result.replaceChildren(el("p", { class: "ok", role: "status" }, done, " · ", el("a", { href: this.urls.versionsUrl }, "查看版本")));
  }

  after_diff(data) {
    this.clearProblems();
    if (!data.base) {
      this.result.replaceChildren(el("p", { class: "muted" }, "该文件尚未部署，没有可比较的版本。"));
      return;
    }
    const title = el("h3", {}, `与已部署的${data.base}比较`);
    if (!data.changes.length) {
      this.result.replaceChildren(title, el("p", { class: "muted" }, "没有差异。"));
      return;
    }
    const list = el(
      "ul",
      { class: "diff-list" },
      data.changes.map((c) =>
        el(
          "li",
          { class: `diff-${c.kind}` },
          el("strong", {}, `${KIND_LABELS[c.kind]} ${c.type}`),
          ` ${c.name ? `「${c.name}」` : ""}（${c.id}）`,
          c.props.length
            ? el("ul", {}, c.props.map((p) => el("li", {}, el("code", {}, p.key), "：", p.old ?? "（无）", " → ", p.new ?? "（无）")))
            : "",
        ),
      ),
    );
    this.result.replaceChildren(title, list);
    this.setStatus(`共 ${data.changes.length} 处差异`);
  }

  clearProblems() {
    if (this.kind === "bpmn") {
      const canvas = this.modeler.get("canvas");
      this.modeler.get("overlays").remove({ type: "problem" });
      this.problemOverlays.forEach((id) => canvas.removeMarker(id, "has-problem"));
    }
    this.problemOverlays = [];
    this.problemRows = [];
    this.markProblemRows();
  }

  // Put each problem on the element it concerns (a form field "task.field" goes on its task).
  showProblems(problems) {
    this.clearProblems();
    if (!problems.length) {
      this.result.replaceChildren(el("p", { class: "ok" }, "校验通过：没有发现问题。"));
      return;
    }
    const byElement = {};
    problems.forEach((p) => {
      const id = this.locate(p.element);
      if (id) (byElement[id] = byElement[id] || []).push(p.message);
    });
    if (this.kind === "bpmn") {
      const canvas = this.modeler.get("canvas");
      const overlays = this.modeler.get("overlays");
      Object.entries(byElement).forEach(([id, messages]) => {
        canvas.addMarker(id, "has-problem");
        overlays.add(id, "problem", {
          position: { top: -12, right: 10 },
          html: el("div", { class: "problem-badge", title: messages.join("\n"), "data-element": id }, String(messages.length)),
        });
        this.problemOverlays.push(id);
      });
    } else {
      this.problemRows = Object.keys(byElement);
      this.markProblemRows();
    }
    const list = el(
      "ul",
      { class: "problem-list" },
      problems.map((p) =>
        el(
          "li",
          {},
          el("a", { href: "#", onclick: (e) => { e.preventDefault(); this.focus(this.locate(p.element)); } }, p.element || p.file),
          `：${p.message}`,
        ),
      ),
    );
    this.result.replaceChildren(el("h3", { class: "error" }, `校验未通过：${problems.length} 个问题`), list);
    this.setStatus(`校验未通过：${problems.length} 个问题（已在图上标出）`, true);
  }

  locate(elementId) {
    if (!elementId) return null;
    if (this.kind !== "bpmn") return elementId;
    const registry = this.modeler.get("elementRegistry");
    if (registry.get(elementId)) return elementId;
    const owner = elementId.split(".")[0];
    return registry.get(owner) ? owner : null;
  }

  focus(id) {
    if (!id || this.kind !== "bpmn") return;
    const element = this.modeler.get("elementRegistry").get(id);
    this.modeler.get("canvas").scrollToElement(element);
    this.modeler.get("selection").select(element);
  }

  markProblemRows() {
    document.querySelectorAll("tr.has-problem").forEach((row) => row.classList.remove("has-problem"));
    (this.problemRows || []).forEach((id) => {
      document.querySelectorAll(`[data-row-id="${CSS.escape(id)}"]`).forEach((cell) => cell.closest("tr")?.classList.add("has-problem"));
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("modeller");
  if (!root) return;
  const page = new Page(root);
  window.ybjgModeller = page; // for the browser tests and the console
  page.start().catch((err) => {
    page.setStatus(`建模器无法打开该文件：${err.message || err}`, true);
    root.setAttribute("data-ready", "error");
  });
});
