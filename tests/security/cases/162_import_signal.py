# expect: invalid
# attack: import signal: ignore SIGALRM / SIGXCPU to outlive limits
# line: 4
import signal


def on_track(event, settings):
    return signal.signal(signal.SIGXCPU, signal.SIG_IGN)
