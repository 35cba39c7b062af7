"""A parser and a symbolic evaluator of the Bicep subset infra/ uses (no Bicep CLI is available here).

`parse(text)` gives a `File` of statements (params with their decorators, vars, resources, modules,
outputs) whose expressions are small AST nodes. `Evaluator` evaluates them over plain Python data:
literals become str/int/bool/None/list/dict; what is only known at deployment time stays symbolic
(`Sym` for a parameter, `Call` for a function, `Ref` for a resource, `Member` for a property of one);
a list item or value under a condition the evaluator cannot decide is wrapped in `Cond` / `Either`.
Anything outside the subset raises `BicepError` naming the line, so a template the parser misreads
fails loudly instead of being checked wrongly."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class BicepError(Exception):
    pass


# ---- tokens -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tok:
    kind: str  # "id", "num", "str", "op", "nl", "eof"
    value: Any
    line: int


OPS = ("??", "==", "!=", "<=", ">=", "&&", "||", ".?", "=~", "!~",
       "{", "}", "[", "]", "(", ")", ",", ":", ".", "?", "!", "=", "<", ">", "+", "-", "*", "/", "%", "@")


def tokenize(text: str, line: int = 1) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            toks.append(Tok("nl", None, line))
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise BicepError(f"line {line}: unterminated comment")
            line += text.count("\n", i, end)
            i = end + 2
        elif text.startswith("'''", i):
            end = text.find("'''", i + 3)
            if end < 0:
                raise BicepError(f"line {line}: unterminated multi-line string")
            toks.append(Tok("str", [text[i + 3:end]], line))
            line += text.count("\n", i, end)
            i = end + 3
        elif c == "'":
            parts, i, line = _string(text, i + 1, line)
            toks.append(Tok("str", parts, line))
        elif c.isdigit():
            m = re.compile(r"\d+").match(text, i)
            assert m
            toks.append(Tok("num", int(m.group()), line))
            i = m.end()
        elif c.isalpha() or c == "_":
            m = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(text, i)
            assert m
            toks.append(Tok("id", m.group(), line))
            i = m.end()
        else:
            for op in OPS:
                if text.startswith(op, i):
                    toks.append(Tok("op", op, line))
                    i += len(op)
                    break
            else:
                raise BicepError(f"line {line}: unexpected character {c!r}")
    toks.append(Tok("eof", None, line))
    return toks


ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", "$": "$"}


def _string(text: str, i: int, line: int) -> tuple[list, int, int]:
    """A '...' string from after its quote: its parts (str, or the token list of an interpolation)."""
    parts: list = []
    buf: list[str] = []
    start_line = line
    while True:
        if i >= len(text) or text[i] == "\n":
            raise BicepError(f"line {start_line}: unterminated string")
        c = text[i]
        if c == "\\":
            buf.append(ESCAPES.get(text[i + 1], text[i + 1]) if i + 1 < len(text) else "")
            i += 2
        elif c == "'":
            if buf or not parts:
                parts.append("".join(buf))
            return parts, i + 1, line
        elif text.startswith("${", i):
            if buf:
                parts.append("".join(buf))
                buf = []
            depth, j = 0, i + 2
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    if depth == 0:
                        break
                    depth -= 1
                elif text[j] == "'":  # a string inside the interpolation
                    _, j, _ = _string(text, j + 1, line)
                    continue
                j += 1
            else:
                raise BicepError(f"line {start_line}: unterminated interpolation")
            parts.append(tokenize(text[i + 2:j], line))
            i = j + 1
        else:
            buf.append(c)
            i += 1


# ---- AST --------------------------------------------------------------------------------------------

@dataclass
class Node:
    line: int


@dataclass
class Lit(Node):
    value: Any


@dataclass
class Str(Node):
    parts: list  # str or Node


@dataclass
class Ident(Node):
    name: str


@dataclass
class Arr(Node):
    items: list[Node]


@dataclass
class Obj(Node):
    entries: list[tuple[str, Node]]  # key (identifier or string literal) -> value
    quoted: set[str] = field(default_factory=set)  # keys written as strings
    resources: list[Statement] = field(default_factory=list)  # nested `resource x 'child' = {...}`


@dataclass
class For(Node):
    names: list[str]  # item, or item and index
    iterable: Node
    body: Node


@dataclass
class If(Node):
    cond: Node
    body: Node


@dataclass
class Member(Node):
    base: Node
    name: str
    safe: bool = False  # `.?`


@dataclass
class Index(Node):
    base: Node
    index: Node


@dataclass
class CallNode(Node):
    func: Node
    args: list[Node]


@dataclass
class Unary(Node):
    op: str
    operand: Node


@dataclass
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass
class Ternary(Node):
    cond: Node
    then: Node
    other: Node


@dataclass
class Statement:
    kind: str  # param, var, resource, module, output, targetScope, using
    name: str
    line: int
    decorators: list[tuple[str, list[Node]]] = field(default_factory=list)
    type: str = ""  # param/output type, resource 'type@version', module path
    value: Node | None = None  # default, value, body
    existing: bool = False


@dataclass
class File:
    statements: list[Statement]

    def of(self, kind: str) -> dict[str, Statement]:
        return {s.name: s for s in self.statements if s.kind == kind}

    @property
    def params(self) -> dict[str, Statement]:
        return self.of("param")

    @property
    def vars(self) -> dict[str, Statement]:
        return self.of("var")

    @property
    def resources(self) -> dict[str, Statement]:
        found = self.of("resource")
        for s in list(found.values()):
            found.update(_nested(s))
        return found

    @property
    def modules(self) -> dict[str, Statement]:
        return self.of("module")

    @property
    def outputs(self) -> dict[str, Statement]:
        return self.of("output")


def _nested(statement: Statement) -> dict[str, Statement]:
    found = {}
    for obj in walk(statement.value):
        if isinstance(obj, Obj):
            for r in obj.resources:
                found[r.name] = r
    return found


def walk(node: Any):
    """Every node under `node` (itself first), nested resources' bodies included."""
    if isinstance(node, Node):
        yield node
        for value in vars(node).values():
            if isinstance(value, Node):
                yield from walk(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, tuple):
                        yield from walk(item[1])
                    elif isinstance(item, Statement):
                        yield from walk(item.value)
                    else:
                        yield from walk(item)


