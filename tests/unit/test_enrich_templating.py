"""PromQL templates: label values are escaped, and placeholders may only stand in strings."""

from __future__ import annotations

import pytest

from bridge.enrich.templating import (
    MissingLabel,
    TemplateError,
    escape_promql_string,
    placeholders,
    render,
)


def test_labels_fill_the_placeholders() -> None:
    expr = 'max(DCGM_FI_DEV_GPU_TEMP{node="{node}",gpu="{gpu}"})'
    assert render(expr, {"node": "dgx-spark-01", "gpu": "0"}) == (
        'max(DCGM_FI_DEV_GPU_TEMP{node="dgx-spark-01",gpu="0"})'
    )


def test_a_hostile_label_value_stays_inside_its_string() -> None:
    hostile = 'x"} or vector(1) or up{a="\\'
    rendered = render('up{node="{node}"}', {"node": hostile})
    assert rendered == 'up{node="x\\"} or vector(1) or up{a=\\"\\\\"}'


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ('a"b', 'a\\"b'),
        ("a\\b", "a\\\\b"),
        ("a\nb", "a\\nb"),
        ("\x01", "\\x01"),
    ],
)
def test_escaping_follows_promql_string_rules(raw: str, escaped: str) -> None:
    assert escape_promql_string(raw) == escaped


def test_a_missing_or_empty_label_is_reported_not_guessed() -> None:
    with pytest.raises(MissingLabel) as missing:
        render('up{node="{node}",gpu="{gpu}"}', {"node": "n1"})
    assert missing.value.label == "gpu"
    with pytest.raises(MissingLabel):
        render('up{node="{node}"}', {"node": ""})


@pytest.mark.parametrize(
    "template",
    [
        "up{node={node}}",  # bare: the value would become PromQL
        "up{node='{node}'}",  # single quotes: escaped for double quotes only
        "up{node=`{node}`}",  # raw strings cannot escape a backtick
        "up # {node}",  # in a comment
    ],
)
def test_unsafe_placements_are_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        placeholders(template)


def test_an_unclosed_string_is_refused() -> None:
    with pytest.raises(TemplateError, match="unclosed string"):
        placeholders('up{node="{node}}')


def test_selectors_and_regexes_are_not_placeholders() -> None:
    assert placeholders('sum by (job) (up{__name__=~"up|x",node!="{node}"})') == ["node"]


# Prometheus 3 accepts any UTF-8 label name (OpenTelemetry's `host.name`, Kubernetes'
# `app.kubernetes.io/name`); PromQL quotes such a name on the selector side:
# `{"host.name"="dgx-spark-01"}`. A placeholder must reach the alert's label of that name.
UTF8_NAMES = ["host.name", "app.kubernetes.io/name", "k8s-node", "nœud", "_private.x"]


@pytest.mark.parametrize("name", UTF8_NAMES)
def test_a_utf8_label_name_is_a_placeholder_in_a_quoted_selector(name: str) -> None:
    template = f'max(gpu_temp{{"{name}"="{{{name}}}"}})'
    assert placeholders(template) == [name]
    assert render(template, {name: 'dgx "01"'}) == f'max(gpu_temp{{"{name}"="dgx \\"01\\""}})'


def test_a_missing_utf8_label_is_reported_not_left_in_the_query() -> None:
    with pytest.raises(MissingLabel) as missing:
        render('up{"host.name"="{host.name}"}', {"node": "n1"})
    assert missing.value.label == "host.name"


@pytest.mark.parametrize("quantifier", ["{2}", "{2,3}", "{,3}", "{ node }"])
def test_regex_quantifiers_and_spaced_braces_stay_regex(quantifier: str) -> None:
    assert placeholders(f'up{{node=~"dgx{quantifier}",gpu="{{gpu}}"}}') == ["gpu"]
