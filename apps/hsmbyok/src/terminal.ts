/**
 * The Crypto-Officer prompt, read from the controlling terminal like the original (ctermid() on POSIX, the
 * console on Windows), never from stdin: piping into hsmbyok cannot answer it by accident. Echo is off and
 * each character shows as `*`; after Enter the row is padded with `*` so the screen (and any log of stdout)
 * does not reveal the PIN's length.
 */
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Tty from 'node:tty';
import { ByokError } from '@byok/core';

/** node:tty (and the net stack under it) is loaded only when a prompt is really shown. */
function tty(): typeof Tty {
  return createRequire(import.meta.url)('node:tty') as typeof Tty;
}

/** The prompt text, byte for byte the original's. */
export const PIN_PROMPT = 'Enter password for Crypto-Officer: ';

/** Stars written after Enter at the least, whatever the PIN's length (the original padded to its buffer). */
const MASK_WIDTH = 32;

export interface TerminalInput {
  readonly stream: NodeJS.ReadableStream;
  setRawMode(raw: boolean): void;
  close(): void;
}

/** Where the controlling terminal is: `/dev/tty` on POSIX, the console input on Windows. */
export function terminalPath(platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? 'CONIN$' : '/dev/tty';
}

function noTerminal(cause?: unknown): ByokError {
  return new ByokError(
    'CKR_PIN_INVALID',
    'no terminal to read the Crypto-Officer PIN from; run in a terminal or use --pin-env, --pin-file or --pin-stdin',
    { cause },
  );
}

/** Opens the controlling terminal (or, failing that, stdin when stdin is itself a terminal). */
export function openTerminal(platform: NodeJS.Platform = process.platform): TerminalInput {
  let fd: number | undefined;
  try {
    fd = openSync(terminalPath(platform), 'r');
    const stream = new (tty().ReadStream)(fd);
    if (!stream.isTTY) throw new Error('not a terminal');
    const opened = fd;
    return {
      stream,
      setRawMode: (raw) => void stream.setRawMode(raw),
      close: () => {
        stream.destroy();
        try {
          closeSync(opened);
        } catch {
          // already closed by destroy()
        }
      },
    };
  } catch (error) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // nothing to release
      }
    }
    const stdin = process.stdin;
    if (stdin.isTTY) {
      return { stream: stdin, setRawMode: (raw) => void stdin.setRawMode(raw), close: () => stdin.pause() };
    }
    throw noTerminal(error);
  }
}

export interface PromptIo {
  /** Where the prompt and the `*` echo go (the original: stdout). */
  write(text: string): void;
  open(): TerminalInput;
  /** SIGINT/SIGTERM from outside the terminal (kill) also ends the prompt. */
  readonly signal?: AbortSignal;
}

/** Reads one line with echo off. Enter ends it; Backspace/DEL erases; Ctrl-C cancels; Ctrl-D on an empty line ends. */
export function promptSecret(io: PromptIo, prompt: string = PIN_PROMPT): Promise<string> {
  const terminal = io.open();
  io.write(prompt);
  return new Promise<string>((resolve, reject) => {
    const chars: string[] = [];
    let settled = false;

    const finish = (error?: ByokError): void => {
      if (settled) return;
      settled = true;
      terminal.stream.removeListener('data', onData);
      terminal.stream.removeListener('end', onEnd);
      terminal.stream.removeListener('error', onError);
      io.signal?.removeEventListener('abort', onAbort);
      try {
        terminal.setRawMode(false);
      } catch {
        // the terminal went away; nothing to restore
      }
      terminal.close();
      io.write(`${'*'.repeat(Math.max(0, MASK_WIDTH - chars.length))}\n`);
      if (error) reject(error);
      else resolve(chars.join(''));
    };

    const onData = (chunk: Buffer | string): void => {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      for (const ch of text) {
        if (settled) return;
        const code = ch.codePointAt(0) ?? 0;
        if (ch === '\r' || ch === '\n') {
          finish();
          return;
        }
        if (code === 0x03) {
          finish(new ByokError('CKR_CANCEL', 'PIN entry cancelled'));
          return;
        }
        if (code === 0x04) {
          if (chars.length === 0) {
            finish();
            return;
          }
          continue;
        }
        if (code === 0x7f || code === 0x08) {
          if (chars.length > 0) {
            chars.pop();
            io.write('\b \b');
          }
          continue;
        }
        // An escape sequence (arrow keys...) arrives as one chunk: drop the rest of it.
        if (code === 0x1b) break;
        if (code < 0x20) continue;
        chars.push(ch);
        io.write('*');
      }
    };
    const onEnd = (): void => finish();
    const onError = (error: unknown): void => finish(noTerminal(error));
    const onAbort = (): void => finish(new ByokError('CKR_CANCEL', 'PIN entry interrupted'));

    try {
      terminal.setRawMode(true);
    } catch (error) {
      settled = true;
      terminal.close();
      io.write('\n');
      reject(noTerminal(error));
      return;
    }
    terminal.stream.on('data', onData);
    terminal.stream.on('end', onEnd);
    terminal.stream.on('error', onError);
    io.signal?.addEventListener('abort', onAbort);
    terminal.stream.resume();
  });
}
