"""The rule language as pydantic models: what a valid rule, action and script API look like.

Everything a rule file can say is checked here, once, at load: the engine, the offline runner and
the action executors then trust a `RuleSpec` and never re-validate. Durations are milliseconds.
Error messages say what was expected; `rules.errors` turns them into file/line/field lines.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from rules.duration import MAX_DURATION_MS, parse_duration
from rules.regex import compile_regex

NAME_RE = re.compile(r"[A-Za-z0-9_.:-]+")
STEP_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME_LENGTH = 200
MAX_DOCUMENT_DEPTH = 64


def _fail(message: str) -> PydanticCustomError:
    """A validation error whose text is exactly `message` (braces are not format fields here)."""
    return PydanticCustomError("rule", "{message}", {"message": message})


def _describe(value: Any) -> str:
    """`str 'x'`, `int 5`: how a wrong value is shown back to the author."""
    return f"{type(value).__name__} {value!r}"


# --- scalars ------------------------------------------------------------------------------------


def _to_ms(value: Any) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _to_positive_ms(value: Any) -> int:
    ms = _to_ms(value)
    if ms == 0:
        msg = "expected a duration greater than 0 (got 0)"
        raise _fail(msg)
    return ms


_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": MAX_DURATION_MS},
        {"type": "string", "pattern": "^[0-9]+(ms|s|m|h|d)$"},
    ],
    "description": "500ms, 30s, 5m, 2h, 1d, or an integer of milliseconds",
}

Duration = Annotated[int, BeforeValidator(_to_ms), WithJsonSchema(_DURATION_SCHEMA)]
"""Milliseconds; accepts `500ms 30s 5m 2h 1d` strings and non-negative ints (ms)."""

PositiveDuration = Annotated[int, BeforeValidator(_to_positive_ms), WithJsonSchema(_DURATION_SCHEMA)]
"""A `Duration` that must be greater than zero (window sizes, `within`, `for`, timeouts)."""

StrictInt = Annotated[int, Strict()]
StrictBool = Annotated[bool, Strict()]


def _check_path(path: Any) -> str:
    """A dotted field path: non-empty segments, e.g. `payload.cpu.total` or `items.0.sku`."""
    if not isinstance(path, str):
        msg = f"expected a dotted field path like payload.cpu.total (got {_describe(path)})"
        raise _fail(msg)
    if not path or any(segment == "" for segment in path.split(".")):
        msg = f"expected a dotted field path like payload.cpu.total (got {path!r})"
        raise _fail(msg)
    return path


FieldPath = Annotated[str, BeforeValidator(_check_path), WithJsonSchema({"type": "string", "minLength": 1})]


def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        msg = f"expected a name of letters, digits and _ . : - (got {_describe(name)})"
        raise _fail(msg)
    if not NAME_RE.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        msg = f"a name must be 1 to {MAX_NAME_LENGTH} letters, digits or _ . : - (got {name!r})"
        raise _fail(
            msg
        )
    return name


Name = Annotated[
    str,
    BeforeValidator(_check_name),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z0-9_.:-]+$", "maxLength": MAX_NAME_LENGTH}),
]


def _is_number(value: Any) -> bool:
    """JSON numbers: int or float, never bool (True is not 1 in a rule)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Strict(BaseModel):
    """Base of every model: unknown keys are errors, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


# --- conditions (RULES.md section 3) ----------------------------------------------------------------

Op = Literal[
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "startswith", "endswith",
    "regex", "exists", "missing", "between",
]

NO_VALUE_OPS = frozenset({"exists", "missing"})
ORDER_OPS = frozenset({"gt", "gte", "lt", "lte"})
LIST_OPS = frozenset({"in", "not_in"})
STRING_OPS = frozenset({"startswith", "endswith", "regex"})
VALUE_ONLY_OPS = frozenset({"regex", "between"})  # compiled / checked at load, so no value_field


class Leaf(_Strict):
    """`{field, op, value}` or `{field, op, value_field}`: one test on one field of the event."""

    field: FieldPath
    op: Op
    value: Any = None
    value_field: FieldPath | None = None

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op in NO_VALUE_OPS:
            msg = f"op {op!r} takes no value"
            raise _fail(msg)
        if op in LIST_OPS and not isinstance(value, list):
            msg = f"op {op!r} needs a list value like [a, b] (got {_describe(value)})"
            raise _fail(msg)
        if op in ORDER_OPS and not (_is_number(value) or isinstance(value, str)):
            msg = f"op {op!r} needs a number or a string value (got {_describe(value)})"
            raise _fail(msg)
        if op in STRING_OPS and not isinstance(value, str):
            msg = f"op {op!r} needs a string value (got {_describe(value)})"
            raise _fail(msg)
        if op == "regex":
            try:
                compile_regex(value)
            except ValueError as exc:
                raise _fail(str(exc)) from None
        if op == "between":
            _check_between(value)
        return value

    @model_validator(mode="after")
    def _one_operand(self) -> Leaf:
        has_value = "value" in self.model_fields_set
        has_field = self.value_field is not None
        if self.op in NO_VALUE_OPS:
            if has_field:
                msg = f"op {self.op!r} takes no value_field"
                raise _fail(msg)
        elif has_value and has_field:
            msg = "give either value or value_field, not both"
            raise _fail(msg)
        elif has_field and self.op in VALUE_ONLY_OPS:
            msg = f"op {self.op!r} needs a literal value, not value_field"
            raise _fail(msg)
        elif not has_value and not has_field:
            msg = f"op {self.op!r} needs value (or value_field, another field of the event)"
            raise _fail(msg)
        return self

    @model_serializer(mode="wrap")
    def _dump_operands(self, handler: Any) -> dict[str, Any]:
        """Keep only the operand that was given, so a dumped leaf validates again unchanged."""
        data = handler(self)
        if "value" not in self.model_fields_set:
            data.pop("value", None)
        if self.value_field is None:
            data.pop("value_field", None)
        return data


def _check_between(value: Any) -> None:
    expected = "op 'between' needs value: [lo, hi] with two numbers or two strings, lo <= hi"
    if not isinstance(value, list) or len(value) != 2:
        msg = f"{expected} (got {_describe(value)})"
        raise _fail(msg)
    lo, hi = value
    if not ((_is_number(lo) and _is_number(hi)) or (isinstance(lo, str) and isinstance(hi, str))):
        msg = f"{expected} (got {value!r})"
        raise _fail(msg)
    if lo > hi:
        msg = f"{expected}; lo is greater than hi (got {value!r})"
        raise _fail(msg)


class AllOf(_Strict):
    """Every condition holds."""

    all: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    """At least one condition holds."""

    any: list[Condition] = Field(min_length=1)


class NotOf(_Strict):
    """The condition does not hold (`{not: {...}}`)."""

    not_: Condition = Field(alias="not")


def _normalise_seed(value: Any) -> Any:
    """Accept the seed form `{logic: AND|OR, conditions: [...]}` as `all` / `any`."""
    if not isinstance(value, dict) or ("logic" not in value and "conditions" not in value):
        return value
    extra = sorted(str(key) for key in value if key not in ("logic", "conditions"))
    if extra:
        msg = f"the logic/conditions form takes only logic and conditions (got also {extra})"
        raise _fail(msg)
    logic = value.get("logic")
    if not isinstance(logic, str) or logic.upper() not in ("AND", "OR"):
        msg = f"logic should be AND or OR (got {logic!r})"
        raise _fail(msg)
    if "conditions" not in value:
        msg = "the logic form needs conditions: [...]"
        raise _fail(msg)
    return {"all" if logic.upper() == "AND" else "any": value["conditions"]}


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        if "field" in value or "op" in value:
            return "leaf"
        return next((key for key in ("all", "any", "not") if key in value), None)
    tags: dict[type, str] = {Leaf: "leaf", AllOf: "all", AnyOf: "any", NotOf: "not"}
    return tags.get(type(value))


Condition = Annotated[
    Annotated[Leaf, Tag("leaf")] | Annotated[AllOf, Tag("all")] | Annotated[AnyOf, Tag("any")] | Annotated[NotOf, Tag("not")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message=(
            "expected a condition: a leaf with field and op, or exactly one of all, any, not "
            "(or the seed form with logic and conditions)"
        ),
    ),
    BeforeValidator(_normalise_seed),
]

for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()


# --- match, time ------------------------------------------------------------------------------


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


NonEmptyStr = Annotated[str, Field(min_length=1)]
Selector = Annotated[Annotated[list[NonEmptyStr], Field(min_length=1)] | None, BeforeValidator(_one_or_many)]


class MatchSpec(_Strict):
    """Which events a rule reads: by topic and event type (each one value or a list)."""

    topic: Selector = None
    type: Selector = None
    chain_only: StrictBool = False

    @model_validator(mode="after")
    def _chain_only_alone(self) -> MatchSpec:
        if self.chain_only and (self.topic is not None or self.type is not None):
            msg = "chain_only: true reads no ordinary events; remove topic and type"
            raise _fail(msg)
        return self


class TimeSpec(_Strict):
    """Event-time settings: how late an event may be before it is dropped as late, and in which
    order a rule evaluates the events that are not late.
    """

    allowed_lateness: Duration = 5000
    order: Literal["event_time", "arrival"] = "event_time"
    """`event_time`: evaluate as if events arrived sorted by time (buffered up to the watermark);
    `arrival`: evaluate in arrival order and fire at once (RULES.md section 4, "Order")."""
    idle_after: Duration = 5000
    """A partition quiet this long, and read to its end, no longer holds the watermark back."""


# --- detection kinds (RULES.md section 4) ------------------------------------------------------------


class WindowSpec(_Strict):
    """A sliding `(t - size, t]` window, or an epoch-aligned tumbling window."""

    type: Literal["sliding", "tumbling"]
    size: PositiveDuration


class AggregateSpec(_Strict):
    """What is computed over a window: `count` of events, or a function of `field`."""

    fn: Literal["count", "sum", "avg", "min", "max", "distinct"]
    field: FieldPath | None = None

    @model_validator(mode="after")
    def _field_fits_fn(self) -> AggregateSpec:
        if self.fn == "count" and self.field is not None:
            msg = "aggregate fn 'count' counts events and takes no field (use distinct to count values)"
            raise _fail(msg)
        if self.fn != "count" and self.field is None:
            msg = f"aggregate fn {self.fn!r} needs field: the event field it aggregates"
            raise _fail(msg)
        return self


class HavingSpec(_Strict):
    """The comparison the aggregate must satisfy for the rule to fire."""

    op: Literal["gt", "gte", "lt", "lte", "eq", "ne"]
    value: Annotated[float, Strict(), Field(allow_inf_nan=False)]


def _refuse_for(data: Any, kind: str) -> Any:
    """`for` exists only on each/threshold; say so instead of a bare 'extra input' error."""
    if isinstance(data, dict) and "for" in data:
        msg = f"'for' applies only to kind each or threshold, not {kind}"
        raise _fail(msg)
    return data


class EachDetect(_Strict):
    """Fire on every event that passes `where` (optionally only once it has held for `for`)."""

    kind: Literal["each"] = "each"
    for_: PositiveDuration | None = Field(default=None, alias="for")


class ThresholdDetect(_Strict):
    """Fire when an aggregate over a window of the group's events satisfies `having`."""

    kind: Literal["threshold"] = "threshold"
    window: WindowSpec
    aggregate: AggregateSpec
    having: HavingSpec
    for_: PositiveDuration | None = Field(default=None, alias="for")

    @model_validator(mode="after")
    def _sliding_needs_upper_bound(self) -> ThresholdDetect:
        if (
            self.window.type == "sliding"
            and self.aggregate.fn in ("count", "distinct")
            and self.having.op in ("lt", "lte")
        ):
            msg = (
                f"a sliding window cannot test {self.aggregate.fn} {self.having.op}: it is evaluated "
                "at events, so it would fire at the first one; use a tumbling window or kind: absence"
            )
            raise _fail(
                msg
            )
        return self


