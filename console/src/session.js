// The API key lives in sessionStorage only: gone when the tab closes, never in the URL.
const KEY = 'functions.apiKey';

export function loadKey(storage) {
  return storage.getItem(KEY);
}

export function saveKey(storage, key) {
  storage.setItem(KEY, key.trim());
}

export function clearKey(storage) {
  storage.removeItem(KEY);
}
