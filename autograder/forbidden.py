"""Static half of the forbidden-call check: what the student's source says.

The dynamic half (the worker's operation log, and the sandbox's disabled kernels) sees what runs;
this scan reads one solution cell and flags every way its source can name a library
implementation the exercise forbids, directly or indirectly:
- the library names themselves: as attributes (`F.dropout`), in imports, or as bare names. Any
  name can be rebound (a star import, an assignment), so the only names exempt are the graded
  names the exercise asks for, and only while the cell binds them solely by their own def/class;
- star imports, except from the standard library and NumPy (which export no such name);
- dynamic attribute access (getattr, setattr, delattr, operator.attrgetter/methodcaller) unless
  the name is a string the scan can work out and it is harmless; those functions, and the
  namespace dictionaries (vars, globals, locals, __dict__), used as values; a namespace read
  with anything but a literal key;
- strings that spell a library name as code (a dotted path, a call, an import, or the bare
  name), after folding constant expressions ('drop' + 'out', f-strings, joins, slices, chr,
  bytes, ...);
- the routes no name-based check can follow: __import__, eval/exec/compile, importlib, pickle,
  ctypes, gc, inspect, stack frames, torch._C, torch.ops, torch._decomp, torch._refs,
  torch._prims, torch.library, dispatch modes, and the grader's own modules.
What a student cannot write, the sandbox cannot be asked for by name; what is left (names built
at run time from data) is the dynamic half's to stop.
"""
from __future__ import annotations

import ast
import base64
import codecs
import itertools
import operator
import re
import string
import sys

# ---------------------------------------------------------------------------------------------
# What the exercises forbid
# ---------------------------------------------------------------------------------------------
DROPOUT_NAMES = frozenset({
    "dropout", "dropout_", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "alpha_dropout_",
    "feature_alpha_dropout", "feature_alpha_dropout_", "feature_dropout", "feature_dropout_",
    "native_dropout", "native_dropout_backward", "_fused_dropout", "_fused_dropout_decomposition",
    "_masked_scale", "_dropout_helper",
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout", "_DropoutNd",
})
NORMALIZATION_NAMES = frozenset({
    "batch_norm", "native_batch_norm", "native_batch_norm_backward", "native_batch_norm_helper",
    "_native_batch_norm_legit", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit_functional",
    "_native_batch_norm_legit_no_stats", "_batch_norm_impl_index", "_batch_norm_with_update",
    "_batch_norm_with_update_functional", "_batch_norm_no_update", "batch_norm_elemt", "batch_norm_stats",
    "batch_norm_gather_stats", "batch_norm_gather_stats_with_counts", "batch_norm_update_stats",
    "batch_norm_backward_elemt", "batch_norm_backward_reduce", "cudnn_batch_norm", "miopen_batch_norm",
    "quantized_batch_norm", "instance_norm", "layer_norm", "native_layer_norm", "group_norm",
    "native_group_norm", "rms_norm", "_fused_rms_norm", "local_response_norm", "normalize",
    "weight_norm", "_weight_norm", "_weight_norm_interface",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
    "SyncBatchNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LazyInstanceNorm1d",
    "LazyInstanceNorm2d", "LazyInstanceNorm3d", "LayerNorm", "GroupNorm", "RMSNorm", "LocalResponseNorm",
    "CrossMapLRN2d", "WeightNorm", "_BatchNorm", "_NormBase", "_InstanceNorm", "_LazyNormBase",
    "batchnorm", "instancenorm",
})
# Library pieces with a dropout or a normalization inside (attention's dropout_p, a transformer
# layer's norm1 and dropout1), reachable through attributes no other list names.
COMPOSITE_NAMES = frozenset({
    "scaled_dot_product_attention", "multi_head_attention_forward", "MultiheadAttention", "Transformer",
    "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer", "TransformerDecoderLayer",
    "functional_call",
})
INIT_NAMES = frozenset({
    "calculate_gain", "_calculate_fan_in_and_fan_out", "_calculate_correct_fan", "xavier_uniform_",
    "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform", "xavier_normal",
    "kaiming_uniform", "kaiming_normal", "_no_grad_uniform_", "_no_grad_normal_",
})
LIBRARY_NAMES = DROPOUT_NAMES | NORMALIZATION_NAMES | COMPOSITE_NAMES  # the scan's default: dropout and normalization
NAME_FAMILIES = (DROPOUT_NAMES, NORMALIZATION_NAMES, COMPOSITE_NAMES, INIT_NAMES)  # forbidden whole, or not at all
# Modules forbidden whole when an exercise forbids one of their names: `torch.nn.init` itself is
# the shortcut in chapter 04, while an honest local variable may well be called `init`.
LIBRARY_MODULES = {"torch.nn.init": INIT_NAMES}

