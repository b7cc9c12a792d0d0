import json
import sys

import textstats

TEXT = """The quick brown fox jumps over the lazy dog. The dog sleeps.
A fox is quick! Is the dog lazy? The fox thinks so."""

if __name__ == "__main__":
    if "--version" in sys.argv:
        print("textstats", textstats.__version__)
    else:
        print(json.dumps(textstats.summary(TEXT), sort_keys=True))
