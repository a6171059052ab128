"""Every environment variable the settings read is documented in .env.example and the README.

The settings read the environment only through the typed helpers in config/env.py
(env_str, env_int, ...). These tests parse the source with ast (nothing is imported, so the
current environment does not matter) and compare the helpers' variable names and literal
defaults with .env.example, and the names with the README's Configuration section.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_MODULE = ROOT / "config" / "env.py"
ENV_EXAMPLE = ROOT / ".env.example"
README = ROOT / "README.md"
SKIP_DIRS = {".venv", "tests", "var", "node_modules", "__pycache__"}
IMPORTS_HELPERS = re.compile(
    r"^\s*(from\s+config\.env\s+import|import\s+config\.env|from\s+config\s+import\s+env)", re.M
)
# "# NAME=value" (commented out, as every line of the file should be) or "NAME=value".
EXAMPLE_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
NOT_LITERAL = object()


def _helpers() -> set[str]:
    tree = ast.parse(ENV_MODULE.read_text())
    return {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("env_")
    }


def _modules_reading_env() -> list[Path]:
    """config/settings.py and every other module that imports the helpers (tests excepted)."""
    modules = {ROOT / "config" / "settings.py"}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in SKIP_DIRS or relative.parts[0].startswith(".") or path == ENV_MODULE:
            continue
        try:
            text = path.read_text(errors="replace")
        except OSError:  # moved or removed while we walk
            continue
        if IMPORTS_HELPERS.search(text):
            modules.add(path)
    return sorted(modules)


def _literal(node: ast.expr):
    """The value of a constant default (numbers, strings, booleans, lists of strings, integer
    arithmetic such as 16 * 1024 * 1024), else NOT_LITERAL (paths, f-strings, names)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List):
        items = [_literal(item) for item in node.elts]
        return NOT_LITERAL if NOT_LITERAL in items else items
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _literal(node.operand)
        return -value if isinstance(value, int) and not isinstance(value, bool) else NOT_LITERAL
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult):
        left, right = _literal(node.left), _literal(node.right)
        if all(isinstance(value, int) and not isinstance(value, bool) for value in (left, right)):
            return {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right}[type(node.op)]
    return NOT_LITERAL


def _as_env_text(value) -> str:
    """How a default is written in .env.example."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def _read_variables() -> tuple[dict[str, object], list[str]]:
    """{name: literal default or NOT_LITERAL} for every helper call, and the calls whose name
    cannot be read from the source (not a string literal)."""
    helpers = _helpers()
    variables: dict[str, object] = {}
    unreadable: list[str] = []
    for module in _modules_reading_env():
        tree = ast.parse(module.read_text(), filename=str(module))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else None
            )
            if name not in helpers:
                continue
            where = f"{module.relative_to(ROOT)}:{node.lineno}"
            if (
                not node.args
                or not isinstance(node.args[0], ast.Constant)
                or not isinstance(node.args[0].value, str)
            ):
                unreadable.append(where)
                continue
            default_node = node.args[1] if len(node.args) > 1 else None
            for keyword in node.keywords:
                if keyword.arg == "default":
                    default_node = keyword.value
            default = NOT_LITERAL if default_node is None else _literal(default_node)
            variables[node.args[0].value] = default
    return variables, unreadable


def _example() -> tuple[dict[str, str], list[str], list[str]]:
    """{name: value} in .env.example, names listed twice, and lines that set a variable."""
    values: dict[str, str] = {}
    duplicates: list[str] = []
    active: list[str] = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = EXAMPLE_LINE.match(line.strip())
        if not match:
            continue
        commented, name, value = match.groups()
        if name in values:
            duplicates.append(name)
        if not commented:
            active.append(name)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name] = value
    return values, duplicates, active


def _readme_configuration_section() -> str:
    text = README.read_text()
    start = text.index("\n## Configuration\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_parser_sees_the_settings_variables():
    variables, unreadable = _read_variables()
    assert not unreadable, f"env_* calls whose variable name is not a string literal: {unreadable}"
    # guard against a parser that silently finds nothing
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "DATA_DIR", "DJANGO_SECRET_KEY"} <= set(variables)


def test_every_variable_read_is_in_env_example():
    variables, _ = _read_variables()
    documented, _, _ = _example()
    missing = sorted(set(variables) - set(documented))
    assert not missing, f".env.example lacks variables the settings read: {', '.join(missing)}"


def test_env_example_lists_only_variables_that_are_read():
    variables, _ = _read_variables()
    documented, _, _ = _example()
    unknown = sorted(set(documented) - set(variables))
    assert not unknown, f".env.example lists variables nothing reads: {', '.join(unknown)}"


def test_env_example_lists_each_variable_once_and_commented_out():
    _, duplicates, active = _example()
    assert not duplicates, f".env.example lists these more than once: {duplicates}"
    assert not active, f".env.example should set nothing (comment these out): {active}"


def test_env_example_shows_the_literal_defaults():
    variables, _ = _read_variables()
    documented, _, _ = _example()
    wrong = {
        name: (documented[name], _as_env_text(default))
        for name, default in variables.items()
        if default is not NOT_LITERAL and name in documented and documented[name] != _as_env_text(default)
    }
    assert not wrong, f".env.example value != settings default ({{name: (example, settings)}}): {wrong}"


def test_readme_configuration_section_names_every_variable():
    variables, _ = _read_variables()
    section = _readme_configuration_section()
    named = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", section))
    missing = sorted(set(variables) - named)
    assert not missing, f"README's Configuration section lacks: {', '.join(missing)}"
    in_tables = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, re.M))
    unknown = sorted(in_tables - set(variables))
    assert not unknown, f"README's Configuration tables list variables nothing reads: {', '.join(unknown)}"
