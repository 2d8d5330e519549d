"""The traceability matrix: each hazard of docs/safety.md's register and the tests that inject it.

    python tools/hazard_matrix.py          # Markdown table on stdout
    python tools/hazard_matrix.py --write  # and into docs/safety.md, between <!-- matrix --> markers

A test names its hazards with `@hazard("H-03")` (MicroPython tests, firmware/tests/hazard.py) or
`@pytest.mark.hazard("H-03")` (CPython tests), or one case of a parametrized test with
`pytest.param(..., id="cable_snap", marks=pytest.mark.hazard("H-14"))` (named `path::test[id]`, as pytest
names it); all are read here from the source, without running it. hil_tests' QA record (qa_plugin.py)
stores this matrix, so the run's report and this table come from the same data.
"""

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGISTER = ROOT / "docs" / "safety.md"
TEST_DIRS = ("firmware/tests", "hil_tests", "host_sdk/tests", "protocol/tests")
ROW = re.compile(r"^\| (H-\d\d) \| ([^|]+) \|")
START, END = "<!-- matrix -->\n", "<!-- /matrix -->"


def register():
    """{hazard id: title} from the register's table rows."""
    out = {}
    for line in REGISTER.read_text().splitlines():
        m = ROW.match(line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def _ids(dec):
    if not isinstance(dec, ast.Call):
        return []
    f = dec.func
    name = f.id if isinstance(f, ast.Name) else (f.attr if isinstance(f, ast.Attribute) else "")
    if name != "hazard":
        return []
    return [a.value for a in dec.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]


def _marks(node):
    """The hazard ids of a `marks=` value: one mark or a list or tuple of them."""
    items = node.elts if isinstance(node, ast.List | ast.Tuple) else [node]
    return [hid for item in items for hid in _ids(item)]


def _cases(dec, names, where):
    """(id, hazard ids) of each `pytest.param(..., id=..., marks=hazard(...))` of a parametrize decorator;
    its values are a list literal or a module-level name bound to one."""
    if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", None) == "parametrize"):
        return []
    values = dec.args[1] if len(dec.args) > 1 else next((k.value for k in dec.keywords
                                                         if k.arg == "argvalues"), None)
    if isinstance(values, ast.Name):
        values = names.get(values.id)
    if not isinstance(values, ast.List | ast.Tuple):
        return []
    out = []
    for value in values.elts:
        if not (isinstance(value, ast.Call) and getattr(value.func, "attr", None) == "param"):
            continue
        keywords = {k.arg: k.value for k in value.keywords}
        ids = _marks(keywords["marks"]) if "marks" in keywords else []
        if not ids:
            continue
        case = keywords.get("id")
        if not (isinstance(case, ast.Constant) and isinstance(case.value, str)):
            raise ValueError(f"{where} (line {value.lineno}): a pytest.param with a hazard mark needs an id")
        out.append((case.value, ids))
    return out


def marked_tests():
    """{hazard id: ["path::test", ...]} for every test function, or case of one, carrying a hazard mark."""
    out = {}
    for d in TEST_DIRS:
        for path in sorted((ROOT / d).glob("*test_*.py")):
            tree = ast.parse(path.read_text())
            names = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign)
                     for t in n.targets if isinstance(t, ast.Name)}
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                    test = f"{path.relative_to(ROOT)}::{node.name}"
                    for dec in node.decorator_list:
                        for hid in _ids(dec):
                            out.setdefault(hid, []).append(test)
                        for case, ids in _cases(dec, names, test):
                            for hid in ids:
                                out.setdefault(hid, []).append(f"{test}[{case}]")
    return out


def table():
    """The matrix as Markdown; ValueError when a test names a hazard the register does not have."""
    reg = register()
    tests = marked_tests()
    unknown = sorted(set(tests) - set(reg))
    if unknown:
        raise ValueError(f"tests name hazards the register does not have: {', '.join(unknown)}")
    rows = ["| hazard | | tests that inject it |", "|---|---|---|"]
    for hid, title in reg.items():
        names = tests.get(hid, [])
        rows.append(f"| {hid} | {title} | {'<br>'.join(f'`{n}`' for n in names) if names else 'none'} |")
    return "\n".join(rows) + "\n"


def documented():
    """The matrix as docs/safety.md has it."""
    text = REGISTER.read_text()
    return text[text.index(START) + len(START):text.index(END)]


def main():
    try:
        t = table()
    except ValueError as e:
        sys.exit(str(e))
    if "--write" in sys.argv[1:]:
        text = REGISTER.read_text()
        a = text.index(START) + len(START)
        REGISTER.write_text(text[:a] + t + text[text.index(END):])
    sys.stdout.write(t)


if __name__ == "__main__":
    main()