# ---------------------------------------------------------------------------------------------
# Routes around the names
# ---------------------------------------------------------------------------------------------
# Dynamic attribute access: the position of the attribute-name argument (None: every argument).
ATTRIBUTE_GETTERS = {"getattr": 1, "setattr": 1, "delattr": 1, "getattr_static": 1, "methodcaller": 0,
                     "attrgetter": None}
NAMESPACES = {"vars", "globals", "locals"}
EVASIVE_NAMES = {"__import__", "eval", "exec", "compile", "__builtins__", "__loader__", "__spec__"}
EVASIVE_ATTRIBUTES = {
    "_C", "_VF", "ops", "_ops", "library", "overrides", "_python_dispatch", "_dispatch", "_decomp", "_refs",
    "_prims", "_prims_common", "_dynamo", "_inductor", "_jit_internal", "profiler",
    "__builtins__", "__globals__", "__code__", "__closure__", "__import__", "__getattribute__", "__getattr__",
    "__subclasses__", "__doc__", "__loader__", "__spec__",
    "_getframe", "f_locals", "f_globals", "f_builtins", "f_back", "gi_frame", "cr_frame", "ag_frame", "tb_frame",
    "ctypeslib",
}
EVASIVE_MODULES = {
    "importlib", "imp", "builtins", "ctypes", "cffi", "gc", "inspect", "pickle", "_pickle", "marshal", "shelve",
    "copyreg", "dill", "cloudpickle", "joblib", "pydoc", "pkgutil", "runpy", "zipimport",
    # they run code given as a string, or resolve a dotted name given as one
    "code", "codeop", "timeit", "doctest", "pdb", "bdb", "trace", "profile", "cProfile", "logging.config",
    "unittest.mock", "mock",
}
# Words a string may not spell as code (see _Scan.spelled): the evasive routes by name.
# (Not the course's own `autograder`: nothing in the worker's copy of it decides a verdict, so
# touching it is harmless and graded as if it were absent.)
EVASIVE_WORDS = {"importlib", "builtins", "ctypes", "__import__", "__builtins__", "_C", "_VF",
                 "_decomp", "_refs", "_prims", "getattr", "attrgetter", "methodcaller", "__getattribute__",
                 "__dict__", "__globals__", "__subclasses__"}
# Builtins that only show a namespace or list its keys (when the cell does not rebind them).
DISPLAY_CALLS = {"print", "repr", "str", "ascii", "len", "format", "sorted", "list", "set", "tuple"}
STAR_IMPORT_SAFE = (set(sys.stdlib_module_names) | {"numpy"}) - EVASIVE_MODULES

MAX_SOURCE_CHARS = 200_000
MAX_DEPTH = 100  # far beyond honest code; keeps every recursive step below Python's limit


def verdict(found: list[str]) -> str:
    """The failure message for a part whose source has findings: the same words locally and in grading."""
    return ("may reach a forbidden library implementation: " + "; ".join(found)
            + ". The exercise asks you to implement it yourself.")


def findings(source: str, own_names, library_names=None) -> list[str]:
    """Why `source` may reach a forbidden library implementation, one short finding per route, in
    line order; empty when the scan sees none.

    own_names: the graded names the exercise asks for (a chapter's parts): exempt while the cell
    binds them solely by their own def/class. library_names: the names the part's exercise forbids
    (its Part's forbidden_names, as `autograder.checks.forbidden_names()` gathers them for every
    graded chapter); by default LIBRARY_NAMES, the dropout and normalization names together.
    """
    names = _whole_families(LIBRARY_NAMES if library_names is None else library_names)
    if len(source) > MAX_SOURCE_CHARS:
        return [f"the cell is longer than {MAX_SOURCE_CHARS:,} characters, too long to scan"]
    too_deep = f"the cell nests deeper than {MAX_DEPTH} levels, too deep to scan"
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"the cell does not parse ({exc.msg}, line {exc.lineno})"]
    except ValueError as exc:
        return [f"the cell does not parse ({exc})"]
    except (RecursionError, MemoryError):  # the parser's own stack ran out
        return [too_deep]
    if _depth(tree) > MAX_DEPTH:
        return [too_deep]
    modules = {path for path, exported in LIBRARY_MODULES.items() if exported & names}
    try:
        return _Scan(tree, names, frozenset(own_names), modules, _family_patterns(names)).run()
    except RecursionError:  # not expected below MAX_DEPTH; refuse rather than crash
        return [too_deep]


def _whole_families(names) -> frozenset:
    """`names` with every family it touches added whole (forbidding kaiming_uniform_ forbids its siblings)."""
    names = frozenset(names)
    return names.union(*(family for family in NAME_FAMILIES if family & names))


