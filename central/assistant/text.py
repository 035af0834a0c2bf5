"""Tokenizers for retrieval: Korean morphemes (Kiwi), English words, Chinese/Japanese
character n-grams (unigrams of Han characters and bigrams of every CJK run; no dictionary).

The tokenizer is picked per text by its script, not by the `lang` the caller sent: a
Korean-speaking patient may type "MRI" and a Japanese one may use only kanji.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Any

_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[a-z0-9]+")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]+")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")

# Korean parts of speech kept for retrieval: nouns, numbers, foreign words, verb and
# adjective stems, adverbs ("얼마나", "다시"), roots. Particles and endings say nothing here.
_KO_TAGS = ("NNG", "NNP", "NR", "NP", "SL", "SN", "SH", "VV", "VA", "XR", "MAG")
_KO_STOP = frozenset("저 제 나 내 것 수 좀 거 이 그 저희 요 곳 하 되 있 어떻".split())  # noqa: SIM905
_EN_STOP_WORDS = (
    "a an the i me my mine you your we our is are was were be been am do does did can could "
    "should would will shall may might must to of in on at for from by with and or it this that "
    "there here what's whats it's im i'm please have has had get got any some so if what how "
    "need want go"
)
_EN_STOP = frozenset(_EN_STOP_WORDS.split())
_JA_ZH_SINGLE_STOP = frozenset("的了吗呢我在是有要么吧啊你这那哪里儿")
# Question-word bigrams that every Chinese question shares; all-hiragana bigrams (particles,
# endings: です, ますか, どこ) are dropped by rule in tokens_cjk.
_ZH_BIGRAM_STOP = frozenset("在哪 哪里 哪儿 什么 怎么 我的 可以 是多 多少".split())  # noqa: SIM905
_HIRAGANA = re.compile(r"^[\u3040-\u309f]+$")


def script_of(text: str) -> str:
    """'ko', 'ja', 'zh' or 'en' by the characters the text is written in."""
    if _HANGUL.search(text):
        return "ko"
    if _KANA.search(text):
        return "ja"
    if _HAN.search(text):
        return "zh"
    return "en"


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters to ASCII) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


_kiwi_lock = threading.Lock()


@lru_cache(maxsize=1)
def kiwi() -> Any:
    """The one Kiwi analyser of the process (its model ships in kiwipiepy-model: no download).
    The typo and multi-word dictionaries stay unloaded: they double the start-up time (4.6 s
    against 2.6 s here) and changed no answer on the question set."""
    from kiwipiepy import Kiwi

    return Kiwi(load_typo_dict=False, load_multi_dict=False)


def _stem_en(word: str) -> str:
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + keep
    return word


def tokens_en(text: str) -> list[str]:
    """Lower-case words without stop words, lightly stemmed (pills -> pill)."""
    # One-letter pieces ("what's" -> "s") match anything; digits stay (room 2).
    return [
        _stem_en(w)
        for w in _LATIN_WORD.findall(text)
        if w not in _EN_STOP and (len(w) > 1 or w.isdigit())
    ]


def tokens_cjk(text: str) -> list[str]:
    """Han-character unigrams and bigrams of every kana/Han run, plus Latin words."""
    out: list[str] = []
    for run in _CJK_RUN.findall(text):
        out.extend(c for c in run if _HAN.match(c) and c not in _JA_ZH_SINGLE_STOP)
        for i in range(len(run) - 1):
            pair = run[i : i + 2]
            if pair not in _ZH_BIGRAM_STOP and not _HIRAGANA.match(pair):
                out.append(pair)
    out.extend(tokens_en(_CJK_RUN.sub(" ", text)))
    return out


def tokens_ko(text: str) -> list[str]:
    """Kiwi morphemes of the kinds that carry meaning, plus Latin words (X-ray, CT)."""
    with _kiwi_lock:  # Kiwi objects are not documented as thread-safe
        morphs = kiwi().tokenize(text)
    out: list[str] = []
    for t in morphs:
        tag = t.tag.split("-")[0]  # VV-R, VA-I: irregular stems
        if tag in ("SL", "SH"):
            out.extend(tokens_en(t.form.lower()))
        elif tag in _KO_TAGS and t.form not in _KO_STOP:
            out.append(t.form)
    return out


@lru_cache(maxsize=2048)
def _tokenize(text: str) -> tuple[str, ...]:
    return tuple(_tokens(text))


def clear_token_cache() -> None:
    """Forget cached tokenizations (benchmarks measure uncached answers)."""
    _tokenize.cache_clear()


def tokenize(text: str) -> list[str]:
    """Retrieval tokens of `text`, by its script (recent questions are cached)."""
    return list(_tokenize(text))


def _tokens(text: str) -> list[str]:
    text = normalize(text)
    script = script_of(text)
    if script == "ko":
        return tokens_ko(text)
    if script in ("ja", "zh"):
        return tokens_cjk(text)
    return tokens_en(text)


def numbers_in(text: str) -> set[str]:
    """Every number written in `text` (NFKC, thousands separators removed): '1,000' -> '1000'."""
    found = set()
    for n in _NUMBER.findall(normalize(text)):
        found.add(n.replace(",", ""))
        for part in re.split(r"[.,:]", n):
            found.add(part)
    return found
