// Starting points for a new function: handler.py and function.toml.

export const TEMPLATES = [
  {
    id: 'webhook',
    title: 'Webhook: POST every event as JSON',
    files: {
      'handler.py': `from functions_sdk import Event, Settings, ValidationError, fetch, logger


def send(event: Event, settings: Settings) -> dict[str, int]:
    response = fetch(
        settings.get_str("url"),
        method="POST",
        json=event.model_dump(mode="json", exclude_unset=True),
        headers={"Authorization": f"Bearer {settings.get_str('api_key')}"},
        retry_on_status=True,  # 429 and 5xx: the event is retried
    )
    if not response.ok:
        raise ValidationError(f"the endpoint refused the event: {response.status}")
    logger.info("sent %s", event.type)
    return {"status": response.status}


def on_track(event, settings):
    return send(event, settings)


def on_identify(event, settings):
    return send(event, settings)
`,
      'function.toml': `name = "webhook"
kind = "destination"
timeout_seconds = 5

[settings.url]
type = "string"
required = true
description = "Where events are POSTed"

[settings.api_key]
type = "string"
required = true
secret = true
description = "Sent as a bearer token"
`,
    },
  },
  {
    id: 'logger',
    title: 'Logger: log each event, send nothing',
    files: {
      'handler.py': `from functions_sdk import logger


def on_track(event, settings):
    logger.info("%s did %s", event.userId, event.event)
    return {"event": event.event}
`,
      'function.toml': `name = "logger"
kind = "destination"
`,
    },
  },
];

// A name for a new function that no existing one has: "webhook", "webhook-2", ...
export function freshName(base, taken) {
  const names = new Set(taken);
  if (!names.has(base)) return base;
  for (let i = 2; ; i += 1) if (!names.has(`${base}-${i}`)) return `${base}-${i}`;
}

// function.toml with its `name` set (the first `name = ...` line, or one added on top).
export function withName(toml, name) {
  const line = `name = ${JSON.stringify(name)}`;
  return /^name\s*=.*$/m.test(toml) ? toml.replace(/^name\s*=.*$/m, line) : `${line}\n${toml}`;
}
