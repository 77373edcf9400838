"""Fictional customers for the demo and benchmarks: plausible, reproducible, never real.

Everything is invented or taken from reserved ranges, so no generated value can reach or
describe a real person:

- names are combined from small built-in lists of common surnames and given names;
- e-mail addresses use ``example.com`` (RFC 2606, reserved for examples);
- mobile numbers are 11 digits starting ``100``: mainland Chinese mobile numbers start
  with ``13``-``19`` and no carrier assigns the ``10`` block to subscribers (``10xxx`` are
  carrier service short codes such as 10086), so these numbers cannot ring anyone;
- bank card numbers start with ``999999``, which is not an issuer identification number
  of any card scheme, and end with a valid Luhn digit so that detectors still see a card;
- WeCom union ids are random and start ``oDemo``;
- cities are real (a city is not personal on its own); locations are random points near
  the city centre, not addresses.

The customer at global index ``i`` (the ``i``-th subject seeded into a database) depends
only on the seed and ``i`` (the random stream restarts every :data:`BLOCK` customers), so
output does not depend on batch sizes or on how many processes generate it. Identifiers
(mobile, e-mail) are derived from ``i`` by a bijection, so customers seeded by different
runs never share them.
"""

# The Chinese sample sentences use full-width punctuation, as Chinese text does.
# ruff: noqa: RUF001

from __future__ import annotations

import datetime as dt
import random
import string
from typing import Any

from governance.profiles.store import new_subject_id

__all__ = ["BLOCK", "MINOR_SHARE", "CustomerFactory", "fake_mobile", "luhn_digit"]

MINOR_SHARE = 0.03
BLOCK = 1000

# (surname in pinyin, in characters)
SURNAMES = [
    ("wang", "王"), ("li", "李"), ("zhang", "张"), ("liu", "刘"), ("chen", "陈"),
    ("yang", "杨"), ("zhao", "赵"), ("huang", "黄"), ("zhou", "周"), ("wu", "吴"),
    ("xu", "徐"), ("sun", "孙"), ("hu", "胡"), ("zhu", "朱"), ("gao", "高"),
    ("lin", "林"), ("he", "何"), ("guo", "郭"), ("ma", "马"), ("luo", "罗"),
]  # fmt: skip
GIVEN_NAMES = [
    ("xiaoyu", "晓雨"), ("jiahui", "佳慧"), ("zihan", "子涵"), ("haoran", "浩然"),
    ("yutong", "雨桐"), ("mingyu", "明宇"), ("xinyi", "欣怡"), ("junjie", "俊杰"),
    ("siqi", "思琪"), ("tianyi", "天一"), ("ruoxi", "若曦"), ("zhiwei", "志伟"),
    ("yiting", "依婷"), ("wenbo", "文博"), ("shuyan", "书言"), ("kaiwen", "凯文"),
    ("meiling", "美玲"), ("chenxi", "晨曦"), ("yuhang", "宇航"), ("lanlan", "兰兰"),
]  # fmt: skip
NICKNAME_WORDS = ["小", "阿", "大", "老", "喵", "糖", "豆", "橙", "星", "云"]
# (city, latitude, longitude of its centre, weight)
CITIES = [
    ("上海", 31.2304, 121.4737, 14), ("北京", 39.9042, 116.4074, 12),
    ("广州", 23.1291, 113.2644, 9), ("深圳", 22.5431, 114.0579, 9),
    ("杭州", 30.2741, 120.1551, 8), ("成都", 30.5728, 104.0668, 8),
    ("武汉", 30.5928, 114.3055, 6), ("南京", 32.0603, 118.7969, 6),
    ("西安", 34.3416, 108.9398, 5), ("重庆", 29.5630, 106.5516, 6),
    ("苏州", 31.2990, 120.5853, 5), ("天津", 39.3434, 117.3616, 4),
    ("长沙", 28.2282, 112.9388, 4), ("青岛", 36.0671, 120.3826, 3),
    ("厦门", 24.4798, 118.0894, 3),
]  # fmt: skip
_CITY_WEIGHTS = [c[3] for c in CITIES]
MEMBER_LEVELS = ["regular", "silver", "gold", "platinum"]
_MEMBER_WEIGHTS = [60, 25, 12, 3]
GENDERS = ["female", "male", "undisclosed"]
_GENDER_WEIGHTS = [52, 42, 6]
PAYMENT_METHODS = ["wechat_pay", "alipay", "union_pay_card", "cash"]
_PAYMENT_WEIGHTS = [48, 38, 11, 3]
PRODUCTS = [
    "面霜", "精华液", "口红", "防晒霜", "运动鞋", "瑜伽裤", "咖啡豆", "保温杯",
    "蓝牙耳机", "香水", "洗发水", "婴儿湿巾", "茶叶礼盒", "羽绒服", "双肩包", "护手霜",
]  # fmt: skip
SERVICE_NOTES = [
    "客户来电询问积分到期时间，已告知并发送短信提醒。",
    "顾客反馈包裹延迟，已联系物流加急，回访电话 {mobile}。",
    "会员申请更换绑定邮箱为 {email}，已核实身份后处理。",
    "Customer asked about the {level} tier benefits; sent the brochure to {email}.",
    "门店试用后咨询退换政策，已解释七天无理由退货。",
    "Caller {name} asked to stop SMS marketing; preference noted, please confirm in portal.",
]
CHAT_EXCERPTS = [
    "顾客：我在{city}的门店买的面霜过敏了怎么办？客服：非常抱歉，请先停用并拍照给我们。",
    "顾客：优惠券怎么用不了？客服：您好，这张券需满199元可用。",
    "顾客：帮我改一下收货电话 {mobile}。客服：好的，已为您修改。",
    "Customer: can you send the invoice to {email}? Agent: done, please check your inbox.",
]
_UNIONID_ALPHABET = string.ascii_letters + string.digits + "-_"

