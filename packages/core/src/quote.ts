/**
 * Internal: how values a user wrote appear inside error messages. Messages must stay one line and short,
 * whatever the file contained (control characters, a megabyte of garbage), so values are escaped and cut.
 */

const MAX_SHOWN = 80;

/** `'value'` with control characters escaped and long values shortened, safe inside a one-line message. */
export function quoteValue(value: string): string {
  let shown = '';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f || code === 0x2028 || code === 0x2029 || code === 0xfeff) {
      shown += `\\u${code.toString(16).padStart(4, '0')}`;
    } else {
      shown += ch;
    }
    if (shown.length > MAX_SHOWN) {
      return `'${shown.slice(0, MAX_SHOWN)}...' (${value.length} characters)`;
    }
  }
  return `'${shown}'`;
}

/** Strips one leading UTF-8 byte order mark: Windows editors (Notepad) write one. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Files arrive as bytes or text; bytes are UTF-8 (a BOM is dropped by the caller). */
export function asText(input: string | Buffer): string {
  return typeof input === 'string' ? input : input.toString('utf8');
}
