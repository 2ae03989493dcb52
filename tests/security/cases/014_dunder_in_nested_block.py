# expect: invalid
# attack: define __getattribute__ one indentation level down (a col_offset != 0 loophole)
# line: 5
if True:
    def __getattribute__(self, name):
        return name


def on_track(event, settings):
    return {"escaped": False}
