# Pool workers that run programs with subprocess.
import subprocess
import sys
from multiprocessing import Pool


def run(word):
    out = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.argv[1].upper())", word],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


if __name__ == "__main__":
    with Pool(2) as pool:
        print(pool.map(run, ["alpha", "beta", "gamma"]))
    print(subprocess.run([sys.executable, "-c", "print(42)"], capture_output=True).stdout)
