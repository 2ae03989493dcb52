class Multiplier:
    def __init__(self, k):
        self.k = k

    def __call__(self, x):
        return x * self.k


def on_track(event, settings):
    double = Multiplier(2)
    return {"one": double(21), "map": list(map(double, [1, 2, 3])), "callable": callable(double)}
