"""The embedded demo dataset: WordNet 3.0 noun synsets as items, hyponym subtrees as concepts.

It is real data with a real ground truth, needs no download (Debian's `wordnet-base` package,
about 30 MB) and builds in seconds, which makes it the dataset every tutorial, test and
benchmark can count on. The database files are parsed directly rather than through nltk so
that the package does not pull in nltk and its separate corpus download.

A concept is a synset together with everything below it in the hyponym hierarchy; keeping
only subtrees of 40 to 1,000 synsets (about 0.05–1.2 % of the items) gives roughly a thousand
rare concepts of the size the SEALS paper targets.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._util import Progress
from sealsearch.data.dataset import Dataset
from sealsearch.data.writer import DatasetWriter
from sealsearch.datasets.embedding import check_executor, checkpoint_dir, embed_into
from sealsearch.embedders import glove, minilm, resolve_embedder
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError

DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")
DATASET_NAME = "wordnet-glove50"
EMBEDDERS = {"glove": ("wordnet-glove50", glove.EMBEDDER_NAME), "minilm": ("wordnet-minilm", minilm.EMBEDDER_NAME)}
"""`--embedder` choices: (dataset name, embedder recorded in dataset.json)."""
HYPONYM = "~"
INSTANCE_HYPONYM = "~i"


@dataclass(frozen=True)
class NounSynsets:
    """All noun synsets in data.noun order, with the hyponym graph as parallel edge arrays.

    Edges are row indices (not byte offsets) so closure and filtering run as numpy joins.
    """

    offsets: np.ndarray  # int64, byte offset of each synset in data.noun (its WordNet id)
    names: list[str]  # nltk-style "dog.n.01"
    lemmas: list[tuple[str, ...]]  # as written in data.noun, underscores kept
    glosses: list[str]
    edge_parent: np.ndarray  # int64 rows
    edge_child: np.ndarray  # int64 rows
    edge_instance: np.ndarray  # bool, True for instance hyponyms ("~i")

    def __len__(self) -> int:
        return len(self.offsets)

    def texts(self) -> list[str]:
        """ "lemma, other lemma: gloss", the text the embedder sees for each synset."""
        return [
            f"{', '.join(lemma.replace('_', ' ') for lemma in lemmas)}: {gloss}"
            for lemmas, gloss in zip(self.lemmas, self.glosses, strict=True)
        ]


def _require(path: Path) -> Path:
    if not path.is_file():
        raise MissingFileError(
            f"{path}: WordNet file not found; run `apt-get install wordnet-base` "
            "or pass the directory that holds data.noun and index.noun"
        )
    return path


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of every entry, skipping the license header (lines starting '  ')."""
    with path.open(encoding="utf-8") as handle:
        return [(number, line.rstrip("\n")) for number, line in enumerate(handle, 1) if not line.startswith("  ")]


def _sense_numbers(index_path: Path) -> dict[tuple[str, int], int]:
    """(lowercase lemma, synset offset) -> 1-based sense number, from index.noun's sense order."""
    senses: dict[tuple[str, int], int] = {}
    for number, line in _data_lines(index_path):
        fields = line.split()
        try:
            synset_cnt = int(fields[2])
            offsets = [int(field) for field in fields[-synset_cnt:]]
        except (IndexError, ValueError):
            raise InvalidDataError(
                f"{index_path}:{number}: not an index.noun entry (lemma pos synset_cnt ... offsets); "
                "reinstall wordnet-base"
            ) from None
        for sense, offset in enumerate(offsets, 1):
            senses[(fields[0], offset)] = sense
    return senses


