# expect: invalid
# attack: import pickle: pickle.loads runs arbitrary callables
# line: 4
import pickle


def on_track(event, settings):
    return pickle.loads(b"cos\nsystem\n(S'id'\ntR.")
