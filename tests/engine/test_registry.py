"""Process registry: validation problems are listed by file and element; nothing bad deploys."""

from __future__ import annotations

import pytest

from engine import registry
from engine.db import unit_of_work
from engine.errors import DefinitionInvalidError

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
"""
TAIL = """    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="x" />
    <bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>
"""
FORM = (
    "<bpmn:extensionElements><camunda:formData>"
    '<camunda:formField id="a" label="A" type="string" />'
    "</camunda:formData></bpmn:extensionElements>"
)
FLOWS = "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>"


def node(tag: str, attrs: str = "", before: str = "", after: str = "") -> str:
    """Element `x` between the start and end events of the test process (XSD order kept)."""
    return f'<bpmn:{tag} id="x" {attrs}>{before}{FLOWS}{after}</bpmn:{tag}>'


def script(text: str) -> str:
    return node("scriptTask", after=f"<bpmn:script>{text}</bpmn:script>")


def timer(kind: str, text: str) -> str:
    definition = f"<bpmn:timerEventDefinition><bpmn:{kind}>{text}</bpmn:{kind}></bpmn:timerEventDefinition>"
    return node("intermediateCatchEvent", after=definition)


def bpmn(middle: str) -> bytes:
    return (HEAD + middle + TAIL).encode()


def problems(sf, *files: tuple[str, bytes]) -> list[str]:
    with sf() as s:
        _, found = registry.check(s, [registry.Upload(n, d) for n, d in files])
    return [str(p) for p in found]


def test_good_file_passes(sf) -> None:
    task = node("userTask", 'camunda:candidateGroups="officer"', FORM)
    assert problems(sf, ("ok.bpmn", bpmn(task))) == []


@pytest.mark.parametrize(
    ("middle", "expected"),
    [
        (node("userTask"), ["x: 用户任务没有办理角色", "x: 用户任务没有表单"]),
        (node("userTask", 'camunda:candidateGroups="wizard"', FORM), ["x: 候选组「wizard」不是已知角色代码"]),
        (script("import os"), ["x: "]),
        (script('y = open("/etc/passwd")'), ["x: "]),
        (script("y = ().__class__"), ["x: "]),
        (script("y = ("), ["x: "]),
        (node("callActivity", 'calledElement="nowhere"'), ["p: 调用的子流程「nowhere」不存在"]),
        (timer("timeDuration", "P5X"), ["x: timeDuration"]),
        (timer("timeDuration", "5 * 3"), ["x: timeDuration: 定时器表达式必须得到 ISO 8601 字符串"]),
        (timer("timeDate", "add_weekdays(start, 5)"), ["x: timeDate: 未知函数「add_weekdays」"]),
    ],
)
def test_problems_name_file_and_element(sf, middle: str, expected: list[str]) -> None:
    found = problems(sf, ("bad.bpmn", bpmn(middle)))
    for fragment in expected:
        assert any(p.startswith("bad.bpmn: " + fragment) for p in found), (fragment, found)


def test_xml_and_xsd_errors(sf) -> None:
    assert problems(sf, ("a.bpmn", b"<bpmn:definitions"))[0].startswith("a.bpmn: -: XML 格式错误")
    wrong = bpmn('<bpmn:bogus id="x" />')
    assert "不符合 BPMN 2.0 XSD" in problems(sf, ("b.bpmn", wrong))[0]


def test_external_entities_and_entity_bombs_are_refused(sf) -> None:
    xxe = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>'
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>'
    for data in (xxe, bomb):
        [found] = problems(sf, ("evil.bpmn", data))
        assert "DOCTYPE" in found


def test_invalid_files_deploy_nothing(sf) -> None:
    with pytest.raises(DefinitionInvalidError) as err, unit_of_work(sf) as s:
        registry.deploy(s, [registry.Upload("bad.bpmn", bpmn('<bpmn:userTask id="x" />'))], actor="t")
    assert err.value.problems
    with sf() as s:
        assert registry.latest_definitions(s) == []


def test_shipped_files_pass_validation(sf, repo_root) -> None:
    paths = sorted([*(repo_root / "bpmn").glob("*.bpmn"), *(repo_root / "bpmn").glob("*.dmn")])
    assert paths
    assert problems(sf, *[(p.name, p.read_bytes()) for p in paths]) == []


def test_activiti_prefix_is_read_as_camunda(sf) -> None:
    task = node("userTask", 'activiti:candidateGroups="officer"', FORM.replace("camunda:", "activiti:"))
    data = bpmn(task).replace(
        b'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"', b'xmlns:activiti="http://activiti.org/bpmn"'
    )
    assert problems(sf, ("old.bpmn", data)) == []


def _lanes(refs_officer: str, refs_unknown: str) -> str:
    return (
        '<bpmn:laneSet id="ls">'
        f'<bpmn:lane id="l1" name="办案人员">{refs_officer}</bpmn:lane>'
        f'<bpmn:lane id="l2" name="外包人员">{refs_unknown}</bpmn:lane>'
        "</bpmn:laneSet>"
    )


def _embedded(lanes: str) -> bytes:
    inner = (
        '<bpmn:startEvent id="xs" /><bpmn:sequenceFlow id="i1" sourceRef="xs" targetRef="inner" />'
        f'<bpmn:userTask id="inner">{FORM}</bpmn:userTask>'
        '<bpmn:sequenceFlow id="i2" sourceRef="inner" targetRef="xe" /><bpmn:endEvent id="xe" />'
    )
    xml = bpmn(node("subProcess", after=inner))
    return xml.replace(b'isExecutable="true">', b'isExecutable="true">' + lanes.encode(), 1)


def ref(element: str) -> str:
    return f"<bpmn:flowNodeRef>{element}</bpmn:flowNodeRef>"


@pytest.mark.parametrize(
    ("lanes", "expected"),
    [
        (_lanes(ref("x"), ""), []),  # the task inherits its subprocess's lane
        (_lanes(ref("x") + ref("inner"), ""), []),  # drawn in a lane of its own
        (
            _lanes(ref("x"), ref("inner")),
            ["bad.bpmn: inner: 泳道「外包人员」不是已知角色"],
        ),  # its own lane wins
        (_lanes("", ""), ["bad.bpmn: inner: 用户任务没有办理角色"]),
    ],
)
def test_a_task_in_an_embedded_subprocess_is_checked_against_its_lane(sf, lanes: str, expected) -> None:
    found = problems(sf, ("bad.bpmn", _embedded(lanes)))
    assert len(found) == len(expected)
    assert all(p.startswith(e) for p, e in zip(found, expected, strict=True)), found