class SequenceStep(_Strict):
    """One step of a sequence; `absent: true` (last step only) means 'this did not happen'."""

    name: str
    where: Condition | None = None
    absent: StrictBool = False

    @field_validator("name")
    @classmethod
    def _template_friendly(cls, name: str) -> str:
        if not STEP_NAME_RE.fullmatch(name):
            msg = (
                "a step name must start with a letter or _ and use letters, digits, _ "
                f"(it is used as events.NAME in templates) (got {name!r})"
            )
            raise _fail(
                msg
            )
        return name


class SequenceDetect(_Strict):
    """Fire when the steps happen in order for one group within `within`."""

    kind: Literal["sequence"] = "sequence"
    steps: list[SequenceStep]
    within: PositiveDuration
    contiguity: Literal["relaxed", "strict"] = "relaxed"

    @model_validator(mode="before")
    @classmethod
    def _no_for(cls, data: Any) -> Any:
        return _refuse_for(data, "sequence")

    @field_validator("steps")
    @classmethod
    def _steps_shape(cls, steps: list[SequenceStep]) -> list[SequenceStep]:
        if len(steps) < 2:
            msg = f"a sequence needs at least 2 steps (got {len(steps)})"
            raise _fail(msg)
        names = [step.name for step in steps]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            msg = f"step names must be unique (repeated: {', '.join(duplicates)})"
            raise _fail(msg)
        if any(step.absent for step in steps[:-1]):
            msg = "only the last step may be absent: true"
            raise _fail(msg)
        return steps


