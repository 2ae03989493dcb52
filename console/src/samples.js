// Sample events of every type (samples/events), bundled into the console at build time.
const files = import.meta.glob('../../samples/events/*.json', { eager: true, import: 'default' });

export const SAMPLES = Object.entries(files)
  .map(([path, event]) => ({ name: path.split('/').pop().replace(/\.json$/, ''), event }))
  .sort((a, b) => a.name.localeCompare(b.name));
