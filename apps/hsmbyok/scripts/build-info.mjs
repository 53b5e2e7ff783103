// Writes dist/build-info.json: the version and build date/time the banner prints, like the original's
// `hsmbyok version 1.0.0.3, <__DATE__>, <__TIME__>`.
import { readFileSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const now = new Date();
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n) => String(n).padStart(2, '0');
// __DATE__ is "Mmm dd yyyy" with the day space-padded; __TIME__ is "hh:mm:ss".
const date = `${months[now.getMonth()]} ${String(now.getDate()).padStart(2, ' ')} ${now.getFullYear()}`;
const time = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
writeFileSync(
  new URL('../dist/build-info.json', import.meta.url),
  `${JSON.stringify({ version: pkg.version, date, time }, null, 2)}\n`,
);