class AbsenceDetect(_Strict):
    """Fire when a group that was seen produces no matching event for `for`."""

    kind: Literal["absence"] = "absence"
    for_: PositiveDuration = Field(alias="for")


class ChangeDetect(_Strict):
    """Fire when `field` differs from the group's previous value."""

    kind: Literal["change"] = "change"
    field: FieldPath

    @model_validator(mode="before")
    @classmethod
    def _no_for(cls, data: Any) -> Any:
        return _refuse_for(data, "change")


class NewValueDetect(_Strict):
    """Fire when `field` has a value never seen for the group (LRU of `max_values` per group)."""

    kind: Literal["new_value"] = "new_value"
    field: FieldPath
    max_values: Annotated[StrictInt, Field(ge=1)] = 10000

    @model_validator(mode="before")
    @classmethod
    def _no_for(cls, data: Any) -> Any:
        return _refuse_for(data, "new_value")


DETECT_KINDS = ("each", "threshold", "sequence", "absence", "change", "new_value")


def _detect_tag(value: Any) -> str | None:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if isinstance(kind, str) else None


Detect = Annotated[
    Annotated[EachDetect, Tag("each")]
    | Annotated[ThresholdDetect, Tag("threshold")]
    | Annotated[SequenceDetect, Tag("sequence")]
    | Annotated[AbsenceDetect, Tag("absence")]
    | Annotated[ChangeDetect, Tag("change")]
    | Annotated[NewValueDetect, Tag("new_value")],
    Discriminator(
        _detect_tag,
        custom_error_type="detect_kind",
        custom_error_message="detect needs kind: one of each, threshold, sequence, absence, change, new_value",
    ),
]