# ---- parser -----------------------------------------------------------------------------------------

class Parser:
    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.context = ["block"]  # "paren": newlines are insignificant; "block": they separate

    def _at(self, skip_nl: bool | None = None) -> int:
        skip = self.context[-1] == "paren" if skip_nl is None else skip_nl
        j = self.i
        while skip and self.toks[j].kind == "nl":
            j += 1
        return j

    def peek(self, skip_nl: bool | None = None) -> Tok:
        return self.toks[self._at(skip_nl)]

    def next(self) -> Tok:
        j = self._at()
        self.i = j + 1
        return self.toks[j]

    def is_op(self, value: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.value == value

    def expect(self, value: str) -> Tok:
        tok = self.next()
        if tok.kind != "op" or tok.value != value:
            raise BicepError(f"line {tok.line}: expected {value!r}, found {tok.value!r}")
        return tok

    def ident(self) -> str:
        tok = self.next()
        if tok.kind != "id":
            raise BicepError(f"line {tok.line}: expected a name, found {tok.value!r}")
        return tok.value

    def skip_nl(self) -> None:
        while self.toks[self.i].kind == "nl":
            self.i += 1

    # statements
    def file(self) -> File:
        statements = []
        decorators: list[tuple[str, list[Node]]] = []
        while True:
            self.skip_nl()
            tok = self.peek()
            if tok.kind == "eof":
                if decorators:
                    raise BicepError(f"line {tok.line}: decorator without a statement")
                return File(statements)
            if tok.kind == "op" and tok.value == "@":
                self.next()
                name = self.ident()
                args = self.args() if self.is_op("(") else []
                decorators.append((name, args))
                continue
            statement = self.statement()
            statement.decorators = decorators
            decorators = []
            statements.append(statement)
            end = self.peek()
            if end.kind not in ("nl", "eof"):
                raise BicepError(f"line {end.line}: unexpected {end.value!r} after a statement")

    def statement(self) -> Statement:
        tok = self.next()
        keyword = tok.value if tok.kind == "id" else None
        if keyword == "targetScope":
            self.expect("=")
            return Statement("targetScope", "targetScope", tok.line, value=self.expr())
        if keyword == "using":
            return Statement("using", "using", tok.line, value=self.expr())
        if keyword == "param":
            name = self.ident()
            if self.is_op("="):  # a .bicepparam assignment
                self.next()
                return Statement("param", name, tok.line, value=self.expr())
            type_ = self.ident()
            default = None
            if self.is_op("="):
                self.next()
                default = self.expr()
            return Statement("param", name, tok.line, type=type_, value=default)
        if keyword == "var":
            name = self.ident()
            self.expect("=")
            return Statement("var", name, tok.line, value=self.expr())
        if keyword == "output":
            name = self.ident()
            type_ = self.ident()
            self.expect("=")
            return Statement("output", name, tok.line, type=type_, value=self.expr())
        if keyword in ("resource", "module"):
            return self.declaration(keyword, tok.line)
        raise BicepError(f"line {tok.line}: unsupported statement {tok.value!r}")

    def declaration(self, keyword: str, line: int) -> Statement:
        name = self.ident()
        type_tok = self.next()
        if type_tok.kind != "str" or len(type_tok.value) != 1 or not isinstance(type_tok.value[0], str):
            raise BicepError(f"line {line}: {keyword} {name}: expected a plain string type or path")
        existing = False
        if self.peek().kind == "id" and self.peek().value == "existing":
            self.next()
            existing = True
        self.expect("=")
        return Statement(keyword, name, line, type=type_tok.value[0], value=self.body(), existing=existing)

    def body(self) -> Node:
        tok = self.peek()
        if tok.kind == "id" and tok.value == "if":
            self.next()
            self.expect("(")
            self.context.append("paren")
            cond = self.expr()
            self.context.pop()
            self.expect(")")
            return If(tok.line, cond, self.body())
        return self.expr()

    # expressions
    def expr(self) -> Node:
        cond = self.binary(0)
        if self.is_op("?"):
            tok = self.next()
            then = self.expr()
            self.expect(":")
            return Ternary(tok.line, cond, then, self.expr())
        return cond

    LEVELS = (("??",), ("||",), ("&&",), ("==", "!=", "=~", "!~"), ("<", ">", "<=", ">="), ("+", "-"),
              ("*", "/", "%"))

    def binary(self, level: int) -> Node:
        if level == len(self.LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek().kind == "op" and self.peek().value in self.LEVELS[level]:
            tok = self.next()
            left = Binary(tok.line, tok.value, left, self.binary(level + 1))
        return left

    def unary(self) -> Node:
        if self.is_op("!") or self.is_op("-"):
            tok = self.next()
            return Unary(tok.line, tok.value, self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.peek(skip_nl=False) if self.context[-1] == "block" else self.peek()
            if tok.kind != "op":
                return node
            if tok.value in (".", ".?"):
                self.next()
                node = Member(tok.line, node, self.ident(), tok.value == ".?")
            elif tok.value == "[":
                self.next()
                self.context.append("paren")
                index = self.expr()
                self.context.pop()
                self.expect("]")
                node = Index(tok.line, node, index)
            elif tok.value == "(":
                node = CallNode(tok.line, node, self.args())
            elif tok.value == "!":  # non-null assertion
                self.next()
            else:
                return node

    def args(self) -> list[Node]:
        self.expect("(")
        self.context.append("paren")
        args = []
        while not self.is_op(")"):
            args.append(self.expr())
            if not self.is_op(")"):
                self.expect(",")
        self.context.pop()
        self.expect(")")
        return args

    def primary(self) -> Node:
        tok = self.next()
        if tok.kind == "num":
            return Lit(tok.line, tok.value)
        if tok.kind == "str":
            parts = [p if isinstance(p, str) else Parser(p).whole() for p in tok.value]
            return Str(tok.line, parts)
        if tok.kind == "id":
            if tok.value in ("true", "false"):
                return Lit(tok.line, tok.value == "true")
            if tok.value == "null":
                return Lit(tok.line, None)
            return Ident(tok.line, tok.value)
        if tok.kind == "op" and tok.value == "(":
            self.context.append("paren")
            inner = self.expr()
            self.context.pop()
            self.expect(")")
            return inner
        if tok.kind == "op" and tok.value == "[":
            return self.array(tok.line)
        if tok.kind == "op" and tok.value == "{":
            return self.object(tok.line)
        raise BicepError(f"line {tok.line}: unexpected {tok.value!r}")

    def whole(self) -> Node:
        self.context = ["paren"]
        node = self.expr()
        if self.peek().kind != "eof":
            raise BicepError(f"line {self.peek().line}: unexpected {self.peek().value!r} in an interpolation")
        return node

    def array(self, line: int) -> Node:
        self.context.append("block")
        self.skip_nl()
        if self.peek().kind == "id" and self.peek().value == "for":
            self.next()
            names = []
            if self.is_op("("):
                self.next()
                names.append(self.ident())
                self.expect(",")
                names.append(self.ident())
                self.expect(")")
            else:
                names.append(self.ident())
            if self.ident() != "in":
                raise BicepError(f"line {line}: expected 'in'")
            iterable = self.expr()
            self.expect(":")
            body = self.body()
            self.skip_nl()
            self.context.pop()
            self.expect("]")
            return For(line, names, iterable, body)
        items = []
        while True:
            self.skip_nl()
            if self.is_op("]"):
                break
            items.append(self.expr())
            if self.is_op(","):
                self.next()
            elif self.peek().kind != "nl" and not self.is_op("]"):
                raise BicepError(f"line {self.peek().line}: expected a new line or ']' after an array item")
        self.context.pop()
        self.expect("]")
        return Arr(line, items)

    def object(self, line: int) -> Node:
        self.context.append("block")
        obj = Obj(line, [])
        while True:
            self.skip_nl()
            if self.is_op("}"):
                break
            tok = self.next()
            if tok.kind == "id" and tok.value == "resource" and self.peek().kind == "id":
                obj.resources.append(self.declaration("resource", tok.line))
            else:
                if tok.kind == "id":
                    key = tok.value
                elif tok.kind == "str" and len(tok.value) == 1 and isinstance(tok.value[0], str):
                    key = tok.value[0]
                    obj.quoted.add(key)
                elif tok.kind == "str":
                    key = "${...}"  # an interpolated key, e.g. '${identityId}'
                    obj.quoted.add(key)
                else:
                    raise BicepError(f"line {tok.line}: expected a property name, found {tok.value!r}")
                self.expect(":")
                obj.entries.append((key, self.expr()))
            if self.is_op(","):
                self.next()
            elif self.peek().kind != "nl" and not self.is_op("}"):
                raise BicepError(f"line {self.peek().line}: expected a new line or '}}' after a property")
        self.context.pop()
        self.expect("}")
        return obj


def parse(text: str) -> File:
    return Parser(tokenize(text)).file()


# ---- evaluation -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sym:
    """A value known only at deployment time, by its expression's text."""
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Ref:
    """A resource (or one instance of a resource loop) of one evaluated file."""
    ev: Evaluator
    symbol: str
    index: int | None = None

    def __str__(self) -> str:
        return self.symbol if self.index is None else f"{self.symbol}[{self.index}]"

    def __hash__(self) -> int:
        return hash((id(self.ev), self.symbol, self.index))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Ref) and other.ev is self.ev and other.symbol == self.symbol
                and other.index == self.index)


@dataclass(frozen=True)
class Prop:
    """`base.name`: a property of a resource or of another symbolic value."""
    base: Any
    name: str

    def __str__(self) -> str:
        return f"{render(self.base)}.{self.name}"


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple

    def __str__(self) -> str:
        return f"{self.name}({', '.join(render(a) for a in self.args)})"


@dataclass(frozen=True)
class Cond:
    """A list item present only when `cond` holds."""
    value: Any
    cond: str


@dataclass(frozen=True)
class Either:
    """`cond ? then : other` where `cond` is not known before deployment."""
    cond: str
    then: Any
    other: Any

    def __str__(self) -> str:
        return f"{self.cond} ? {render(self.then)} : {render(self.other)}"


def render(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def text_of(value: Any) -> str:
    """A string value as text, symbolic parts written `${...}`."""
    return value if isinstance(value, str) else "${" + render(value) + "}"


def alternatives(value: Any) -> list:
    """The values an `Either` may take (itself otherwise)."""
    if isinstance(value, Either):
        return alternatives(value.then) + alternatives(value.other)
    return [value]


def items_of(value: Any) -> list[tuple[Any, list[str]]]:
    """A list's items, each with the conditions it depends on."""
    if isinstance(value, Either):
        return ([(v, [value.cond, *c]) for v, c in items_of(value.then)]
                + [(v, [f"!({value.cond})", *c]) for v, c in items_of(value.other)])
    if not isinstance(value, list):
        raise BicepError(f"not a list: {render(value)}")
    out = []
    for item in value:
        if isinstance(item, Cond):
            out.append((item.value, [item.cond]))
        else:
            out.append((item, []))
    return out


def plain(value: Any) -> Any:
    """`value` with list items' conditions dropped (what may be there)."""
    if isinstance(value, list):
        return [plain(v.value if isinstance(v, Cond) else v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _concrete(value: Any) -> bool:
    return isinstance(value, str | int | bool | list | dict) or value is None


class Evaluator:
    """One file evaluated with its parameters bound (unbound ones stay `Sym(name)`)."""

    def __init__(self, name: str, file: File, params: dict[str, Any] | None = None,
                 factory: Callable[[Evaluator, str], Evaluator | None] | None = None) -> None:
        self.name = name  # the file, relative to infra/
        self.file = file
        self.bound = params or {}
        self.factory = factory  # (this, module symbol) -> the module's evaluator, its params bound
        self.modules: dict[str, Evaluator | None] = {}
        self._vars: dict[str, Any] = {}
        self.resources = file.resources

    def module(self, symbol: str) -> Evaluator | None:
        """The evaluator of one of this file's modules (its outputs are read through it)."""
        if symbol not in self.modules:
            self.modules[symbol] = self.factory(self, symbol) if self.factory else None
        return self.modules[symbol]

    def __repr__(self) -> str:
        return f"Evaluator({self.name})"

    def param(self, name: str) -> Any:
        return self.bound.get(name, Sym(name))

    def var(self, name: str) -> Any:
        if name not in self._vars:
            self._vars[name] = None  # a cycle reads None
            self._vars[name] = self.eval(value_of(self.file.vars[name]), {})
        return self._vars[name]

    def output(self, name: str) -> Any:
        return self.eval(value_of(self.file.outputs[name]), {})

    def instances(self, symbol: str) -> list[tuple[dict[str, Any], Any, list[str]]]:
        """A resource's (or module's) instances: (loop bindings, body value, conditions)."""
        statement = self.resources.get(symbol) or self.file.modules[symbol]
        return self.instances_of(value_of(statement))

    def instances_of(self, node: Node) -> list[tuple[dict[str, Any], Any, list[str]]]:
        def body(node: Node, scope: dict[str, Any], conds: list[str]) -> tuple[Any, list[str]]:
            if isinstance(node, If):
                cond = self.eval(node.cond, scope)
                if cond is False:
                    return None, conds
                return self.eval(node.body, scope), conds if cond is True else [*conds, render(cond)]
            return self.eval(node, scope), conds

        if isinstance(node, For):
            out = []
            for i, (item, conds) in enumerate(items_of(self.eval(node.iterable, {}))):
                scope = {node.names[0]: item}
                if len(node.names) > 1:
                    scope[node.names[1]] = i
                value, all_conds = body(node.body, scope, conds)
                out.append((scope, value, all_conds))
            return out
        value, conds = body(node, {}, [])
        return [({}, value, conds)]

    def resource_body(self, ref: Ref) -> Any:
        instances = self.instances(ref.symbol)
        return instances[ref.index if ref.index is not None else 0][1]

    def eval(self, node: Node, scope: dict[str, Any]) -> Any:  # noqa: C901 (one case per node type)
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, Str):
            parts = [p if isinstance(p, str) else self.eval(p, scope) for p in node.parts]
            return "".join(p if isinstance(p, str) else text_of(p) if not isinstance(p, int) else str(p)
                           for p in parts)
        if isinstance(node, Ident):
            name = node.name
            if name in scope:
                return scope[name]
            if name in self.file.vars:
                return self.var(name)
            if name in self.file.params:
                return self.param(name)
            if name in self.resources:
                return Ref(self, name)
            if name in self.file.modules:
                return Sym(name)
            raise BicepError(f"{self.name} line {node.line}: unknown name {name}")
        if isinstance(node, Arr):
            return [self.eval(item, scope) for item in node.items]
        if isinstance(node, Obj):
            return {key: self.eval(value, scope) for key, value in node.entries}
        if isinstance(node, For):
            out = []
            for i, (item, conds) in enumerate(items_of(self.eval(node.iterable, scope))):
                inner = {**scope, node.names[0]: item}
                if len(node.names) > 1:
                    inner[node.names[1]] = i
                value = self.eval(node.body, inner)
                out.append(Cond(value, " && ".join(conds)) if conds else value)
            return out
        if isinstance(node, Member):
            base = self.eval(node.base, scope)
            if isinstance(base, dict):
                if node.name not in base and not node.safe:
                    raise BicepError(f"{self.name} line {node.line}: no property {node.name} in {base_sym(base)}")
                return base.get(node.name)
            if isinstance(base, Sym) and base.text in self.file.modules and node.name == "outputs":
                return Sym(f"{base.text}.outputs")
            if isinstance(base, Sym) and base.text.endswith(".outputs") and base.text[:-8] in self.file.modules:
                module = self.module(base.text[:-8])
                if module is not None and node.name not in module.file.outputs:
                    raise BicepError(f"{self.name} line {node.line}: {module.name} has no output {node.name}")
                out = module.output(node.name) if module is not None else None
                return out if isinstance(out, list | dict) else Sym(f"{base.text}.{node.name}")
            if isinstance(base, Sym):
                return Sym(f"{base.text}.{node.name}")
            return Prop(base, node.name)
        if isinstance(node, Index):
            base = self.eval(node.base, scope)
            index = self.eval(node.index, scope)
            if isinstance(base, Ref) and isinstance(index, int):
                return Ref(self, base.symbol, index)
            if isinstance(base, list) and isinstance(index, int):
                item = base[index]
                return item.value if isinstance(item, Cond) else item
            if isinstance(base, dict) and isinstance(index, str) and index in base:
                return base[index]
            return Sym(f"{render(base)}[{render(index)}]")
        if isinstance(node, CallNode):
            if not isinstance(node.func, Ident):
                raise BicepError(f"{self.name} line {node.line}: unsupported call")
            return self.call(node.func.name, [self.eval(a, scope) for a in node.args])
        if isinstance(node, Unary):
            value = self.eval(node.operand, scope)
            if node.op == "!" and isinstance(value, bool):
                return not value
            if node.op == "-" and isinstance(value, int):
                return -value
            return Sym(f"{node.op}{render(value)}")
        if isinstance(node, Binary):
            left, right = self.eval(node.left, scope), self.eval(node.right, scope)
            if _concrete(left) and _concrete(right) and not isinstance(left, list | dict):
                if node.op == "==":
                    return left == right
                if node.op == "!=":
                    return left != right
                if node.op == "&&" and isinstance(left, bool) and isinstance(right, bool):
                    return left and right
                if node.op == "||" and isinstance(left, bool) and isinstance(right, bool):
                    return left or right
                if node.op == "??":
                    return right if left is None else left
                if isinstance(left, int) and isinstance(right, int):
                    return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right,
                            "+": left + right, "-": left - right, "*": left * right}.get(node.op, Sym("?"))
            return Sym(f"{render(left)} {node.op} {render(right)}")
        if isinstance(node, Ternary):
            cond = self.eval(node.cond, scope)
            if isinstance(cond, bool):
                return self.eval(node.then if cond else node.other, scope)
            then, other = self.eval(node.then, scope), self.eval(node.other, scope)
            if isinstance(then, list) and isinstance(other, list):
                return ([Cond(v, render(cond)) for v in then] + [Cond(v, f"!({render(cond)})") for v in other])
            return Either(render(cond), then, other)
        if isinstance(node, If):
            raise BicepError(f"{self.name} line {node.line}: `if` outside a resource or module body")
        raise BicepError(f"{self.name}: cannot evaluate {type(node).__name__}")

    def call(self, name: str, args: list[Any]) -> Any:
        if name == "concat" and all(isinstance(a, list) for a in args):
            return [item for a in args for item in a]
        if name == "concat" and all(isinstance(a, str) for a in args):
            return "".join(args)
        if name == "union" and all(isinstance(a, dict | Either) for a in args):
            merged: dict = {}
            for a in args:
                for alternative in alternatives(a):
                    if isinstance(alternative, dict):
                        merged.update(alternative)
            return merged
        if name == "items" and len(args) == 1 and isinstance(args[0], dict):
            return [{"key": k, "value": v} for k, v in args[0].items()]
        if name == "empty" and len(args) == 1 and isinstance(args[0], str | list | dict):
            return len(args[0]) == 0
        if name == "contains" and len(args) == 2 and isinstance(args[0], dict | list) and isinstance(args[1], str):
            return args[1] in args[0]
        if name in ("string", "toLower") and len(args) == 1 and isinstance(args[0], str):
            return args[0].lower() if name == "toLower" else args[0]
        return Call(name, tuple(args))


def value_of(statement: Statement) -> Node:
    if statement.value is None:
        raise BicepError(f"line {statement.line}: {statement.kind} {statement.name} has no value")
    return statement.value


def base_sym(value: dict) -> str:
    return "{" + ", ".join(value) + "}"
