"""Sum the JUnit reports of `make test` into one closing line: 'make test: N passed, N failed, N skipped'."""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

total = failed = skipped = 0
reports = sorted(Path(sys.argv[1]).glob("*.xml"))
for path in reports:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for s in suites:
        total += int(s.get("tests", 0))
        failed += int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped += int(s.get("skipped", 0))
passed = total - failed - skipped
print(f"make test: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or not reports or passed == 0 else 0)
