"""Block Kit limits that Slack enforces with ``invalid_blocks`` (pure functions).

Limits: https://docs.slack.dev/reference/block-kit/blocks (per block type pages) and
https://docs.slack.dev/reference/methods/chat.postMessage (text, 50 blocks). Error
strings follow Slack's ``"<problem> [json-pointer:/blocks/N/...]"`` style.
"""

from __future__ import annotations

import json
from typing import Any

MAX_BLOCKS = 50
MAX_TEXT_CHARS = 40_000  # chat.postMessage ``text``; longer is ``msg_too_long``
MAX_BLOCK_ID_CHARS = 255
MAX_HEADER_CHARS = 150
MAX_SECTION_TEXT_CHARS = 3000
MAX_SECTION_FIELDS = 10
MAX_SECTION_FIELD_CHARS = 2000
MAX_CONTEXT_ELEMENTS = 10
# A context element is a text object (3000, like every text object) or an image element.
MAX_CONTEXT_TEXT_CHARS = 3000
MAX_ACTIONS_ELEMENTS = 25
MAX_IMAGE_URL_CHARS = 3000
MAX_ALT_TEXT_CHARS = 2000
MAX_MARKDOWN_BLOCK_CHARS = 12_000
# Interactive elements: https://docs.slack.dev/reference/block-kit/block-elements
MAX_ACTION_ID_CHARS = 255
MAX_BUTTON_TEXT_CHARS = 75
MAX_BUTTON_VALUE_CHARS = 2000
MAX_PLACEHOLDER_CHARS = 150
MAX_OPTIONS = 100
MAX_OPTION_TEXT_CHARS = 75
MAX_OPTION_VALUE_CHARS = 150

TEXT_TYPES = ("plain_text", "mrkdwn")
# Block types that may appear in a message; anything else is rejected.
KNOWN_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)


