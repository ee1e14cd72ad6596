import compat


def work(x):
    return x + 1


def main():
    print("result", compat.spawn_child(work, 1).result(30))
    p = compat.Process(target=work, args=(2,))
    p.start()
    p.join(30)
    print("process exitcode", p.exitcode)


if __name__ == "__main__":
    main()