# --- actions (RULES.md section 5) ----------------------------------------------------------------


class RetrySpec(_Strict):
    """Exponential backoff with jitter between webhook attempts."""

    max_attempts: Annotated[StrictInt, Field(ge=1)] = 5
    backoff: Duration = 1000
    max_backoff: Duration = 60000

    @model_validator(mode="after")
    def _ordered(self) -> RetrySpec:
        if self.max_backoff < self.backoff:
            msg = f"max_backoff ({self.max_backoff} ms) is below backoff ({self.backoff} ms)"
            raise _fail(msg)
        return self


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class WebhookAction(_Strict):
    """An HTTP request; `endpoint` and every string in headers/params/body may be a template."""

    type: Literal["webhook"] = "webhook"
    endpoint: str
    method: Annotated[Literal["GET", "POST", "PUT", "PATCH", "DELETE"], BeforeValidator(_upper)] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    body: Any = None
    timeout: PositiveDuration = 5000
    retry: RetrySpec = Field(default_factory=RetrySpec)

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, endpoint: str) -> str:
        if not endpoint.startswith(("http://", "https://", "{{")):
            msg = f"endpoint must be an http:// or https:// URL (got {endpoint!r})"
            raise _fail(msg)
        return endpoint


def _require(data: Any, key: str) -> Any:
    """The original system's exact messages: `api_id is required`, `rule_id is required`."""
    if isinstance(data, dict) and (data.get(key) is None or data.get(key) == ""):
        msg = f"{key} is required"
        raise _fail(msg)
    return data


class ApiScriptAction(_Strict):
    """Run a stored script API (section 6) by id or name."""

    type: Literal["api_script"] = "api_script"
    api_id: str
    params: dict[str, Any] = Field(default_factory=dict)
    input: Any = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _api_id_required(cls, data: Any) -> Any:
        return _require(data, "api_id")


class TriggerRuleAction(_Strict):
    """Publish a chain event addressed to another rule (by id or name)."""

    type: Literal["trigger_rule"] = "trigger_rule"
    rule_id: str
    payload: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _rule_id_required(cls, data: Any) -> Any:
        return _require(data, "rule_id")


ACTION_TYPES = ("webhook", "api_script", "trigger_rule")


def _action_tag(value: Any) -> str | None:
    """The action type; an action without `type` is a webhook."""
    kind = value.get("type", "webhook") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) else None


Action = Annotated[
    Annotated[WebhookAction, Tag("webhook")]
    | Annotated[ApiScriptAction, Tag("api_script")]
    | Annotated[TriggerRuleAction, Tag("trigger_rule")],
    Discriminator(
        _action_tag,
        custom_error_type="action_type",
        custom_error_message="an action is a mapping whose type is webhook, api_script or trigger_rule",
    ),
]