# 67 lines: one pass over data.noun and two checks, each reading the lists the one before built.
def parse_noun_synsets(wordnet_dir: Path = DEFAULT_WORDNET_DIR) -> NounSynsets:
    """Read data.noun and index.noun (WordNet's wndb format) into a `NounSynsets`."""
    wordnet_dir = Path(wordnet_dir)
    data_path = _require(wordnet_dir / "data.noun")
    senses = _sense_numbers(_require(wordnet_dir / "index.noun"))

    offsets: list[int] = []
    lemmas: list[tuple[str, ...]] = []
    glosses: list[str] = []
    hyponyms: list[tuple[int, int, bool]] = []  # (parent offset, child offset, instance)
    for number, line in _data_lines(data_path):
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        try:
            offset = int(fields[0])
            word_count = int(fields[3], 16)
            words = tuple(fields[4 : 4 + 2 * word_count : 2])
            pointer_at = 4 + 2 * word_count
            pointers = fields[pointer_at + 1 : pointer_at + 1 + 4 * int(fields[pointer_at])]
            if len(words) != word_count or len(pointers) % 4:
                raise ValueError
            hyponyms.extend(
                (offset, int(target), symbol == INSTANCE_HYPONYM)
                for symbol, target, pos in zip(pointers[0::4], pointers[1::4], pointers[2::4], strict=True)
                if pos == "n" and symbol in (HYPONYM, INSTANCE_HYPONYM)
            )
        except (IndexError, ValueError):
            raise InvalidDataError(
                f"{data_path}:{number}: not a data.noun synset line (offset lex_filenum ss_type w_cnt "
                "words p_cnt pointers | gloss); reinstall wordnet-base"
            ) from None
        offsets.append(offset)
        lemmas.append(words)
        glosses.append(gloss.strip())

    if not offsets:
        raise InvalidDataError(f"{data_path}: contains no synsets; reinstall wordnet-base")
    offset_array = np.asarray(offsets, dtype=np.int64)
    rows = _edge_rows(offset_array, hyponyms, data_path)
    return NounSynsets(
        offsets=offset_array,
        names=_synset_names(offsets, lemmas, senses, wordnet_dir / "index.noun"),
        lemmas=lemmas,
        glosses=glosses,
        edge_parent=rows[:, 0],
        edge_child=rows[:, 1],
        edge_instance=np.fromiter((instance for _, _, instance in hyponyms), dtype=bool, count=len(hyponyms)),
    )


def _synset_names(
    offsets: list[int], lemmas: list[tuple[str, ...]], senses: dict[tuple[str, int], int], index_path: Path
) -> list[str]:
    """NLTK-style names (`dog.n.01`): the first lemma and its sense number in index.noun."""
    names = []
    for offset, words in zip(offsets, lemmas, strict=True):
        first = words[0].lower()
        if (first, offset) not in senses:
            raise InvalidDataError(
                f"{index_path}: no sense of {first!r} points at synset {offset:08d}; "
                "data.noun and index.noun come from different WordNet versions"
            )
        names.append(f"{first}.n.{senses[(first, offset)]:02d}")
    return names


def _edge_rows(offsets: np.ndarray, hyponyms: list[tuple[int, int, bool]], data_path: Path) -> np.ndarray:
    """The (parent row, child row) of every hyponym pointer, found by a vectorised offset lookup."""
    order = np.argsort(offsets, kind="stable")
    edges = np.asarray([(parent, child) for parent, child, _ in hyponyms], dtype=np.int64).reshape(-1, 2)
    positions = np.searchsorted(offsets, edges, sorter=order)
    rows = order[np.minimum(positions, len(order) - 1)]
    if not np.array_equal(offsets[rows], edges):
        bad = edges[offsets[rows] != edges][0]
        raise InvalidDataError(
            f"{data_path}: a hyponym pointer targets offset {bad:08d}, which is no synset in the file; "
            "reinstall wordnet-base"
        )
    return rows


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting: numpy 2.x's hash-based unique took ~10 s instead of ~0.3 s for the closure."""
    values = np.sort(values)
    first = np.ones(len(values), dtype=bool)
    first[1:] = values[1:] != values[:-1]
    return values[first]


