"""Writes tests/fixtures/metrics/pycoco_reference.json: BLEU-1..4, CIDEr-D and ROUGE-L of
several caption sets, computed by pycocoevalcap's own pure-Python scorers.

pycocoevalcap is not part of this repository: fetch salaniz/pycocoevalcap somewhere outside it
and point PYCOCOEVALCAP_DIR at the folder holding its bleu/, cider/ and rouge/ packages:

    PYCOCOEVALCAP_DIR=/tmp/pycoco python3 bench/refs/make_caption_refs.py

Needs numpy (Debian: apt-get install -y python3-numpy).
"""

import json
import os
import random
import sys

sys.path.insert(0, os.environ.get("PYCOCOEVALCAP_DIR", "/tmp/pycoco"))
from bleu.bleu import Bleu  # noqa: E402
from cider.cider import Cider  # noqa: E402
from rouge.rouge import Rouge  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "metrics",
                   "pycoco_reference.json")

# Hand-written CommonGen / COCO-like items: single and multiple references, repeated words,
# very short and very long candidates, no overlap, identical candidate and reference.
CAPTIONS = [
    ("a dog runs across the field", ["a dog is running through a grassy field", "the dog runs in the field"]),
    ("the cat sat on the mat", ["the cat sat on the mat"]),
    ("a man throws a frisbee to his dog in the park",
     ["a man is throwing a frisbee to a dog", "man throws frisbee for dog in a park", "a dog catches a frisbee thrown by a man"]),
    ("dog", ["a dog sleeps on the couch", "the dog is sleeping"]),
    ("the the the the the the", ["the cat is on the table"]),
    ("purple elephants dance quietly", ["a boy kicks a ball", "two children play soccer"]),
    ("a woman is cutting vegetables in the kitchen",
     ["a woman cuts vegetables in a kitchen", "a lady chopping vegetables on a cutting board",
      "woman in kitchen cutting up vegetables", "a person slicing carrots in the kitchen"]),
    ("a group of people standing around a table with food on it and talking to each other while a child plays nearby on the floor with some toys",
     ["people gather around a table with food", "a family eating dinner together"]),
    ("two", ["two dogs", "two cats playing"]),
    ("a train on the tracks", ["a train on the tracks", "a train pulling into the station"]),
    ("a skier skis down the snowy mountain slope", ["a skier skiing down a mountain", "person skiing down a snowy slope"]),
    ("he plays guitar on stage", ["a musician plays the guitar on a stage", "a man performing with a guitar"]),
    ("a bird a bird a bird", ["a bird on a branch", "a small bird sits on a tree branch"]),
    ("children playing in the water at the beach", ["kids play in the ocean waves", "children splash in the water at a beach"]),
    ("a red car parked on the street", ["a red car is parked on the side of the street", "a red vehicle parked by the curb"]),
    ("the chef cooks pasta in a pot", ["a chef boils pasta in a large pot"]),
    ("an airplane flying in the blue sky", ["an airplane flies through a clear blue sky", "a plane in the sky", "a jet flying high"]),
    ("a horse", ["a horse grazing in a field"]),
    ("a boy reads a book under a tree", ["a boy reading a book under a tree", "a child sits under a tree reading"]),
    ("the team celebrates the win", ["the players celebrate their victory", "a team celebrating after winning the game"]),
    ("a pizza with cheese and tomato", ["a pizza topped with cheese and tomatoes", "a cheese pizza on a plate"]),
    ("a man rides a bike down the road", ["a man riding a bicycle on a road", "a cyclist rides down the street"]),
    ("a cat sleeping on a laptop keyboard", ["a cat lying on a laptop", "a cat is asleep on the keyboard of a laptop"]),
    ("students listen to the teacher in class", ["a teacher talks to students in a classroom", "students listening to a lecture"]),
    ("a bowl of fruit on the table", ["a bowl of fruit sitting on a table", "apples and bananas in a bowl", "fruit in a bowl on a wooden table"]),
    ("a a a a", ["a a", "a a a a a a a a"]),
]

VOCAB = ["a", "the", "dog", "cat", "runs", "on", "mat", "field", "man", "ball", "red", "big", "sits", "in", "park", "is"]


def random_set(seed, items):
    rng = random.Random(seed)
    out = []
    for _ in range(items):
        def sentence(lo, hi):
            return " ".join(rng.choice(VOCAB[: rng.randint(4, len(VOCAB))]) for _ in range(rng.randint(lo, hi)))
        cand = sentence(1, 22)
        refs = [sentence(1, 16) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.15:
            refs[0] = cand  # an exact copy among the references
        out.append((cand, refs))
    return out


def score(items):
    gts = {i: refs for i, (_, refs) in enumerate(items)}
    res = {i: [cand] for i, (cand, _) in enumerate(items)}
    bleu_corpus, bleu_items = Bleu(4).compute_score(gts, res, verbose=0)
    cider_corpus, cider_items = Cider().compute_score(gts, res)
    rouge_corpus, rouge_items = Rouge().compute_score(gts, res)
    return {
        "candidates": [c for c, _ in items],
        "references": [r for _, r in items],
        "bleu": {
            "corpus": [float(x) for x in bleu_corpus],
            "perItem": [[float(bleu_items[k][i]) for k in range(4)] for i in range(len(items))],
        },
        "ciderD": {"corpus": float(cider_corpus), "perItem": [float(x) for x in cider_items]},
        "rougeL": {"corpus": float(rouge_corpus), "perItem": [float(x) for x in rouge_items]},
    }


def main():
    sets = {
        "captions": CAPTIONS,
        "pair": CAPTIONS[:2],
        "single_item": [CAPTIONS[2]],
        # an empty candidate and a reference-length tie (lengths 2 and 4 around a 3-word candidate)
        "edge": [("", ["a dog runs"]), ("the dog barks", ["the dog", "the dog barks loudly"]),
                 ("a cat", ["a cat", "a black cat"]), ("x y z", ["p q r s t"])],
        # whitespace as the scorers split it: BLEU/CIDEr on any run (str.split()), ROUGE-L on " "
        "whitespace": [(" a dog  runs ", ["a dog runs", "a\tdog runs fast"]), ("a cat\tsits", ["a cat sits "]),
                       ("the mat", ["", "the  mat"]), ("a dog runs", ["a dog runs"])],
        "random_small_vocab": random_set(20261126, 30),
        "random_longer": random_set(7, 24),
    }
    out = {
        "generated_by": "bench/refs/make_caption_refs.py with pycocoevalcap (salaniz/pycocoevalcap) "
                        "Bleu(4).compute_score (option 'closest'), Cider().compute_score, Rouge().compute_score",
        "sets": {name: score(items) for name, items in sets.items()},
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, OUT)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
