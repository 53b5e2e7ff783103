#!/usr/bin/env node
/**
 * `byok-temporal-dev [--db FILE] [--port P] [--ui-port U]`: runs the ceremony dev server in the foreground
 * (Ctrl-C stops it cleanly). Defaults: .data/temporal/dev.db, port 7233, UI on 8233.
 */
import { parseArgs } from 'node:util';
import { CEREMONY_SEARCH_ATTRIBUTES, startDevServer } from './dev-server.js';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: '.data/temporal/dev.db' },
    port: { type: 'string', default: '7233' },
    'ui-port': { type: 'string', default: '8233' },
    headless: { type: 'boolean', default: false },
  },
});

const server = await startDevServer({
  dbFile: values.db,
  port: Number(values.port),
  ...(values.headless ? {} : { uiPort: Number(values['ui-port']) }),
  searchAttributes: CEREMONY_SEARCH_ATTRIBUTES,
});
console.log(
  `temporal dev server: ${server.address}${server.uiUrl ? `, UI ${server.uiUrl}` : ''}, db ${server.dbFile}`,
);
const shutdown = (): void => {
  void server.stop().then(() => process.exit(0));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
