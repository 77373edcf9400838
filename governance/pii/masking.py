"""Hiding what the detector found: ``mask`` keeps a value's shape, ``redact`` its type.

``mask`` replaces characters one for one (the text keeps its length, so offsets stay
valid), keeping only what helps a customer recognise their own value:

================== ================================ ==================================
type               keeps                            example (fictional)
================== ================================ ==================================
CN_MOBILE          first 3 and last 4 of the 11     ``+86 138-0000-1234`` ->
                   national digits; country code,   ``+86 138-****-1234``
                   separators
CN_BANK_CARD,      last 4 digits, separators        ``6222 0000 0000 1234`` ->
CREDIT_CARD                                         ``**** **** **** 1234``
CN_RESIDENT_ID     first and last character         ``1101051949...002X`` ->
                                                    ``1****************X``
anything else      punctuation and spaces only      ``li.wei@example.com`` ->
                                                    ``**.***@*******.***``
================== ================================ ==================================

A resident ID keeps so little because the rest is the holder's place of registration,
birth date and sex (the 17th digit); a card keeps its last four digits ("尾号"), which
is how banks and customers refer to a card. Styles go by entity type name; a type the
configuration renames is masked whole (the safe default).

``redact`` replaces each span with ``<TYPE>`` (Presidio Anonymizer's default), e.g.
``请拨打<CN_MOBILE>联系``. Overlapping findings (``analyze`` never returns them, other
callers might) become one placeholder over their union, named by the earliest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from governance.pii.findings import Finding

__all__ = ["PLACEHOLDER", "mask", "redact"]

#: The text ``redact`` puts in place of a finding of type ``type``.
PLACEHOLDER = "<{type}>"


def _keep_digits(span: str, keep: Callable[[int, int], bool], char: str) -> str:
    """Mask the digits of ``span`` except those ``keep(index, count)`` keeps."""
    count = sum(ch.isdigit() for ch in span)
    out: list[str] = []
    i = 0
    for ch in span:
        if ch.isdigit():
            out.append(ch if keep(i, count) else char)
            i += 1
        else:
            out.append(ch)
    return "".join(out)


def _mobile(span: str, char: str) -> str:
    # The national number is the last 11 digits; a country code before it stays.
    return _keep_digits(span, lambda i, n: i < n - 8 or i >= n - 4, char)


def _card(span: str, char: str) -> str:
    return _keep_digits(span, lambda i, n: i >= n - 4, char)


def _resident_id(span: str, char: str) -> str:
    return (
        span[:1] + char * max(0, len(span) - 2) + span[-1:] if len(span) > 2 else char * len(span)
    )


def _whole(span: str, char: str) -> str:
    return "".join(char if ch.isalnum() else ch for ch in span)


_STYLES: dict[str, Callable[[str, str], str]] = {
    "CN_MOBILE": _mobile,
    "CN_BANK_CARD": _card,
    "CREDIT_CARD": _card,
    "CN_RESIDENT_ID": _resident_id,
}


def _checked(text: str, findings: Sequence[Finding]) -> list[Finding]:
    for f in findings:
        if not 0 <= f.start < f.end <= len(text):
            raise ValueError(f"finding {f.type} at {f.start}-{f.end} is outside the text")
    return sorted(findings, key=lambda f: (f.start, -f.end))


def mask(text: str, findings: Sequence[Finding], *, char: str = "*") -> str:
    """``text`` with each finding masked in its type's style (same length as ``text``)."""
    if len(char) != 1:
        raise ValueError("the mask character must be one character")
    chars = list(text)
    for f in _checked(text, findings):
        style = _STYLES.get(f.type, _whole)
        masked = style(text[f.start : f.end], char)
        # Where findings overlap, a character masked by either stays masked.
        for i, ch in enumerate(masked, f.start):
            if chars[i] == text[i]:
                chars[i] = ch
    return "".join(chars)


def redact(text: str, findings: Sequence[Finding]) -> str:
    """``text`` with each finding replaced by ``<TYPE>``."""
    parts: list[str] = []
    at = 0
    for f in _checked(text, findings):
        if f.start < at:  # overlaps the previous placeholder: widen it
            at = max(at, f.end)
            continue
        parts += [text[at : f.start], PLACEHOLDER.format(type=f.type)]
        at = f.end
    parts.append(text[at:])
    return "".join(parts)