def parse_blocks(value: Any) -> list[Any] | None:
    """``blocks`` as a list: forms carry a JSON string, JSON bodies a list. None: unusable."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, list) else None


def _text_object(obj: Any, where: str, max_chars: int, types: tuple[str, ...]) -> list[str]:
    if not isinstance(obj, dict):
        return [f"must be an object [json-pointer:{where}]"]
    if obj.get("type") not in types:
        allowed = ", ".join(types)
        return [f"must be one of [{allowed}] [json-pointer:{where}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{where}/text]"]
    if len(text) > max_chars:
        return [f"must be less than {max_chars + 1} characters [json-pointer:{where}/text]"]
    return []


def _max_items(items: Any, where: str, limit: int, required: bool = True) -> list[str]:
    if items is None and not required:
        return []
    if not isinstance(items, list) or not items:
        return [f"must provide at least 1 item [json-pointer:{where}]"]
    if len(items) > limit:
        return [f"must provide no more than {limit} items [json-pointer:{where}]"]
    return []


def _section(block: dict[str, Any], where: str) -> list[str]:
    if "text" not in block and "fields" not in block:
        return [f"must provide text or fields [json-pointer:{where}]"]
    errors = []
    if "text" in block:
        errors += _text_object(block["text"], f"{where}/text", MAX_SECTION_TEXT_CHARS, TEXT_TYPES)
    if "fields" in block:
        fields = block["fields"]
        errors += _max_items(fields, f"{where}/fields", MAX_SECTION_FIELDS)
        for i, item in enumerate(fields if isinstance(fields, list) else []):
            errors += _text_object(item, f"{where}/fields/{i}", MAX_SECTION_FIELD_CHARS, TEXT_TYPES)
    accessory = block.get("accessory")
    if accessory is not None:
        if isinstance(accessory, dict) and accessory.get("type") == "image":
            errors += _image(accessory, f"{where}/accessory")
        else:
            errors += _element(accessory, f"{where}/accessory")
    return errors


def _image(block: dict[str, Any], where: str) -> list[str]:
    errors = []
    url = block.get("image_url")
    if "slack_file" not in block:
        if not isinstance(url, str) or not url:
            errors.append(f"must provide image_url or slack_file [json-pointer:{where}]")
        elif len(url) > MAX_IMAGE_URL_CHARS:
            errors.append(f"must be less than 3001 characters [json-pointer:{where}/image_url]")
    alt = block.get("alt_text")
    if not isinstance(alt, str) or not alt:
        errors.append(f"must be more than 0 characters [json-pointer:{where}/alt_text]")
    elif len(alt) > MAX_ALT_TEXT_CHARS:
        errors.append(f"must be less than 2001 characters [json-pointer:{where}/alt_text]")
    return errors


def _block(block: Any, where: str) -> list[str]:
    if not isinstance(block, dict):
        return [f"must be an object [json-pointer:{where}]"]
    kind = block.get("type")
    if kind not in KNOWN_BLOCK_TYPES:
        return [f"unsupported type: {kind} [json-pointer:{where}/type]"]
    errors = []
    block_id = block.get("block_id")
    if block_id is not None and (
        not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID_CHARS
    ):
        errors.append(f"must be less than 256 characters [json-pointer:{where}/block_id]")
    if kind == "header":
        header_text = block.get("text")
        errors += _text_object(header_text, f"{where}/text", MAX_HEADER_CHARS, ("plain_text",))
    elif kind == "section":
        errors += _section(block, where)
    elif kind == "context":
        elements = block.get("elements")
        errors += _max_items(elements, f"{where}/elements", MAX_CONTEXT_ELEMENTS)
        for i, element in enumerate(elements if isinstance(elements, list) else []):
            errors += _context_element(element, f"{where}/elements/{i}")
    elif kind == "actions":
        elements = block.get("elements")
        errors += _max_items(elements, f"{where}/elements", MAX_ACTIONS_ELEMENTS)
        for i, element in enumerate(elements if isinstance(elements, list) else []):
            errors += _element(element, f"{where}/elements/{i}")
    elif kind == "image":
        errors += _image(block, where)
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not text:
            errors.append(f"must be more than 0 characters [json-pointer:{where}/text]")
        elif len(text) > MAX_MARKDOWN_BLOCK_CHARS:
            errors.append(f"must be less than 12001 characters [json-pointer:{where}/text]")
    return errors


def _context_element(element: Any, where: str) -> list[str]:
    """A context block's element: a text object or an image, each with Slack's limits."""
    if isinstance(element, dict) and element.get("type") == "image":
        return _image(element, where)
    return _text_object(element, where, MAX_CONTEXT_TEXT_CHARS, TEXT_TYPES)


def _too_long(value: Any, limit: int, where: str) -> list[str]:
    if not isinstance(value, str) or not value:
        return [f"must be more than 0 characters [json-pointer:{where}]"]
    if len(value) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}]"]
    return []


def _element(element: Any, where: str) -> list[str]:
    """A button or static_select in an actions block (the interactive elements we accept)."""
    if not isinstance(element, dict):
        return [f"must be an object [json-pointer:{where}]"]
    kind = element.get("type")
    errors = _too_long(element.get("action_id"), MAX_ACTION_ID_CHARS, f"{where}/action_id")
    if kind == "button":
        errors += _text_object(
            element.get("text"), f"{where}/text", MAX_BUTTON_TEXT_CHARS, ("plain_text",)
        )
        if "value" in element:
            errors += _too_long(element["value"], MAX_BUTTON_VALUE_CHARS, f"{where}/value")
    elif kind == "static_select":
        errors += _text_object(
            element.get("placeholder"),
            f"{where}/placeholder",
            MAX_PLACEHOLDER_CHARS,
            ("plain_text",),
        )
        options = element.get("options")
        errors += _max_items(options, f"{where}/options", MAX_OPTIONS)
        for j, option in enumerate(options if isinstance(options, list) else []):
            at = f"{where}/options/{j}"
            if not isinstance(option, dict):
                errors.append(f"must be an object [json-pointer:{at}]")
                continue
            errors += _text_object(
                option.get("text"), f"{at}/text", MAX_OPTION_TEXT_CHARS, ("plain_text",)
            )
            errors += _too_long(option.get("value"), MAX_OPTION_VALUE_CHARS, f"{at}/value")
    elif kind not in ("overflow", "datepicker", "users_select", "checkboxes"):
        errors.append(f"unsupported type: {kind} [json-pointer:{where}/type]")
    return errors


def action_ids(blocks: list[Any]) -> list[str]:
    """Every interactive element's action_id, in order (Slack wants them unique per message)."""
    return [
        str(e.get("action_id"))
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "actions"
        for e in (b.get("elements") or [])
        if isinstance(e, dict)
    ]


def validate_blocks(blocks: list[Any]) -> list[str]:
    """Every Block Kit violation in a message's blocks (empty list: valid)."""
    if len(blocks) > MAX_BLOCKS:
        return [f"must provide no more than {MAX_BLOCKS} items [json-pointer:/blocks]"]
    errors: list[str] = []
    for i, block in enumerate(blocks):
        errors += _block(block, f"/blocks/{i}")
    ids = action_ids(blocks)
    if len(ids) != len(set(ids)):
        errors.append("action_id values must be unique within a message [json-pointer:/blocks]")
    return errors
