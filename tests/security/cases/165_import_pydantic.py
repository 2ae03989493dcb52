# expect: invalid
# attack: import pydantic: the real pydantic (BaseModel.parse_file, TypeAdapter)
# line: 4
import pydantic


def on_track(event, settings):
    return pydantic.TypeAdapter(int)