# --- rule ------------------------------------------------------------------------------------


def _check_storable(data: Any) -> None:
    """Rules are stored as JSON (PostgreSQL jsonb): no NaN or infinity (YAML `.inf` has them), and
    a bounded nesting depth, so that serialising and compiling a rule can never recurse too deep.
    """
    pending: list[tuple[str, int, Any]] = [("", 0, data)]
    while pending:
        path, depth, value = pending.pop()
        where = f" at {path}" if path else ""
        if depth > MAX_DOCUMENT_DEPTH:
            msg = f"the document is nested deeper than {MAX_DOCUMENT_DEPTH} levels{where}"
            raise _fail(msg)
        if isinstance(value, float) and not math.isfinite(value):
            msg = f"{value!r}{where} is not a JSON number: NaN and infinity cannot be stored"
            raise _fail(msg)
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        pending.extend((f"{path}.{key}" if path else str(key), depth + 1, item) for key, item in items)


def _group_paths(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class RuleSpec(_Strict):
    """One rule document. Input accepts `action: {...}` or `actions: [...]`, never both."""

    id: UUID | None = None
    name: Name
    description: str = ""
    active: StrictBool = True
    owner: str | None = None
    match: MatchSpec = Field(default_factory=MatchSpec)
    where: Condition | None = None
    group_by: Annotated[list[FieldPath], BeforeValidator(_group_paths)] = Field(default_factory=list)
    detect: Detect = Field(default_factory=EachDetect)
    cooldown: Duration | None = None
    time: TimeSpec = Field(default_factory=TimeSpec)
    actions: list[Action] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _storable_and_single_action(cls, data: Any) -> Any:
        _check_storable(data)
        if isinstance(data, dict) and "action" in data:
            if "actions" in data:
                msg = "give either action (one) or actions (a list), not both"
                raise _fail(msg)
            data = {("actions" if key == "action" else key): value for key, value in data.items()}
            data["actions"] = [data["actions"]]
        return data

    @field_validator("group_by")
    @classmethod
    def _distinct_group_paths(cls, paths: list[str]) -> list[str]:
        repeated = sorted({path for path in paths if paths.count(path) > 1})
        if repeated:
            msg = f"group_by fields must be distinct (repeated: {', '.join(repeated)})"
            raise _fail(msg)
        return paths

    def to_document(self) -> dict[str, Any]:
        """A JSON-able dict (aliases, durations in ms) that `RuleSpec.model_validate` accepts back."""
        return self.model_dump(mode="json", by_alias=True)


# --- script APIs (RULES.md section 6) -------------------------------------------------------------


MAX_SCRIPT_TIMEOUT_MS = 60_000  # RULES.md §6: at most 60s
MAX_SCRIPT_MEMORY_MB = 2048  # RULES.md §6: at most 2048


class ScriptApiSpec(_Strict):
    """A stored script API; only `type: script` runs as an action."""

    id: UUID | None = None
    name: Name
    type: NonEmptyStr = "script"
    language: Literal["python"] = "python"
    timeout: PositiveDuration = 5000
    memory_mb: Annotated[StrictInt, Field(ge=16, le=MAX_SCRIPT_MEMORY_MB)] = 256
    network: StrictBool = False
    description: str = ""
    source: NonEmptyStr

    @field_validator("timeout")
    @classmethod
    def _bounded_timeout(cls, timeout: int) -> int:
        """A run holds a sandbox (processes, memory) for its whole timeout: RULES.md §6 caps it."""
        if timeout > MAX_SCRIPT_TIMEOUT_MS:
            msg = f"timeout must be at most {MAX_SCRIPT_TIMEOUT_MS // 1000}s (got {timeout} ms)"
            raise _fail(msg)
        return timeout

    @model_validator(mode="after")
    def _defines_main(self) -> ScriptApiSpec:
        if self.type != "script":
            return self
        try:
            tree = ast.parse(self.source)
        except SyntaxError as exc:
            msg = f"source is not valid Python: line {exc.lineno}: {exc.msg}"
            raise _fail(msg) from None
        except (ValueError, RecursionError, MemoryError) as exc:
            msg = f"source is not valid Python: {exc}"
            raise _fail(msg) from None
        if not any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            msg = "source must define a top-level function main(params, input, context)"
            raise _fail(msg)
        return self

    def to_document(self) -> dict[str, Any]:
        """A JSON-able dict that `ScriptApiSpec.model_validate` accepts back."""
        return self.model_dump(mode="json", by_alias=True)
