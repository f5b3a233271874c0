"""Data sets: the bundled digits and the seeded 2-D sets."""

import pytest
import torch

from app.core.data import DIGITS_PATH, TWO_D, load, load_digits, make_2d


def test_digits_load_from_the_project_with_all_images_and_classes():
    data = load_digits()
    n = len(data.x_train) + len(data.x_test)

    assert DIGITS_PATH.is_relative_to(DIGITS_PATH.parents[2])
    assert n == 1797
    assert data.in_features == 64 and data.image_side == 8
    assert data.classes == 10
    labels = torch.cat([data.y_train, data.y_test])
    assert sorted(labels.unique().tolist()) == list(range(10))
    assert torch.bincount(labels).min() >= 170  # about 180 images per digit
    assert 0.0 <= float(data.x_train.min()) and float(data.x_train.max()) <= 1.0


def test_digits_provenance_and_licence_sit_beside_the_file():
    readme = (DIGITS_PATH.parent / "README.md").read_text()

    assert "CC BY 4.0" in readme and "Alpaydin" in readme


def test_digits_split_is_a_seeded_quarter_held_out():
    a, b, c = load_digits(seed=1), load_digits(seed=1), load_digits(seed=2)

    assert len(a.x_test) == round(1797 * 0.25)
    assert torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_test, c.y_test)


@pytest.mark.parametrize("name", TWO_D)
def test_2d_sets_are_seeded_balanced_and_bounded(name):
    a, b = make_2d(name, n=400, seed=5), make_2d(name, n=400, seed=5)

    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert a.x_train.shape == (300, 2) and a.classes == 2
    assert a.x_train.abs().max() < 2.0
    share = float(torch.cat([a.y_train, a.y_test]).float().mean())
    assert 0.35 < share < 0.65


def test_different_seeds_give_different_points():
    assert not torch.equal(make_2d("moons", seed=1).x_train, make_2d("moons", seed=2).x_train)


def test_noise_spreads_the_points():
    clean, noisy = make_2d("circles", noise=0.0), make_2d("circles", noise=0.2)
    radius = lambda d: d.x_train.norm(dim=1)  # noqa: E731

    assert radius(noisy).std() > radius(clean).std()


def test_unknown_set_names_the_value():
    with pytest.raises(ValueError, match="'nope'"):
        load("nope")
