import torch

from rnn_lightning.data.sampling import LengthGroupedBatchSampler


def lengths(count=1000, seed=0):
    return torch.randint(1, 501, (count,), generator=torch.Generator().manual_seed(seed))


def test_every_review_once_per_epoch_in_batches_of_similar_length():
    sizes = lengths()
    sampler = LengthGroupedBatchSampler(sizes, batch_size=32, shuffle=True, pool_batches=10)
    batches = list(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(1000)) and len(batches) == len(sampler)
    spread = sum(int(sizes[b].max() - sizes[b].min()) for b in batches) / len(batches)
    random_spread = sum(int(sizes[b].max() - sizes[b].min()) for b in torch.randperm(1000).split(32)) / 32
    assert spread < random_spread / 4


def test_shuffled_differently_each_epoch_but_reproducibly():
    sampler = LengthGroupedBatchSampler(lengths(), batch_size=32, shuffle=True, seed=3)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_each_epoch_makes_new_batches_not_the_same_ones_in_another_order():
    sampler = LengthGroupedBatchSampler(lengths(), batch_size=32, shuffle=True, pool_batches=10)
    first = {frozenset(batch) for batch in sampler}
    sampler.set_epoch(1)
    assert len(first & {frozenset(batch) for batch in sampler}) < len(first) / 4


def test_a_pool_of_one_batch_keeps_the_batches_random():
    sizes = lengths()
    batches = list(LengthGroupedBatchSampler(sizes, batch_size=32, shuffle=True, pool_batches=1))
    spread = sum(int(sizes[b].max() - sizes[b].min()) for b in batches) / len(batches)
    random_spread = sum(int(sizes[b].max() - sizes[b].min()) for b in torch.randperm(1000).split(32)) / 32
    assert spread > random_spread / 2  # sorted within each batch alone: as spread as random batches


def test_without_shuffling_batches_follow_length_order_and_ties_the_reading_order():
    sizes = lengths(1000)
    batches = list(LengthGroupedBatchSampler(sizes, batch_size=10, shuffle=False, pool_batches=5))
    flat = [i for batch in batches for i in batch]
    assert flat == sorted(range(1000), key=lambda i: int(sizes[i]))  # one pool of all, whatever pool_batches


def test_ranks_get_disjoint_equal_shares():
    sizes = lengths(1000)
    shares = [list(LengthGroupedBatchSampler(sizes, 32, True, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == 16
    assert not {i for b in shares[0] for i in b} & {i for b in shares[1] for i in b}


def test_ranks_get_equal_shares_when_the_batches_do_not_divide_evenly():
    sizes = lengths(1040)  # 33 batches of 32 or fewer: the odd one is left out, so that no rank waits for another
    shares = [list(LengthGroupedBatchSampler(sizes, 32, True, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == len(LengthGroupedBatchSampler(sizes, 32, True, num_replicas=2)) == 16
