# ruff: noqa
"""python -m pkg: spawned children do not re-run a package's __main__.py (MAIN-02)."""

from multiprocessing import Pool


def square(x):
    return x * x


with Pool(2) as pool:
    print(pool.map(square, range(4)))
