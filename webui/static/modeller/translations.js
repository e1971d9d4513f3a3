// 建模器界面的中文：bpmn-js、属性面板通过 translate 服务取文字；未列出的词保持英文原文。
const ZH = {
  General: "常规", Name: "名称", ID: "标识（ID）", Documentation: "说明", "Element documentation": "元素说明",
  "Process name": "流程名称", "Process ID": "流程标识", "Participant Name": "参与者名称", Executable: "可执行",
  "User assignment": "办理人设置", Assignee: "办理人", "Candidate groups": "候选组（角色代码）",
  "Candidate users": "候选用户", "Due date": "到期时间（dueDate）", "Follow up date": "跟进时间",
  Priority: "优先级", Forms: "表单", "Form fields": "表单字段", "Form field": "表单字段", "Form key": "表单键",
  Type: "类型", Value: "值", Timer: "定时器", Date: "日期", Duration: "时长", Cycle: "周期",
  Condition: "条件", "Condition expression": "条件表达式", "Condition Expression": "条件表达式",
  "Condition type": "条件类型", Expression: "表达式", Script: "脚本", Format: "格式", Label: "标签",
  "Default value": "默认值", Constraints: "约束", Properties: "属性", "Extension properties": "扩展属性",
  Values: "选项", Config: "配置", Implementation: "实现", "Implementation type": "实现方式",
  "Decision reference": "决策表引用", "Result variable": "结果变量", "Map decision result": "决策结果映射",
  Binding: "绑定", "Called element": "被调用流程", "Multi-instance": "多实例", Collection: "集合",
  "Element variable": "元素变量", "Completion condition": "完成条件", "Loop cardinality": "循环次数",
  Message: "消息", "Global message reference": "全局消息引用", Inputs: "输入", Outputs: "输出",
  "History cleanup": "历史清理", "Time to live": "保留期限", "Asynchronous continuations": "异步延续",
  "Execution listeners": "执行监听器", "Task listeners": "任务监听器", "Job execution": "作业执行",
  "Version tag": "版本标签", "Candidate starter": "可发起者", "Candidate starter groups": "可发起组",
  "Candidate starter users": "可发起用户", "Input/Output": "输入/输出", Initiator: "发起人",
  "Create new ...": "新建…", "<none>": "<无>", "<empty>": "<空>", On: "开", Off: "关",
  "A time duration defined as ISO 8601 durations format.": "ISO 8601 时长，如 P5D（5天）、PT24H（24小时）。",
  "A specific point in time defined as ISO 8601 combined date and time representation.":
    "ISO 8601 时刻，如 2026-12-01T09:00:00+08:00；也可写表达式，如 clock_due('办案')。",
  "The due date as an EL expression (e.g. ${someDate}) or an ISO date (e.g. 2015-06-26T09:54:00).":
    "ISO 8601 时长（如 P5D，自任务到达起算）或时刻，或表达式（如 clock_due('办案')、add_workdays(now(), 5)）。",
  "The follow up date as an EL expression (e.g. ${someDate}) or an ISO date (e.g. 2015-06-26T09:54:00).":
    "ISO 8601 时长或时刻，或表达式；到时提醒跟进。",
  "Multiple elements are selected. Select a single element to edit its properties.": "选中了多个元素，请只选一个来编辑属性。",
  // diagram-js / bpmn-js
  "Append {type}": "追加{type}", "Connect using Sequence/MessageFlow or Association": "连线",
  Remove: "删除", "Change type": "更改类型", "Create StartEvent": "新建开始事件", "Create EndEvent": "新建结束事件",
  "Create Task": "新建任务", "Create Gateway": "新建网关", "Activate the hand tool": "抓手工具",
  "Activate the lasso tool": "套索工具", "Activate the create/remove space tool": "空间工具",
  "Activate the global connect tool": "连线工具", "Create expanded SubProcess": "新建子流程",
  "Create Pool/Participant": "新建池", "Append EndEvent": "追加结束事件", "Append Gateway": "追加网关",
  "Append Task": "追加任务", "Append Intermediate/Boundary Event": "追加中间事件",
  "User Task": "用户任务", "Service Task": "服务任务", "Script Task": "脚本任务", "Business Rule Task": "业务规则任务",
  "Exclusive Gateway": "排他网关", "Parallel Gateway": "并行网关", "Timer Boundary Event": "定时边界事件",
};

export default {
  translate: [
    "value",
    function translate(template, replacements) {
      const text = ZH[template] || template;
      return text.replace(/{([^}]+)}/g, (_, key) => (replacements && key in replacements ? replacements[key] : `{${key}}`));
    },
  ],
};
