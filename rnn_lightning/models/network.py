"""The study's network as a plain ``nn.Module``: Embedding, stacked recurrent layers, a classification head."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable, Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnn_lightning.data.spec import is_binary
from rnn_lightning.data.text import INDEX_FROM, PAD_ID
from rnn_lightning.models.recurrences import fast_stack, supports_fast_path
from rnn_lightning.settings import ModelSettings

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class TextRNN(nn.Module):
    """Embedding(num_words, embed_dim) -> ``num_layers`` stacked recurrent layers -> Linear(hidden_size, outputs).

    Two classes get the study's single logit (a sigmoid head); more get one logit per class (a softmax head).

    The last layer's state at the final time step feeds the head, like Keras's last ``SimpleRNN`` without
    ``return_sequences``. The study pads in front, so the final step is always the review's last word.

    ``settings.single_bias`` holds the recurrent bias ``bias_hh`` at zero and frozen, so a layer has Keras's one
    bias vector (and its parameter count) for ``rnn`` and ``lstm``; Keras's GRU has two biases
    (``reset_after=True``), so it keeps both. ``settings.mask_padding`` skips the padding as Keras's
    ``Embedding(mask_zero=True)`` does: padding may stand anywhere in a row (in front, as the study pads, or
    after the words, as the distance task places it), and batches are trimmed to their longest text.
    ``settings.fast_path`` runs :func:`fast_stack` on CPU (same function, same parameters, several times faster
    than torch's modules there): always for ``rnn``, for ``lstm`` and ``gru`` when the compiled recurrence can be
    had; on GPU cuDNN runs.

    Args:
        settings: The network's settings (:class:`~rnn_lightning.settings.ModelSettings`).
        num_words: Vocabulary size: the data's, from its :class:`~rnn_lightning.data.spec.TextSpec`.
        num_classes: Classes to tell apart: 2 (one logit, the study's) or more (one logit each).
    """

    def __init__(self, settings: ModelSettings | None = None, num_words: int = 10_000, num_classes: int = 2) -> None:
        super().__init__()
        settings = settings or ModelSettings()
        if num_words < 1:
            raise ValueError(f"num_words must be at least 1, got {num_words}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if settings.ngram_buckets == 1:
            raise ValueError("ngram_buckets must be 0 (no n-gram branch) or at least 2 (bucket 0 is padding's)")
        self.settings = settings
        self.cell = settings.cell
        self.single_bias = settings.single_bias and settings.cell != "gru"
        self.mask_padding = settings.mask_padding
        self.fast_cpu_path = settings.fast_path
        self.embedding = nn.Embedding(num_words, settings.embed_dim)
        self.rnn = CELLS[settings.cell](settings.embed_dim, settings.hidden_size, num_layers=settings.num_layers,
                                        batch_first=True, bidirectional=settings.bidirectional)
        self.pooling = settings.pooling
        features = settings.hidden_size * (2 if settings.bidirectional else 1)
        # Built only when asked for: a model without it draws no random numbers for it, as before.
        self.dropout = nn.Dropout(settings.dropout) if settings.dropout else None
        self.head = nn.Linear(features, 1 if is_binary(num_classes) else num_classes)
        # The linear branch: one weight per output for each hashed word or word pair (bucket 0: padding).
        self.ngrams = (nn.Embedding(settings.ngram_buckets, self.head.out_features, padding_idx=0)
                       if settings.ngram_buckets else None)
        # What each n-gram counts for each output (ngram_weighting: nb): a statistic of the training texts, not a
        # parameter; zero until fit_ngram_weights counts them, then saved with the weights.
        self.register_buffer("ngram_scale", torch.zeros(settings.ngram_buckets, self.head.out_features)
                             if settings.ngram_buckets and settings.ngram_weighting == "nb" else None)
        # Each word id's character n-gram buckets (ngram_subwords): computed from the vocabulary when training
        # starts (fit_subwords) rather than here, so that loading a model costs no hashing; saved with the weights.
        self.register_buffer("subword_buckets", torch.zeros(num_words, SUBWORDS_PER_WORD, dtype=torch.int32)
                             if settings.ngram_buckets and settings.ngram_subwords else None)
        # Trained apart, the recurrent part's share of the answer, the branch's the rest: chosen on the validation
        # texts while training (TextClassifier); an even mean until then, and in checkpoints from before it was.
        self.register_buffer("part_weight", torch.tensor(0.5)
                             if settings.ngram_buckets and settings.ngram_training == "apart" else None)
        self.register_load_state_dict_pre_hook(_even_mean_where_no_part_weight)
        self.reset_parameters()
        # The ensemble's other members: recurrent networks alone, each drawing its own initial weights after this
        # one's (so that a model of one member draws exactly what it always drew).
        twin = dataclasses.replace(settings, members=1, ngram_buckets=0)
        self.members = (nn.ModuleList(TextRNN(twin, num_words, num_classes) for _ in range(settings.members - 1))
                        if settings.members > 1 else None)

    def reset_parameters(self) -> None:
        """Keras's initialisers, which suit a plain tanh RNN far better than PyTorch's defaults."""
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        for name, parameter in self.rnn.named_parameters():
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(parameter)  # glorot_uniform over the whole (gates x units) kernel
            elif name.startswith("weight_hh"):
                nn.init.orthogonal_(parameter)
            else:
                nn.init.zeros_(parameter)
            if name.startswith("bias_hh") and self.single_bias:
                parameter.requires_grad_(False)
        if self.cell == "lstm":
            hidden = self.rnn.hidden_size
            for name, parameter in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        parameter[hidden : 2 * hidden].fill_(1.0)  # Keras's unit_forget_bias (gates i, f, g, o)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        if self.ngrams is not None:
            nn.init.zeros_(self.ngrams.weight)  # a linear model's start: it adds nothing until it learns

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Map a ``(batch, time)`` tensor of ids to ``(batch,)`` logits of class 1, or ``(batch, classes)`` logits."""
        return self.combine(*self.parts(ids))

    def parts(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The recurrent part's and the n-gram branch's ``(batch, outputs)`` logits (None: no branch)."""
        ids, mask = self._trimmed(ids)
        return self.part_logits(ids, mask, self.fast_cpu_path and supports_fast_path(self.rnn, self.embedding.weight))

    def _trimmed(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The ids and the mask the recurrences read, for ids with padding anywhere.

        For a network that skips padding, the padding moved in front and the columns that are padding in every row
        dropped; else the ids as they are, and no mask.
        """
        if not self.mask_padding:
            return ids, None
        ids, present = padding_in_front(ids)
        first = int(present.any(0).long().argmax())  # padding is in front: drop the columns that are all padding
        return ids[:, first:], present[:, first:]

    def logits(self, ids: torch.Tensor, mask: torch.Tensor | None, fast: bool) -> torch.Tensor:
        """The model's logits for ids with any padding in front: see :meth:`features` and :meth:`combine`."""
        return self.combine(*self.part_logits(ids, mask, fast))

    def part_logits(self, ids: torch.Tensor, mask: torch.Tensor | None, fast: bool,
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The recurrent part's logits (its members' mean) and the n-gram branch's (None: none), as :meth:`parts`."""
        members, branch = self.member_logits(ids, mask, fast)
        return mean_of_members(members), branch

    def member_parts(self, ids: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Each member's ``(batch, outputs)`` logits (this network's head first) and the branch's, as :meth:`parts`."""
        ids, mask = self._trimmed(ids)
        return self.member_logits(ids, mask, self.fast_cpu_path and supports_fast_path(self.rnn, self.embedding.weight))

    def member_logits(self, ids: torch.Tensor, mask: torch.Tensor | None, fast: bool,
                      ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Each member's head's logits, this network's first, and the n-gram branch's, for ids as :meth:`features`."""
        recurrent, branch = self.parts_of_features(self.features(ids, mask, fast), ids)
        return [recurrent, *(member.part_logits(ids, mask, fast)[0] for member in self.members or ())], branch

    def parts_of_features(self, features: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The head's logits for what it reads (:meth:`features`) and the n-gram branch's for the ids (None: none)."""
        recurrent = self.head(features if self.dropout is None else self.dropout(features))
        return recurrent, None if self.ngrams is None else self.ngram_logits(ids)

    def combine(self, recurrent: torch.Tensor, branch: torch.Tensor | None) -> torch.Tensor:
        """The model's answer from its parts' logits: their sum (trained jointly) or weighted mean (trained apart).

        Returns:
            ``(batch,)`` logits of class 1 for a single-logit head, else ``(batch, classes)``.
        """
        return squeeze_single_logit(mix_parts(recurrent, branch, self.part_weight))

    def ngram_logits(self, ids: torch.Tensor) -> torch.Tensor:
        """The linear branch: a linear model of each row's L2-normalised bag of distinct words and word pairs.

        Padding is left out. Binary (``ngram_weighting: binary``): each distinct n-gram's weight, summed over the
        root of their number, so a rare, telling pair ("7/10") weighs as much as "the", where a mean over every
        occurrence would drown it, and learn it slowly. Naive-Bayes weighted (``nb``): each n-gram's feature is
        its log-count ratio (:meth:`fit_ngram_weights`) and the vector is normalised as a whole, per output.
        """
        buckets = self.distinct_buckets(ids)
        if self.ngram_scale is None:
            distinct = (buckets != 0).sum(1, keepdim=True).clamp(min=1).to(self.ngrams.weight.dtype)
            return self.ngrams(buckets).sum(1) / distinct.sqrt()
        features = nn.functional.embedding(buckets, self.ngram_scale)  # (batch, n-grams, outputs); 0 at padding
        norm = features.square().sum(1).sqrt().clamp(min=torch.finfo(features.dtype).tiny)
        return (features * self.ngrams(buckets)).sum(1) / norm

    def distinct_buckets(self, ids: torch.Tensor) -> torch.Tensor:
        """The n-gram branch's buckets of each row, every bucket once (0 in place of repeats and padding).

        Words and word pairs (:func:`ngram_buckets`), and with ``ngram_subwords`` each word's character n-grams.
        """
        hashed = ngram_buckets(ids, self.ngrams.num_embeddings, self.settings.ngram_hash)
        if self.subword_buckets is not None:
            # Repeats of a word would repeat all its pieces: look up each word once, and (but in the exporter's trace,
            # which must not bake one batch's width into the graph) only as many columns as a row has words.
            words = each_once(ids.long()).sort(dim=1, descending=True).values
            if not torch.jit.is_tracing():
                words = words[:, : max(1, int((words != 0).sum(1).max()))]
            hashed = torch.cat([hashed, self.subword_buckets[words].flatten(1).long()], dim=1)
        return each_once(hashed)

    def fit_subwords(self, words: Sequence[str]) -> None:
        """Fill the table of each word's character n-gram buckets (``ngram_subwords``) from the vocabulary.

        Args:
            words: The vocabulary in rank order, as :class:`~rnn_lightning.data.text.TextEncoder` keeps it:
                ``words[i]`` has id ``i + 1 + INDEX_FROM``. Ids without a word (padding, start, out of
                vocabulary) have no pieces.

        Raises:
            ValueError: If the network has no subword table, or ``words`` has more words than it has ids.
        """
        if self.subword_buckets is None:
            raise ValueError("the network's n-gram branch has no subwords (ngram_subwords: false)")
        first = 1 + INDEX_FROM
        if first + len(words) > self.subword_buckets.shape[0]:
            raise ValueError(f"{len(words)} words do not fit {self.subword_buckets.shape[0]} ids")
        table = torch.zeros_like(self.subword_buckets)
        for row, word in enumerate(words, first):
            pieces = subword_buckets(word, self.ngrams.num_embeddings)
            table[row, : len(pieces)] = torch.tensor(pieces, dtype=table.dtype)
        self.subword_buckets.copy_(table)

    def fit_ngram_weights(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], smoothing: float = 1.0) -> None:
        """Count the training texts' n-grams per class and weigh each n-gram by its naive-Bayes log-count ratio.

        For each output, the ratio of an n-gram's share of the texts of that class (class 1 for the sigmoid head)
        to its share of the others' (Wang & Manning 2012): log((p / |p|) / (q / |q|)), with p and q the number of
        texts of the class and of the rest that hold it, plus ``smoothing``. An n-gram that tells the classes
        apart gets a large feature, one common to both about none; the branch's weights learn on top of that.

        Args:
            batches: ``(ids, labels)`` of the training rows, in as many pieces as wanted: ``(batch, time)`` ids and
                each row's label (0./1. for the sigmoid head, else a class index).
            smoothing: The count added to every n-gram in every class (Laplace's 1, as in NBSVM).

        Raises:
            ValueError: If the network's branch is not naive-Bayes weighted (``ngram_weighting: nb``).
        """
        if self.ngram_scale is None:
            raise ValueError("the network has no naive-Bayes weighted n-gram branch (ngram_weighting: nb)")
        buckets = self.ngrams.num_embeddings
        classes = max(2, self.head.out_features)
        counts = torch.zeros(buckets * classes, dtype=torch.float64)
        for ids, labels in batches:
            distinct = self.distinct_buckets(ids)
            cells = distinct * classes + labels.long().unsqueeze(1)  # (bucket, class) of every n-gram of a row
            counts += torch.bincount(cells[distinct != 0], minlength=buckets * classes)
        counts = counts.view(buckets, classes)
        in_class = counts + smoothing
        elsewhere = counts.sum(1, keepdim=True) - counts + smoothing
        ratios = (in_class / in_class.sum(0)).log() - (elsewhere / elsewhere.sum(0)).log()
        ratios[0] = 0  # padding's bucket counts for nothing
        self.ngram_scale.copy_(ratios[:, 1:] if self.head.out_features == 1 else ratios)

    def features(self, ids: torch.Tensor, mask: torch.Tensor | None, fast: bool) -> torch.Tensor:
        """What the head reads, ``(batch, features)``, for ids with any padding in front.

        Args:
            ids: ``(batch, time)`` ids, the padding (if any) in front of each row's words.
            mask: ``(batch, time)`` bool, True at words, to skip the padding; None to read every step.
            fast: Run :func:`fast_stack` (on CPU, where :func:`supports_fast_path`); else torch's module.
        """
        one_way_last = self.pooling == "last" and not self.rnn.bidirectional
        if fast:
            # Embedding the transposed ids yields time-major inputs directly, with no copy either way.
            outputs = fast_stack(self.rnn, self.embedding(ids.t()), None if mask is None else mask.t(),
                                 last_only=one_way_last)
            if one_way_last:
                return outputs
            outputs = outputs.transpose(0, 1)
        elif mask is not None:
            if one_way_last:
                return self._last_state_packed(self.embedding(ids), mask)
            outputs = self._outputs_packed(self.embedding(ids), mask)
        else:
            outputs = self.rnn(self.embedding(ids))[0]
            if one_way_last:
                return outputs[:, -1]
        return pool_over_time(outputs, mask, self.pooling, self.rnn.hidden_size if self.rnn.bidirectional else None)

    def _outputs_packed(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Every step's top-layer output, the padding skipped (zeros there), aligned as the input (padding in front)."""
        steps = embedded.shape[1]
        lengths = mask.sum(1).clamp(min=1)
        offset = (steps - lengths).unsqueeze(1)
        source = (torch.arange(steps, device=embedded.device) + offset) % steps  # words to the start of the row
        aligned = embedded.gather(1, source.unsqueeze(-1).expand_as(embedded))
        packed = pack_padded_sequence(aligned, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=steps)[0]
        back = (torch.arange(steps, device=embedded.device) - offset) % steps  # and back behind the padding
        return outputs.gather(1, back.unsqueeze(-1).expand_as(outputs))

    def _last_state_packed(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Top layer's state after each review's last word, the padding skipped (cuDNN-friendly packing)."""
        steps = embedded.shape[1]
        lengths = mask.sum(1).clamp(min=1)
        # Packing wants each review at the start of its row: rotate the front padding to the end.
        source = (torch.arange(steps, device=embedded.device) + (steps - lengths).unsqueeze(1)) % steps
        aligned = embedded.gather(1, source.unsqueeze(-1).expand_as(embedded))
        packed = pack_padded_sequence(aligned, lengths.cpu(), batch_first=True, enforce_sorted=False)
        state = self.rnn(packed)[1]
        return (state[0] if isinstance(state, tuple) else state)[-1]  # LSTM returns (h, c)


# Word pairs are hashed with a universal hash, (A * first + B * second + C) mod P, then mod the buckets: two
# given pairs share a bucket with a chance of about 1 / buckets, whatever their ids. Every product stays below
# 2**62, so int64 never overflows (ids are below P). The first hash (``ngram_hash: 1``, first * 1_000_003 +
# second) was structured: 1_000_003 is 4 mod the default 999,999 buckets, so a pair went to about 4 * first +
# second, and the 40,000 pairs of the 200 most frequent words shared about 1,000 buckets. It stays for the
# checkpoints that learnt it.
_PRIME = 2_147_483_647  # 2**31 - 1
_PAIR_A, _PAIR_B, _PAIR_C = 1_103_515_245, 1_664_525_117, 12_345_678
_FIRST_HASH_MULTIPLIER = 1_000_003


def mix_parts(recurrent: torch.Tensor, branch: torch.Tensor | None, part_weight: torch.Tensor | float | None,
              ) -> torch.Tensor:
    """The model's logits from its parts'.

    The recurrent part's alone (no branch), plus the branch's (trained jointly: ``part_weight`` None), or their
    mean weighted ``part_weight`` to the recurrent part (trained apart).
    """
    if branch is None:
        return recurrent
    return recurrent + branch if part_weight is None else part_weight * recurrent + (1 - part_weight) * branch


def _even_mean_where_no_part_weight(module: TextRNN, state_dict: dict[str, torch.Tensor], prefix: str,
                                    *_: object) -> None:
    # Models trained apart before the share was chosen answered with the even mean of their parts.
    if module.part_weight is not None:
        state_dict.setdefault(f"{prefix}part_weight", torch.tensor(0.5))


def mean_of_members(members: Sequence[torch.Tensor]) -> torch.Tensor:
    """The recurrent part's logits from its members' (``members`` setting): their mean; one member's as they are."""
    return members[0] if len(members) == 1 else torch.stack(list(members)).mean(0)


def squeeze_single_logit(logits: torch.Tensor) -> torch.Tensor:
    """``(batch, 1)`` logits of a sigmoid head as ``(batch,)``; a softmax head's ``(batch, classes)`` as they are."""
    return logits.squeeze(-1) if logits.shape[-1] == 1 else logits


def ngram_buckets(ids: torch.Tensor, buckets: int, version: int = 2) -> torch.Tensor:
    """Each row's words and consecutive word pairs as bucket indices in ``[1, buckets)``; 0 where padding is.

    Args:
        ids: ``(batch, time)`` ids, :data:`PAD_ID` for padding.
        buckets: The table's size, bucket 0 included (kept for padding).
        version: How pairs are hashed (:attr:`~rnn_lightning.settings.ModelSettings.ngram_hash`): 2, universal;
            1, the first hash, kept for the checkpoints trained with it.

    Returns:
        ``(batch, 2 * time - 1)``: the words' buckets, then the pairs' (0 for a pair with padding in it).
    """
    words = ids.long()
    present = words != PAD_ID
    if version == 1:
        pairs = words[:, :-1] * _FIRST_HASH_MULTIPLIER + words[:, 1:] + buckets
    else:
        pairs = (words[:, :-1] * _PAIR_A % _PRIME + words[:, 1:] * _PAIR_B + _PAIR_C) % _PRIME
    hashed = torch.cat([words, pairs], dim=1) % (buckets - 1) + 1
    return hashed * torch.cat([present, present[:, :-1] & present[:, 1:]], dim=1)


def distinct_ngram_buckets(ids: torch.Tensor, buckets: int, version: int = 2) -> torch.Tensor:
    """Each row's :func:`ngram_buckets`, sorted, every bucket once: 0 (padding's) in place of repeats."""
    return each_once(ngram_buckets(ids, buckets, version))


# A word's pieces: its character n-grams of these lengths, with < and > marking its ends, as fastText's subwords
# (which take 3 to 6). A word keeps its first SUBWORDS_PER_WORD distinct pieces, in order of where they start: all
# of them for words of up to 17 letters.
SUBWORD_LENGTHS = (3, 4, 5)
SUBWORDS_PER_WORD = 48


def subword_buckets(word: str, buckets: int) -> list[int]:
    """A word's distinct character n-grams (:data:`SUBWORD_LENGTHS`) as buckets in ``[1, buckets)``, in order.

    The hash (CRC-32 of the UTF-8 piece) is the same in every process and on every machine, unlike ``hash()``.
    """
    marked = f"<{word}>"
    pieces = dict.fromkeys(marked[start : start + length] for start in range(len(marked))
                           for length in SUBWORD_LENGTHS if start + length <= len(marked))
    hashed = dict.fromkeys(zlib.crc32(piece.encode()) % (buckets - 1) + 1 for piece in pieces)
    return list(hashed)[:SUBWORDS_PER_WORD]


def each_once(values: torch.Tensor) -> torch.Tensor:
    """Each row's values (bucket or word ids) sorted, every value once: 0 (padding's) in place of repeats."""
    values = values.sort(dim=1).values
    repeated = torch.cat([torch.zeros_like(values[:, :1], dtype=torch.bool), values[:, 1:] == values[:, :-1]], dim=1)
    return values.masked_fill(repeated, 0)


def pool_over_time(outputs: torch.Tensor, mask: torch.Tensor | None, pooling: str,
                   reverse_from: int | None = None) -> torch.Tensor:
    """Reduce the top layer's ``(batch, time, features)`` outputs over time, the padding (in front) skipped.

    Args:
        outputs: Every step's output, batch first; with padding in front of each row's words.
        mask: ``(batch, time)`` bool, True at words; None: every step counts.
        pooling: ``last``, ``max`` or ``mean``.
        reverse_from: For a bidirectional layer, where its reverse direction's features start: ``last`` then
            takes them at each row's first word, where the reverse direction ends (torch's ``h_n``).
    """
    if pooling == "last":
        last = outputs[:, -1]
        if reverse_from is None:
            return last
        steps = outputs.shape[1]
        first = torch.zeros(outputs.shape[0], dtype=torch.long, device=outputs.device)
        if mask is not None:  # padding in front: the first word is at time - words
            first = (steps - mask.sum(1)).clamp(max=steps - 1)
        reverse = outputs[torch.arange(outputs.shape[0], device=outputs.device), first, reverse_from:]
        return torch.cat([last[:, :reverse_from], reverse], dim=-1)
    if mask is None:
        return outputs.amax(1) if pooling == "max" else outputs.mean(1)
    present = mask.unsqueeze(-1)
    if pooling == "max":
        return outputs.masked_fill(~present, float("-inf")).amax(1)
    return (outputs * present).sum(1) / present.sum(1).clamp(min=1)


def padding_in_front(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's words moved behind its padding, in their order; and where the words now are.

    Keras's ``mask_zero`` carries the state unchanged through a masked step wherever it stands, so for a
    network that reads only the final state, padding after or between the words is the same as padding in
    front (with a zero initial state either way): what the masked recurrences here assume.

    Args:
        ids: ``(batch, time)`` ids, :data:`PAD_ID` for padding.

    Returns:
        The rearranged ids and their ``(batch, time)`` bool mask (True at words); ``ids`` itself when its
        padding is in front already (the study's rows), at the cost of one comparison.
    """
    present = ids != PAD_ID
    if not (present[:, :-1] & ~present[:, 1:]).any():  # no word is followed by padding
        return ids, present
    order = torch.sort(present.to(torch.uint8), dim=1, stable=True).indices  # padding (0) first, order kept
    return ids.gather(1, order), present.gather(1, order)
