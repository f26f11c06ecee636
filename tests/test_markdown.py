"""markdown_to_plain on Telethon markdown as it appears in real channel posts.

Samples are shortened from the telegram-news dataset (NKTKLN, "Dataset of Telegram News
Posts", CC BY 4.0).
"""

from __future__ import annotations

import pytest

from monitor.markdown import markdown_to_plain


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        ("**Трамп назначил Кита Келлога**", "Трамп назначил Кита Келлога"),
        (
            "📉**Цены на жильё** в новых домах **начали снижаться**, — СМИ.",
            "📉Цены на жильё в новых домах начали снижаться, — СМИ.",
        ),
        ("__QR-код нужно будет не сканировать__", "QR-код нужно будет не сканировать"),
        (
            "Би-би-си [встретился](https://www.bbc.com/russian/articles/cy4) с Антоном",
            "Би-би-си встретился с Антоном",
        ),
        ("😄[— Подписаться](https://t.me/+MudQsy2gMds3MmVi)", "😄— Подписаться"),
        ("**19 490 рублей** ~~29 990 рублей~~", "19 490 рублей 29 990 рублей"),
        ("```zed ssh://my-host/~/code/zed```", "zed ssh://my-host/~/code/zed"),
        ("`**kwargs` и **жирный**", "**kwargs и жирный"),
        (
            "[Tenex](https://en.wikipedia.org/wiki/TENEX_(operating_system)) и",
            "Tenex и",
        ),
        (
            "— [Ведущий разработчик [МТС Авто]](https://tprg.ru/xBRS)\nГде",
            "— Ведущий разработчик [МТС Авто]\nГде",
        ),
        ("[**Визит**](https://x.ru/a__b~~c) прошёл", "Визит прошёл"),
        ("ссылка https://x.ru/a__b__c остаётся", "ссылка https://x.ru/a__b__c остаётся"),
    ],
)
def test_markup_is_removed(markdown: str, plain: str) -> None:
    assert markdown_to_plain(markdown) == plain


def test_unclosed_or_literal_marks_stay() -> None:
    assert markdown_to_plain("иди на ****") == "иди на ****"
    assert markdown_to_plain("***Организация Meta признана") == "***Организация Meta признана"
    assert markdown_to_plain("2 * 3 = 6") == "2 * 3 = 6"


def test_empty_and_whitespace() -> None:
    assert markdown_to_plain("") == ""
    assert markdown_to_plain("  \n**текст**\n ") == "текст"