def _family_patterns(names: frozenset) -> list[re.Pattern]:
    """The patterns of the sandbox's families (autograder.families) that `names` belong to, so that
    a library name no list here has yet (a new kernel) is still caught where only the library's
    names can stand: attributes, imports, dotted paths. A family forbidden as a whole module
    (torch.nn.init) is caught by its module instead."""
    from autograder.families import FAMILIES

    touched = [f for f in FAMILIES.values() if not f.whole_modules and any(f.forbids_python(n) for n in names)]
    return [pattern for f in touched for pattern in (f.python, f.operators) if pattern is not None]


def _depth(tree: ast.AST) -> int:
    """How deep the tree nests, walked without recursion; stops counting past MAX_DEPTH."""
    deepest, stack = 0, [(tree, 1)]
    while stack and deepest <= MAX_DEPTH:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _excerpt(node: ast.AST, width: int = 40) -> str:
    """The source of `node`, shortened for a message (an attribute keeps its end: the name that matters)."""
    text = ast.unparse(node)
    if len(text) <= width:
        return text
    return "..." + text[-(width - 3):] if isinstance(node, ast.Attribute) else text[:width - 3] + "..."


def _called(node: ast.AST, parents: dict) -> bool:
    """Whether `node` is the function of a call (`getattr(...)`), not a value passed around."""
    parent = parents.get(node)
    return isinstance(parent, ast.Call) and parent.func is node


