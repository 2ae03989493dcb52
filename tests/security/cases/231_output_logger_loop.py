# expect: contained
# attack: logging in a loop (logger.info 50 000 times, 1 KB each)
# outcome: delivered
# error: none
from functions_sdk import logger


def on_track(event, settings):
    line = "z" * 1024
    for i in range(50000):
        logger.info("%s %d", line, i)
    return {"escaped": False}