# Mobile numbers: "100" + 8 digits. No mainland carrier assigns numbers starting "100"
# (subscriber numbers start 13-19; "10" is for carrier service codes), so a generated
# number can never reach a real person. The 8 digits are the customer's global index passed
# through a bijection of [0, 10^8) (an affine map with a multiplier coprime to 10), so
# they look scattered yet never repeat for up to 100 million customers.
_MOBILE_SPACE = 10**8
_MOBILE_MUL = 7_919_391  # odd and not divisible by 5: coprime to 10^8
_MOBILE_ADD = 31_415_926


def fake_mobile(index: int) -> str:
    """The fictional mobile number of the customer with global ``index`` (unique)."""
    return f"100{(index * _MOBILE_MUL + _MOBILE_ADD) % _MOBILE_SPACE:08d}"


def luhn_digit(partial: str) -> str:
    """The Luhn check digit to append to ``partial``."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _base36(n: int) -> str:
    digits = string.digits + string.ascii_lowercase
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


class CustomerFactory:
    """Makes fictional customers' profile values, reproducibly from ``(seed, start)``."""

    def __init__(self, seed: int, start_index: int = 0, today: dt.date | None = None) -> None:
        self.seed = seed
        self.year = (today or dt.date.today()).year
        self.rng = random.Random()  # noqa: S311 - reproducible fake data, not secrets
        self.next_index = start_index - start_index % BLOCK
        self._reseed()
        while self.next_index < start_index:  # skip to the start within its block
            self.customer()

    def _reseed(self) -> None:
        # A string seed is hashed with SHA-512 by ``random``: stable across runs and
        # platforms, independent of PYTHONHASHSEED.
        self.rng.seed(f"governance-demo:{self.seed}:{self.next_index // BLOCK}")

    def customer(self) -> tuple[str, dict[str, Any]]:
        """The next customer: its subject id and profile values (field name -> value)."""
        if self.next_index % BLOCK == 0:
            self._reseed()
        rng = self.rng
        index = self.next_index
        self.next_index += 1
        subject_id = new_subject_id(rng)
        r = rng.random
        surname_py, _surname_zh = rng.choice(SURNAMES)
        given_py, given_zh = rng.choice(GIVEN_NAMES)
        city, lat, lng, _ = rng.choices(CITIES, _CITY_WEIGHTS)[0]
        mobile = fake_mobile(index)
        email = f"{given_py}.{surname_py}.{_base36(index)}@example.com"
        minor = r() < MINOR_SHARE
        level = rng.choices(MEMBER_LEVELS, _MEMBER_WEIGHTS)[0]
        values: dict[str, Any] = {"mobile": mobile, "member_level": level}
        if r() < 0.65:
            values["email"] = email
        if r() < 0.55:
            values["wecom_unionid"] = "oDemo" + "".join(rng.choices(_UNIONID_ALPHABET, k=23))
        if r() < 0.9:
            values["nickname"] = (
                rng.choice(NICKNAME_WORDS) + given_zh[-1]
                if r() < 0.6
                else f"{given_py}_{rng.randrange(100, 1000)}"
            )
        if r() < 0.85:
            values["gender"] = rng.choices(GENDERS, _GENDER_WEIGHTS)[0]
        if minor:
            values["birth_year"] = self.year - rng.randint(7, 13)
            values["minor_guardian_mobile"] = "100" + f"{rng.randrange(_MOBILE_SPACE):08d}"
        elif r() < 0.8:
            values["birth_year"] = self.year - rng.randint(18, 70)
        if r() < 0.9:
            values["city"] = city
        if r() < 0.7:
            values["browse_history"] = rng.sample(PRODUCTS, rng.randint(1, 6))
        if r() < 0.6:
            values["group_interactions"] = int(rng.expovariate(1 / 12))
        if r() < 0.7:
            values["coupon_use"] = int(rng.expovariate(1 / 3))
        if r() < 0.6:
            values["store_visits"] = int(rng.expovariate(1 / 4))
        if r() < 0.75:
            values["order_total_12m"] = round(rng.lognormvariate(6.5, 1.0), 2)
        if r() < 0.6:
            values["payment_method"] = rng.choices(PAYMENT_METHODS, _PAYMENT_WEIGHTS)[0]
        if r() < 0.25:
            body = "999999" + f"{rng.randrange(10**9):09d}"
            values["bank_card_number"] = body + luhn_digit(body)
        if r() < 0.2:
            values["precise_location"] = (
                f"{lat + rng.uniform(-0.08, 0.08):.5f},{lng + rng.uniform(-0.08, 0.08):.5f}"
            )
        if r() < 0.1:
            values["service_notes"] = rng.choice(SERVICE_NOTES).format(
                mobile=mobile, email=email, level=level, name=f"{given_py} {surname_py}".title()
            )
        if r() < 0.05:
            values["chat_excerpt"] = rng.choice(CHAT_EXCERPTS).format(
                city=city, mobile=mobile, email=email
            )
        return subject_id, values
