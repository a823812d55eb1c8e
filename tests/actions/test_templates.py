"""Templates in action fields: rendering, missing fields, the sandbox, the compile cache."""

from __future__ import annotations

import pytest

from rules.templates import TemplateError, check_template, compile_template, render

CONTEXT = {
    "event": {"host": "web-1", "value": 95, "items": [{"sku": "A1"}], "tags": ["x", "y"], "ok": True, "none": None},
    "match": {"rule": "cpu-hot", "group": {"host": "web-1"}},
}


def test_renders_every_string_in_nested_values_and_leaves_keys_and_other_values_alone():
    value = {
        "{{ event.host }}": "{{ event.host }}",
        "list": ["{{ match.rule }}", 3, None, {"deep": "v={{ event.value }}"}],
        "flag": False,
    }
    assert render(value, CONTEXT) == {
        "{{ event.host }}": "web-1",
        "list": ["cpu-hot", 3, None, {"deep": "v=95"}],
        "flag": False,
    }


def test_output_is_text_and_json_values_render_as_json():
    assert render("{{ event.value }}", CONTEXT) == "95"
    assert render("{{ event.tags }}", CONTEXT) == '["x","y"]'
    assert render("{{ event.ok }}", CONTEXT) == "true"
    assert render("{{ match.group }}", CONTEXT) == '{"host":"web-1"}'


def test_a_field_wins_over_a_dict_method_of_the_same_name():
    assert render("{{ event.items.0.sku }}", CONTEXT) == "A1"


def test_underscore_fields_of_events_are_readable_but_private_attributes_are_not():
    context = {"event": {"_id": "doc-7"}}
    assert render("{{ event._id }}/{{ event['_id'] }}", context) == "doc-7/doc-7"
    with pytest.raises(TemplateError, match="unsafe"):
        render("{% for x in [1] %}{{ loop._iterator }}{% endfor %}", context)


def test_missing_fields_and_none_render_empty_at_any_depth():
    assert render("[{{ event.nope }}]", CONTEXT) == "[]"
    assert render("[{{ event.nope.deeper.still }}]", CONTEXT) == "[]"
    assert render("[{{ event.none }}]", CONTEXT) == "[]"
    assert render("{{ event.nope | default('n/a') }}", CONTEXT) == "n/a"
    assert render("{% if event.nope is defined %}yes{% else %}no{% endif %}", CONTEXT) == "no"


def test_strings_without_template_syntax_are_returned_as_they_are():
    text = "plain {text} with } braces"
    assert render(text, CONTEXT) is text


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ event['__class__'] }}",
        "{{ event | attr('__class__') }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ '{0.__class__}'.format(event) }}",
        "{{ event.tags.append('z') }}",
        "{{ event.host.upper.__self__ }}",
        "{{ (event.host | attr('_' ~ '_class_' ~ '_')) }}",
    ],
)
def test_sandbox_escapes_are_refused(template):
    with pytest.raises(TemplateError) as refused:
        render({"body": template}, CONTEXT)
    assert refused.value.template == template
    assert CONTEXT["event"]["tags"] == ["x", "y"]


def test_syntax_and_runtime_errors_are_template_errors_naming_the_template():
    with pytest.raises(TemplateError, match="syntax error") as bad:
        render("{{ event.host ", CONTEXT)
    assert bad.value.template == "{{ event.host "
    assert isinstance(bad.value, ValueError)
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render("{{ 1 / 0 }}", CONTEXT)


def test_check_template_reports_problems_at_apply_time():
    assert check_template("{{ event.host }}") is None
    assert check_template("no template here {") is None
    assert "syntax error" in check_template("{% if %}")
    assert "__class__" in check_template("{{ x.__class__ }}")


def test_compiled_templates_are_cached():
    text = "cached {{ event.host }} template"
    assert compile_template(text) is compile_template(text)
    before = compile_template.cache_info().hits
    for _ in range(10):
        render(text, CONTEXT)
    assert compile_template.cache_info().hits == before + 10
