"""The WordNet demo dataset and the GloVe mean embedder.

The fast tests run on a hand-written WordNet in the real wndb format (byte offsets and all), so
parsing, closure and naming are checked against answers worked out by hand; one slow test
builds the real dataset from the Debian `wordnet-base` files.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from sealsearch.data.dataset import Dataset
from sealsearch.datasets.wordnet import (
    DEFAULT_WORDNET_DIR,
    assign_splits,
    build_wordnet_dataset,
    concept_table,
    hyponym_closure,
    parse_noun_synsets,
)
from sealsearch.embedders.glove import _glove, embed_texts, embed_texts_with_fallback
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError

HEADER = [
    "  1 This software and database is being provided to you, the LICENSEE, by  ",
    "  2 Princeton University under the following license.  ",
    "  3   ",
]

# key: (lemmas, [(pointer symbol, target key)], gloss). "dog" has three senses and the second
# one is named after its first lemma, "frump"; puppy and kitten have two parents; einstein and
# newton are instance hyponyms.
SYNSETS: dict[str, tuple[list[str], list[tuple[str, str]], str]] = {
    "entity": (["entity"], [("~", "animal"), ("~", "person"), ("~", "dog3")], "that which exists"),
    "animal": (
        ["animal", "animate_being"],
        [("@", "entity"), ("~", "dog1"), ("~", "cat"), ("~", "young")],
        "a living organism that can move",
    ),
    "dog1": (
        ["dog", "domestic_dog"],
        [("@", "animal"), ("~", "puppy"), ("~", "hound")],
        'a member of the genus Canis; "the dog barked all night"',
    ),
    "puppy": (["puppy"], [("@", "dog1"), ("@", "young")], "a young dog"),
    "hound": (["hound", "hound_dog"], [("@", "dog1"), ("~", "beagle")], "any of several breeds of dog"),
    "beagle": (["beagle"], [("@", "hound")], "a small hound with a smooth coat"),
    "cat": (["cat"], [("@", "animal"), ("~", "kitten")], "feline mammal usually having thick soft fur"),
    "kitten": (["kitten", "kitty"], [("@", "cat"), ("@", "young")], "young domestic cat"),
    "young": (["young_mammal"], [("@", "animal"), ("~", "puppy"), ("~", "kitten")], "any immature mammal"),
    "person": (["person", "individual"], [("@", "entity"), ("~", "scientist"), ("~", "dog2")], "a human being"),
    "scientist": (
        ["scientist"],
        [("@", "person"), ("~i", "einstein"), ("~i", "newton")],
        "a person with advanced knowledge of science",
    ),
    "einstein": (["Einstein", "Albert_Einstein"], [("@i", "scientist")], "physicist born in Germany"),
    "newton": (["Newton", "Isaac_Newton"], [("@i", "scientist")], "English mathematician and physicist"),
    "dog2": (["frump", "dog"], [("@", "person")], "a dull unattractive unpleasant girl or woman"),
    "dog3": (["dog", "hotdog", "red_hot"], [("@", "entity")], "a smooth-textured sausage"),
}
SENSES = {"dog": ["dog1", "dog2", "dog3"]}  # lemma -> synsets in sense order
NAMES = {
    "entity": "entity.n.01",
    "animal": "animal.n.01",
    "dog1": "dog.n.01",
    "puppy": "puppy.n.01",
    "hound": "hound.n.01",
    "beagle": "beagle.n.01",
    "cat": "cat.n.01",
    "kitten": "kitten.n.01",
    "young": "young_mammal.n.01",
    "person": "person.n.01",
    "scientist": "scientist.n.01",
    "einstein": "einstein.n.01",
    "newton": "newton.n.01",
    "dog2": "frump.n.01",
    "dog3": "dog.n.03",
}
# Subtree members (the synset itself included), worked out by hand from SYNSETS.
MEMBERS = {
    "entity": set(SYNSETS),
    "animal": {"animal", "dog1", "puppy", "hound", "beagle", "cat", "kitten", "young"},
    "dog1": {"dog1", "puppy", "hound", "beagle"},
    "hound": {"hound", "beagle"},
    "cat": {"cat", "kitten"},
    "young": {"young", "puppy", "kitten"},
    "person": {"person", "scientist", "einstein", "newton", "dog2"},
    "scientist": {"scientist", "einstein", "newton"},
}
INSTANCES = {"einstein", "newton"}


def _data_line(key: str, offsets: dict[str, int]) -> str:
    lemmas, pointers, gloss = SYNSETS[key]
    words = " ".join(f"{lemma} 0" for lemma in lemmas)
    ptrs = "".join(f" {symbol} {offsets[target]:08d} n 0000" for symbol, target in pointers)
    return f"{offsets[key]:08d} 03 n {len(lemmas):02x} {words} {len(pointers):03d}{ptrs} | {gloss}  \n"


def write_wordnet(directory: Path) -> Path:
    """data.noun with true byte offsets (line lengths do not depend on the zero-filled offsets)
    and an index.noun for every lemma, like the real database."""
    directory.mkdir(parents=True, exist_ok=True)
    header = "".join(line + "\n" for line in HEADER)
    placeholder = dict.fromkeys(SYNSETS, 0)
    offsets, position = {}, len(header.encode())
    for key in SYNSETS:
        offsets[key] = position
        position += len(_data_line(key, placeholder).encode())
    (directory / "data.noun").write_text(header + "".join(_data_line(key, offsets) for key in SYNSETS))

    senses = {lemma.lower(): [key] for key, (lemmas, _, _) in SYNSETS.items() for lemma in lemmas}
    senses.update(SENSES)
    index = [
        f"{lemma} n {len(keys)} 1 @ {len(keys)} 0 {' '.join(f'{offsets[k]:08d}' for k in keys)}  \n"
        for lemma, keys in sorted(senses.items())
    ]
    (directory / "index.noun").write_text(header + "".join(index))
    return directory


@pytest.fixture
def wordnet_dir(tmp_path: Path) -> Path:
    return write_wordnet(tmp_path / "wordnet")


def _rows(synsets, keys) -> set[int]:
    return {synsets.names.index(NAMES[k]) for k in keys}


def test_parse_reads_offsets_names_lemmas_and_hyponym_edges(wordnet_dir: Path) -> None:
    synsets = parse_noun_synsets(wordnet_dir)
    assert len(synsets) == len(SYNSETS)
    assert synsets.names == [NAMES[key] for key in SYNSETS]
    text = (wordnet_dir / "data.noun").read_bytes()
    for offset, lemmas in zip(synsets.offsets, synsets.lemmas, strict=True):
        assert text[offset:].split(b" ")[4].decode() == lemmas[0]  # offsets are byte positions
    assert synsets.lemmas[synsets.names.index("einstein.n.01")] == ("Einstein", "Albert_Einstein")
    edges = {
        (synsets.names[p], synsets.names[c], bool(i))
        for p, c, i in zip(synsets.edge_parent, synsets.edge_child, synsets.edge_instance, strict=True)
    }
    expected = {
        (NAMES[key], NAMES[target], symbol == "~i")
        for key, (_, pointers, _) in SYNSETS.items()
        for symbol, target in pointers
        if symbol in ("~", "~i")
    }
    assert edges == expected


def test_text_joins_lemmas_with_spaces_then_gloss(wordnet_dir: Path) -> None:
    synsets = parse_noun_synsets(wordnet_dir)
    texts = dict(zip(synsets.names, synsets.texts(), strict=True))
    assert texts["hound.n.01"] == "hound, hound dog: any of several breeds of dog"
    assert texts["dog.n.03"] == "dog, hotdog, red hot: a smooth-textured sausage"
    assert texts["dog.n.01"] == 'dog, domestic dog: a member of the genus Canis; "the dog barked all night"'


@pytest.mark.parametrize("instances", [True, False])
def test_closure_is_transitive_and_counts_shared_descendants_once(wordnet_dir: Path, instances: bool) -> None:
    synsets = parse_noun_synsets(wordnet_dir)
    ancestor, member = hyponym_closure(synsets, instances=instances)
    pairs = set(zip(ancestor.tolist(), member.tolist(), strict=True))
    assert len(pairs) == len(ancestor)
    for key in SYNSETS:
        expected = MEMBERS.get(key, {key})
        if not instances and key not in INSTANCES:
            expected = expected - INSTANCES
        got = {m for a, m in pairs if a == synsets.names.index(NAMES[key])}
        assert got == _rows(synsets, expected), key


def test_concepts_keep_only_subtrees_within_the_size_range(wordnet_dir: Path) -> None:
    synsets = parse_noun_synsets(wordnet_dir)
    table = concept_table(synsets, min_members=3, max_members=5)
    sizes = table.groupby("concept").size().to_dict()
    assert sizes == {"dog.n.01": 4, "young_mammal.n.01": 3, "person.n.01": 5, "scientist.n.01": 3}
    assert set(table.loc[table.concept == "young_mammal.n.01", "row"]) == _rows(synsets, MEMBERS["young"])
    without = concept_table(synsets, min_members=3, max_members=5, instances=False)
    assert set(without.concept) == {"dog.n.01", "young_mammal.n.01", "person.n.01"}
    with pytest.raises(InvalidParameterError, match="min_members"):
        concept_table(synsets, min_members=6, max_members=5)


def test_splits_hold_out_the_fraction_deterministically() -> None:
    split = assign_splits(1000, test_fraction=0.2, seed=0)
    assert (split == "test").sum() == 200
    assert set(split) == {"pool", "test"}
    assert np.array_equal(split, assign_splits(1000, test_fraction=0.2, seed=0))
    assert not np.array_equal(split, assign_splits(1000, test_fraction=0.2, seed=1))
    with pytest.raises(InvalidParameterError, match="test_fraction"):
        assign_splits(10, test_fraction=1.0, seed=0)


def test_build_writes_a_dataset_that_opens(wordnet_dir: Path, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    built = build_wordnet_dataset(
        tmp_path / "ds",
        wordnet_dir=wordnet_dir,
        min_members=3,
        max_members=5,
        progress=lambda done, total: calls.append((done, total)),
    )
    dataset = Dataset.open(built.path)
    assert dataset.info.name == "wordnet-glove50" and dataset.info.embedder == "glove-6B-50d-mean"
    assert (dataset.info.n, dataset.info.dim) == (len(SYNSETS), 50)
    items = dataset.items
    assert items["id"].tolist() == [NAMES[key] for key in SYNSETS]
    offsets = parse_noun_synsets(wordnet_dir).offsets
    assert items["uri"].tolist() == [f"wordnet:n:{offset:08d}" for offset in offsets]
    assert items.loc[items.id == "beagle.n.01", "text"].item() == "beagle: a small hound with a smooth coat"
    assert (items["split"] == "test").sum() == round(0.2 * len(SYNSETS))
    assert dataset.concept_names() == ["dog.n.01", "person.n.01", "scientist.n.01", "young_mammal.n.01"]
    assert calls[-1] == (len(SYNSETS), len(SYNSETS))
    norms = np.linalg.norm(dataset.embeddings.take(np.arange(dataset.info.n)), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    expected = embed_texts(items["text"].tolist())
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(dataset.embeddings.take(np.arange(dataset.info.n)), expected, atol=1e-6)


def test_build_is_deterministic(wordnet_dir: Path, tmp_path: Path) -> None:
    kwargs = {"wordnet_dir": wordnet_dir, "min_members": 3, "max_members": 5}
    first = build_wordnet_dataset(tmp_path / "a", **kwargs).items
    second = build_wordnet_dataset(tmp_path / "b", **kwargs).items
    assert first.equals(second)


@pytest.mark.parametrize("missing", ["data.noun", "index.noun"])
def test_missing_wordnet_files_say_how_to_install(wordnet_dir: Path, tmp_path: Path, missing: str) -> None:
    (wordnet_dir / missing).unlink()
    with pytest.raises(MissingFileError, match="apt-get install wordnet-base") as info:
        build_wordnet_dataset(tmp_path / "ds", wordnet_dir=wordnet_dir)
    assert missing in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "ds").exists()


def test_malformed_data_line_names_file_and_line(wordnet_dir: Path) -> None:
    data = wordnet_dir / "data.noun"
    data.write_text(data.read_text() + "00099999 03 n zz broken | gloss\n")
    with pytest.raises(InvalidDataError, match=r"data\.noun:19: not a data\.noun synset line"):
        parse_noun_synsets(wordnet_dir)


def test_glove_mean_of_known_words() -> None:
    vocab, vectors = _glove()
    got = embed_texts(["Dog, cat", "the U.S. dog's well-known", "dog"])
    assert got.shape == (3, 50) and got.dtype == np.float32
    np.testing.assert_allclose(got[0], (vectors[vocab["dog"]] + vectors[vocab["cat"]]) / 2, rtol=1e-6)
    known = ["the", "u.s.", "dog", "'s", "well-known"]  # GloVe's own tokens; punctuation is left out
    np.testing.assert_allclose(got[1], vectors[[vocab[t] for t in known]].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(got[2], vectors[vocab["dog"]], rtol=1e-6)


def test_glove_drops_unknown_words_and_falls_back_to_characters() -> None:
    vocab, vectors = _glove()
    assert "qzxqv" not in vocab and "zzqxj" not in vocab
    got, fallback = embed_texts_with_fallback(["dog qzxqv", "qzxqv zzqxj", "cat"])
    np.testing.assert_allclose(got[0], vectors[vocab["dog"]], rtol=1e-6)
    np.testing.assert_array_equal(fallback, [1])
    chars = [vocab[c] for c in "qzxqvzzqxj"]
    np.testing.assert_allclose(got[1], vectors[chars].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(got[2], vectors[vocab["cat"]], rtol=1e-6)
    with pytest.raises(InvalidDataError, match=r"text #1"):
        embed_texts(["dog", "   "])


@pytest.mark.slow
def test_real_wordnet_dataset(tmp_path: Path) -> None:
    assert (DEFAULT_WORDNET_DIR / "data.noun").is_file(), (
        f"{DEFAULT_WORDNET_DIR} has no WordNet: run `apt-get install wordnet-base` (the Makefile does)"
    )
    start = time.perf_counter()
    dataset = build_wordnet_dataset(tmp_path / "wordnet")
    seconds = time.perf_counter() - start
    assert dataset.info.n == 82_115
    items = dataset.items
    assert items["id"].is_unique
    assert {"dog.n.01", "abstraction.n.06", "einstein.n.01"} <= set(items["id"])
    assert abs((items["split"] == "test").mean() - 0.2) < 1e-3
    names = dataset.concept_names()
    assert 1_000 <= len(names) <= 1_250
    sizes = np.array([len(dataset.concept_rows(name)) for name in names])
    assert sizes.min() >= 40 and sizes.max() <= 1000
    assert len(dataset.concept_rows("dog.n.01")) == 190
    assert seconds < 60, f"building the WordNet dataset took {seconds:.0f} s"
