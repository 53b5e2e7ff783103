import type { Command } from '../context.js';
import { buildInfo, ORIGINAL_VERSION } from '../version.js';

export const version: Command = async ({ out }) => {
  const info = buildInfo();
  out.line(
    `hsmbyok ${info.version} (drop-in for hsmbyok ${ORIGINAL_VERSION}), built ${info.date} ${info.time}`,
  );
  return { result: { dropInFor: ORIGINAL_VERSION, built: `${info.date} ${info.time}` } };
};
