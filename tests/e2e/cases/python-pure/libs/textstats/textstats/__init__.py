"""Tiny text statistics used by the e2e app."""
import re
from collections import Counter

__version__ = "0.3.1"


def words(text):
    return re.findall(r"[a-z']+", text.lower())


def summary(text, top=3):
    counts = Counter(words(text))
    sentences = [s for s in re.split(r"[.!?]+", text) if s.strip()]
    return {
        "words": sum(counts.values()),
        "unique": len(counts),
        "sentences": len(sentences),
        "top": counts.most_common(top),
    }