class _Scan:
    """One cell's tree against what its exercise forbids; `run()` lists the findings."""

    def __init__(self, tree: ast.Module, names: frozenset, own_names: frozenset, modules: set[str],
                 patterns: list[re.Pattern]):
        self.tree = tree
        self.names = names  # forbidden everywhere, but for the graded names' own def/class
        self.own_names = own_names  # the graded names: never a library name, whatever they contain
        self.graded = own_names & names  # graded names that are library names too (Dropout, BatchNorm1d)
        self.modules = modules  # dotted paths forbidden whole
        self.patterns = patterns
        self.module_attributes = {path.rsplit(".", 1)[1] for path in modules}
        self.parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        self.constants = _Constants(self.parents)  # liberal: to flag what a string spells
        self.literals = _Constants(self.parents, calls=False)  # strict: to accept a name as harmless
        self.bound = {name for node in ast.walk(tree) for name, _, _ in self.constants.binding(node)} | {
            node.arg for node in ast.walk(tree) if isinstance(node, ast.arg)}
        self.found: set[tuple[int, str]] = set()

    def flag(self, node: ast.AST, what: str) -> None:
        self.found.add((getattr(node, "lineno", 0), what))

    def library_word(self, word: str) -> bool:
        """Whether `word`, where only the library's names can stand (an attribute, an imported
        name, a dotted path), names a forbidden implementation: listed, or in the family."""
        return word in self.names or (word not in self.own_names and any(p.search(word) for p in self.patterns))

    def run(self) -> list[str]:
        """Every check on every node (ast.walk, no recursion); findings in line order."""
        checks = {ast.Name: self.check_name, ast.Attribute: self.check_attribute, ast.Import: self.check_import,
                  ast.ImportFrom: self.check_import_from, ast.Call: self.check_call}
        for node in ast.walk(self.tree):
            check = checks.get(type(node))
            if check:
                check(node)
            self.check_binding(node)
            if isinstance(node, (ast.Constant, ast.JoinedStr, ast.BinOp, ast.Call, ast.Subscript)):
                self.check_string(node)
        return [f"{what} (line {line})" for line, what in sorted(self.found)]

    # -- names ------------------------------------------------------------------------------
    def check_name(self, node: ast.Name) -> None:
        """A bare name: a forbidden one, an evasive builtin, or getattr & co. used as a value."""
        if node.id in EVASIVE_NAMES:
            self.flag(node, f"`{node.id}`")
        elif node.id in ATTRIBUTE_GETTERS or node.id in NAMESPACES:
            if not _called(node, self.parents):
                self.flag(node, f"`{node.id}` used as a value")
            elif node.id in NAMESPACES:
                self.check_namespace(self.parents[node])
        elif node.id in self.names:
            if node.id not in self.graded:
                self.flag(node, f"the name `{node.id}`")
            elif not isinstance(node.ctx, ast.Load):
                self.flag(node, f"rebinds `{node.id}`")

    def check_binding(self, node: ast.AST) -> None:
        """Bindings that are not Name nodes: def/class, parameters, global, except-as, match captures."""
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound, own_definition = [node.name], True
        elif isinstance(node, ast.arg):
            bound, own_definition = [node.arg], False
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound, own_definition = node.names, False
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
            bound, own_definition = [node.name], False
        elif isinstance(node, ast.MatchMapping):
            bound, own_definition = [node.rest], False
        else:
            return
        for name in bound:
            if name in self.names and name not in self.graded:
                self.flag(node, f"the name `{name}`")
            elif name in self.graded and not own_definition:
                self.flag(node, f"rebinds `{name}`")

    def check_alias(self, node: ast.alias, bound: str) -> None:
        """The name an import binds: a forbidden name, or a graded one rebound."""
        if bound in self.graded:
            self.flag(node, f"rebinds `{bound}`")
        elif bound in self.names:
            self.flag(node, f"the name `{bound}`")

    # -- attributes and imports -------------------------------------------------------------
    def check_attribute(self, node: ast.Attribute) -> None:
        """`x.dropout`, `torch.ops`, `nn.init`, `nn.modules`, `builtins.getattr` as a value, `x.__dict__`."""
        attr = node.attr
        if (self.library_word(attr) or attr in EVASIVE_ATTRIBUTES or attr in self.module_attributes
                or (attr == "modules" and not _called(node, self.parents))):
            self.flag(node, f"`{_excerpt(node)}`")
        elif attr in ATTRIBUTE_GETTERS and not _called(node, self.parents):
            self.flag(node, f"`{_excerpt(node)}` used as a value")
        elif attr == "__dict__":
            self.check_namespace(node)

    def module_forbidden(self, path: str) -> bool:
        """Whether importing `path` (dotted) reaches a forbidden or evasive module."""
        parts = path.split(".")
        prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        return bool(any(self.library_word(part) for part in parts) or set(parts) & (EVASIVE_ATTRIBUTES | {"modules"})
                    or prefixes & (EVASIVE_MODULES | self.modules))

    def check_import(self, node: ast.Import) -> None:
        """`import a.b.c [as d]`."""
        for alias in node.names:
            if self.module_forbidden(alias.name):
                self.flag(node, f"imports `{alias.name}`")
            self.check_alias(alias, alias.asname or alias.name.split(".")[0])

    def check_import_from(self, node: ast.ImportFrom) -> None:
        """`from m import a [as b]` and `from m import *`."""
        module = "." * node.level + (node.module or "")
        if self.module_forbidden(module):
            self.flag(node, f"imports from `{module}`")
        for alias in node.names:
            if alias.name == "*":
                if node.level or module.split(".")[0] not in STAR_IMPORT_SAFE:
                    self.flag(node, f"star import from `{module}`")
                continue
            if self.library_word(alias.name):
                self.flag(node, f"imports `{alias.name}`")
            elif alias.asname and alias.name in set(ATTRIBUTE_GETTERS) | NAMESPACES | EVASIVE_NAMES:
                self.flag(node, f"imports `{alias.name}` as `{alias.asname}`")  # out of the calls' check
            elif self.module_forbidden(f"{module}.{alias.name}"):
                self.flag(node, f"imports `{module}.{alias.name}`")
            else:
                self.check_alias(alias, alias.asname or alias.name)
                continue
            if alias.asname:
                self.check_alias(alias, alias.asname)

    # -- dynamic access ---------------------------------------------------------------------
    def check_call(self, node: ast.Call) -> None:
        """getattr & co.: the attribute name must be a string the scan can work out, and harmless.
        And no unpickling (torch.load with weights_only=False imports whatever the bytes name)."""
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if any(k.arg == "weights_only" and not (isinstance(k.value, ast.Constant) and k.value.value is True)
               for k in node.keywords):
            self.flag(node, f"`{name}` with weights_only other than True")
        if name not in ATTRIBUTE_GETTERS:
            return
        position = ATTRIBUTE_GETTERS[name]
        arguments = node.args if position is None else node.args[position:position + 1]
        if not arguments or node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            self.flag(node, f"`{name}` with a computed name")
            return
        for argument in arguments:
            values = self.literals.values(argument)
            if values is None or not all(isinstance(v, str) for v in values):
                self.flag(node, f"`{name}` with a computed name")
                continue
            for value in values:
                if any(self.reachable(part) for part in value.split(".")):
                    self.flag(node, f"`{name}` of '{value[:40]}'")

    def reachable(self, attribute: str) -> bool:
        """Whether an attribute name (from a string) reaches the library or an evasive route."""
        return self.library_word(attribute) or attribute in (
            EVASIVE_ATTRIBUTES | self.module_attributes | EVASIVE_NAMES | NAMESPACES | set(ATTRIBUTE_GETTERS)
            | {"__dict__", "modules"})

    def check_namespace(self, node: ast.expr) -> None:
        """`vars(x)`, `globals()`, `locals()`, `x.__dict__`: displayed, tested with `in`, or read
        with a literal, harmless key; anything else could pick out a library function. Even
        `vars(self)`: a method can be called with any object as `self`."""
        parent = self.parents.get(node)
        if isinstance(parent, ast.Subscript) and parent.value is node:
            self.check_key(node, parent.slice, f"`{_excerpt(node)}[...]`")
        elif isinstance(parent, ast.Attribute) and parent.attr in ("get", "pop"):
            call = self.parents.get(parent)
            if isinstance(call, ast.Call) and call.func is parent and call.args:
                self.check_key(node, call.args[0], f"`{_excerpt(node)}.{parent.attr}(...)`")
            else:
                self.flag(node, f"`{_excerpt(node)}` read beyond a literal key")
        elif not self.displayed(node, parent):
            self.flag(node, f"`{_excerpt(node)}` read beyond a literal key")

    def displayed(self, node: ast.expr, parent: ast.AST) -> bool:
        """Whether a namespace is only shown, counted, listed by key or tested for membership."""
        if isinstance(parent, (ast.Expr, ast.FormattedValue)):
            return True
        if isinstance(parent, ast.Compare):
            return node in parent.comparators and all(isinstance(op, (ast.In, ast.NotIn)) for op in parent.ops)
        if isinstance(parent, ast.Call) and node in parent.args:
            func = parent.func
            return isinstance(func, ast.Name) and func.id in DISPLAY_CALLS and func.id not in self.bound
        if isinstance(parent, ast.Attribute) and parent.attr == "keys":
            return _called(parent, self.parents)
        return False

    def check_key(self, namespace: ast.expr, key: ast.expr, read: str) -> None:
        """A namespace read (`read`, for the message) with `key`: a literal string naming nothing forbidden."""
        values = self.literals.values(key)
        if values is None or not all(isinstance(v, str) for v in values):
            self.flag(namespace, f"{read} with a computed key")
        for value in values or []:
            if isinstance(value, str) and self.reachable(value):
                self.flag(namespace, f"`{_excerpt(namespace)}['{value}']`")

    # -- strings ----------------------------------------------------------------------------
    def check_string(self, node: ast.expr) -> None:
        """A string (or bytes) the scan can fold that spells a forbidden name as code."""
        if isinstance(node, ast.Constant) and isinstance(self.parents.get(node), ast.Expr):
            return  # a docstring or a bare string: inert
        for value in self.constants.values(node) or []:
            if isinstance(value, (str, bytes)):
                text = value.decode("latin-1") if isinstance(value, bytes) else value
                for word in self.spelled(text):
                    self.flag(node, f"`{word}` in a string")

    def spelled(self, text: str) -> set[str]:
        """The forbidden words `text` spells as code: after a dot or colon (`F.dropout`,
        `aten::dropout`) or in an import, any library or evasive name; called (`dropout(`) or
        in a string without spaces (`'dropout'`), the listed ones but the graded names. Prose
        ("inverted dropout") is left alone."""
        anywhere = (self.names - self.graded) | EVASIVE_WORDS
        imported = [m.span(1) for m in re.finditer(r"\b(?:import|from)[ \t]+([\w \t,.]+)", text)]
        token_like = " " not in text and "\t" not in text
        found = set()
        for match in re.finditer(r"[A-Za-z_]\w*", text):
            word, start, end = match.group(), match.start(), match.end()
            as_code = (start > 0 and text[start - 1] in ".:") or any(a <= start and end <= b for a, b in imported)
            if as_code and (self.library_word(word) or word in EVASIVE_WORDS or word in self.module_attributes):
                found.add(word)
            elif word in anywhere and (token_like or text[end:end + 1] == "("):
                found.add(word)
        return found


