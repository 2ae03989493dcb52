// The public HTTP API, from the browser: the API key goes in the Authorization header
// (never a cookie, never the URL), so no other site can make requests with it.

export class ApiError extends Error {
  constructor(status, code, message, problems = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.problems = problems;
  }
}

export function createClient(fetchFn, getKey) {
  async function request(method, path, body) {
    const headers = { Accept: 'application/json' };
    const key = getKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    const init = { method, headers, credentials: 'omit', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetchFn(path, init);
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(
        response.status,
        error.code || 'http_error',
        error.message || `HTTP ${response.status}`,
        error.problems || [],
      );
    }
    return data;
  }
  const enc = encodeURIComponent;
  return {
    request,
    functions: () => request('GET', '/v1/functions'),
    func: (id) => request('GET', `/v1/functions/${enc(id)}`),
    createFunction: (files, name) => request('POST', '/v1/functions', { files, name }),
    uploadVersion: (id, files) => request('POST', `/v1/functions/${enc(id)}/versions`, { files }),
    versions: (id) => request('GET', `/v1/functions/${enc(id)}/versions`),
    version: (id) => request('GET', `/v1/versions/${enc(id)}`),
    validate: (files) => request('POST', '/v1/validate', { files }),
    test: (body) => request('POST', '/v1/test', body),
    deploy: (id, body) => request('POST', `/v1/functions/${enc(id)}/deploy`, body),
    instances: () => request('GET', '/v1/instances'),
    instance: (id) => request('GET', `/v1/instances/${enc(id)}`),
    patchInstance: (id, body) => request('PATCH', `/v1/instances/${enc(id)}`, body),
    rollback: (id, version) => request('POST', `/v1/instances/${enc(id)}/rollback`, { version }),
    deliveries: (id, query) => request('GET', `/v1/instances/${enc(id)}/deliveries?${query}`),
    replay: (id, body) => request('POST', `/v1/instances/${enc(id)}/replay`, body),
    sources: () => request('GET', '/v1/sources'),
    createSource: (name) => request('POST', '/v1/sources', { name }),
    audit: (limit = 200) => request('GET', `/v1/audit?limit=${limit}`),
  };
}
