"""JUnit XML, the test-report format CI systems read (GitLab's `artifacts: reports: junit:`, Jenkins, the
GitHub Actions that publish test reports): one suite of cases, each passed, failed, in error or skipped.

    print(junit_xml("kestra-copilot validate", [JUnitCase("flows/etl.yml", "company.team", outcome="failure",
                                                          message="invalid (1 error)", details="…")]))

Every text is made XML-safe (XML 1.0 has no control characters, and a flow's text can carry them) and
terminal-safe (a CI log viewer may interpret escape sequences): a report that does not parse is none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from xml.etree import ElementTree as ET

from .terminal import printable

__all__ = ["JUnitCase", "Outcome", "junit_xml"]

Outcome = Literal["passed", "failure", "error", "skipped"]
"""failure: the thing checked does not pass; error: it could not be checked; skipped: it was not."""


@dataclass(frozen=True)
class JUnitCase:
    name: str
    classname: str
    outcome: Outcome = "passed"
    message: str = ""  # one line: why it failed, could not be checked, or was skipped
    details: str = ""  # the failure's or error's body (diagnostics, a hint)
    output: str = ""  # <system-out>: what was said of a case all the same (warnings of a valid flow)
    file: str | None = None  # GitLab and the GitHub report actions link the case to it
    line: int | None = None
    time: float = 0.0  # seconds


def _safe(text: str) -> str:
    """No control character (printable keeps \\t and \\n), and neither of the two non-characters XML forbids."""
    return printable(text).replace("\ufffe", "\ufffd").replace("\uffff", "\ufffd")


def junit_xml(suite: str, cases: Sequence[JUnitCase], properties: Mapping[str, str] | None = None) -> str:
    """A `<testsuites>` document holding one `<testsuite>` named `suite`, with the counts every reader wants."""
    counts = {  # on both elements: some readers total the root, others each suite
        "name": _safe(suite),
        "tests": str(len(cases)),
        "failures": str(sum(case.outcome == "failure" for case in cases)),
        "errors": str(sum(case.outcome == "error" for case in cases)),
        "skipped": str(sum(case.outcome == "skipped" for case in cases)),
        "time": f"{sum(case.time for case in cases):.3f}",
    }
    root = ET.Element("testsuites", counts)
    element = ET.SubElement(root, "testsuite", counts)
    if properties:
        listed = ET.SubElement(element, "properties")  # before the cases, where the JUnit schema has them
        for name, value in properties.items():
            ET.SubElement(listed, "property", name=_safe(name), value=_safe(value))
    for case in cases:
        attributes = {"name": _safe(case.name), "classname": _safe(case.classname), "time": f"{case.time:.3f}"}
        if case.file is not None:
            attributes["file"] = _safe(case.file)
        if case.line is not None:
            attributes["line"] = str(case.line)
        testcase = ET.SubElement(element, "testcase", attributes)
        if case.outcome != "passed":
            verdict = ET.SubElement(testcase, case.outcome, message=_safe(case.message))
            if case.details:
                verdict.text = _safe(case.details)
        if case.output:
            ET.SubElement(testcase, "system-out").text = _safe(case.output)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
