# Registering types with exposed methods and a generator proxy (after the
# documentation's "mp_newtype" example).
import operator
from multiprocessing.managers import BaseManager, BaseProxy


class Foo:
    def f(self):
        return "you called Foo.f()"

    def g(self):
        return "you called Foo.g()"

    def _h(self):
        return "you called Foo._h()"


def baz():
    for i in range(5):
        yield i * i


class GeneratorProxy(BaseProxy):
    _exposed_ = ["__next__"]

    def __iter__(self):
        return self

    def __next__(self):
        return self._callmethod("__next__")


def get_operator_module():
    return operator


class MyManager(BaseManager):
    pass


MyManager.register("Foo1", Foo)
MyManager.register("Foo2", Foo, exposed=("g", "_h"))
MyManager.register("baz", baz, proxytype=GeneratorProxy)
MyManager.register("operator", get_operator_module)

if __name__ == "__main__":
    with MyManager() as manager:
        f1 = manager.Foo1()
        print(f1.f(), f1.g())
        print(hasattr(f1, "_h"))
        f2 = manager.Foo2()
        print(f2.g(), f2._h())
        print(hasattr(f2, "f"))
        print(list(manager.baz()))
        op = manager.operator()
        print("op.add(23, 45) =", op.add(23, 45))
        print("op.pow(2, 94) =", op.pow(2, 94))
