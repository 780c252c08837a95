"""The matching rule's numbers live in one table (features/rule.py) or in the policy
(features/policy.py): no other module of features/ keeps a number of its own at module
level, and every number of the table is used."""

from __future__ import annotations

import ast
from pathlib import Path

from tongtu.features import rule

FEATURES = Path(rule.__file__).parent
# What a library stores, not what a match must show: changing these asks for a re-index
# (features/rule.py's docstring).
STORED = {
    "descriptor.py": {"DIM", "SHORT_SIDE", "MAX_LONG_SIDE"},
    "extractor.py": {"WORK_MAX"},
    "local.py": {"WORK_SIDE", "REF_FEATURES", "QUERY_FEATURES", "GRID", "_POS_SCALE"},
    "parts.py": {"MAX_ENLARGE", "MIN_SIDE"},
}


def _number(node: ast.expr) -> bool:
    """A literal number, a negated one, or a tuple of them."""
    if isinstance(node, ast.UnaryOp):
        return _number(node.operand)
    if isinstance(node, ast.Tuple):
        return all(_number(e) for e in node.elts)
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _numbers(path: Path) -> set[str]:
    """The module-level names a file binds to literal numbers."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and _number(node.value):
            for target in node.targets:  # `A = 1`, and `A, B = 1, 2`
                elts = target.elts if isinstance(target, ast.Tuple) else [target]
                names |= {t.id for t in elts if isinstance(t, ast.Name)}
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.value is not None
            and _number(node.value)
        ):
            names.add(node.target.id)
    return names


def test_no_module_of_features_keeps_a_number_of_its_own():
    found = {
        path.name: extra
        for path in sorted(FEATURES.glob("*.py"))
        if path.name not in ("rule.py", "policy.py")
        and (extra := _numbers(path) - STORED.get(path.name, set()))
    }
    assert found == {}


def test_every_number_of_the_table_is_used():
    sources = "\n".join(
        p.read_text() for p in sorted(FEATURES.parent.rglob("*.py")) if p.name != "rule.py"
    )
    unused = {name for name in _numbers(Path(rule.__file__)) if f"rule.{name}" not in sources}
    assert unused == set()
