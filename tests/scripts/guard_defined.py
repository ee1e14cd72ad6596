# A target defined inside the __main__ guard: spawned children cannot see it.
import compat

if __name__ == "__main__":

    def inner(x):
        return x + 1

    print("result", compat.spawn_child(inner, 1).result(30))
