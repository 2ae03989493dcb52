// function.toml's settings schema as form fields, and the values a form gives back.
// Secret fields are write-only: the API shows them as "***" and keeps a secret that
// is sent as "***" or left out.

export const MASK = '***';

export function fields(schema, values = {}) {
  return Object.entries(schema || {}).map(([name, spec]) => {
    const type = spec.type || 'string';
    const secret = Boolean(spec.secret);
    const current = values[name];
    const has = current !== undefined && current !== null;
    let text = '';
    if (secret) text = '';
    else if (has) text = type === 'array' || type === 'map' ? JSON.stringify(current) : String(current);
    else if (spec.default !== undefined && spec.default !== null)
      text = type === 'array' || type === 'map' ? JSON.stringify(spec.default) : String(spec.default);
    return {
      name,
      type,
      secret,
      required: Boolean(spec.required),
      description: spec.description || '',
      text,
      checked: type === 'boolean' ? Boolean(has ? current : spec.default) : false,
      stored: secret && has, // a secret is stored: leave empty to keep it
      input: secret ? 'password' : type === 'number' ? 'number' : type === 'text' ? 'textarea' : type === 'boolean' ? 'checkbox' : 'text',
    };
  });
}

// The form's entries ({name: text | boolean}) as settings values for the API.
// Returns {values, problems}; problems name the field.
export function collect(schema, entries) {
  const values = {};
  const problems = [];
  for (const [name, spec] of Object.entries(schema || {})) {
    const type = spec.type || 'string';
    const raw = entries[name];
    if (type === 'boolean') {
      values[name] = Boolean(raw);
      continue;
    }
    const text = raw === undefined || raw === null ? '' : String(raw);
    if (spec.secret) {
      values[name] = text === '' ? MASK : text;
      continue;
    }
    if (text === '') {
      if (spec.required && (spec.default === undefined || spec.default === null))
        problems.push(`${name}: required`);
      continue;
    }
    if (type === 'number') {
      const n = Number(text);
      if (!Number.isFinite(n)) problems.push(`${name}: a number is expected`);
      else values[name] = n;
    } else if (type === 'array' || type === 'map') {
      try {
        const parsed = JSON.parse(text);
        const ok = type === 'array' ? Array.isArray(parsed) : parsed && typeof parsed === 'object' && !Array.isArray(parsed);
        if (ok) values[name] = parsed;
        else problems.push(`${name}: a JSON ${type === 'array' ? 'array' : 'object'} is expected`);
      } catch {
        problems.push(`${name}: not valid JSON`);
      }
    } else {
      values[name] = text;
    }
  }
  return { values, problems };
}

// Settings to run a test with: masked secrets have no value to send, so they are left out.
export function forTest(values) {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== MASK));
}