def hyponym_closure(synsets: NounSynsets, *, instances: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every (synset, member) pair where member is the synset itself or one of its hyponyms,
    transitively, sorted by synset then member.

    Computed as repeated numpy joins of the frontier with the edge list (one join per level
    of depth), because nouns have multiple parents and a per-node recursion would revisit
    shared subtrees. `instances=False` ignores instance hyponyms ("~i": Einstein under
    physicist), which are individuals rather than kinds.
    """
    n = len(synsets)
    keep = np.ones(len(synsets.edge_parent), dtype=bool) if instances else ~synsets.edge_instance
    parent, child = synsets.edge_parent[keep], synsets.edge_child[keep]
    by_parent = np.argsort(parent, kind="stable")
    parent, child = parent[by_parent], child[by_parent]
    first_child = np.searchsorted(parent, np.arange(n + 1))

    keys = np.arange(n, dtype=np.int64) * n + np.arange(n)  # key = ancestor * n + member
    frontier_anc, frontier_mem = np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)
    while frontier_anc.size:
        fanout = first_child[frontier_mem + 1] - first_child[frontier_mem]
        anc = np.repeat(frontier_anc, fanout)
        starts = np.repeat(first_child[frontier_mem], fanout)
        within = np.arange(len(anc)) - np.repeat(np.cumsum(fanout) - fanout, fanout)
        new_keys = _sorted_unique(anc * n + child[starts + within])
        seen = np.searchsorted(keys, new_keys)
        new_keys = new_keys[keys[np.minimum(seen, len(keys) - 1)] != new_keys]
        # A stable sort of two sorted runs is a linear merge (timsort), not a full re-sort.
        keys = np.sort(np.concatenate([keys, new_keys]), kind="stable")
        frontier_anc, frontier_mem = np.divmod(new_keys, n)
    return np.divmod(keys, n)


def concept_table(synsets: NounSynsets, *, min_members: int, max_members: int, instances: bool = True) -> pd.DataFrame:
    """Long (row, concept) table of the subtrees whose size lies in [min_members, max_members]."""
    if not 1 <= min_members <= max_members:
        raise InvalidParameterError(f"need 1 <= min_members <= max_members, got {min_members} and {max_members}")
    ancestor, member = hyponym_closure(synsets, instances=instances)
    sizes = np.bincount(ancestor, minlength=len(synsets))
    selected = (sizes[ancestor] >= min_members) & (sizes[ancestor] <= max_members)
    names = np.asarray(synsets.names, dtype=object)
    return pd.DataFrame({"row": member[selected], "concept": names[ancestor[selected]]})


def assign_splits(n: int, *, test_fraction: float, seed: int) -> np.ndarray:
    """ "pool"/"test" per row: a seeded random `test_fraction` of rows is held out for scoring."""
    if not 0 < test_fraction < 1:
        raise InvalidParameterError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    split = np.full(n, "pool", dtype=object)
    split[np.random.default_rng(seed).permutation(n)[: round(n * test_fraction)]] = "test"
    return split


def build_wordnet_dataset(
    out: Path,
    *,
    wordnet_dir: Path = DEFAULT_WORDNET_DIR,
    embedder: str = "glove",
    min_members: int = 40,
    max_members: int = 1000,
    test_fraction: float = 0.2,
    seed: int = 0,
    instances: bool = True,
    progress: Progress | None = None,
    embed_progress: Progress | None = None,
    executor: str = "local",
    address: str | None = None,
) -> Dataset:
    """Parse WordNet, embed every synset (mean GloVe in seconds, or MiniLM in minutes) and write
    the dataset directory.

    Texts are embedded in checkpointed chunks (sealsearch.datasets.embedding), so an interrupted
    build resumes where it stopped; with `executor="ray"` the chunks are Ray Data batches (a
    local Ray, or the cluster at `address`). Rows are written as their chunks land;
    `embed_progress` and `progress` both count them.
    """
    if embedder not in EMBEDDERS:
        raise InvalidParameterError(f"unknown embedder {embedder!r}: choose one of {', '.join(EMBEDDERS)}")
    check_executor(executor, address)
    out = Path(out)
    if out.exists():
        raise InvalidParameterError(f"{out} already exists; choose a new directory or remove it")
    synsets = parse_noun_synsets(wordnet_dir)
    concepts = concept_table(synsets, min_members=min_members, max_members=max_members, instances=instances)
    split = assign_splits(len(synsets), test_fraction=test_fraction, seed=seed)
    texts = synsets.texts()
    items = pd.DataFrame(
        {
            "id": synsets.names,
            "text": texts,
            "uri": [f"wordnet:n:{offset:08d}" for offset in synsets.offsets],
            "split": split,
        }
    )
    dataset_name, embedder_name = EMBEDDERS[embedder]

    def count(done: int, total: int) -> None:
        for bar in (embed_progress, progress):
            if bar:
                bar(done, total)

    checkpoints = checkpoint_dir(out)
    with DatasetWriter(
        out, len(texts), resolve_embedder(embedder_name).dim(None), name=dataset_name, embedder=embedder_name,
        items=items, concepts=concepts, source_label="WordNet synsets",
    ) as writer:  # fmt: skip
        embed_into(
            writer, texts, embedder_name, checkpoints, executor=executor, address=address, label="WordNet synsets",
            progress=count,
        )  # fmt: skip
        dataset = writer.finish()
    shutil.rmtree(checkpoints, ignore_errors=True)
    return dataset
