import time


def on_track(event, settings):
    st = time.strptime("30 Nov 2026", "%d %b %Y")
    lt = time.localtime(0)
    return {"yday": st.tm_yday, "year": st.tm_year, "lt_type": type(lt).__name__,
            "gm": time.gmtime(86400).tm_mday}