# ---------------------------------------------------------------------------------------------
# Constant folding: what an expression evaluates to, when the source alone says so
# ---------------------------------------------------------------------------------------------
LIMIT = 10_000  # the longest string, bytes or tuple folded (and ints below 2**64)
CHOICES = 64  # the most candidate values an expression may have (a loop variable has several)
SAFE_FUNCTIONS = {"chr": chr, "ord": ord, "str": str, "list": tuple, "tuple": tuple,
                  "reversed": lambda s: tuple(reversed(s)), "sorted": lambda s: tuple(sorted(s)),
                  "bytes": bytes, "bytearray": lambda *a: bytes(bytearray(*a))}
STRING_METHODS = {"lower", "upper", "casefold", "capitalize", "title", "swapcase", "strip", "lstrip", "rstrip",
                  "replace", "removeprefix", "removesuffix", "join", "split", "rsplit", "encode", "decode",
                  "format"}
DECODERS = {("base64", "b64decode"): base64.b64decode, ("base64", "b32decode"): base64.b32decode,
            ("base64", "b16decode"): base64.b16decode, ("base64", "urlsafe_b64decode"): base64.urlsafe_b64decode,
            ("codecs", "decode"): codecs.decode, ("codecs", "encode"): codecs.encode,
            ("bytes", "fromhex"): bytes.fromhex, ("bytearray", "fromhex"): bytes.fromhex}
CODECS = {"rot13", "rot_13", "hex", "base64", "utf-8", "utf8", "ascii", "latin-1", "latin1", "utf_8"}
BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
          ast.Mod: operator.mod, ast.BitXor: operator.xor, ast.BitAnd: operator.and_, ast.BitOr: operator.or_}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
