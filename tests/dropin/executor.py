# The ProcessPoolExecutor example of the concurrent.futures documentation, with
# submit, as_completed and the private attributes programs read.
import concurrent.futures
import math
from concurrent.futures import ProcessPoolExecutor, as_completed

PRIMES = [
    1000000007,
    1000000009,
    1000000011,
    2147483647,
    2305843009213693951 // 10**7,
    999999000001,
]


def is_prime(n):
    if n < 2:
        return False
    if n == 2:
        return True
    if n % 2 == 0:
        return False
    sqrt_n = math.isqrt(n)
    return all(n % i for i in range(3, sqrt_n + 1, 2))


def main():
    with ProcessPoolExecutor(max_workers=2) as executor:
        for number, prime in zip(PRIMES, executor.map(is_prime, PRIMES)):
            print(f"{number} is prime: {prime}")
        futures = {executor.submit(pow, 2, n): n for n in range(5)}
        for future in as_completed(futures):
            print(futures[future], future.result())  # dropin: any order
        print("workers", bool(executor._processes), executor._max_workers)
        done, _ = concurrent.futures.wait([executor.submit(abs, -3)])
        print([f.result() for f in done])


if __name__ == "__main__":
    main()
