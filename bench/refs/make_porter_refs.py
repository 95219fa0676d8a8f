"""Writes tests/fixtures/metrics/porter_reference.json: Porter stems from NLTK's
PorterStemmer(mode=ORIGINAL_ALGORITHM) for a sample of CommonGen words whose stem differs
from the word, as an independent check of rewards/porter_stemmer.ts.

    /usr/bin/python3 bench/refs/make_porter_refs.py   # Debian: apt-get install -y python3-nltk

Words of one or two letters are left out: Porter's reference implementation leaves them
unchanged, NLTK's original mode strips a final "s" from them.
"""

import json
import os
import random
import re

from nltk.stem.porter import PorterStemmer

DATA = os.environ.get("RLGF_DATA_DIR", "/work/shared/data")
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "metrics",
                   "porter_reference.json")

words = set()
with open(os.path.join(DATA, "commongen", "train.jsonl")) as f:
    for line in f:
        words.update(re.findall(r"[a-z]+", line.lower()))
stemmer = PorterStemmer(mode=PorterStemmer.ORIGINAL_ALGORITHM)
changed = sorted(w for w in words if len(w) > 2 and stemmer.stem(w) != w)
sample = sorted(random.Random(4).sample(changed, 400))
out = {"generated_by": "NLTK PorterStemmer(mode=ORIGINAL_ALGORITHM) via bench/refs/make_porter_refs.py",
       "stems": {w: stemmer.stem(w) for w in sample}}
tmp = OUT + ".tmp"
with open(tmp, "w") as f:
    json.dump(out, f, indent=0)
os.replace(tmp, OUT)
print("wrote", os.path.normpath(OUT), len(sample), "words")
