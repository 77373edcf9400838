"""PII scan throughput on about 1 MB of mixed Chinese and English text.

``pii-scan``
    ``governance.pii``'s analyser (the shipped ``recognizers.yaml``) over one document of
    ``BENCH_PII_BYTES`` UTF-8 bytes (default 1,000,000), generated from a seeded RNG:
    Chinese and English customer-service sentences, about one in six carrying a
    fictional mobile number, resident ID, UnionPay card, e-mail, IP address, plate,
    passport or credit code (valid checks). Throughput is the best of three runs, in MB
    (10^6 bytes of UTF-8) per second, against the 1 MB/s target; the same document cut
    into lines (one ``analyze`` per line, as free-text fields and log lines arrive) is
    reported too. Then Presidio's default (predefined) recognizer set, PhoneRecognizer
    and all, on the same document with the same no-op NLP engine, once: its throughput
    and the time ratio ours / Presidio's (below 1: ours is faster). Findings of ours are
    counted, and the run fails if the planted values are not all found.
"""

# Chinese text is written with full-width punctuation, as customers write it.
# ruff: noqa: RUF001
from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

from bench.harness import Metric, benchmark

TARGET_MB_PER_S = 1.0

_ZH = [
    "客户来电咨询会员积分的兑换规则，客服已经详细说明。",
    "用户反馈小程序下单后没有收到发货通知，希望尽快处理。",
    "门店店长表示本周末会举办新品试用活动，欢迎老客户参加。",
    "顾客对上次购买的商品质量很满意，计划再次购买同款。",
    "会员希望修改收货地址，并确认订单的配送时间。",
    "企业微信群里有客户询问优惠券的使用期限。",
    "售后同事已经安排退款，预计三个工作日内到账。",
]
_EN = [
    "The customer asked about the loyalty points expiry date and was satisfied.",
    "A member reported that the mini-program checkout page failed twice yesterday.",
    "Store staff confirmed the refund for order 20261125 will arrive within 3 days.",
    "The shopper prefers to be contacted in the evening after 7 pm.",
    "Please follow up on the delivery delay for the spring collection.",
    "Version 2.4.1 of the app fixed the coupon display issue for 12 users.",
]


def _id(rng: random.Random) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    body = f"{rng.choice(['110105', '310104', '440305', '510107'])}19{rng.randint(50, 99)}"
    body += f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def _luhn(body: str) -> str:
    total = sum(
        (d * 2 - 9 if d > 4 else d * 2) if i % 2 == 0 else d
        for i, d in enumerate(int(c) for c in reversed(body))
    )
    return body + str((10 - total % 10) % 10)


def _uscc(rng: random.Random) -> str:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91" + f"{rng.randint(110000, 659999)}" + "".join(rng.choices(chars, k=9))
    total = sum(chars.index(c) * pow(3, i, 31) for i, c in enumerate(body))
    return body + chars[(31 - total % 31) % 31]


def _pii(rng: random.Random) -> tuple[str, str]:
    """(sentence with one fictional value, the value)."""
    kind = rng.randrange(8)
    if kind == 0:
        v = f"1{rng.choice('3456789')}{rng.randint(0, 9)}0000{rng.randint(0, 9999):04d}"
        return rng.choice([f"请拨打{v}联系客户。", f"Call the member back at {v} today."]), v
    if kind == 1:
        v = _id(rng)
        return rng.choice([f"客户身份证号码{v}已核验。", f"ID card {v} was verified."]), v
    if kind == 2:
        v = _luhn("6222" + "".join(rng.choices("0123456789", k=11)))
        return f"退款到银行卡{v}，请查收。", v
    if kind == 3:
        v = f"member{rng.randint(1, 9999)}@example.{rng.choice(['com', 'org'])}"
        return rng.choice([f"邮箱{v}已更新。", f"Send the receipt to {v} please."]), v
    if kind == 4:
        v = f"{rng.choice(['192.0.2', '198.51.100'])}.{rng.randint(1, 254)}"
        return f"Login from {v} was blocked.", v
    if kind == 5:
        v = f"{rng.choice('京沪粤浙苏川')}{rng.choice('ABCDE')}{rng.randint(10000, 99999)}"
        return f"车牌{v}的车主预约了保养。", v
    if kind == 6:
        v = f"E{rng.randint(10000000, 99999999)}"
        return f"护照号{v}，passport checked.", v
    v = _uscc(rng)
    return f"企业统一社会信用代码{v}。", v


def document(size: int, seed: int = 11) -> tuple[str, list[str]]:
    """About ``size`` UTF-8 bytes of text, and the planted values."""
    rng = random.Random(seed)
    parts: list[str] = []
    planted: list[str] = []
    length = 0
    while length < size:
        if rng.random() < 1 / 6:
            sentence, value = _pii(rng)
            planted.append(value)
        else:
            sentence = rng.choice(_ZH if rng.random() < 0.6 else _EN)
        sentence += "\n" if rng.random() < 0.2 else " "
        parts.append(sentence)
        length += len(sentence.encode())
    return "".join(parts), planted


@benchmark("pii-scan", description="PII scan of 1 MB of mixed zh/en text vs Presidio's defaults")
def scan_throughput() -> list[Metric]:
    """MB/s of ours (whole document and per line) and the time ratio to Presidio's set."""
    from governance import pii
    from governance.pii import _presidio
    from governance.pii.engine import default_analyzer

    size = int(os.environ.get("BENCH_PII_BYTES", "1000000"))
    text, planted = document(size)
    mb = len(text.encode()) / 1e6
    analyzer = default_analyzer()

    def timed(func: Callable[[], object]) -> float:
        started = time.perf_counter()
        func()
        return time.perf_counter() - started

    found = analyzer.analyze(text)
    values = {text[f.start : f.end] for f in found}
    missing = [v for v in planted if v not in values]
    if missing:
        raise RuntimeError(f"{len(missing)} planted values not found, e.g. type of {missing[0]!r}")
    ours = min(timed(lambda: analyzer.analyze(text)) for _ in range(3))
    lines = text.splitlines()
    per_line = min(timed(lambda: [pii.analyze(line) for line in lines]) for _ in range(3))

    presidio = _presidio.AnalyzerEngine(
        nlp_engine=_presidio.NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}]),
        supported_languages=["en"],
    )
    presidio.analyze(text="warm-up 212-555-0100", language="en")
    theirs = timed(lambda: presidio.analyze(text=text, language="en"))
    return [
        Metric("ours, whole document", mb / ours, "MB/s", TARGET_MB_PER_S, higher_is_better=True),
        Metric("ours, one call per line", mb / per_line, "MB/s"),
        Metric("Presidio default recognizers", mb / theirs, "MB/s"),
        Metric("ours / Presidio default, time", ours / theirs, "x"),
        Metric("document size", mb, "MB"),
        Metric("lines", len(lines), "lines"),
        Metric("findings (ours)", len(found), "findings"),
        Metric("planted values", len(planted), "values"),
    ]