FUNCTION_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _small(value) -> bool:
    """Whether a folded value stays within the limits (so folding never costs real memory)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 2 ** 64
    if isinstance(value, (str, bytes)):
        return len(value) <= LIMIT
    if isinstance(value, tuple):
        return len(value) <= LIMIT and all(_small(v) for v in value)
    return False


def _product(function, *choices):
    """function(*combination) over every combination of candidate values; None if any fails."""
    if any(c is None for c in choices) or _combinations(choices) > CHOICES:
        return None
    return [function(*combination) for combination in itertools.product(*choices)]


def _combinations(choices) -> int:
    """How many combinations the candidate lists `choices` make."""
    count = 1
    for candidates in choices:
        count *= len(candidates)
    return count


def _binary(op: ast.operator, left, right):
    """`left op right`, refusing results that could be large before computing them."""
    if isinstance(op, ast.Mult) and isinstance(right, int) and isinstance(left, (str, bytes, tuple)):
        if len(left) * max(right, 0) > LIMIT:
            raise ValueError("too long")
    if isinstance(op, ast.Mult) and isinstance(left, int) and isinstance(right, (str, bytes, tuple)):
        return _binary(op, right, left)
    if isinstance(op, ast.Mod) and isinstance(left, str) and not re.fullmatch(r"(?:[^%]|%[sdc%])*", left):
        raise ValueError("a width or precision in a %-format")
    return BINARY[type(op)](left, right)


def _formatted(fmt: str, *args) -> str:
    """`fmt.format(*args)` for plain positional fields only (no attribute access, no widths)."""
    for _, field, spec, conversion in string.Formatter().parse(fmt):
        if field is not None and (spec or conversion not in (None, "s", "r") or not (field == "" or field.isdigit())):
            raise ValueError("a field the scan does not evaluate")
    return fmt.format(*args)


def _method(receiver, method: str, *args):
    """`receiver.method(*args)` for the string methods that cannot grow a value much."""
    if method == "format":
        return _formatted(receiver, *args)
    if method in ("encode", "decode") and args and args[0] not in CODECS:
        raise ValueError("a codec the scan does not run")
    if method == "replace" and len(receiver) + receiver.count(args[0]) * len(args[1]) > LIMIT:
        raise ValueError("too long")
    if method == "join" and sum(map(len, args[0])) + len(receiver) * len(args[0]) > LIMIT:
        raise ValueError("too long")
    result = getattr(receiver, method)(*args)
    return tuple(result) if isinstance(result, list) else result


class _Constants:
    """`values(node)`: the candidate values of an expression (strings, bytes, ints, tuples of them),
    or None when the source does not fix them. A name has candidates only when it is local to a
    function (or a comprehension) and every binding there is a foldable assignment or a loop over
    a foldable sequence: anything at module level could be rebound by another cell.

    calls=False folds through no name at all (chr, map, bytes, base64: any cell may rebind them),
    only through operators and the methods of literal strings: what it finds is certain.
    """

    def __init__(self, parents: dict, calls: bool = True):
        self.parents = parents
        self.calls = calls
        self.memo: dict[ast.AST, list | None] = {}
        self.busy: set[ast.AST] = set()
        self.scopes: dict[ast.AST, dict] = {}

    def values(self, node: ast.AST) -> list | None:
        if node in self.memo:
            return self.memo[node]
        if node in self.busy:
            return None  # a name defined from itself
        self.busy.add(node)
        try:
            result = self.evaluate(node)
        except Exception:  # noqa: BLE001 - whatever goes wrong, the scan cannot tell the value
            result = None
        finally:
            self.busy.discard(node)
        if result is not None and (len(result) > CHOICES or not all(_small(v) for v in result)):
            result = None
        self.memo[node] = result
        return result

    def evaluate(self, node: ast.AST) -> list | None:
        """One step of folding, by node type."""
        if isinstance(node, ast.Constant):
            return [node.value] if _small(node.value) else None
        if isinstance(node, ast.JoinedStr):
            return self.joined(node)
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            return _product(lambda a, b: _binary(node.op, a, b), self.values(node.left), self.values(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
            return _product(UNARY[type(node.op)], self.values(node.operand))
        if isinstance(node, (ast.Tuple, ast.List)):
            return _product(lambda *items: tuple(items), *[self.values(e) for e in node.elts])
        if isinstance(node, ast.Subscript):
            return _product(operator.getitem, self.values(node.value), self.index(node.slice))
        if isinstance(node, ast.Call) and not node.keywords:
            return self.call(node)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)) and len(node.generators) == 1:
            return self.comprehension(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        return None

    def joined(self, node: ast.JoinedStr) -> list | None:
        """An f-string whose fields have no format spec."""
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append([value.value])
            elif value.format_spec is None:
                convert = {-1: str, 115: str, 114: repr, 97: ascii}[value.conversion]
                parts.append(_product(convert, self.values(value.value)))
            else:
                return None
        return _product(lambda *texts: "".join(texts), *parts)

    def index(self, node: ast.expr) -> list | None:
        """A subscript: an index or a slice with foldable bounds."""
        if not isinstance(node, ast.Slice):
            return self.values(node)
        bounds = [[None] if part is None else self.values(part) for part in (node.lower, node.upper, node.step)]
        return _product(slice, *bounds)

    def call(self, node: ast.Call) -> list | None:
        """Builtins (chr, str, bytes, ...), map(chr|str, ...), decoders, and string methods."""
        func, args = node.func, [self.values(a) for a in node.args]
        if any(isinstance(a, ast.Starred) for a in node.args):
            return None
        if not self.calls:
            return self.string_method(func, args)
        if isinstance(func, ast.Name) and func.id == "map" and node.args:
            function = node.args[0]
            if isinstance(function, ast.Name) and function.id in ("chr", "str", "ord"):
                return _product(lambda *seqs: tuple(map(SAFE_FUNCTIONS[function.id], *seqs)), *args[1:])
            return None
        if isinstance(func, ast.Name) and func.id in SAFE_FUNCTIONS:
            if func.id in ("bytes", "bytearray") and args and any(isinstance(v, int) for v in args[0] or []):
                return None  # bytes(n) allocates n bytes
            return _product(SAFE_FUNCTIONS[func.id], *args)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and (func.value.id, func.attr) in DECODERS:
            if func.attr in ("decode", "encode") and (len(args) < 2 or not all(v in CODECS for v in args[1] or [None])):
                return None
            return _product(DECODERS[(func.value.id, func.attr)], *args)
        return self.string_method(func, args)

    def string_method(self, func: ast.expr, args: list) -> list | None:
        """`<string>.method(...)` on a receiver that folds to strings or bytes."""
        if not (isinstance(func, ast.Attribute) and func.attr in STRING_METHODS):
            return None
        receiver = self.values(func.value)
        if receiver is None or not all(isinstance(r, (str, bytes)) for r in receiver):
            return None
        return _product(lambda r, *a: _method(r, func.attr, *a), receiver, *args)

    def comprehension(self, node: ast.ListComp | ast.GeneratorExp) -> list | None:
        """`[f(c) for c in <foldable>]` with one plain loop variable and no condition."""
        generator = node.generators[0]
        if generator.ifs or generator.is_async or not isinstance(generator.target, ast.Name):
            return None
        sequences = self.values(generator.iter)
        if sequences is None or len(sequences) != 1:
            return None
        items = []
        for item in sequences[0]:
            values = _Substituted(self, generator.target.id, item).values(node.elt)
            if values is None or len(values) != 1:
                return None
            items.append(values[0])
        return [tuple(items)]

    # -- names ----------------------------------------------------------------------------
    def name(self, node: ast.Name) -> list | None:
        """A name's candidates, from the innermost scope that binds it (functions and comprehensions only)."""
        for scope in self.scopes_around(node, through_comprehensions=False):
            if isinstance(scope, COMPREHENSIONS):
                found = self.comprehension_binding(scope, node.id)
            elif isinstance(scope, FUNCTION_SCOPES):
                found = self.function_binding(scope, node.id)
            else:
                return None  # a class body or the module: another cell may rebind it
            if found is not _UNBOUND:
                return found
        return None

    def scopes_around(self, node: ast.AST, through_comprehensions: bool):
        """The scopes `node` is evaluated in, innermost first. A function's defaults and decorators,
        and a comprehension's first iterable, belong to the scope around it, as in Python."""
        child, scope = node, self.parents.get(node)
        while scope is not None:
            if isinstance(scope, FUNCTION_SCOPES):
                if child is not scope.args and child is not getattr(scope, "returns", None) \
                        and not any(child is d for d in getattr(scope, "decorator_list", ())):
                    yield scope
            elif isinstance(scope, COMPREHENSIONS):
                if not through_comprehensions and not self.inside(node, scope.generators[0].iter):
                    yield scope
            elif isinstance(scope, (ast.ClassDef, ast.Module)):
                yield scope
            child, scope = scope, self.parents.get(scope)

    def inside(self, node: ast.AST, ancestor: ast.AST) -> bool:
        while node is not None:
            if node is ancestor:
                return True
            node = self.parents.get(node)
        return False

    def comprehension_binding(self, comprehension: ast.AST, name: str):
        """The candidates of a comprehension's loop variable `name`; _UNBOUND if it has none of that name."""
        for generator in comprehension.generators:
            target = generator.target
            if isinstance(target, ast.Name) and target.id == name:
                return self.elements(self.values(generator.iter))
            if name in {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}:
                index = self.position(target, name)
                return None if index is None else self.unpacked(generator.iter, index, len(target.elts))
        return _UNBOUND

    def position(self, target: ast.expr, name: str) -> int | None:
        """Where `name` sits in a flat tuple target (`for name, value in ...`); None otherwise."""
        if isinstance(target, (ast.Tuple, ast.List)) and all(isinstance(e, ast.Name) for e in target.elts):
            return [e.id for e in target.elts].index(name)
        return None

    def unpacked(self, iterable: ast.expr, index: int, width: int) -> list | None:
        """The candidates of the index-th loop variable over a literal sequence of literal tuples:
        `(("running_mean", mean), ("running_var", var))` gives index 0 its two names."""
        if not isinstance(iterable, (ast.Tuple, ast.List)):
            return None
        rows = iterable.elts
        if not all(isinstance(row, (ast.Tuple, ast.List)) and len(row.elts) == width for row in rows):
            return None
        candidates = []
        for row in rows:
            values = self.values(row.elts[index])
            if values is None:
                return None
            candidates.extend(values)
        return candidates

    def elements(self, sequences: list | None) -> list | None:
        """Every item of every candidate sequence (a loop variable's candidates)."""
        if sequences is None or not all(isinstance(s, (tuple, str, bytes)) for s in sequences):
            return None
        return [item for sequence in sequences for item in (sequence if not isinstance(sequence, bytes) else list(sequence))]

    def function_binding(self, function: ast.AST, name: str):
        """The candidates of `name` in a function's scope; _UNBOUND if the function does not bind it."""
        bindings = self.scope_table(function).get(name)
        if bindings is None:
            return _UNBOUND
        candidates = []
        for kind, value in bindings:
            if kind == "assign":
                values = self.values(value)
            elif kind == "for":
                values = self.elements(self.values(value))
            elif kind == "unpack":
                values = self.unpacked(*value)
            else:
                return None
            if values is None:
                return None
            candidates.extend(values)
        return candidates

    def scope_table(self, function: ast.AST) -> dict[str, list]:
        """{name: [(kind, value node)]} for the names `function` binds; kind is "assign", "for", or
        "other" (parameters, global/nonlocal, imports, unpacking, anything else: not foldable)."""
        if function in self.scopes:
            return self.scopes[function]
        table: dict[str, list] = {}
        arguments = function.args
        for arg in arguments.posonlyargs + arguments.args + arguments.kwonlyargs + [arguments.vararg, arguments.kwarg]:
            if arg is not None:
                table.setdefault(arg.arg, []).append(("other", None))
        for node in ast.walk(function):
            if node is function:
                continue
            for name, kind, value in self.binding(node):
                if kind != "other" and self.owner(node) is not function:
                    continue
                table.setdefault(name, []).append((kind, value))
        self.scopes[function] = table
        return table

    def binding(self, node: ast.AST):
        """(name, kind, value) for what `node` binds. Global/nonlocal declarations and every binding
        inside a nested scope count as "other" for any enclosing scope (conservative)."""
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            parent = self.parents.get(node)
            if isinstance(parent, ast.Assign) and node in parent.targets:
                yield node.id, "assign", parent.value
            elif isinstance(parent, (ast.AnnAssign, ast.NamedExpr)) and parent.target is node and parent.value:
                yield node.id, "assign", parent.value
            elif isinstance(parent, (ast.For, ast.AsyncFor)) and parent.target is node:
                yield node.id, "for", parent.iter
            elif self.loop_unpacking(node, parent):
                loop = self.parents[parent]
                yield node.id, "unpack", (loop.iter, self.position(parent, node.id), len(parent.elts))
            elif not (isinstance(parent, ast.comprehension) and parent.target is node):
                yield node.id, "other", None
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                yield name, "other", None
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name, "other", None
        elif isinstance(node, ast.alias):
            yield (node.asname or node.name.split(".")[0]), "other", None
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            yield node.name, "other", None

    def loop_unpacking(self, node: ast.Name, parent: ast.AST) -> bool:
        """Whether `node` is one name of a flat tuple a for loop unpacks (`for name, value in ...`)."""
        loop = self.parents.get(parent)
        return (isinstance(loop, (ast.For, ast.AsyncFor)) and loop.target is parent
                and self.position(parent, node.id) is not None
                and [e.id for e in parent.elts].count(node.id) == 1)

    def owner(self, node: ast.AST) -> ast.AST | None:
        """The scope a binding belongs to (a walrus skips comprehensions, as in Python)."""
        walrus = isinstance(self.parents.get(node), ast.NamedExpr)
        return next(self.scopes_around(node, through_comprehensions=walrus), None)


_UNBOUND = object()  # a scope that does not bind the name: look further out


class _Substituted(_Constants):
    """Folding inside a comprehension with its loop variable fixed to one value."""

    def __init__(self, outer: _Constants, name: str, value):
        super().__init__(outer.parents, outer.calls)
        self.scopes = outer.scopes
        self.bound = (name, value)

    def name(self, node: ast.Name) -> list | None:
        return [self.bound[1]] if node.id == self.bound[0] else super().name(node)
