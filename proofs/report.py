"""A JUnit XML report of proof results, for CI test reporters (GitLab, Jenkins, GitHub).

One ``testsuite`` named "vta prove" holds one ``testcase`` per proof, with its wall time. A
proof that answers FAIL (the design breaks a property) or UNKNOWN (k-induction did not close)
is a ``failure``; one that ends in ERROR or TIMEOUT, without an answer, is an ``error``. Both
carry the result line as their message, and the end of SymbiYosys's output and the paths of
the kept counterexample traces as their text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime

from .sby import ProofResult

SUITE = "vta prove"
CLASSNAME = "vtaref.proofs"
FAILURES = ("FAIL", "UNKNOWN")  # answers that the property does not hold or is not proved
# Characters XML 1.0 cannot hold, even escaped (such as a terminal's escape sequences).
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def junit_xml(results: Sequence[ProofResult], *, started: float, seconds: float) -> bytes:
    """Return the report of ``results`` (see the module) as UTF-8 XML: a run that began at
    ``started`` (seconds since the epoch, as ``time.time()``) and took ``seconds``."""
    failures = sum(result.status in FAILURES for result in results)
    errors = sum(not result.passed for result in results) - failures
    counts = {"tests": str(len(results)), "failures": str(failures), "errors": str(errors),
              "time": f"{seconds:.3f}"}
    suites = ET.Element("testsuites", name=SUITE, **counts)
    suite = ET.SubElement(suites, "testsuite", name=SUITE, **counts, skipped="0",
                          timestamp=datetime.fromtimestamp(started).isoformat(timespec="seconds"))
    for result in results:
        case = ET.SubElement(suite, "testcase", name=result.name, classname=CLASSNAME,
                             time=f"{result.seconds:.3f}")
        if not result.passed:
            kind = "failure" if result.status in FAILURES else "error"
            detail = ET.SubElement(case, kind, type=result.status,
                                   message=_xml_text(str(result)))
            detail.text = _xml_text("\n".join([result.log, *(
                f"counterexample trace: {trace}" for trace in result.traces)]))
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def _xml_text(text: str) -> str:
    """Return ``text`` with the characters XML cannot hold replaced by U+FFFD."""
    return NOT_XML.sub("\ufffd", text)
